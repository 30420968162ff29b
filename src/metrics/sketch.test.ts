import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/support/build.js';
import { BUCKET_ZERO, DurationAccumulator, QuantileSketch, bucketSign, defaultBucketIndex, statsFromSketch } from './sketch.js';


function normal(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** The mix of docs/architecture.md §6: lognormal around 500 µs plus a 1% tail of 20–200 ms, in ns. */
function delaysNs(n: number, seed: number): number[] {
  const rand = rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(rand() < 0.01 ? 20e6 + rand() * 180e6 : 500_000 * Math.exp(0.6 * normal(rand)));
  }
  return out;
}

const QS = [0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function assertAccurate(sketch: QuantileSketch, values: number[], alpha: number): void {
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of QS) {
    const want = exactQuantile(sorted, q);
    const got = sketch.quantile(q)!;
    const err = want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want);
    assert.ok(err <= alpha * (1 + 1e-9), `q=${q}: got ${got}, exact ${want}, relative error ${err}`);
  }
}

function sketchOf(values: number[], alpha = 0.01): QuantileSketch {
  const s = new QuantileSketch(alpha);
  for (const v of values) s.add(v);
  return s;
}

test('lognormal + heavy tail: every quantile within 1% of the exact one', () => {
  const values = delaysNs(200_000, 1);
  const s = sketchOf(values);
  assert.equal(s.count, values.length);
  assert.equal(s.min, values.reduce((a, b) => Math.min(a, b)));
  assert.equal(s.max, values.reduce((a, b) => Math.max(a, b)));
  const sum = values.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(s.sum - sum) / sum < 1e-12);
  assertAccurate(s, values, 0.01);
});

test('a coarser alpha is honoured too (5%)', () => {
  const values = delaysNs(50_000, 2);
  assertAccurate(sketchOf(values, 0.05), values, 0.05);
});

test('q = 0 and q = 1 are the exact min and max; a single value is exact at every q', () => {
  const s = sketchOf([123_456.789]);
  for (const q of QS) assert.equal(s.quantile(q), 123_456.789);
  const t = sketchOf([3, 1e9, 17.5]);
  assert.equal(t.quantile(0), 3);
  assert.equal(t.quantile(1), 1e9);
});

test('empty sketch: count 0, nulls', () => {
  const s = new QuantileSketch();
  assert.equal(s.count, 0);
  assert.equal(s.min, null);
  assert.equal(s.max, null);
  assert.equal(s.quantile(0.5), null);
  assert.equal(s.quantile(0), null);
  const back = QuantileSketch.deserialize(s.serialize());
  assert.equal(back.count, 0);
  assert.equal(back.quantile(0.99), null);
});

test('bad q and bad alpha are rejected', () => {
  const s = sketchOf([1]);
  assert.throws(() => s.quantile(1.5), RangeError);
  assert.throws(() => s.quantile(Number.NaN), RangeError);
  assert.throws(() => new QuantileSketch(0), RangeError);
  assert.throws(() => new QuantileSketch(1), RangeError);
});

test('merge equals the sketch of the union', () => {
  const a = delaysNs(30_000, 3);
  const b = delaysNs(20_000, 4).map((v) => v * 7);
  const c = [-5_000, 0, 0, 12, 1e12];
  const merged = sketchOf(a);
  merged.merge(sketchOf(b));
  merged.merge(sketchOf(c));
  const union = sketchOf([...a, ...b, ...c]);
  assert.equal(merged.count, union.count);
  assert.equal(merged.min, union.min);
  assert.equal(merged.max, union.max);
  for (let q = 0; q <= 1; q += 0.001) assert.equal(merged.quantile(q), union.quantile(q), `q=${q}`);
  assertAccurate(merged, [...a, ...b, ...c], 0.01);
  // Bucket contents are identical: the serialisations differ at most in the sum's last bits.
  const m = merged.serialize();
  const u = union.serialize();
  assert.equal(m.length, u.length);
  assert.deepEqual(m.subarray(60), u.subarray(60));
});

test('merge refuses a different alpha; merging an empty sketch changes nothing', () => {
  const s = sketchOf([1, 2, 3]);
  assert.throws(() => s.merge(new QuantileSketch(0.02)), /relative accuracy/);
  const before = s.serialize();
  s.merge(new QuantileSketch());
  assert.deepEqual(s.serialize(), before);
  const empty = new QuantileSketch();
  empty.merge(s);
  assert.deepEqual(empty.serialize(), before);
});

