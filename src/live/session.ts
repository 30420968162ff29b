// The live loop behind `pdmscope live`: libpcap frames into the Analyzer shared with `analyze`,
// and every flush interval the flows that changed go to the store (one growing 'live' run) and
// to a listener (NDJSON). An interface that disappears is noticed by a watchdog, because
// node_pcap then delivers nothing and raises nothing (native-notes/node_pcap.md §3.4).

import { readFileSync } from 'node:fs';

import { type LiveCapture, type LiveCaptureStats, openLiveCapture } from '../capture/live.js';
import { Analyzer, type AnalyzerOptions, type FlowRecord } from '../metrics/analyzer.js';
import type { SampleObserver } from '../metrics/flow-pdm.js';
import type { AnalyzeDocument, FlowReport, PsnEvent, Sample } from '../metrics/types.js';
import type { LiveRun } from '../sink/store.js';

export interface LiveSessionOptions {
  iface: string;
  filter?: string | undefined;
  analyzer: Partial<Omit<AnalyzerOptions, 'observer'>>;
  /** Keep every delay sample and PSN event for the store. */
  keepSamples: boolean;
  /** The store's live run, or null (--no-db; or attach one later with attachRun). */
  run: LiveRun | null;
  /** Flows that changed since the previous flush (new packets or ended), each flush. */
  onFlowUpdates?: (reports: FlowReport[]) => void;
  /** Kernel ring bytes (default 32 MiB). */
  bufferSizeBytes?: number;
  /**
   * Bytes kept per packet (default 65535). In immediate mode libpcap uses TPACKET_V2, one ring
   * slot per packet sized for the snap length capped at the link MTU: on lo (MTU 65536) a
   * 32 MiB ring holds only ~500 packets, so bursts on lo need a small snap length.
   */
  snapLen?: number;
  /** How often to check that the interface still exists (default 250 ms; 0: never). */
  watchdogMs?: number;
  /** Called once when the interface has gone away. */
  onInterfaceGone?: () => void;
  /** Called once when the analysis threw (the capture stopped there). */
  onError?: (err: unknown) => void;
  /** Keep the latest report of every flow, ended ones too, for a final table (`allReports`). */
  keepReports?: boolean;
}

export interface LiveStatus {
  packets: number;
  ipv6: number;
  pdmPackets: number;
  malformed: number;
  openFlows: number;
  kernel: LiveCaptureStats;
}

/** The names of the interfaces in this process's network namespace (/proc/self/net/dev). */
export function interfacesInNamespace(): string[] | null {
  try {
    return readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2)
      .map((l) => l.split(':')[0]!.trim()).filter((n) => n.length > 0);
  } catch {
    return null;
  }
}

export class LiveSession {
  readonly iface: string;
  readonly analyzer: Analyzer;
  readonly capture: LiveCapture;
  readonly startedAtUs = Date.now() * 1000;
  private readonly opts: LiveSessionOptions;
  private frameNumber = 0;
  private run: LiveRun | null;
  private samples: Sample[] | null;
  private psnEvents: PsnEvent[] | null;
  /** flow_index → packets at the last flush, to send only flows that changed. */
  private readonly flushedPackets = new Map<number, number>();
  private watchdog: NodeJS.Timeout | null = null;
  private interfaceGone = false;
  private finished = false;
  /** Flows open at the last flush (Prometheus reads these between flushes). */
  openFlowReports: FlowReport[] = [];
  /** Flow rows stored so far (upserts). */
  storedFlowWrites = 0;
  /** With keepReports: the latest report of every flow seen, by flow_index. */
  readonly allReports = new Map<number, FlowReport>();

  constructor(opts: LiveSessionOptions) {
    this.opts = opts;
    this.iface = opts.iface;
    this.run = opts.run;
    this.samples = opts.keepSamples ? [] : null;
    this.psnEvents = opts.keepSamples ? [] : null;
    const observer: SampleObserver | null = opts.keepSamples ? {
      onSample: (s) => this.samples!.push(s),
      onPsnEvent: (e) => this.psnEvents!.push(e),
    } : null;
    this.analyzer = new Analyzer({ ...opts.analyzer, observer });
    const analyzer = this.analyzer;
    let linkType = 1;
    // Throws LiveCaptureError (privileges, unknown interface, bad filter): nothing to clean up.
    this.capture = openLiveCapture(opts.iface, {
      ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
      bufferSizeBytes: opts.bufferSizeBytes ?? 32 * 1024 * 1024,
      ...(opts.snapLen !== undefined ? { snapLen: opts.snapLen } : {}),
      immediate: true,
      ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
    }, (frame, capLen, wireLen, tsUs) => {
      analyzer.addFrame(frame, capLen, wireLen, tsUs, linkType, ++this.frameNumber);
    });
    linkType = this.capture.linkType;
    const every = opts.watchdogMs ?? 250;
    if (every > 0 && opts.iface !== 'any') {
      this.watchdog = setInterval(() => this.checkInterface(), every);
      this.watchdog.unref();
    }
  }

