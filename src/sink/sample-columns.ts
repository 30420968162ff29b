// Delay samples held column by column in typed arrays. A run of a 1M-packet capture yields
// ~2M samples: as objects they are ~2M long-lived heap objects that every young-generation GC
// copies and promotes; as columns they are seven flat buffers, and the store sorts and inserts
// them by index without touching an object. Iterating still yields analyze/1 `Sample` objects
// (the HTML report and other consumers of Iterable<Sample> take a SampleColumns as it is).

import type { Sample } from '../metrics/types.js';

export type SampleMetric = Sample['metric'];

/**
 * Every metric a Sample can carry, in byte (BINARY collation) order of the names: a metric's
 * code is its position here, so sorting by code sorts as SQLite's index on `metric` does.
 */
export const SAMPLE_METRICS: readonly SampleMetric[] = [
  'reverse_rtd', 'reverse_server_delay', 'reverse_total', 'rtd', 'server_delay', 'total',
];

const METRIC_CODES: ReadonlyMap<string, number> = new Map(SAMPLE_METRICS.map((m, i) => [m, i]));

/** The code of a metric name (its index in SAMPLE_METRICS), or -1 for a name that is none. */
export function sampleMetricCode(metric: string): number {
  return METRIC_CODES.get(metric) ?? -1;
}

const INITIAL_CAPACITY = 1024;

function grown<T extends Float64Array | Uint32Array | Uint8Array>(old: T, capacity: number): T {
  const next = new (old.constructor as new (n: number) => T)(capacity);
  next.set(old);
  return next;
}

/** An append-only batch of samples in columns; `push` copies the fields, so the object can die young. */
export class SampleColumns implements Iterable<Sample> {
  /** Number of samples held; the columns below are valid at [0, length). */
  length = 0;
  flowIndex: Uint32Array;
  /** µs since the epoch; Float64 keeps every integer up to 2^53 exact. */
  tsUs: Float64Array;
  /** Index into SAMPLE_METRICS. */
  metricCode: Uint8Array;
  valueNs: Float64Array;
  /** PSNTP: 16 bits on the wire (RFC 8250 §3.2). */
  psn: Uint32Array;
  /** Frame numbers run on across input files; Float64 so no capture is too long. */
  frame: Float64Array;

  constructor(capacity = INITIAL_CAPACITY) {
    const n = Math.max(1, Math.ceil(capacity));
    this.flowIndex = new Uint32Array(n);
    this.tsUs = new Float64Array(n);
    this.metricCode = new Uint8Array(n);
    this.valueNs = new Float64Array(n);
    this.psn = new Uint32Array(n);
    this.frame = new Float64Array(n);
  }

  /** A batch holding the given samples (an existing SampleColumns is returned as it is). */
  static from(samples: Iterable<Sample>): SampleColumns {
    if (samples instanceof SampleColumns) return samples;
    const out = new SampleColumns(Array.isArray(samples) ? samples.length : INITIAL_CAPACITY);
    for (const s of samples) out.push(s);
    return out;
  }

  get capacity(): number {
    return this.tsUs.length;
  }

  /** Appends one sample; throws for a metric name that is not one of SAMPLE_METRICS. */
  push(s: Sample): void {
    const code = METRIC_CODES.get(s.metric);
    if (code === undefined) throw new Error(`samples: unknown metric '${String(s.metric)}'`);
    this.append(s.flow_index, s.ts_us, code, s.value_ns, s.psn, s.frame);
  }

  /** Appends one sample given field by field; `metricCode` indexes SAMPLE_METRICS. */
  append(flowIndex: number, tsUs: number, metricCode: number, valueNs: number, psn: number, frame: number): void {
    const i = this.length;
    if (i === this.tsUs.length) this.grow(i * 2);
    this.flowIndex[i] = flowIndex;
    this.tsUs[i] = tsUs;
    this.metricCode[i] = metricCode;
    this.valueNs[i] = valueNs;
    this.psn[i] = psn;
    this.frame[i] = frame;
    this.length = i + 1;
  }

  private grow(capacity: number): void {
    this.flowIndex = grown(this.flowIndex, capacity);
    this.tsUs = grown(this.tsUs, capacity);
    this.metricCode = grown(this.metricCode, capacity);
    this.valueNs = grown(this.valueNs, capacity);
    this.psn = grown(this.psn, capacity);
    this.frame = grown(this.frame, capacity);
  }

  /** The i-th sample as an object (0 <= i < length). */
  at(i: number): Sample {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`samples: index ${i} outside [0, ${this.length})`);
    return {
      flow_index: this.flowIndex[i]!, ts_us: this.tsUs[i]!, metric: SAMPLE_METRICS[this.metricCode[i]!]!,
      value_ns: this.valueNs[i]!, psn: this.psn[i]!, frame: this.frame[i]!,
    };
  }

  *[Symbol.iterator](): Iterator<Sample> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
}
