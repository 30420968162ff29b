// The report's chart data, prepared in Node: samples grouped per flow and metric, reduced to a
// few thousand points per series (min and max per pixel bucket, so spikes survive), distributions
// as CDF points, cumulative PSN loss, and base64 Float64Array encoding for compact embedding.

import type { PsnEvent, Sample } from '../metrics/types.js';

/**
 * The metrics the report plots, in drawing and legend order (names as in `Sample.metric`):
 * total = server delay + RTD, and RTD, the metric that matters most, is drawn last, on top.
 */
export const PLOTTED_METRICS = ['total', 'server_delay', 'rtd'] as const;
export type PlottedMetric = (typeof PLOTTED_METRICS)[number];

export const LOSS_DIRECTIONS = ['initiator_to_responder', 'responder_to_initiator'] as const;

/** Points (x ascending) of one series. */
export interface XY {
  xs: Float64Array;
  ys: Float64Array;
}

/** A growable pair of Float64Arrays: 16 bytes a point instead of an object per sample. */
export class SeriesBuilder {
  xs = new Float64Array(64);
  ys = new Float64Array(64);
  length = 0;
  /** False once a point arrived with an x below its predecessor's. */
  sorted = true;

  push(x: number, y: number): void {
    if (this.length === this.xs.length) {
      const xs = new Float64Array(this.length * 2);
      xs.set(this.xs);
      this.xs = xs;
      const ys = new Float64Array(this.length * 2);
      ys.set(this.ys);
      this.ys = ys;
    }
    if (this.length > 0 && x < this.xs[this.length - 1]!) this.sorted = false;
    this.xs[this.length] = x;
    this.ys[this.length] = y;
    this.length++;
  }

  /** The points in x order (stable for equal x). */
  finish(): XY {
    const xs = this.xs.subarray(0, this.length);
    const ys = this.ys.subarray(0, this.length);
    if (this.sorted) return { xs, ys };
    const order = Array.from({ length: this.length }, (_, i) => i).sort((a, b) => xs[a]! - xs[b]! || a - b);
    return { xs: Float64Array.from(order, (i) => xs[i]!), ys: Float64Array.from(order, (i) => ys[i]!) };
  }
}

/**
 * Reduces points (x ascending) for display: the x range [x0, x1] is cut into `buckets` equal
 * buckets (one per pixel column or so) and each bucket keeps its minimum and its maximum point,
 * in their original order, so a line through the result covers the same vertical extent in every
 * column as a line through all points. Series of at most 2 × buckets points are returned as they
 * are. Points with a non-finite y are dropped (they are gaps, not values).
 */
export function downsampleMinMax(points: XY, buckets: number, x0?: number, x1?: number): XY {
  const { xs, ys } = points;
  const n = xs.length;
  if (!(buckets >= 1)) throw new RangeError(`buckets must be at least 1, got ${buckets}`);
  if (n <= 2 * buckets) {
    let finite = 0;
    for (let i = 0; i < n; i++) if (Number.isFinite(ys[i]!)) finite++;
    if (finite === n) return { xs: xs.slice(), ys: ys.slice() };
    const outX = new Float64Array(finite);
    const outY = new Float64Array(finite);
    for (let i = 0, k = 0; i < n; i++) if (Number.isFinite(ys[i]!)) { outX[k] = xs[i]!; outY[k] = ys[i]!; k++; }
    return { xs: outX, ys: outY };
  }
  const lo = x0 ?? xs[0]!;
  const hi = x1 ?? xs[n - 1]!;
  const width = (hi - lo) / buckets;
  const outX = new Float64Array(2 * buckets);
  const outY = new Float64Array(2 * buckets);
  let k = 0;
  let bucket = -1;
  let minI = -1;
  let maxI = -1;
  const flush = (): void => {
    if (minI < 0) return;
    const first = Math.min(minI, maxI);
    const second = Math.max(minI, maxI);
    outX[k] = xs[first]!; outY[k] = ys[first]!; k++;
    if (second !== first) { outX[k] = xs[second]!; outY[k] = ys[second]!; k++; }
  };
  for (let i = 0; i < n; i++) {
    const y = ys[i]!;
    if (!Number.isFinite(y)) continue;
    // Points outside [x0, x1] join the first or last bucket rather than being lost.
    const b = width > 0 ? Math.min(buckets - 1, Math.max(0, Math.floor((xs[i]! - lo) / width))) : 0;
    if (b !== bucket) {
      flush();
      bucket = b;
      minI = i;
      maxI = i;
      continue;
    }
    if (y < ys[minI]!) minI = i;
    if (y > ys[maxI]!) maxI = i;
  }
  flush();
  return { xs: outX.slice(0, k), ys: outY.slice(0, k) };
}

/**
 * The empirical CDF of `values` as at most `maxPoints` points (value, percent of samples ≤ value):
 * every sample when there are few; otherwise evenly spaced ranks plus the last 1% of ranks at a
 * finer spacing, so the tail (p99 and up) stays visible; the minimum and the maximum are always
 * included. Non-finite values are ignored.
 */
