// A mergeable quantile sketch for per-flow delay percentiles (docs/architecture.md §6): DDSketch-style
// logarithmic buckets with relative accuracy alpha. A value v > 0 falls into bucket
// i = ceil(log_gamma(v)), gamma = (1 + alpha) / (1 - alpha), which covers (gamma^(i-1), gamma^i];
// the bucket's representative 2·gamma^i / (gamma + 1) is within alpha of every value in it.
// Negative values (an RTD can be < 0 when clocks or pairing disagree) live in a mirrored store
// keyed by |v|; magnitudes below MIN_INDEXABLE_NS, and zero, share one zero bucket.
// count, sum, min and max are exact. Merging adds bucket counts, so a merged sketch is the
// sketch of the union: percentiles across runs come from merged sketches, never averaged.

import { type DurationStats, EMPTY_STATS } from './types.js';

/** Magnitudes below this many ns count as zero: far below PDM's resolution of 1 attosecond. */
const MIN_INDEXABLE_NS = 1e-12;
/**
 * Most buckets one store keeps. With alpha = 1% this spans a value ratio of gamma^4096 ≈ 4e35,
 * so only pathological data collapses: the lowest buckets (smallest magnitudes) merge upward,
 * trading accuracy at the small end for bounded memory (16 KB at most per store).
 */
const MAX_BUCKETS = 4096;

const FORMAT_MAGIC_0 = 0x50; // 'P'
const FORMAT_MAGIC_1 = 0x51; // 'Q'
const FORMAT_VERSION = 1;

/**
 * Bucket counts over a contiguous index range, grown on demand. The counts are a plain array:
 * small integers (V8 Smis, 4 bytes each) while they fit, silently widened by V8 to doubles
 * (exact to 2^53) when one grows past 2^30 -- far smaller than a Uint32Array, whose ArrayBuffer
 * and backing store cost ~200 bytes before the first count (100,000 flows × 4 sketches).
 */
class DenseStore {
  counts: number[] | null = null;
  /** Bucket index of counts[0]. */
  offset = 0;
  /** Lowest and highest index with a non-zero count; lo > hi when empty. */
  lo = 0;
  hi = -1;
  total = 0;

  add(index: number, n: number): void {
    let counts = this.counts;
    if (counts === null || index < this.offset || index >= this.offset + counts.length) {
      index = this.makeRoom(index);
      counts = this.counts!;
    }
    const i = index - this.offset;
    counts[i] = counts[i]! + n;
    if (this.lo > this.hi) { this.lo = index; this.hi = index; }
    else if (index < this.lo) this.lo = index;
    else if (index > this.hi) this.hi = index;
    this.total += n;
  }

  /**
   * Re-homes the array so that `index` has a slot, collapsing the lowest buckets when the span
   * would exceed MAX_BUCKETS; returns the index to count into (a collapsed one may move up).
   */
  private makeRoom(index: number): number {
    if (this.lo > this.hi) {
      // Empty: a small array around the first index; most flows stay within a few buckets.
      if (this.counts === null) this.counts = zeroCounts(8);
      this.offset = index - (this.counts.length >> 1);
      return index;
    }
    const counts = this.counts!;
    let lo = Math.min(this.lo, index);
    const hi = Math.max(this.hi, index);
    let moved = 0;
    if (hi - lo + 1 > MAX_BUCKETS) {
      lo = hi - MAX_BUCKETS + 1;
      if (index < lo) index = lo;
      for (let k = this.lo; k < lo && k <= this.hi; k++) moved += counts[k - this.offset]!;
    }
    const span = hi - lo + 1;
    const length = Math.min(MAX_BUCKETS, Math.max(span + 8, Math.ceil(span * 1.5)));
    const grown = zeroCounts(length);
    // Put the slack on the side that grew, so a drifting series grows amortised.
    const newOffset = index < this.lo ? hi - length + 1 : lo;
    for (let k = Math.max(this.lo, lo); k <= this.hi; k++) grown[k - newOffset] = counts[k - this.offset]!;
    if (moved > 0) {
      grown[lo - newOffset] = grown[lo - newOffset]! + moved;
      this.lo = lo;
    }
    this.counts = grown;
    this.offset = newOffset;
    return index;
  }

  count(index: number): number {
    return this.counts![index - this.offset]!;
  }

  isEmpty(): boolean {
    return this.lo > this.hi;
  }
}

