// Builders of synthetic runs for the store's tests.

import { DurationAccumulator } from '../../src/metrics/sketch.js';
import type { FlowReport, Sample } from '../../src/metrics/types.js';
import type { FlowToStore, RunMeta } from '../../src/sink/store.js';

export function testRunMeta(overrides: Partial<RunMeta> = {}): RunMeta {
  return {
    kind: 'analyze',
    started_at_us: 1_700_000_000_000_000,
    finished_at_us: 1_700_000_001_000_000,
    command: 'pdmscope analyze test.pcapng',
    inputs: [{ path: 'test.pcapng', packets: 10, link_types: [1], format: 'pcapng', complete: true, error: null }],
    content_hash: 'hash-a',
    packets: { total: 10, ipv6: 10, with_pdm: 10, malformed: 0 },
    anomalies: { pdm_bad_length: 1 },
    esp_no_sa_by_spi: {},
    tool_version: '0.1.0-test',
    ...overrides,
  };
}

/** A flow whose three metrics hold exactly the given values (stats and sketches from accumulators). */
export function testFlow(flowIndex: number, values: { server_delay_ns?: number[]; total_ns?: number[]; rtd_ns?: number[] } = {}, overrides: Partial<FlowReport> = {}): FlowToStore {
  const acc = {
    server_delay_ns: new DurationAccumulator(),
    total_ns: new DurationAccumulator(),
    rtd_ns: new DurationAccumulator(),
  };
  for (const m of ['server_delay_ns', 'total_ns', 'rtd_ns'] as const) for (const v of values[m] ?? []) acc[m].add(v);
  const report: FlowReport = {
    flow_index: flowIndex,
    proto: 'udp',
    proto_num: 17,
    initiator: { addr: '2001:db8::1', port: 40_000 + flowIndex },
    responder: { addr: '2001:db8::2', port: 443 },
    esp: null,
    packets: { initiator_to_responder: 10, responder_to_initiator: 9 },
    pdm_packets: { initiator_to_responder: 10, responder_to_initiator: 9 },
    first_ts_us: 1_700_000_000_000_000 + flowIndex,
    last_ts_us: 1_700_000_000_500_000 + flowIndex,
    server_delay_ns: acc.server_delay_ns.stats(),
    total_ns: acc.total_ns.stats(),
    rtd_ns: acc.rtd_ns.stats(),
    reverse: {
      server_delay_ns: { count: 2, min: 10, mean: 15, max: 20, p50: 10, p90: 20, p99: 20 },
      total_ns: { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null },
      rtd_ns: { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null },
    },
    psn: {
      initiator_to_responder: { lost: 1, reordered: 0, duplicates: 0, restarts: 0 },
      responder_to_initiator: { lost: 0, reordered: 2, duplicates: 1, restarts: 0 },
    },
    pdm_sessions: 1,
    findings: [{ code: 'stale_sample', message: 'a repeated PSNLR', count: 3, first_frame: 7 }],
    ...overrides,
  };
  return {
    report,
    sketches: {
      server_delay_ns: acc.server_delay_ns.sketchBytes(),
      total_ns: acc.total_ns.sketchBytes(),
      rtd_ns: acc.rtd_ns.sketchBytes(),
    },
  };
}

/** `perFlow` RTD samples for each of `flows` flows, in time order. */
export function* testSamples(flows: number, perFlow: number): Generator<Sample> {
  for (let f = 0; f < flows; f++) {
    for (let i = 0; i < perFlow; i++) {
      yield { flow_index: f, ts_us: 1_700_000_000_000_000 + i * 1000, metric: 'rtd', value_ns: 1e6 + i * 13.25, psn: i & 0xffff, frame: i + 1 };
    }
  }
}
