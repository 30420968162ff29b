// The analysis engine shared by `analyze` and `live`: frames in, flows and RFC 8250 metrics out.
// State only — capture sources and sinks live elsewhere.

import { FINDINGS } from '../decode/anomalies.js';
import { Decoder } from '../decode/decode.js';
import type { EspOpener } from '../decode/esp-opener.js';
import { DecodedPacket, type PdmHit } from '../decode/packet.js';
import { PacketRecordView } from '../flow/packet-record.js';
import { Flow, FlowKeyScratch, FlowTable, keyOf } from '../flow/table.js';
import { formatIpv6 } from '../wire/ipv6.js';
import { PacketCounters } from './counters.js';
import { FlowPdm, type MetricName, type SampleObserver } from './flow-pdm.js';
import { protoName } from './proto-names.js';
import type { DurationAccumulator } from './sketch.js';
import {
  ANALYZE_SCHEMA, type AnalyzeDocument, type DurationStats, EMPTY_STATS, type FlowReport, type FlowSketches, type InputReport,
} from './types.js';

/**
 * Flows open at once (`--max-flows`). A flow costs 0.27 KB of heap without PDM, 1.1 KB with one
 * PDM packet, 3.6 KB with a thousand samples (bench/flow-bytes.ts), and half as many ended flows
 * may wait in memory for the output besides (the rest go to a temporary file): 1.5 × 250,000
 * flows stay under 1.4 GB, inside the ~2 GB heap V8 gives Node on an 8 GB machine (README,
 * "Flow table bound").
 */
export const DEFAULT_MAX_FLOWS = 250_000;

export interface AnalyzerOptions {
  /** A flow idle longer than this (capture time) ends; the next packet starts a new flow. */
  idleTimeoutUs: number;
  /** Bound on flows open at once; a new flow in a full table ends the least recently seen one. */
  maxFlows: number;
  /**
   * Where ended flows go once `maxFlows / 2` of them wait for the end of the input (the
   * output is ordered by PDM packets, so they all wait): each is then kept as its finished
   * record outside the heap. Null: all stay in memory (live hands them over at every flush).
   */
  spill: (() => FlowSpill) | null;
  /** Also report IPv6 flows without PDM. */
  allFlows: boolean;
  esp: EspOpener | null;
  observer: SampleObserver | null;
  /** Serialize each finished flow's quantile sketches (for the store); off saves memory. */
  keepSketches: boolean;
}

export const DEFAULT_ANALYZER_OPTIONS: AnalyzerOptions = {
  idleTimeoutUs: 120_000_000, maxFlows: DEFAULT_MAX_FLOWS, spill: null, allFlows: false, esp: null, observer: null, keepSketches: true,
};

/** Finished flow records kept outside the heap until the output is written (sink/flow-spill.ts). */
export interface FlowSpill {
  /** Keeps one record; records are numbered 0, 1, ... in the order put. */
  put(record: FlowRecord): void;
  /** Record `index`, read back. */
  get(index: number): FlowRecord;
  close(): void;
}

export interface FlowRecord {
  report: FlowReport;
  sketches: FlowSketches;
}


/**
 * The flows of a finished analysis in output order (most PDM packets first). Each report is
 * built from the flow's compact state only while it is consumed and then dropped: 100,000
 * FlowReport object trees held at once cost ~150 MB. Iterable more than once (output, then the
 * store); each pass builds the reports again.
 */
export class FinishedFlows implements Iterable<FlowRecord> {
  readonly length: number;
  /** The record of the i-th flow in output order (flows held in memory, or read back from the spill). */
  private readonly build: (i: number, withSketches: boolean) => FlowRecord;
  private readonly withSketches: boolean;
  private readonly spill: FlowSpill | null;

  constructor(length: number, build: (i: number, withSketches: boolean) => FlowRecord, withSketches: boolean, spill: FlowSpill | null = null) {
    this.length = length;
    this.build = build;
    this.withSketches = withSketches;
    this.spill = spill;
  }

  /** Lets go of the spill's file, if the analysis needed one; the flows cannot be read after. */
  close(): void {
    this.spill?.close();
  }