/** `n` zero counts as a packed small-integer array (never holey: holes would read as undefined). */
function zeroCounts(n: number): number[] {
  return new Array<number>(n).fill(0);
}

/** The constants of one relative accuracy, shared by every sketch that uses it (not 5 doubles per sketch). */
class SketchMapping {
  readonly relativeAccuracy: number;
  readonly gamma: number;
  readonly logGamma: number;
  readonly indexMultiplier: number;
  readonly representativeFactor: number;

  constructor(relativeAccuracy: number) {
    this.relativeAccuracy = relativeAccuracy;
    this.gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.logGamma = Math.log(this.gamma);
    this.indexMultiplier = 1 / this.logGamma;
    this.representativeFactor = 2 / (this.gamma + 1);
  }

  /** The bucket index of a magnitude above MIN_INDEXABLE_NS: the one expression every add uses. */
  indexOf(magnitude: number): number {
    return Math.ceil(Math.log(magnitude) * this.indexMultiplier);
  }
}

const mappings = new Map<number, SketchMapping>();
const DEFAULT_RELATIVE_ACCURACY = 0.01;

function mappingFor(relativeAccuracy: number): SketchMapping {
  let m = mappings.get(relativeAccuracy);
  if (m === undefined) {
    m = new SketchMapping(relativeAccuracy);
    if (mappings.size < 16) mappings.set(relativeAccuracy, m);
  }
  return m;
}

/** An empty store that stays empty: the negative side of most sketches, allocated once. */
const EMPTY_STORE = new DenseStore();

const DEFAULT_MAPPING = mappingFor(DEFAULT_RELATIVE_ACCURACY);

/** bucketSign of a value in the zero bucket (0 and magnitudes below MIN_INDEXABLE_NS). */
export const BUCKET_ZERO = 0;

/**
 * The bucket index of |value| in a sketch of the default relative accuracy (1%), for a value
 * that is not in the zero bucket (|value| > MIN_INDEXABLE_NS, finite): what add() computes.
 * Callers that keep only bucket indices (FlowPdm) and memoise them use this.
 */
export function defaultBucketIndex(magnitude: number): number {
  return DEFAULT_MAPPING.indexOf(magnitude);
}

/** The bucket sign of a value: 1 positive, -1 negative, BUCKET_ZERO for the zero bucket; NaN for NaN and ±Infinity (not durations). */
export function bucketSign(value: number): number {
  if (value > MIN_INDEXABLE_NS) return value === Infinity ? NaN : 1;
  if (value < -MIN_INDEXABLE_NS) return value === -Infinity ? NaN : -1;
  return value === value ? BUCKET_ZERO : NaN;
}

export class QuantileSketch {
  private readonly mapping: SketchMapping;
  private readonly positive = new DenseStore();
  /** EMPTY_STORE until the first negative value (RTDs only, and rarely). */
  private negative = EMPTY_STORE;
  private zeroCount = 0;
  private countValue = 0;
  private sumValue = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;

