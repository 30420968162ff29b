import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sample } from '../metrics/types.js';
import { SAMPLE_METRICS, SampleColumns, sampleMetricCode } from './sample-columns.js';
import { rng } from '../../test/support/build.js';

test('SAMPLE_METRICS is in byte order (the BINARY collation of the samples key) and covers the codes', () => {
  const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('hex');
  const sorted = [...SAMPLE_METRICS].sort((a, b) => (bytes(a) < bytes(b) ? -1 : bytes(a) > bytes(b) ? 1 : 0));
  assert.deepEqual(SAMPLE_METRICS, sorted);
  SAMPLE_METRICS.forEach((m, i) => assert.equal(sampleMetricCode(m), i));
  assert.equal(sampleMetricCode('rtd_ns'), -1);
  assert.equal(sampleMetricCode(''), -1);
});

test('push keeps every field exactly, grows past its capacity, and iterates back to equal Samples', () => {
  const random = rng(5);
  const input: Sample[] = [];
  for (let i = 0; i < 5000; i++) {
    input.push({
      flow_index: Math.floor(random() * 70_000),
      // Real capture timestamps: integers near 2^50 must survive the Float64 column.
      ts_us: 1_700_000_000_000_000 + Math.floor(random() * 1e12),
      metric: SAMPLE_METRICS[Math.floor(random() * SAMPLE_METRICS.length)]!,
      value_ns: random() < 0.01 ? 0 : random() * 1e10 + 0.125,
      psn: Math.floor(random() * 65_536),
      frame: 1 + Math.floor(random() * 2 ** 40),
    });
  }
  const columns = new SampleColumns(3);
  for (const s of input) columns.push(s);
  assert.equal(columns.length, input.length);
  assert.ok(columns.capacity >= input.length);
  assert.deepEqual([...columns], input);
  assert.deepEqual(columns.at(4999), input[4999]);
  assert.throws(() => columns.at(5000), RangeError);
  assert.throws(() => columns.at(-1), RangeError);
  // from(): an array is copied, a SampleColumns is taken as it is.
  assert.deepEqual([...SampleColumns.from(input)], input);
  assert.equal(SampleColumns.from(columns), columns);
  function* generated(): Generator<Sample> { yield* input.slice(0, 10); }
  assert.deepEqual([...SampleColumns.from(generated())], input.slice(0, 10));
});

test('an empty batch iterates nothing; an unknown metric is refused before anything is appended', () => {
  const columns = new SampleColumns(0);
  assert.deepEqual([...columns], []);
  assert.throws(() => columns.push({ flow_index: 0, ts_us: 1, metric: 'latency' as Sample['metric'], value_ns: 1, psn: 1, frame: 1 }), /unknown metric 'latency'/);
  assert.equal(columns.length, 0);
  columns.push({ flow_index: 0, ts_us: 1, metric: 'rtd', value_ns: 1, psn: 1, frame: 1 });
  assert.equal(columns.length, 1);
});
