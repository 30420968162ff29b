// Synthetic report inputs for tests and for trying the report by hand: an analyze/1 document
// whose statistics are computed from the generated samples, so tables and charts agree.

import { ANALYZE_SCHEMA, type AnalyzeDocument, type DurationStats, type FlowReport, type PsnEvent, type Sample } from '../../src/metrics/types.js';
import { rng } from './build.js';
import type { ReportInput } from '../../src/sink/report.js';

/** A seeded PRNG (mulberry32) so generated inputs are the same on every run. */
export const seededRandom = rng;

export const NULL_STATS: DurationStats = { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null };

/** Exact statistics of a list of values (nearest-rank quantiles). */
export function exactStats(values: readonly number[]): DurationStats {
  if (values.length === 0) return { ...NULL_STATS };
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return {
    count: sorted.length, min: sorted[0]!, max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length, p50: q(0.5), p90: q(0.9), p99: q(0.99),
  };
}

export interface SyntheticFlowSpec {
  /** Samples per plotted metric (rtd, server_delay, total); 0 for a flow without samples. */
  samplesPerMetric: number;
  /** Typical RTD in ns. */
  rtdNs: number;
  serverDelayNs: number;
  durationUs: number;
  /** Loss events per direction. */
  lossEvents: number;
  port: number;
}

/**
 * A document with one flow per spec, starting at `startUs`. RTD has a slow wave, noise and a few
 * large spikes (the extremes the downsampling must keep); total = RTD + server delay.
 */
export function syntheticReportInput(specs: readonly SyntheticFlowSpec[], options: { seed?: number; startUs?: number; title?: string } = {}): ReportInput & { samples: Sample[]; psn_events: PsnEvent[] } {
  const rnd = seededRandom(options.seed ?? 8250);
  const startUs = options.startUs ?? Date.UTC(2025, 2, 14, 9, 30, 0) * 1000;
  const samples: Sample[] = [];
  const events: PsnEvent[] = [];
  const flows: FlowReport[] = specs.map((spec, flowIndex) => {
    const first = startUs + flowIndex * 1_500_000;
    const last = first + spec.durationUs;
    const rtd: number[] = [];
    const server: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < spec.samplesPerMetric; i++) {
      const ts = Math.round(first + ((i + 0.5) * spec.durationUs) / spec.samplesPerMetric);
      const wave = 1 + 0.25 * Math.sin((i / spec.samplesPerMetric) * Math.PI * 6);
      const spike = rnd() < 0.0005 ? 6 + rnd() * 4 : 1;
      const r = spec.rtdNs * wave * spike * (0.85 + 0.3 * rnd());
      const s = spec.serverDelayNs * (0.7 + 0.6 * rnd());
      rtd.push(r);
      server.push(s);
      total.push(r + s);
      const psn = i & 0xffff;
      samples.push({ flow_index: flowIndex, ts_us: ts, metric: 'server_delay', value_ns: s, psn, frame: 2 * i + 2 });
      samples.push({ flow_index: flowIndex, ts_us: ts + 1, metric: 'total', value_ns: r + s, psn, frame: 2 * i + 3 });
      samples.push({ flow_index: flowIndex, ts_us: ts + 1, metric: 'rtd', value_ns: r, psn, frame: 2 * i + 3 });
    }
    const lost = { initiator_to_responder: 0, responder_to_initiator: 0 };
    for (const direction of ['initiator_to_responder', 'responder_to_initiator'] as const) {
      const n = direction === 'initiator_to_responder' ? spec.lossEvents : Math.floor(spec.lossEvents / 2);
      const times = Array.from({ length: n }, () => first + Math.floor(rnd() * spec.durationUs)).sort((a, b) => a - b);
      for (const ts of times) {
        const count = 1 + Math.floor(rnd() * 3);
        lost[direction] += count;
        events.push({ flow_index: flowIndex, ts_us: ts, direction, kind: 'lost', count, psn: 0, frame: 0 });
      }
    }
    const packets = spec.samplesPerMetric + 1;
    return {
      flow_index: flowIndex, proto: 'udp', proto_num: 17,
      initiator: { addr: `2001:db8::${flowIndex + 1}`, port: 40000 + flowIndex },
      responder: { addr: '2001:db8::100', port: spec.port },
      esp: null,
      packets: { initiator_to_responder: packets, responder_to_initiator: packets },
      pdm_packets: { initiator_to_responder: packets, responder_to_initiator: packets },
      first_ts_us: first, last_ts_us: last,
      server_delay_ns: exactStats(server), total_ns: exactStats(total), rtd_ns: exactStats(rtd),
      reverse: { server_delay_ns: { ...NULL_STATS }, total_ns: { ...NULL_STATS }, rtd_ns: { ...NULL_STATS } },
      psn: {
        initiator_to_responder: { lost: lost.initiator_to_responder, reordered: 0, duplicates: 0, restarts: 0 },
        responder_to_initiator: { lost: lost.responder_to_initiator, reordered: 0, duplicates: 0, restarts: 0 },
      },
      pdm_sessions: 1,
      findings: [],
    };
  });
  const totalPackets = flows.reduce((s, f) => s + f.packets.initiator_to_responder + f.packets.responder_to_initiator, 0);
  const doc: AnalyzeDocument = {
    schema: ANALYZE_SCHEMA,
    inputs: [
      { path: 'captures/site-a.pcapng', packets: totalPackets - 7, link_types: [1], format: 'pcapng', complete: true, error: null },
      { path: 'captures/site-b-truncated.pcap', packets: 7, link_types: [1], format: 'pcap', complete: false, error: 'file ends inside a packet record at byte 1180' },
    ],
    packets: { total: totalPackets + 12, ipv6: totalPackets + 5, with_pdm: totalPackets, malformed: 3 },
    anomalies: { pdm_bad_length: 2, truncated_ipv6: 1, esp_no_sa: 4 } as AnalyzeDocument['anomalies'],
    esp_no_sa_by_spi: { '0x0000c0de': 4 },
    flows,
  };
  return { title: options.title ?? 'pdmscope report', generated_at_us: startUs + 3_600_000_000, doc, samples, psn_events: events };
}

/** The browser test's input: 3 flows, one with 100,000 samples per metric, one with none. */
export function threeFlowInput(): ReturnType<typeof syntheticReportInput> {
  return syntheticReportInput([
    { samplesPerMetric: 100_000, rtdNs: 18_000_000, serverDelayNs: 350_000, durationUs: 600_000_000, lossEvents: 40, port: 443 },
    { samplesPerMetric: 400, rtdNs: 2_500_000, serverDelayNs: 80_000, durationUs: 20_000_000, lossEvents: 3, port: 53 },
    { samplesPerMetric: 0, rtdNs: 0, serverDelayNs: 0, durationUs: 5_000_000, lossEvents: 0, port: 8080 },
  ], { title: 'PDM report — synthetic capture' });
}