test('serialize round trip keeps every quantile and re-serialises to the same bytes', () => {
  const values = [...delaysNs(10_000, 5), -42, -1e6, 0];
  const s = sketchOf(values);
  const bytes = s.serialize();
  const back = QuantileSketch.deserialize(bytes);
  assert.equal(back.count, s.count);
  assert.equal(back.sum, s.sum);
  assert.equal(back.min, s.min);
  assert.equal(back.max, s.max);
  assert.equal(back.relativeAccuracy, s.relativeAccuracy);
  for (let q = 0; q <= 1; q += 0.0005) assert.equal(back.quantile(q), s.quantile(q));
  assert.deepEqual(back.serialize(), bytes);
  // Little-endian header: 'P' 'Q' version 1.
  assert.deepEqual([...bytes.subarray(0, 3)], [0x50, 0x51, 1]);
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getFloat64(4, true), 0.01);
  // A deserialised sketch keeps accepting values and merging.
  back.add(5);
  back.merge(s);
  assert.equal(back.count, 2 * s.count + 1);
});

test('serialised size stays small: 500 lognormal delays under 1 KB, 1M under 4 KB', () => {
  const small = sketchOf(delaysNs(500, 6)).serialize();
  assert.ok(small.length < 1024, `${small.length} bytes`);
  const big = sketchOf(delaysNs(1_000_000, 7)).serialize();
  assert.ok(big.length < 4096, `${big.length} bytes`);
});

test('negative values (RTD < 0) sort below zero and keep their accuracy', () => {
  const rand = rng(8);
  const values: number[] = [];
  for (let i = 0; i < 20_000; i++) values.push((rand() < 0.3 ? -1 : 1) * 1_000 * Math.exp(3 * normal(rand)));
  const s = sketchOf(values);
  assertAccurate(s, values, 0.01);
  const onlyNeg = sketchOf([-10, -20, -30, -40, -50]);
  assert.equal(onlyNeg.quantile(0), -50);
  assert.equal(onlyNeg.quantile(1), -10);
  const mid = onlyNeg.quantile(0.5)!;
  assert.ok(Math.abs(mid + 30) <= 0.3 + 1e-9, `median ${mid}`);
});

test('zeros go to the zero bucket and are exact', () => {
  const s = sketchOf([0, 0, 0, 0, 0, 0, 0, 0, 0, 1000]);
  assert.equal(s.quantile(0.5), 0);
  assert.equal(s.quantile(0.8), 0);
  assert.equal(s.quantile(1), 1000);
  assert.equal(sketchOf([0, -0, 0]).quantile(0.5), 0);
  const mixed = sketchOf([-3, 0, 0, 3]);
  assert.equal(mixed.quantile(0.34), 0);
});

test('huge values: 75 s, 1e30 ns and the double range; non-finite values are ignored', () => {
  const values = [7.5e10, 7.5e10, 7.6e10, 1e15, 1e30, 2e30, 3e30];
  const s = sketchOf(values);
  assertAccurate(s, values, 0.01);
  assert.equal(s.max, 3e30);
  // The top of the double range (a 65535 × 2^255 as PDM delta is 3.8e72 ns) neither overflows nor throws.
  const top = sketchOf([1.7e308, 1e308, 3.8e72]);
  assert.equal(top.quantile(1), 1.7e308);
  assert.ok(Number.isFinite(top.quantile(0.5)!));
  s.add(Number.NaN);
  s.add(Infinity);
  s.add(-Infinity);
  assert.equal(s.count, values.length);
  assert.ok(Number.isFinite(s.quantile(0.99)!));
  const back = QuantileSketch.deserialize(s.serialize());
  assert.equal(back.quantile(0.9), s.quantile(0.9));
});

test('a span beyond the bucket limit collapses the smallest magnitudes but keeps the top accurate', () => {
  // 1e-9 ns (1 attosecond) to 1e300 ns spans ~35,000 buckets at 1%: more than the 4096 kept.
  const values: number[] = [];
  for (let e = -9; e <= 300; e += 0.01) values.push(10 ** e);
  const s = sketchOf(values);
  assert.equal(s.count, values.length);
  assert.equal(s.min, values[0]);
  assert.equal(s.max, values[values.length - 1]);
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of [0.9, 0.95, 0.99, 0.999]) {
    const want = exactQuantile(sorted, q);
    const got = s.quantile(q)!;
    assert.ok(Math.abs(got - want) / want <= 0.01 * (1 + 1e-9), `q=${q}: ${got} vs ${want}`);
  }
  // Monotone in q, even across the collapsed range.
  let prev = -Infinity;
  for (let q = 0; q <= 1; q += 0.01) { const v = s.quantile(q)!; assert.ok(v >= prev); prev = v; }
  const bytes = s.serialize();
  assert.ok(bytes.length < 4 + 64 + 4096 * 3, `${bytes.length} bytes`);
  assert.equal(QuantileSketch.deserialize(bytes).quantile(0.99), s.quantile(0.99));
  // Adding a value far below the kept range lands in the lowest bucket, never out of bounds.
  s.add(1e-10);
  assert.equal(s.min, 1e-10);
  assert.equal(s.quantile(0), 1e-10);
});

