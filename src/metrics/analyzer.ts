// The analysis engine shared by `analyze` and `live`: frames in, flows and RFC 8250 metrics out.
// State only — capture sources and sinks live elsewhere.

import { Decoder } from '../decode/decode.js';
import type { EspOpener } from '../decode/esp-opener.js';
import { DecodedPacket } from '../decode/packet.js';
import { Flow, FlowKeyScratch, FlowTable, keyOf } from '../flow/table.js';
import { formatIpv6 } from '../wire/ipv6.js';
import { PacketCounters } from './counters.js';
import { FINDINGS, FlowPdm, type MetricName, type SampleObserver } from './flow-pdm.js';
import { protoName } from './proto-names.js';
import {
  ANALYZE_SCHEMA, type AnalyzeDocument, type DurationStats, type FlowReport, type InputReport,
} from './types.js';

export interface AnalyzerOptions {
  /** A flow idle longer than this (capture time) ends; the next packet starts a new flow. */
  idleTimeoutUs: number;
  /** Bound on flows held at once; the longest idle end first. */
  maxFlows: number;
  /** Also report IPv6 flows without PDM. */
  allFlows: boolean;
  esp: EspOpener | null;
  observer: SampleObserver | null;
  /** Serialize each finished flow's quantile sketches (for the store); off saves memory. */
  keepSketches: boolean;
}

export const DEFAULT_ANALYZER_OPTIONS: AnalyzerOptions = {
  idleTimeoutUs: 120_000_000, maxFlows: 2_000_000, allFlows: false, esp: null, observer: null, keepSketches: true,
};

/** Serialized quantile sketches of a finished flow, for the store and cross-run merges. */
export interface FlowSketches {
  server_delay_ns: Uint8Array | null;
  total_ns: Uint8Array | null;
  rtd_ns: Uint8Array | null;
}

export interface FlowRecord {
  report: FlowReport;
  sketches: FlowSketches;
}

const EMPTY_STATS: DurationStats = { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null };

export class Analyzer {
  readonly packet = new DecodedPacket();
  private readonly decoder: Decoder;
  private readonly key = new FlowKeyScratch();
  private readonly table: FlowTable;
  private readonly opts: AnalyzerOptions;
  private readonly finished: FlowRecord[] = [];
  /** Flows (by report) whose directions started at PSN 0 or 1, and how many starts were seen. */
  private readonly lowStarts: { record: FlowRecord; frame: number }[] = [];
  private seenStarts = 0;

  readonly counters = new PacketCounters();

  constructor(opts: Partial<AnalyzerOptions> = {}) {
    this.opts = { ...DEFAULT_ANALYZER_OPTIONS, ...opts };
    this.decoder = new Decoder({ esp: this.opts.esp });
    this.table = new FlowTable({
      idleTimeoutUs: this.opts.idleTimeoutUs,
      maxFlows: this.opts.maxFlows,
      onFlowEnd: (f) => this.endFlow(f),
    });
  }

  /** Decodes and accounts one frame. `frame` may be reused by the caller afterwards. */
  addFrame(frame: Uint8Array, capLen: number, wireLen: number, tsUs: number, linkType: number, frameNumber: number): DecodedPacket {
    const p = this.packet;
    this.decoder.decodeFrame(frame, capLen, wireLen, tsUs, linkType, frameNumber, p);
    this.account(p);
    return p;
  }

  /** Counts and feeds a decoded packet into the flow table. */
  account(p: DecodedPacket): void {
    this.counters.count(p);
    if (p.ipVersion !== 6) return;
    // Packets without PDM are tracked too: they decide the initiator and count in `packets`.
    const hit = p.primary;
    if (p.fragmentOffset > 0) return; // later fragments carry no headers to key on
    keyOf(p, this.key);
    const flow = this.table.lookup(this.key, p.tsUs, p.frameNumber);
    const forward = this.table.forward;
    flow.lastTsUs = p.tsUs;
    if (p.espSpi >= 0) flow.addSpi(p.espSpi);
    if (flow.espPlacement === 'none') flow.espPlacement = this.key.esp;
    if (forward) flow.packetsAB++;
    else flow.packetsBA++;
    if (hit === null) return;
    if (forward) flow.pdmPacketsAB++;
    else flow.pdmPacketsBA++;
    let pdm = flow.metrics as FlowPdm | null;
    if (pdm === null) flow.metrics = pdm = new FlowPdm(flow.id, this.opts.observer);
    pdm.observe(hit, forward, p.tsUs, p.frameNumber);
  }