  /** Reports with their serialized sketches (when the analyzer keeps sketches), for the store. */
  *[Symbol.iterator](): Iterator<FlowRecord> {
    for (let i = 0; i < this.length; i++) yield this.build(i, this.withSketches);
  }

  /** Reports only (no sketch serialization), for the output formats. */
  *reports(): IterableIterator<FlowReport> {
    for (let i = 0; i < this.length; i++) yield this.build(i, false).report;
  }

  /** The report of the i-th flow in output order. */
  report(i: number): FlowReport {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`finished flows: no flow ${i} of ${this.length}`);
    return this.build(i, false).report;
  }
}

/** The analyze/1 document without its flows (those come from FinishedFlows, one at a time). */
export type AnalyzeHead = Omit<AnalyzeDocument, 'flows'>;

export class Analyzer {
  readonly packet = new DecodedPacket();
  private readonly decoder: Decoder;
  private readonly key = new FlowKeyScratch();
  /** Reads the reader thread's packet records (addRecord). */
  private readonly packetRecord = new PacketRecordView();
  private readonly table: FlowTable;
  private readonly opts: AnalyzerOptions;
  /** Ended flows with their state; reports are built from it when asked for. */
  private ended: Flow[] = [];
  /** Created at the first spill (opts.spill); holds the records of ended flows moved out of `ended`. */
  private spill: FlowSpill | null = null;
  /** Per spilled record, in put order: PDM packets and flow id (output order), low PSN starts and first frame (psn_low_start). */
  private readonly spilledPdm: number[] = [];
  private readonly spilledId: number[] = [];
  private readonly spilledLowStarts: number[] = [];
  private readonly spilledFirstFrame: number[] = [];
  /** Set by end(): the final flush holds its flows in memory. */
  private ending = false;
  /**
   * Reports already handed out by takeFinished (live) whose flows started at PSN 0 or 1: the
   * random-start finding, decided only at the end, is added to those very objects.
   */
  private readonly takenLowStarts: { record: FlowRecord; frame: number }[] = [];
  /** Observed PSN starts, and how many of them were 0 or 1 (RFC 8250 §3.2 check). */
  private seenStarts = 0;
  private lowStartCount = 0;
  /** The psn_low_start finding message once finish() decided the check fired; null before or when not. */
  private lowStartMessage: string | null = null;

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
    // Later fragments carry no headers to key on.
    if (p.ipVersion !== 6 || p.fragmentOffset > 0) return;
    keyOf(p, this.key);
    this.accountKeyed(this.key, p.tsUs, p.frameNumber, p.espSpi, p.primary);
  }

  /**
   * Counts and feeds the packet of a flow/packet-record.ts record at `words[at]` (decoded by the
   * reader thread), exactly as `account` does for the packet it was decoded from.
   */
  addRecord(words: Int32Array, at: number, frameNumber: number): void {
    const r = this.packetRecord;
    r.read(words, at);
    this.counters.countPacket(r.ipv6, r.withPdm, r.anomaly, r.espSpi);
    if (r.keyed) this.accountKeyed(r.key, r.tsUs, frameNumber, r.espSpi, r.hit);
  }

  /** One IPv6 packet of the flow `key`; packets without PDM (`hit` null) decide the initiator and count in `packets`. */
  private accountKeyed(key: FlowKeyScratch, tsUs: number, frameNumber: number, espSpi: number, hit: PdmHit | null): void {
    const flow = this.table.lookup(key, tsUs, frameNumber);
    const forward = this.table.forward;
    flow.lastTsUs = tsUs;
    if (espSpi >= 0) flow.addSpi(espSpi);
    if (flow.espPlacement === 'none') flow.espPlacement = key.esp;
    if (forward) flow.packetsAB++;
    else flow.packetsBA++;
    if (hit === null) return;
    if (forward) flow.pdmPacketsAB++;
    else flow.pdmPacketsBA++;
    let pdm = flow.metrics as FlowPdm | null;
    if (pdm === null) flow.metrics = pdm = new FlowPdm(flow.id, this.opts.observer);
    pdm.observe(hit, forward, tsUs, frameNumber);
  }

  /**
   * Ends all flows; the document head and the flows in output order, whose reports are built
   * one at a time as they are consumed (analyze on 100,000 flows).
   */
  end(inputs: InputReport[]): { head: AnalyzeHead; flows: FinishedFlows } {
    // The flows still open stay in memory (at most maxFlows): spilling them only to read them back costs time.
    this.ending = true;
    this.table.flush();
    this.decideLowStarts();
    const flows = this.ended
      .filter((f) => this.opts.allFlows || pdmTotal(f) > 0)
      .sort((x, y) => pdmTotal(y) - pdmTotal(x) || x.id - y.id);
    this.ended = [];
    const head: AnalyzeHead = {
      schema: ANALYZE_SCHEMA,
      inputs,
      packets: this.counters.summary(),
      anomalies: this.counters.sortedAnomalies(),
      esp_no_sa_by_spi: this.counters.espNoSaRecord(),
      flow_table: this.flowTable(),
    };
    const withSketches = this.opts.keepSketches;
    if (this.spill === null) {
      return { head, flows: new FinishedFlows(flows.length, (i, sk) => this.record(flows[i]!, sk), withSketches) };
    }
    // Spilled records and held flows merged in output order: entry e < spilled is record e of
    // the spill, else flows[e - spilled].
    const spilled = this.spilledId.length;
    const pdmOf = (e: number): number => (e < spilled ? this.spilledPdm[e]! : pdmTotal(flows[e - spilled]!));
    const idOf = (e: number): number => (e < spilled ? this.spilledId[e]! : flows[e - spilled]!.id);
    const order = Array.from({ length: spilled + flows.length }, (_, e) => e)
      .sort((x, y) => pdmOf(y) - pdmOf(x) || idOf(x) - idOf(y));
    const build = (i: number, sk: boolean): FlowRecord => {
      const e = order[i]!;
      return e < spilled ? this.spilledRecord(e) : this.record(flows[e - spilled]!, sk);
    };
    return { head, flows: new FinishedFlows(order.length, build, withSketches, this.spill) };
  }

  /** The table's bound and the flows it ended early (the analyze document's flow_table). */
  flowTable(): { max_flows: number; ended_early: number } {
    return { max_flows: this.opts.maxFlows, ended_early: this.table.endedEarly };
  }

  /** Spilled record `e` as record() would build it now: with psn_low_start if the end decided it. */
  private spilledRecord(e: number): FlowRecord {
    const record = this.spill!.get(e);
    const low = this.lowStartMessage === null ? 0 : this.spilledLowStarts[e]!;
    if (low > 0) record.report.findings.push({ code: 'psn_low_start', message: this.lowStartMessage!, count: low, first_frame: this.spilledFirstFrame[e]! });
    return record;
  }

  /** Moves the held ended flows out of the heap (opts.spill), as the records they will be output as. */
  private spillEnded(): void {
    const spill = this.spill ??= this.opts.spill!();
    for (const f of this.ended) {
      // lowStartMessage is still null: psn_low_start is added when the record is read back.
      spill.put(this.record(f, this.opts.keepSketches));
      this.spilledPdm.push(pdmTotal(f));
      this.spilledId.push(f.id);
      this.spilledLowStarts.push(lowStartsOf(f));
      this.spilledFirstFrame.push(f.firstFrame);
    }
    this.ended = [];
  }

  /** Ends all flows and builds the whole analyze/1 document (small captures, live, tests). */
  finish(inputs: InputReport[]): { doc: AnalyzeDocument; flows: FlowRecord[] } {
    const { head, flows } = this.end(inputs);
    const records = [...flows];
    flows.close();
    return { doc: { ...head, flows: records.map((r) => r.report) }, flows: records };
  }

  /** Flows currently open (live status). */
  get openFlows(): number {
    return this.table.size;
  }

  /** Flows ended because the table was full (live's Prometheus counter). */
  get flowsEndedEarly(): number {
    return this.table.endedEarly;
  }

  /** A snapshot of open flows as reports, without ending them (live flushes). */
  snapshotOpen(): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (const f of this.table.all()) {
      if (f.metrics !== null || this.opts.allFlows) out.push(this.record(f, this.opts.keepSketches));
    }
    return out;
  }

  /** Finished flows so far, handed over and forgotten (live flushes). */
  takeFinished(): FlowRecord[] {
    const records = this.ended.map((f) => {
      const record = this.record(f, this.opts.keepSketches);
      const low = lowStartsOf(f);
      for (let k = 0; k < low; k++) this.takenLowStarts.push({ record, frame: f.firstFrame });
      return record;
    });
    this.ended = [];
    return records;
  }

  /** Ends flows idle at capture time `nowUs` (live mode, when traffic stops). */
  expireIdle(nowUs: number): void {
    this.table.sweep(nowUs);
  }

  private endFlow(f: Flow): void {
    if (f.metrics === null && !this.opts.allFlows) return;
    this.ended.push(f);
    const pdm = f.metrics as FlowPdm | null;
    if (pdm !== null) this.seenStarts += pdm.startPsns().length;
    this.lowStartCount += lowStartsOf(f);
    // At most maxFlows open and maxFlows / 2 ended flows in memory (DEFAULT_MAX_FLOWS).
    if (this.opts.spill !== null && !this.ending && this.ended.length >= Math.max(1, Math.floor(this.opts.maxFlows / 2))) this.spillEnded();
  }

  private record(f: Flow, withSketches: boolean): FlowRecord {
    const pdm = f.metrics as FlowPdm | null;
    // Each metric's statistics are built once per report (from the flow's bucket codes while it
    // keeps them); the stored sketches come from the same accumulators.
    const acc = new Map<MetricName, DurationAccumulator | null>();
    const accumulator = (m: MetricName): DurationAccumulator | null => {
      let a = acc.get(m);
      if (a === undefined) acc.set(m, a = pdm?.accumulator(m) ?? null);
      return a;
    };
    const stats = (m: MetricName): DurationStats => accumulator(m)?.stats() ?? EMPTY_STATS;
    const sketch = (m: MetricName): Uint8Array | null => (withSketches ? accumulator(m)?.sketchBytes() ?? null : null);
    const noPsn = { lost: 0, reordered: 0, duplicates: 0, restarts: 0 };
    const findings = pdm?.findingList() ?? [];
    const low = this.lowStartMessage === null ? 0 : lowStartsOf(f);
    if (low > 0) findings.push({ code: 'psn_low_start', message: this.lowStartMessage!, count: low, first_frame: f.firstFrame });
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
      findings,
    };
    return { report, sketches: { server_delay_ns: sketch('server_delay'), total_ns: sketch('total'), rtd_ns: sketch('rtd') } };
  }

  /**
   * RFC 8250 §3.2 wants a random initial PSN; many flows starting at 0 or 1 is a finding. Flows
   * still held get it when their report is built; reports already handed out get it here.
   */
  private decideLowStarts(): void {
    const n = this.lowStartCount;
    if (n < 2 || n * 2 < this.seenStarts) return;
    const message = `${FINDINGS.psn_low_start} (${n} of ${this.seenStarts} observed starts were 0 or 1)`;
    this.lowStartMessage = message;
    for (const { record, frame } of this.takenLowStarts) {
      const list = record.report.findings;
      const existing = list.find((x) => x.code === 'psn_low_start');
      if (existing) existing.count++;
      else list.push({ code: 'psn_low_start', message, count: 1, first_frame: frame });
    }
  }
}

/** Directions of the flow whose observed PSN sequence started at 0 or 1. */
function lowStartsOf(f: Flow): number {
  const pdm = f.metrics as FlowPdm | null;
  if (pdm === null) return 0;
  let n = 0;
  for (const psn of pdm.startPsns()) if (psn <= 1) n++;
  return n;
}

function pdmTotal(f: Flow): number {
  return f.pdmPacketsAB + f.pdmPacketsBA;
}