  /** The store run to write to, once the capture is open (no empty runs for failed opens). */
  attachRun(run: LiveRun): void {
    this.run = run;
  }

  get packets(): number {
    return this.frameNumber;
  }

  get isInterfaceGone(): boolean {
    return this.interfaceGone;
  }

  status(): LiveStatus {
    const s = this.analyzer.counters.summary();
    return {
      packets: s.total, ipv6: s.ipv6, pdmPackets: s.with_pdm, malformed: s.malformed,
      openFlows: this.analyzer.openFlows, kernel: this.kernelStats(),
    };
  }

  kernelStats(): LiveCaptureStats {
    try {
      return this.capture.stats();
    } catch {
      return { received: 0, dropped: 0, ifDropped: 0 };
    }
  }

  /** What the store keeps as the run's input: the interface and libpcap's counters. */
  inputs(): Record<string, unknown>[] {
    const k = this.kernelStats();
    return [{
      interface: this.iface, filter: this.opts.filter ?? null, link_types: [this.capture.linkType], packets: this.frameNumber,
      kernel_received: k.received, kernel_dropped: k.dropped, interface_dropped: k.ifDropped,
      ...(this.interfaceGone ? { error: 'interface disappeared during capture' } : {}),
    }];
  }

  private checkInterface(): void {
    if (this.interfaceGone || this.finished) return;
    const names = interfacesInNamespace();
    if (names === null || names.includes(this.iface)) return;
    this.interfaceGone = true;
    this.opts.onInterfaceGone?.();
  }

  /**
   * Ends flows idle past the timeout (wall clock against capture timestamps, both µs since the
   * epoch), then hands the flows that changed to the store and the listener.
   */
  flush(): void {
    if (this.finished) return;
    this.analyzer.expireIdle(Date.now() * 1000);
    const ended = this.analyzer.takeFinished();
    const open = this.analyzer.snapshotOpen();
    this.openFlowReports = open.map((r) => r.report);
    this.emit(ended, open, false);
  }

  /**
   * Stops the capture and writes everything: all flows end, the run is marked complete.
   * Returns whether libpcap let go of its handle (if not, the caller must process.exit()).
   */
  finish(): { released: boolean; doc: AnalyzeDocument } {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    const released = this.capture.close();
    const inputs = this.inputs();
    this.finished = true;
    const { doc, flows } = this.analyzer.finish([]);
    this.openFlowReports = [];
    this.emit(flows, [], true);
    this.run?.finish({
      packets: doc.packets, anomalies: doc.anomalies, esp_no_sa_by_spi: doc.esp_no_sa_by_spi, inputs,
    });
    return { released, doc };
  }

  private emit(ended: FlowRecord[], open: FlowRecord[], final: boolean): void {
    const changed: FlowRecord[] = [];
    for (const r of ended) {
      // An ended flow is sent one last time if anything happened since its previous flush.
      const i = r.report.flow_index;
      if (this.flushedPackets.get(i) !== packetsOf(r.report) || final) changed.push(r);
      this.flushedPackets.delete(i);
    }
    for (const r of open) {
      const i = r.report.flow_index;
      const n = packetsOf(r.report);
      if (this.flushedPackets.get(i) !== n) {
        changed.push(r);
        this.flushedPackets.set(i, n);
      }
    }
    const samples = this.samples;
    const events = this.psnEvents;
    if (samples !== null) this.samples = [];
    if (events !== null) this.psnEvents = [];
    const run = this.run;
    if (run !== null) {
      const c = this.analyzer.counters;
      run.flush({
        flows: changed,
        ...(samples !== null && samples.length > 0 ? { samples } : {}),
        ...(events !== null && events.length > 0 ? { psnEvents: events } : {}),
        packets: c.summary(), anomalies: c.sortedAnomalies(), esp_no_sa_by_spi: c.espNoSaRecord(), inputs: this.inputs(),
      });
      this.storedFlowWrites += changed.length;
    }
    if (this.opts.keepReports === true) for (const r of changed) this.allReports.set(r.report.flow_index, r.report);
    if (changed.length > 0) this.opts.onFlowUpdates?.(changed.map((r) => r.report));
  }
}

function packetsOf(r: FlowReport): number {
  return r.packets.initiator_to_responder + r.packets.responder_to_initiator;
}
