// README.md's two tables (anomalies, findings) document the catalogue in src/decode/anomalies.ts
// for users: they must list exactly its names, so neither can gain or lose a name alone.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ANOMALY_NAMES, CATALOGUE, FINDING_CODES } from '../src/decode/anomalies.js';
import { REPO_ROOT } from './support/fixtures.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n');

/** The first-column names of the table whose header row is `header`, in order. */
function tableNames(header: string): string[] {
  const at = README.findIndex((line) => line.trim() === header);
  assert.ok(at >= 0, `README.md has no table headed ${header}`);
  const names: string[] = [];
  for (const line of README.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    const m = /^\|\s*`([a-z0-9_]+)`\s*\|/.exec(line);
    assert.ok(m, `README.md row without a \`name\` first: ${line}`);
    names.push(m[1]!);
  }
  return names;
}

test('the README anomaly table lists exactly the catalogue\'s packet anomalies, malformed ones first', () => {
  const names = tableNames('| anomaly | meaning |');
  assert.deepEqual([...names].sort(), [...ANOMALY_NAMES].sort());
  // The README says `malformed` counts "the first group": the malformed rows come before the others.
  const malformed = names.map((n) => CATALOGUE[n as keyof typeof CATALOGUE].malformed);
  assert.deepEqual(malformed, [...malformed].sort((a, b) => Number(b) - Number(a)), `malformed rows first: ${names.join(' ')}`);
});

test('the README finding table lists exactly the catalogue\'s flow findings', () => {
  assert.deepEqual(tableNames('| finding | meaning |').sort(), [...FINDING_CODES].sort());
});
