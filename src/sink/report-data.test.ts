import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SeriesBuilder, cdfPoints, collectFlowSeries, cumulativeSeries, decodeFloat64, downsampleMinMax, encodeFloat64,
  interleaveSeries, type XY,
} from './report-data.js';
import { seededRandom } from '../../test/support/report.js';
import type { PsnEvent, Sample } from '../metrics/types.js';

function randomSeries(n: number, seed: number): XY {
  const rnd = seededRandom(seed);
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  let x = 1_700_000_000_000_000;
  for (let i = 0; i < n; i++) {
    x += 1 + Math.floor(rnd() * 2000);
    xs[i] = x;
    ys[i] = rnd() < 0.001 ? 1e9 * rnd() : 1e6 * (1 + rnd());
  }
  return { xs, ys };
}

function bucketOf(x: number, lo: number, hi: number, buckets: number): number {
  return Math.min(buckets - 1, Math.max(0, Math.floor((x - lo) / ((hi - lo) / buckets))));
}

test('downsampleMinMax keeps the minimum and maximum of every bucket, in x order, at most two per bucket', () => {
  const input = randomSeries(100_000, 1);
  const buckets = 1000;
  const out = downsampleMinMax(input, buckets);
  const lo = input.xs[0]!;
  const hi = input.xs[input.xs.length - 1]!;
  assert.ok(out.xs.length <= 2 * buckets, `${out.xs.length} points`);
  assert.ok(out.xs.length >= buckets, 'every bucket has data here, so at least one point each');
  for (let i = 1; i < out.xs.length; i++) assert.ok(out.xs[i]! >= out.xs[i - 1]!, 'x ascending');
  const expectMin = new Float64Array(buckets).fill(Infinity);
  const expectMax = new Float64Array(buckets).fill(-Infinity);
  for (let i = 0; i < input.xs.length; i++) {
    const b = bucketOf(input.xs[i]!, lo, hi, buckets);
    expectMin[b] = Math.min(expectMin[b]!, input.ys[i]!);
    expectMax[b] = Math.max(expectMax[b]!, input.ys[i]!);
  }
  const perBucket = new Map<number, number[]>();
  for (let i = 0; i < out.xs.length; i++) {
    const b = bucketOf(out.xs[i]!, lo, hi, buckets);
    perBucket.set(b, [...(perBucket.get(b) ?? []), out.ys[i]!]);
  }
  for (let b = 0; b < buckets; b++) {
    const got = perBucket.get(b);
    if (expectMin[b] === Infinity) { assert.equal(got, undefined); continue; }
    assert.ok(got !== undefined && got.length >= 1 && got.length <= 2, `bucket ${b}: ${got?.length}`);
    assert.equal(Math.min(...got), expectMin[b], `bucket ${b} min`);
    assert.equal(Math.max(...got), expectMax[b], `bucket ${b} max`);
  }
  // The global extremes survive.
  assert.equal(Math.max(...out.ys), Math.max(...input.ys));
  assert.equal(Math.min(...out.ys), Math.min(...input.ys));
  // Every output point is an input point.
  const pairs = new Set(Array.from(input.xs, (x, i) => `${x}/${input.ys[i]}`));
  for (let i = 0; i < out.xs.length; i++) assert.ok(pairs.has(`${out.xs[i]}/${out.ys[i]}`));
});

test('downsampleMinMax: small series pass unchanged, gaps are dropped, empty buckets stay empty', () => {
  const small: XY = { xs: Float64Array.from([1, 2, 3]), ys: Float64Array.from([5, NaN, 7]) };
  assert.deepEqual(downsampleMinMax(small, 10), { xs: Float64Array.from([1, 3]), ys: Float64Array.from([5, 7]) });
  const full: XY = { xs: Float64Array.from([1, 2, 3, 4]), ys: Float64Array.from([4, 3, 2, 1]) };
  assert.deepEqual(downsampleMinMax(full, 2), full);
  // Two clusters far apart: the buckets between them produce nothing.
  const xs = new Float64Array(100);
  const ys = new Float64Array(100);
  for (let i = 0; i < 50; i++) { xs[i] = i; ys[i] = i; xs[50 + i] = 10_000 + i; ys[50 + i] = 0 - i - 1; }
  const out = downsampleMinMax({ xs, ys }, 10);
  assert.deepEqual([...out.ys], [0, 49, -1, -50]);
  assert.deepEqual([...out.xs], [0, 49, 10_000, 10_049]);
  assert.throws(() => downsampleMinMax(full, 0), RangeError);
});

test('downsampleMinMax: all points at one x, and points outside [x0, x1] join the end buckets', () => {
  const n = 50;
  const same: XY = { xs: new Float64Array(n).fill(7), ys: Float64Array.from({ length: n }, (_, i) => (i * 37) % 50) };
  const out = downsampleMinMax(same, 4);
  assert.deepEqual([...out.ys].sort((a, b) => a - b), [0, 49]);
  const ramp: XY = { xs: Float64Array.from({ length: 100 }, (_, i) => i), ys: Float64Array.from({ length: 100 }, (_, i) => i) };
  const clamped = downsampleMinMax(ramp, 5, 20, 80);
  assert.equal(clamped.ys[0], 0);
  assert.equal(clamped.ys[clamped.ys.length - 1], 99);
  assert.ok(clamped.xs.length <= 10);
});