test('a drifting series (values growing then shrinking) stays accurate', () => {
  const values: number[] = [];
  for (let i = 0; i < 3000; i++) values.push(1e3 * 1.01 ** i);
  for (let i = 0; i < 3000; i++) values.push(1e3 * 0.995 ** i);
  assertAccurate(sketchOf(values), values, 0.01);
});

test('bucket counts past 2^32 stay exact (self-merge doubling)', () => {
  const s = sketchOf([5, 5, 6]);
  for (let i = 0; i < 34; i++) s.merge(s);
  assert.equal(s.count, 3 * 2 ** 34);
  assert.ok(Math.abs(s.quantile(0.5)! - 5) <= 0.05 + 1e-9);
  assert.ok(Math.abs(s.quantile(0.9)! - 6) <= 0.06 + 1e-9);
  const back = QuantileSketch.deserialize(s.serialize());
  assert.equal(back.count, s.count);
  assert.equal(back.quantile(0.9), s.quantile(0.9));
});

test('deserialize: every truncation throws a clear Error', () => {
  const bytes = sketchOf([...delaysNs(300, 9), -7, 0]).serialize();
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(() => QuantileSketch.deserialize(bytes.subarray(0, n)), (e: unknown) => e instanceof Error && /^quantile sketch: /.test(e.message), `prefix ${n}`);
  }
  assert.throws(() => QuantileSketch.deserialize(new Uint8Array([...bytes, 0])), /trailing/);
  const badMagic = bytes.slice(); badMagic[0] = 0;
  assert.throws(() => QuantileSketch.deserialize(badMagic), /magic/);
  const badVersion = bytes.slice(); badVersion[2] = 9;
  assert.throws(() => QuantileSketch.deserialize(badVersion), /version 9/);
  const badCount = bytes.slice(); new DataView(badCount.buffer).setFloat64(12, 5, true);
  assert.throws(() => QuantileSketch.deserialize(badCount), /add up/);
});

test('deserialize: seeded random bytes and random mutations never escape as anything but Error', () => {
  const rand = rng(10);
  const base = sketchOf([...delaysNs(200, 11), -3, 0]).serialize();
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(rand() * 120));
      for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(rand() * 256);
      if (bytes.length > 3 && i % 4 === 0) { bytes[0] = 0x50; bytes[1] = 0x51; bytes[2] = 1; }
    } else {
      bytes = base.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    }
    try {
      const s = QuantileSketch.deserialize(bytes);
      accepted++;
      // Whatever it accepted is a usable sketch.
      s.quantile(0.5);
      s.serialize();
    } catch (e) {
      assert.ok(e instanceof Error && /^quantile sketch: /.test(e.message), String(e));
    }
  }
  assert.ok(accepted < 20_000);
});

test('DurationAccumulator: empty → nulls and no sketch; stats match the sketch', () => {
  const empty = new DurationAccumulator();
  assert.equal(empty.count, 0);
  assert.deepEqual(empty.stats(), { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null });
  assert.equal(empty.sketchBytes(), null);
  empty.add(Number.NaN);
  assert.equal(empty.sketchBytes(), null);

  const values = delaysNs(5_000, 12);
  const acc = new DurationAccumulator();
  for (const v of values) acc.add(v);
  const st = acc.stats();
  const sorted = [...values].sort((a, b) => a - b);
  assert.equal(st.count, values.length);
  assert.equal(st.min, sorted[0]);
  assert.equal(st.max, sorted[sorted.length - 1]);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(st.mean! - mean) / mean < 1e-12);
  for (const [q, got] of [[0.5, st.p50], [0.9, st.p90], [0.99, st.p99]] as const) {
    const want = exactQuantile(sorted, q);
    assert.ok(Math.abs(got! - want) / want <= 0.01 + 1e-9, `p${q * 100}`);
  }
  const back = QuantileSketch.deserialize(acc.sketchBytes()!);
  assert.deepEqual(statsFromSketch(back), { ...st, mean: back.sum / back.count });
});