  /** Ends all flows and builds the analyze/1 document. */
  finish(inputs: InputReport[]): { doc: AnalyzeDocument; flows: FlowRecord[] } {
    this.table.flush();
    this.flagLowStarts();
    const flows = this.finished
      .filter((r) => this.opts.allFlows || r.report.pdm_packets.initiator_to_responder + r.report.pdm_packets.responder_to_initiator > 0)
      .sort((x, y) => pdmTotal(y.report) - pdmTotal(x.report) || x.report.flow_index - y.report.flow_index);
    const doc: AnalyzeDocument = {
      schema: ANALYZE_SCHEMA,
      inputs,
      packets: this.counters.summary(),
      anomalies: this.counters.sortedAnomalies(),
      esp_no_sa_by_spi: this.counters.espNoSaRecord(),
      flows: flows.map((r) => r.report),
    };
    return { doc, flows };
  }

  /** Flows currently open (live status). */
  get openFlows(): number {
    return this.table.size;
  }

  /** A snapshot of open flows as reports, without ending them (live flushes). */
  snapshotOpen(): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (const f of this.table.all()) {
      if (f.metrics !== null || this.opts.allFlows) out.push(this.record(f));
    }
    return out;
  }

  /** Finished flows so far, handed over and forgotten (live flushes). */
  takeFinished(): FlowRecord[] {
    return this.finished.splice(0);
  }

  /** Ends flows idle at capture time `nowUs` (live mode, when traffic stops). */
  expireIdle(nowUs: number): void {
    this.table.sweep(nowUs);
  }

  private endFlow(f: Flow): void {
    if (f.metrics === null && !this.opts.allFlows) return;
    const record = this.record(f);
    this.finished.push(record);
    const pdm = f.metrics as FlowPdm | null;
    if (pdm !== null) {
      for (const psn of pdm.startPsns()) {
        this.seenStarts++;
        if (psn <= 1) this.lowStarts.push({ record, frame: f.firstFrame });
      }
    }
    f.metrics = null; // the state is summarised; let it go
  }

  private record(f: Flow): FlowRecord {
    const pdm = f.metrics as FlowPdm | null;
    const stats = (m: MetricName): DurationStats => pdm?.accumulator(m)?.stats() ?? EMPTY_STATS;
    const keep = this.opts.keepSketches;
    const sketch = (m: MetricName): Uint8Array | null => (keep ? pdm?.accumulator(m)?.sketchBytes() ?? null : null);
    const noPsn = { lost: 0, reordered: 0, duplicates: 0, restarts: 0 };
    const report: FlowReport = {
      flow_index: f.id,
      proto: protoName(f.proto),
      proto_num: f.proto,
      initiator: { addr: formatIpv6(f.addrA), port: f.portA >= 0 && !f.keyedByEcho ? f.portA : null },
      responder: { addr: formatIpv6(f.addrB), port: f.portB >= 0 && !f.keyedByEcho ? f.portB : null },
      esp: f.espPlacement === 'none' ? null : { placement: f.espPlacement, spis: f.spis ?? [] },
      ...(f.keyedByEcho ? { icmp_echo_id: f.portA } : {}),
      packets: { initiator_to_responder: f.packetsAB, responder_to_initiator: f.packetsBA },
      pdm_packets: { initiator_to_responder: f.pdmPacketsAB, responder_to_initiator: f.pdmPacketsBA },
      first_ts_us: f.firstTsUs,
      last_ts_us: f.lastTsUs,
      server_delay_ns: stats('server_delay'),
      total_ns: stats('total'),
      rtd_ns: stats('rtd'),
      reverse: {
        server_delay_ns: stats('reverse_server_delay'),
        total_ns: stats('reverse_total'),
        rtd_ns: stats('reverse_rtd'),
      },
      psn: {
        initiator_to_responder: pdm?.psnCounters(true) ?? { ...noPsn },
        responder_to_initiator: pdm?.psnCounters(false) ?? { ...noPsn },
      },
      pdm_sessions: pdm === null ? 0 : 1 + pdm.restarts,
      findings: pdm?.findingList() ?? [],
    };
    return { report, sketches: { server_delay_ns: sketch('server_delay'), total_ns: sketch('total'), rtd_ns: sketch('rtd') } };
  }

  /** RFC 8250 §3.2 wants a random initial PSN; many flows starting at 0 or 1 is a finding. */
  private flagLowStarts(): void {
    const n = this.lowStarts.length;
    if (n < 2 || n * 2 < this.seenStarts) return;
    const message = `${FINDINGS.psn_low_start} (${n} of ${this.seenStarts} observed starts were 0 or 1)`;
    for (const { record, frame } of this.lowStarts) {
      const list = record.report.findings;
      const existing = list.find((x) => x.code === 'psn_low_start');
      if (existing) existing.count++;
      else list.push({ code: 'psn_low_start', message, count: 1, first_frame: frame });
    }
  }
}

function pdmTotal(r: FlowReport): number {
  return r.pdm_packets.initiator_to_responder + r.pdm_packets.responder_to_initiator;
}