export function cdfPoints(values: Float64Array, maxPoints = 600): XY {
  const sorted = values.filter((v) => Number.isFinite(v)).sort();
  const n = sorted.length;
  if (n === 0) return { xs: new Float64Array(0), ys: new Float64Array(0) };
  const ranks = new Set<number>();
  if (n <= maxPoints) {
    for (let i = 0; i < n; i++) ranks.add(i);
  } else {
    const body = Math.floor(maxPoints * 0.75);
    for (let j = 0; j < body; j++) ranks.add(Math.round((j * (n - 1)) / (body - 1)));
    const tailStart = Math.floor(n * 0.99);
    const tail = maxPoints - body;
    for (let j = 0; j < tail; j++) ranks.add(tailStart + Math.round((j * (n - 1 - tailStart)) / Math.max(1, tail - 1)));
  }
  const order = [...ranks].sort((a, b) => a - b);
  const xs = new Float64Array(order.length);
  const ys = new Float64Array(order.length);
  order.forEach((r, j) => {
    // Equal values share the CDF of the last of them.
    let last = r;
    while (last + 1 < n && sorted[last + 1] === sorted[r]) last++;
    xs[j] = sorted[r]!;
    ys[j] = ((last + 1) / n) * 100;
  });
  return { xs, ys };
}

/**
 * Merges series that have their own x values into one x column with one y column per series,
 * as uPlot wants: rows are taken from the series in x order (ties keep series order), and each
 * row carries only its own series' value; the others hold NaN (drawn as gaps bridged with
 * spanGaps). No point is dropped or moved, even when several share an x.
 */
export function interleaveSeries(series: readonly XY[]): { xs: Float64Array; ys: Float64Array[] } {
  const total = series.reduce((s, p) => s + p.xs.length, 0);
  const xs = new Float64Array(total);
  const ys = series.map(() => new Float64Array(total).fill(NaN));
  const at = series.map(() => 0);
  for (let row = 0; row < total; row++) {
    let pick = -1;
    for (let s = 0; s < series.length; s++) {
      const i = at[s]!;
      if (i >= series[s]!.xs.length) continue;
      if (pick < 0 || series[s]!.xs[i]! < series[pick]!.xs[at[pick]!]!) pick = s;
    }
    const p = series[pick]!;
    const i = at[pick]!;
    xs[row] = p.xs[i]!;
    ys[pick]![row] = p.ys[i]!;
    at[pick] = i + 1;
  }
  return { xs, ys };
}

/** Little-endian IEEE doubles as base64 (NaN encodes a gap). */
export function encodeFloat64(values: Float64Array): string {
  const bytes = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) bytes.writeDoubleLE(values[i]!, i * 8);
  return bytes.toString('base64');
}

export function decodeFloat64(base64: string): Float64Array {
  const bytes = Buffer.from(base64, 'base64');
  const out = new Float64Array(Math.floor(bytes.length / 8));
  for (let i = 0; i < out.length; i++) out[i] = bytes.readDoubleLE(i * 8);
  return out;
}

/** One flow's raw plot data, gathered in a single pass over samples and events. */
export interface FlowSeries {
  /** x = ts_us, y = value_ns, per plotted metric. */
  metrics: Record<PlottedMetric, SeriesBuilder>;
  /** x = ts_us, y = packets lost in that event, per direction. */
  lost: Record<(typeof LOSS_DIRECTIONS)[number], SeriesBuilder>;
  sampleCount: number;
}

function newFlowSeries(): FlowSeries {
  return {
    metrics: { rtd: new SeriesBuilder(), server_delay: new SeriesBuilder(), total: new SeriesBuilder() },
    lost: { initiator_to_responder: new SeriesBuilder(), responder_to_initiator: new SeriesBuilder() },
    sampleCount: 0,
  };
}

/**
 * Groups samples and PSN loss events by flow_index. Reverse metrics are not plotted; samples
 * with a non-finite value (a stored NULL) are skipped.
 */
export function collectFlowSeries(samples: Iterable<Sample>, psnEvents: Iterable<PsnEvent>): Map<number, FlowSeries> {
  const flows = new Map<number, FlowSeries>();
  const get = (flowIndex: number): FlowSeries => {
    let f = flows.get(flowIndex);
    if (f === undefined) { f = newFlowSeries(); flows.set(flowIndex, f); }
    return f;
  };
  for (const s of samples) {
    if (s.metric !== 'rtd' && s.metric !== 'server_delay' && s.metric !== 'total') continue;
    if (typeof s.value_ns !== 'number' || !Number.isFinite(s.value_ns)) continue;
    const f = get(s.flow_index);
    f.metrics[s.metric].push(s.ts_us, s.value_ns);
    f.sampleCount++;
  }
  for (const e of psnEvents) {
    if (e.kind !== 'lost') continue;
    get(e.flow_index).lost[e.direction]?.push(e.ts_us, e.count);
  }
  return flows;
}

/**
 * Cumulative packets lost over time as a step series from `startUs` to `endUs`: starts at 0,
 * rises at each loss event, and holds its final value to the end so every direction spans the
 * flow's whole time range.
 */
export function cumulativeSeries(events: XY, startUs: number, endUs: number): XY {
  const n = events.xs.length;
  const xs = new Float64Array(n + 2);
  const ys = new Float64Array(n + 2);
  xs[0] = Math.min(startUs, n > 0 ? events.xs[0]! : startUs);
  ys[0] = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += events.ys[i]!;
    xs[i + 1] = events.xs[i]!;
    ys[i + 1] = sum;
  }
  xs[n + 1] = Math.max(endUs, n > 0 ? events.xs[n - 1]! : endUs);
  ys[n + 1] = sum;
  return { xs, ys };
}

/** Scales x values (µs → s for uPlot's time axes) into a new series. */
export function scaleX(points: XY, factor: number): XY {
  return { xs: points.xs.map((x) => x * factor), ys: points.ys };
}