test('cdfPoints: exact for few samples, bounded with min, max and tail for many', () => {
  const few = cdfPoints(Float64Array.from([3, 1, 2, 2, NaN]));
  assert.deepEqual([...few.xs], [1, 2, 2, 3]);
  assert.deepEqual([...few.ys], [25, 75, 75, 100]);
  assert.deepEqual(cdfPoints(new Float64Array(0)), { xs: new Float64Array(0), ys: new Float64Array(0) });
  const rnd = seededRandom(9);
  const many = Float64Array.from({ length: 100_000 }, () => rnd() * 1e6);
  const cdf = cdfPoints(many, 600);
  assert.ok(cdf.xs.length <= 600 && cdf.xs.length > 500);
  assert.equal(cdf.xs[0], Math.min(...many));
  assert.equal(cdf.xs[cdf.xs.length - 1], Math.max(...many));
  assert.equal(cdf.ys[cdf.ys.length - 1], 100);
  for (let i = 1; i < cdf.xs.length; i++) {
    assert.ok(cdf.xs[i]! >= cdf.xs[i - 1]! && cdf.ys[i]! >= cdf.ys[i - 1]!);
  }
  // At least a quarter of the points describe the top 1%.
  assert.ok(cdf.ys.filter((y) => y >= 99).length >= 140);
});

test('interleaveSeries keeps every point of every series, rows in x order, one value per row', () => {
  const a: XY = { xs: Float64Array.from([1, 3, 3, 9]), ys: Float64Array.from([10, 30, 31, 90]) };
  const b: XY = { xs: Float64Array.from([2, 3]), ys: Float64Array.from([20, 32]) };
  const c: XY = { xs: new Float64Array(0), ys: new Float64Array(0) };
  const j = interleaveSeries([a, b, c]);
  assert.deepEqual([...j.xs], [1, 2, 3, 3, 3, 9]);
  assert.deepEqual([...j.ys[0]!].map((v) => (Number.isNaN(v) ? null : v)), [10, null, 30, 31, null, 90]);
  assert.deepEqual([...j.ys[1]!].map((v) => (Number.isNaN(v) ? null : v)), [null, 20, null, null, 32, null]);
  assert.ok(j.ys[2]!.every((v) => Number.isNaN(v)));
});

test('encodeFloat64 round-trips doubles, NaN gaps and extremes through base64', () => {
  const values = Float64Array.from([0, -0, 1.5, NaN, 1_700_000_000.123456, Number.MAX_VALUE, -1e-300]);
  const text = encodeFloat64(values);
  assert.match(text, /^[A-Za-z0-9+/]*={0,2}$/);
  const back = decodeFloat64(text);
  assert.equal(back.length, values.length);
  for (let i = 0; i < values.length; i++) assert.ok(Object.is(back[i], values[i]), `index ${i}`);
  assert.equal(encodeFloat64(new Float64Array(0)), '');
});

test('cumulativeSeries spans the flow and counts every lost packet', () => {
  const events: XY = { xs: Float64Array.from([20, 50]), ys: Float64Array.from([2, 3]) };
  const c = cumulativeSeries(events, 10, 100);
  assert.deepEqual([...c.xs], [10, 20, 50, 100]);
  assert.deepEqual([...c.ys], [0, 2, 5, 5]);
  const none = cumulativeSeries({ xs: new Float64Array(0), ys: new Float64Array(0) }, 10, 100);
  assert.deepEqual([...none.ys], [0, 0]);
});

test('collectFlowSeries groups by flow and metric, sorts late samples, skips reverse metrics, gaps and non-loss events', () => {
  const s = (flow_index: number, ts_us: number, metric: Sample['metric'], value_ns: number): Sample => ({ flow_index, ts_us, metric, value_ns, psn: 0, frame: 0 });
  const samples = [s(0, 30, 'rtd', 3), s(0, 10, 'rtd', 1), s(0, 20, 'server_delay', 2), s(1, 5, 'total', 9), s(0, 40, 'reverse_rtd', 4), s(0, 50, 'rtd', NaN)];
  const e = (flow_index: number, ts_us: number, kind: PsnEvent['kind'], count: number): PsnEvent => ({ flow_index, ts_us, direction: 'responder_to_initiator', kind, count, psn: 0, frame: 0 });
  const flows = collectFlowSeries(samples, [e(0, 15, 'lost', 4), e(0, 16, 'reordered', 1), e(2, 1, 'lost', 1)]);
  assert.deepEqual([...flows.keys()].sort(), [0, 1, 2]);
  const f0 = flows.get(0)!;
  assert.equal(f0.sampleCount, 3);
  const rtd = f0.metrics.rtd.finish();
  assert.deepEqual([...rtd.xs], [10, 30]);
  assert.deepEqual([...rtd.ys], [1, 3]);
  assert.deepEqual([...f0.lost.responder_to_initiator.finish().ys], [4]);
  assert.equal(f0.lost.initiator_to_responder.length, 0);
  assert.equal(flows.get(2)!.sampleCount, 0);
});

test('SeriesBuilder grows past its first allocation and keeps order', () => {
  const b = new SeriesBuilder();
  for (let i = 0; i < 1000; i++) b.push(i, i * 2);
  const p = b.finish();
  assert.equal(p.xs.length, 1000);
  assert.equal(p.ys[999], 1998);
});
