// The `pdmscope.analyze/1` document (docs/architecture.md §3): one schema of snake_case names serves JSON,
// NDJSON, CSV, the SQLite store and the HTML report.

import type { AnomalyCounts } from '../decode/anomalies.js';

export const ANALYZE_SCHEMA = 'pdmscope.analyze/1';

/** Streaming statistics of one metric, in nanoseconds. `count: 0` holds nulls, never zeros. */
export interface DurationStats {
  count: number;
  min: number | null;
  mean: number | null;
  max: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** The statistics of a metric with no samples. Shared: copy it (`{ ...EMPTY_STATS }`) to change it. */
export const EMPTY_STATS: Readonly<DurationStats> = { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null };

/** Serialized quantile sketches of a finished flow, for the store and cross-run merges. */
export interface FlowSketches {
  server_delay_ns: Uint8Array | null;
  total_ns: Uint8Array | null;
  rtd_ns: Uint8Array | null;
}

export interface PsnCounters {
  lost: number;
  reordered: number;
  duplicates: number;
  restarts: number;
}

export interface Endpoint {
  addr: string;
  /** null when the flow is keyed without ports (ESP outside, non-port protocols). */
  port: number | null;
}

export interface EspInfo {
  placement: 'outside' | 'inside' | 'tunnel';
  spis: number[];
}

/** An RFC 8250 deviation observed in a flow (issue 4 "findings"). */
export interface Finding {
  code: string;
  message: string;
  count: number;
  first_frame: number;
}

export interface PerDirection<T> {
  initiator_to_responder: T;
  responder_to_initiator: T;
}

export interface FlowReport {
  /** Stable within one document; the store assigns its own ids. */
  flow_index: number;
  proto: string;
  proto_num: number;
  initiator: Endpoint;
  responder: Endpoint;
  esp: EspInfo | null;
  icmp_echo_id?: number;
  packets: PerDirection<number>;
  pdm_packets: PerDirection<number>;
  first_ts_us: number;
  last_ts_us: number;
  /** Responder's DeltaTLR (RFC 8250 §2.2). */
  server_delay_ns: DurationStats;
  /** Initiator's DeltaTLS of its next packet. */
  total_ns: DurationStats;
  /** total − matched server delay (RFC 8250 §2.1, §4.1). */
  rtd_ns: DurationStats;
  /** Mirror metrics: the initiator as the one answering, the responder as the one asking. */
  reverse: {
    server_delay_ns: DurationStats;
    total_ns: DurationStats;
    rtd_ns: DurationStats;
  };
  psn: PerDirection<PsnCounters>;
  /** PDM sessions (epochs): 1 + restarts across both directions. */
  pdm_sessions: number;
  findings: Finding[];
}

export interface InputReport {
  path: string;
  packets: number;
  link_types: number[];
  format: 'pcap' | 'pcapng';
  /** False when the file ended early or could not be fully read; `error` says why. */
  complete: boolean;
  error: string | null;
}

export interface AnalyzeDocument {
  schema: typeof ANALYZE_SCHEMA;
  inputs: InputReport[];
  packets: { total: number; ipv6: number; with_pdm: number; malformed: number };
  anomalies: AnomalyCounts;
  /** esp_no_sa broken down by SPI (hex string → packets). */
  esp_no_sa_by_spi: Record<string, number>;
  /** The flow table's bound and the flows it ended early (analyze; absent in stored runs). */
  flow_table?: FlowTableReport;
  flows: FlowReport[];
}

/** `max_flows` flows at most are open at once; `ended_early` were ended because the table was full. */
export interface FlowTableReport {
  max_flows: number;
  ended_early: number;
}

/** One delay sample, for `--samples` storage and the report's time series. */
export interface Sample {
  flow_index: number;
  ts_us: number;
  metric: 'server_delay' | 'total' | 'rtd' | 'reverse_server_delay' | 'reverse_total' | 'reverse_rtd';
  value_ns: number;
  /** PSNTP of the packet that carried the sample. */
  psn: number;
  frame: number;
}

/** A PSN event in one direction of a flow, for loss-over-time plots and the store. */
export interface PsnEvent {
  flow_index: number;
  ts_us: number;
  direction: 'initiator_to_responder' | 'responder_to_initiator';
  kind: 'lost' | 'reordered' | 'duplicate' | 'restart';
  /** Packets concerned: the size of the PSN gap for `lost`, else 1. */
  count: number;
  /** PSNTP of the packet that revealed the event. */
  psn: number;
  frame: number;
}