test('throughput: well over a million add() per second (rough, generous bound)', () => {
  const values = delaysNs(1_000_000, 13);
  const s = new QuantileSketch();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < values.length; i++) s.add(values[i]!);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const perSecond = values.length / seconds;
  console.log(`# QuantileSketch.add: ${(perSecond / 1e6).toFixed(1)} M values/s`);
  assert.ok(perSecond > 1e6, `${perSecond.toFixed(0)} adds/s`);
});

test('DurationAccumulator: the same stats and sketch bytes below and above the exact-values limit', () => {
  for (const n of [1, 2, 7, 8, 9, 10, 31, 32, 33, 34, 100]) {
    const values = delaysNs(n, 100 + n);
    const acc = new DurationAccumulator();
    for (const v of values) acc.add(v);
    const direct = sketchOf(values);
    assert.equal(acc.count, n);
    assert.deepEqual(acc.sketchBytes(), direct.serialize(), `n=${n}`);
    assert.deepEqual(acc.stats(), statsFromSketch(direct), `n=${n}`);
  }
});

test('DurationAccumulator: the sketch of the values (negative, sub-ns, zero, huge; around the exact-values limit)', () => {
  let seed = 4711;
  const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  for (const n of [1, 3, 4, 5, 31, 32, 33, 34, 200]) {
    const values: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = next();
      // RTDs below zero, magnitudes below 1 ns (negative bucket indices), exact zeros, 1e-13
      // (the zero bucket), and large deltas (65535 × 2^60 as): every store of the sketch is used.
      values.push(r < 0.2 ? -next() * 1e6 : r < 0.3 ? next() * 0.5 : r < 0.35 ? 0 : r < 0.4 ? 1e-13 : r < 0.45 ? 65535 * 2 ** 60 / 1e9 : next() * 1e8);
    }
    const acc = new DurationAccumulator();
    const direct = new QuantileSketch();
    for (const v of values) { acc.add(v); direct.add(v); }
    assert.equal(acc.count, n);
    assert.deepEqual(acc.sketchBytes(), direct.serialize(), `n=${n}`);
    assert.deepEqual(acc.stats(), statsFromSketch(direct), `n=${n}`);
  }
});

test('bucket-level adds: addInBucket, and fromSummary + countInBucket, build the very sketch add() builds', () => {
  let seed = 2024;
  const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  for (const n of [1, 2, 50, 3000]) {
    const values: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = next();
      values.push(r < 0.2 ? -next() * 1e6 : r < 0.3 ? next() * 1e-3 : r < 0.35 ? 0 : r < 0.4 ? -1e-13 : r < 0.45 ? 65535 * 2 ** 255 / 1e9 : next() * 1e9);
    }
    const direct = new QuantileSketch();
    const inBucket = new QuantileSketch();
    let sum = 0, min = Infinity, max = -Infinity;
    for (const v of values) {
      direct.add(v);
      const sign = bucketSign(v);
      inBucket.addInBucket(v, sign, sign === BUCKET_ZERO ? 0 : defaultBucketIndex(Math.abs(v)));
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const counted = QuantileSketch.fromSummary(sum, min, max);
    for (const v of values) {
      const sign = bucketSign(v);
      counted.countInBucket(sign, sign === BUCKET_ZERO ? 0 : defaultBucketIndex(Math.abs(v)));
    }
    assert.deepEqual(inBucket.serialize(), direct.serialize(), `addInBucket n=${n}`);
    assert.deepEqual(counted.serialize(), direct.serialize(), `fromSummary n=${n}`);
    assert.deepEqual(statsFromSketch(counted), statsFromSketch(direct));
    assert.deepEqual(DurationAccumulator.ofSketch(counted).stats(), statsFromSketch(direct));
  }
});

test('bucketSign: the zero bucket below 1e-12 ns in magnitude; NaN and ±Infinity are not durations', () => {
  assert.equal(bucketSign(1e-12), BUCKET_ZERO);
  assert.equal(bucketSign(-1e-12), BUCKET_ZERO);
  assert.equal(bucketSign(0), BUCKET_ZERO);
  assert.equal(bucketSign(2e-12), 1);
  assert.equal(bucketSign(-2e-12), -1);
  for (const v of [NaN, Infinity, -Infinity]) assert.ok(Number.isNaN(bucketSign(v)), String(v));
});