  constructor(relativeAccuracy = DEFAULT_RELATIVE_ACCURACY) {
    if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) {
      throw new RangeError(`quantile sketch: relative accuracy must be in (0, 1), got ${relativeAccuracy}`);
    }
    this.mapping = mappingFor(relativeAccuracy);
  }

  get relativeAccuracy(): number { return this.mapping.relativeAccuracy; }
  get count(): number { return this.countValue; }
  get sum(): number { return this.sumValue; }
  get min(): number | null { return this.countValue === 0 ? null : this.minValue; }
  get max(): number | null { return this.countValue === 0 ? null : this.maxValue; }

  /** Adds one value. NaN and ±Infinity are not durations and are ignored (never thrown on: hot path). */
  add(value: number): void {
    if (value > MIN_INDEXABLE_NS) {
      if (value === Infinity) return;
      this.positive.add(this.mapping.indexOf(value), 1);
    } else if (value < -MIN_INDEXABLE_NS) {
      if (value === -Infinity) return;
      this.negativeStore().add(this.mapping.indexOf(-value), 1);
    } else if (value === value) {
      this.zeroCount++;
    } else {
      return; // NaN
    }
    this.countValue++;
    this.sumValue += value;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  /**
   * Adds one finite value whose bucket the caller already knows: `sign` and `index` as
   * bucketSign(value) and defaultBucketIndex(|value|) give them (index unused for the zero
   * bucket). The same result as add(value) on a sketch of the default accuracy, without the
   * logarithm (FlowPdm memoises the index of a raw PDM delta).
   */
  addInBucket(value: number, sign: number, index: number): void {
    this.countInBucket(sign, index);
    this.sumValue += value;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  /**
   * Counts one value in its bucket (as addInBucket) but leaves sum, min and max alone: for a
   * sketch made by fromSummary, whose summary already covers the values counted this way.
   */
  countInBucket(sign: number, index: number): void {
    if (sign > 0) this.positive.add(index, 1);
    else if (sign < 0) this.negativeStore().add(index, 1);
    else this.zeroCount++;
    this.countValue++;
  }

  /**
   * An empty sketch of the default accuracy that already holds the exact sum (added in arrival
   * order), min and max of values that are then counted, one by one, with countInBucket. Lets a
   * caller keep bucket indices instead of values and still build the very sketch add() builds.
   */
  static fromSummary(sum: number, min: number, max: number): QuantileSketch {
    const s = new QuantileSketch(DEFAULT_RELATIVE_ACCURACY);
    s.sumValue = sum;
    s.minValue = min;
    s.maxValue = max;
    return s;
  }

  /** Adds every bucket of `other`; both sketches must use the same relative accuracy. */
  merge(other: QuantileSketch): void {
    if (other.relativeAccuracy !== this.relativeAccuracy) {
      throw new Error(`quantile sketch: cannot merge relative accuracy ${other.relativeAccuracy} into ${this.relativeAccuracy}`);
    }
    if (other.countValue === 0) return;
    mergeStore(this.positive, other.positive);
    if (!other.negative.isEmpty()) mergeStore(this.negativeStore(), other.negative);
    this.zeroCount += other.zeroCount;
    this.countValue += other.countValue;
    this.sumValue += other.sumValue;
    if (other.minValue < this.minValue) this.minValue = other.minValue;
    if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
  }

  /**
   * The value at rank q·(count − 1) (the lower of two neighbours), within relative accuracy;
   * q = 0 and q = 1 give the exact min and max. null when empty.
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile sketch: q must be in [0, 1], got ${q}`);
    if (this.countValue === 0) return null;
    if (q === 0) return this.minValue;
    if (q === 1) return this.maxValue;
    const rank = Math.floor(q * (this.countValue - 1));
    let seen = 0;
    let value: number | null = null;
    const neg = this.negative;
    if (!neg.isEmpty()) {
      // Most negative first: the highest |v| index comes first in value order.
      for (let k = neg.hi; k >= neg.lo; k--) {
        seen += neg.count(k);
        if (seen > rank) { value = -this.bucketValue(k); break; }
      }
    }
    if (value === null) {
      seen += this.zeroCount;
      if (seen > rank) value = 0;
    }
    if (value === null) {
      const pos = this.positive;
      for (let k = pos.lo; k <= pos.hi; k++) {
        seen += pos.count(k);
        if (seen > rank) { value = this.bucketValue(k); break; }
      }
    }
    if (value === null) value = this.maxValue; // unreachable while the counts add up
    return Math.min(this.maxValue, Math.max(this.minValue, value));
  }

  private negativeStore(): DenseStore {
    if (this.negative === EMPTY_STORE) this.negative = new DenseStore();
    return this.negative;
  }

  private bucketValue(index: number): number {
    // gamma^i · 2/(gamma + 1): the factor is below 1, so this overflows only where gamma^i does
    // (values within a bucket of Number.MAX_VALUE); quantile() clamps that to the exact max.
    return Math.exp(index * this.mapping.logGamma) * this.mapping.representativeFactor;
  }

  /**
   * Little-endian, versioned: 'P' 'Q' version(u8) flags(u8, 0), alpha f64, count f64, zero f64,
   * sum f64, min f64, max f64, then the positive and the negative store, each
   * lo i32, bucket count u32, and one unsigned LEB128 count per bucket from lo upward.
   */
  serialize(): Uint8Array {
    const posLen = this.positive.isEmpty() ? 0 : this.positive.hi - this.positive.lo + 1;
    const negLen = this.negative.isEmpty() ? 0 : this.negative.hi - this.negative.lo + 1;
    // A LEB128 of a count < 2^53 takes at most 8 bytes.
    const out = new Uint8Array(4 + 6 * 8 + 2 * 8 + (posLen + negLen) * 8);
    const view = new DataView(out.buffer);
    out[0] = FORMAT_MAGIC_0; out[1] = FORMAT_MAGIC_1; out[2] = FORMAT_VERSION; out[3] = 0;
    let off = 4;
    for (const v of [this.relativeAccuracy, this.countValue, this.zeroCount, this.sumValue,
      this.countValue === 0 ? 0 : this.minValue, this.countValue === 0 ? 0 : this.maxValue]) {
      view.setFloat64(off, v, true);
      off += 8;
    }
    for (const [store, len] of [[this.positive, posLen], [this.negative, negLen]] as const) {
      view.setInt32(off, len === 0 ? 0 : store.lo, true);
      view.setUint32(off + 4, len, true);
      off += 8;
      for (let k = 0; k < len; k++) {
        let n = store.count(store.lo + k);
        while (n >= 0x80) { out[off++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
        out[off++] = n;
      }
    }
    return out.slice(0, off);
  }

  /** Reads `serialize()` output; throws an Error naming the defect on bad bytes. */
  static deserialize(bytes: Uint8Array): QuantileSketch {
    const fail = (why: string): never => { throw new Error(`quantile sketch: ${why}`); };
    if (!(bytes instanceof Uint8Array)) fail('expected bytes');
    if (bytes.length < 4 + 6 * 8 + 2 * 8) fail(`${bytes.length} bytes is too short`);
    if (bytes[0] !== FORMAT_MAGIC_0 || bytes[1] !== FORMAT_MAGIC_1) fail('bad magic (not a pdmscope sketch)');
    if (bytes[2] !== FORMAT_VERSION) fail(`unsupported format version ${bytes[2]}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = 4;
    const f64 = (): number => { const v = view.getFloat64(off, true); off += 8; return v; };
    const alpha = f64();
    if (!(alpha > 0 && alpha < 1)) fail(`bad relative accuracy ${alpha}`);
    const sketch = new QuantileSketch(alpha);
    const count = f64(), zero = f64(), sum = f64(), min = f64(), max = f64();
    const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
    if (!isCount(count) || !isCount(zero)) fail('bad count');
    if (!Number.isFinite(sum) || !Number.isFinite(min) || !Number.isFinite(max)) fail('non-finite sum, min or max');
    if (count > 0 && min > max) fail('min above max');
    for (const positive of [true, false]) {
      if (off + 8 > bytes.length) fail('truncated store header');
      const lo = view.getInt32(off, true);
      const len = view.getUint32(off + 4, true);
      off += 8;
      if (len > MAX_BUCKETS) fail(`${len} buckets exceed the limit of ${MAX_BUCKETS}`);
      if (len > bytes.length - off) fail('truncated buckets');
      for (let k = 0; k < len; k++) {
        let n = 0;
        let mul = 1;
        for (;;) {
          if (off >= bytes.length) fail('truncated bucket count');
          const b = bytes[off++]!;
          n += (b & 0x7f) * mul;
          if ((b & 0x80) === 0) break;
          mul *= 0x80;
          if (mul > 2 ** 56) fail('bucket count too long');
        }
        if (!Number.isSafeInteger(n)) fail('bucket count out of range');
        if (n > 0) (positive ? sketch.positive : sketch.negativeStore()).add(lo + k, n);
      }
    }
    if (off !== bytes.length) fail(`${bytes.length - off} trailing bytes`);
    if (sketch.positive.total + sketch.negative.total + zero !== count) fail('bucket counts do not add up to the count');
    sketch.zeroCount = zero;
    sketch.countValue = count;
    sketch.sumValue = sum;
    if (count > 0) { sketch.minValue = min; sketch.maxValue = max; }
    return sketch;
  }
}

function mergeStore(into: DenseStore, from: DenseStore): void {
  if (from.isEmpty()) return;
  // Highest first: when the union is too wide, collapsing then happens once at the low end.
  for (let k = from.hi; k >= from.lo; k--) {
    const n = from.count(k);
    if (n > 0) into.add(k, n);
  }
}

/**
 * Values an accumulator keeps exactly before it switches to a sketch. A plain array of a few
 * doubles costs far less than a sketch's typed arrays, and most flows carry few samples
 * (100,000 flows × 6 accumulators must fit in a few hundred MB).
 */
const EXACT_VALUES_LIMIT = 32;

/**
 * Streaming statistics of one duration metric: exact count/min/max/mean, percentiles from a
 * sketch. Nothing is allocated before the first value; up to EXACT_VALUES_LIMIT values are kept
 * in a small array and the sketch is built from them only when more arrive. Percentiles always
 * come from a sketch (built on the fly for small flows), so a stored p99 equals the p99 of the
 * stored sketch and of any merge that contains only this flow.
 */
export class DurationAccumulator {
  /**
   * The exact values while there are at most EXACT_VALUES_LIMIT, `valueCount` in use. Capacity
   * 8, then 32 in one step: with 100,000 flows open at once every outgrown array has lived long
   * enough to be promoted, and garbage in the old generation is RSS until the next full
   * collection (steps of ×1.5 left ~250 MB of it on 5M packets, 6-12-24-32 still ~150 MB).
   */
  private values: number[] | null = null;
  private valueCount = 0;
  private sketch: QuantileSketch | null = null;
  /** Shared per accuracy: a double field would cost every accumulator a boxed number. */
  private readonly mapping: SketchMapping;

  constructor(relativeAccuracy = DEFAULT_RELATIVE_ACCURACY) {
    this.mapping = mappingFor(relativeAccuracy);
  }

  /** An accumulator that reports `sketch` (FlowPdm's statistics, kept in its own compact form). */
  static ofSketch(sketch: QuantileSketch): DurationAccumulator {
    const acc = new DurationAccumulator(sketch.relativeAccuracy);
    acc.sketch = sketch;
    return acc;
  }

  /** Adds one duration; NaN and ±Infinity are ignored, as in QuantileSketch.add. */
  add(valueNs: number): void {
    if (this.sketch !== null) { this.sketch.add(valueNs); return; }
    if (valueNs - valueNs !== 0) return; // NaN or ±Infinity
    const n = this.valueCount;
    const values = boundedLogRoom(this.values, n, 8, EXACT_VALUES_LIMIT);
    if (values === null) {
      this.sketch = this.buildSketch();
      this.sketch.add(valueNs);
      this.values = null;
      this.valueCount = 0;
      return;
    }
    this.values = values;
    values[n] = valueNs;
    this.valueCount = n + 1;
  }

  get count(): number {
    if (this.sketch !== null) return this.sketch.count;
    return this.valueCount;
  }

  stats(): DurationStats {
    return statsFromSketch(this.currentSketch());
  }

  sketchBytes(): Uint8Array | null {
    const s = this.currentSketch();
    return s === null ? null : s.serialize();
  }

  /** The sketch of every value so far (a fresh one while values are still kept exactly); null when empty. */
  currentSketch(): QuantileSketch | null {
    if (this.sketch !== null) return this.sketch;
    return this.valueCount === 0 ? null : this.buildSketch();
  }

  private buildSketch(): QuantileSketch {
    const s = new QuantileSketch(this.mapping.relativeAccuracy);
    const values = this.values;
    for (let i = 0; i < this.valueCount; i++) s.add(values![i]!);
    return s;
  }
}

/** An array of `n` slots whose elements are stored as unboxed doubles (never boxed numbers). */
/**
 * The array to write entry `n` of a bounded log into: `log` while it has room; else a new array
 * of `first` entries (no log yet) or of `limit` with the `n` entries copied; null once `limit`
 * entries are there (the caller moves them elsewhere). One step to the limit, not doubling: with
 * 100,000 flows open, every outgrown array has been promoted, and old-generation garbage is RSS
 * until the next full collection.
 */
function boundedLogRoom(log: number[] | null, n: number, first: number, limit: number): number[] | null {
  if (log === null) return doubleArray(first);
  if (n < log.length) return log;
  if (n >= limit) return null;
  const grown = doubleArray(limit);
  for (let i = 0; i < n; i++) grown[i] = log[i]!;
  return grown;
}

export function doubleArray(n: number): number[] {
  const a = new Array<number>(n);
  a[0] = 0.5; // a double first fixes the elements kind
  return a;
}

/** The statistics a stored or merged sketch describes (the same fields as DurationAccumulator.stats). */
export function statsFromSketch(sketch: QuantileSketch | null): DurationStats {
  if (sketch === null || sketch.count === 0) {
    return { ...EMPTY_STATS };
  }
  return {
    count: sketch.count, min: sketch.min, mean: sketch.sum / sketch.count, max: sketch.max,
    p50: sketch.quantile(0.5), p90: sketch.quantile(0.9), p99: sketch.quantile(0.99),
  };
}
