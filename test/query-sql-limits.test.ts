// `query sql` is bounded: a statement that runs too long is stopped at --timeout (default 10 s)
// with one line and exit 2, its process gone; rows stream out as they are produced (an
// unbounded result starts printing at once, a closed pipe ends it quietly) in every format.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openStore } from '../src/sink/store.js';
import { testFlow, testRunMeta } from './support/store.js';
import { toJson } from '../src/sink/store-format.js';
import { CLI, REPO } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-sql-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'store.db');
{
  const store = openStore(db);
  store.writeRun(testRunMeta(), [testFlow(0, { rtd_ns: [1e6] }), testFlow(1, { rtd_ns: [2e6, 5e6] })]);
  store.close();
}

/** Counts forever inside one step of SQLite: no row, no callback, nothing to interrupt it by. */
const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c';
/** Rows without end. */
const ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x, 'row ' || x AS label FROM c";

interface Run { status: number | null; stderr: string; bytes: number; firstByteMs: number | null; ms: number; head: string }

/**
 * The CLI with stdout read as it comes; `stopAfterBytes` closes our end of the pipe (like
 * `| head -c`). Killed after 40 s whatever happens, so that a pdmscope without the limit does
 * not outlive its failed test.
 */
function runCli(args: string[], stopAfterBytes = Infinity): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const safety = setTimeout(() => child.kill('SIGKILL'), 40_000);
    let bytes = 0;
    let firstByteMs: number | null = null;
    let head = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      firstByteMs ??= Date.now() - t0;
      if (head.length < 4096) head += d.toString('utf8');
      bytes += d.length;
      if (bytes >= stopAfterBytes) child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    child.on('close', () => clearTimeout(safety));
    child.on('close', (status) => resolve({ status, stderr, bytes, firstByteMs, ms: Date.now() - t0, head }));
  });
}

function queryProcessesOf(path: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout;
  return ps.split('\n').filter((l) => l.includes('query-sql-child') && l.includes(path));
}

test('a runaway statement is stopped at --timeout: one line, exit 2, its process gone', async () => {
  const r = await runCli(['query', 'sql', RUNAWAY, '--db', db, '--timeout', '1s']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'pdmscope: query sql: stopped after 1s, the --timeout limit (give a longer one, e.g. --timeout 2m, for a bigger query)\n');
  assert.ok(r.ms >= 1000 && r.ms < 8000, `took ${r.ms} ms`);
  assert.equal(r.bytes, 0);
  assert.deepEqual(queryProcessesOf(dir), []);
});

test('without --timeout a runaway statement stops after the default 10 s', { timeout: 60_000 }, async () => {
  const r = await runCli(['query', 'sql', RUNAWAY, '--db', db]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^pdmscope: query sql: stopped after 10s, the --timeout limit /);
  assert.ok(r.ms >= 10_000 && r.ms < 30_000, `took ${r.ms} ms`);
});

test('--timeout takes a positive duration below the timer limit; others are usage errors', async () => {
  for (const [value, message] of [
    ['0', /^pdmscope: --timeout: expected a positive duration/],
    ['1000h', /^pdmscope: --timeout: '1000h' is too long; at most 596h/],
    ['soon', /^pdmscope: invalid --timeout 'soon'/],
  ] as const) {
    const r = await runCli(['query', 'sql', 'SELECT 1', '--db', db, '--timeout', value]);
    assert.equal(r.status, 1, value);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
  }
  const ok = await runCli(['query', 'sql', 'SELECT 1 AS one', '--db', db, '--timeout', '1m', '--format', 'csv']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.head, 'one\r\n1\r\n');
});

for (const format of ['csv', 'json', 'table'] as const) {
  test(`rows stream out as they come (${format}): an endless result prints at once, the limit stops it`, async () => {
    const r = await runCli(['query', 'sql', ENDLESS, '--db', db, '--format', format, '--timeout', '3s']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /stopped after 3s/);
    assert.ok(r.firstByteMs !== null && r.firstByteMs < r.ms - 500, `first output after ${r.firstByteMs} ms of ${r.ms}`);
    assert.ok(r.bytes > 1 << 20, `only ${r.bytes} bytes before the limit`);
    const expectedHead = { csv: 'x,label\r\n1,row 1\r\n2,row 2\r\n', json: '{\n  "schema": "pdmscope.query.sql/1",\n', table: 'x' }[format];
    assert.ok(r.head.startsWith(expectedHead), r.head.slice(0, 80));
  });
}

test('a closed pipe ends an endless result quietly', async () => {
  const r = await runCli(['query', 'sql', ENDLESS, '--db', db, '--format', 'csv'], 100_000);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  assert.ok(r.ms < 8000, `took ${r.ms} ms`);
});

test('streamed JSON and CSV are the same text as before they streamed', async () => {
  const stmt = "SELECT id, proto, rtd_ns_p50, rtd_ns_sketch, NULL AS empty, 'a,\"b\"' AS quoted FROM flows ORDER BY id";
  const store = openStore(db, { readonly: true });
  const { columns, rows } = store.readonlySql(stmt);
  store.close();
  assert.equal(rows.length, 2);
  const json = await runCli(['query', 'sql', stmt, '--db', db, '--format', 'json']);
  assert.equal(json.status, 0, json.stderr);
  assert.equal(json.head, toJson({ schema: 'pdmscope.query.sql/1', columns, rows: rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))) }));
  const empty = await runCli(['query', 'sql', 'SELECT id FROM flows WHERE 0', '--db', db, '--format', 'json']);
  assert.equal(empty.head, toJson({ schema: 'pdmscope.query.sql/1', columns: ['id'], rows: [] }));
  const csv = await runCli(['query', 'sql', "SELECT 'a,\"b\"' AS q, NULL AS n, x'00ff' AS b", '--db', db, '--format', 'csv']);
  assert.equal(csv.head, 'q,n,b\r\n"a,""b""",,00ff\r\n');
});
