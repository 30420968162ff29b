import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ANOMALIES, ANOMALY_NAMES, type AnomalyName, CATALOGUE, FINDINGS, FINDING_CODES, type FindingCode, MALFORMED_ANOMALIES,
} from './anomalies.js';

test('the derived views partition the catalogue by scope, in table order', () => {
  const names = Object.keys(CATALOGUE);
  assert.deepEqual([...ANOMALY_NAMES, ...FINDING_CODES].sort(), [...names].sort());
  assert.deepEqual(ANOMALY_NAMES, names.filter((n) => CATALOGUE[n as keyof typeof CATALOGUE].scope === 'packet'));
  assert.deepEqual(FINDING_CODES, names.filter((n) => CATALOGUE[n as keyof typeof CATALOGUE].scope === 'flow'));
  for (const n of ANOMALY_NAMES) assert.equal(ANOMALIES[n], CATALOGUE[n].meaning);
  for (const c of FINDING_CODES) assert.equal(FINDINGS[c], CATALOGUE[c].meaning);
  assert.deepEqual(Object.keys(ANOMALIES), ANOMALY_NAMES);
  assert.deepEqual(Object.keys(FINDINGS), FINDING_CODES);
});

test('malformed: exactly the flagged packet anomalies; a finding never is', () => {
  assert.deepEqual([...MALFORMED_ANOMALIES], ANOMALY_NAMES.filter((n) => CATALOGUE[n].malformed));
  assert.ok(MALFORMED_ANOMALIES.size > 0 && MALFORMED_ANOMALIES.size < ANOMALY_NAMES.length);
  for (const c of FINDING_CODES) assert.equal(CATALOGUE[c].malformed, false);
});

test('the scopes are distinct types', () => {
  // @ts-expect-error a finding is not a packet anomaly
  const a: AnomalyName = 'psn_low_start';
  // @ts-expect-error a packet anomaly is not a finding
  const f: FindingCode = 'truncated_ipv6';
  assert.ok(a && f);
});
