// RFC 8250 delay samples and PSN accounting for one flow, from the PDM options seen passively.
//
// Packet flow of RFC 8250 §4.1, initiator A, responder B:
//   1 A→B  PSNTP a    PSNLR 0   deltas 0 (no sample)
//   2 B→A  PSNTP b    PSNLR a   DeltaTLR = server delay (§2.2)
//   3 A→B  PSNTP a+1  PSNLR b   DeltaTLS = total; RTD = total − DeltaTLR of packet 2 (§2.1)
// The same rules with the roles swapped give the mirror ("reverse") metrics.

import type { PdmHit } from '../decode/packet.js';
import { PsnTracker, type PsnVerdict } from '../flow/psn.js';
import { DurationAccumulator, boundedLogRoom, doubleArray } from './sketch.js';
import type { Finding, PsnCounters, PsnEvent, Sample } from './types.js';

export const METRICS = ['server_delay', 'total', 'rtd', 'reverse_server_delay', 'reverse_total', 'reverse_rtd'] as const;
export type MetricName = (typeof METRICS)[number];
const SERVER_DELAY = 0, TOTAL = 1, RTD = 2, REVERSE_SERVER_DELAY = 3, REVERSE_TOTAL = 4, REVERSE_RTD = 5;

/** Recent packets of one sender, to match a later PSNLR to the packet it names. */
const RING_SIZE = 8;
const RING_MASK = RING_SIZE - 1;
/** Numbers per ring slot: PSNTP; PSNLR, DeltaTLR and its scale packed; capture time in µs. */
const SLOT = 3;
/** 2^scale / 1e9 for every scale: ns per unit of a delta (RFC 8250 Appendix B), looked up per sample. */
const NS_PER_UNIT = Float64Array.from({ length: 256 }, (_, scale) => 2 ** scale / 1e9);

export const FINDINGS = {
  psn_not_sequential: 'PSNTP did not advance by one from the previous packet of the same direction (loss, reordering or duplicates before the capture point, or a sender that does not count per 5-tuple)',
  psnlr_unknown: 'PSNLR names a PSN the peer had not sent (as far as the capture saw)',
  psn_low_start: 'PSN sequence started at 0 or 1; RFC 8250 §3.2 asks for a random initial PSN',
  rtd_negative: 'server delay larger than the total it is part of (RTD < 0): clocks or implementation at fault',
  total_below_capture_rtt: 'total (DeltaTLS) smaller than the round trip the capture point itself saw',
} as const;
export type FindingCode = keyof typeof FINDINGS;

/** Optional per-sample outputs (store `--samples`, the HTML report). */
export interface SampleObserver {
  onSample?(s: Sample): void;
  onPsnEvent?(e: PsnEvent): void;
}

/**
 * One sender's state: its PSN accounting (the PsnTracker it extends: one object, not two, per
 * sender of 100,000 flows) and the recent packets in its half of the flow's ring.
 */
class SenderState extends PsnTracker {
  /** PSNLR of this sender's previous packet in the epoch; -1 before the first. */
  prevPsnLastRecv = -1;
  /** First PSN of an epoch whose start was seen (PSNLR 0, zero deltas); -1 otherwise. */
  seenStartPsn = -1;
  /** The previous packet carried state (a PSNLR or a delta): a later all-zero one is a reset. */
  hadState = false;
  /** The flow's ring (both senders' halves) and where this sender's half starts in it. */
  readonly ring: number[];
  private readonly ringBase: number;
  ringNext = 0;

  constructor(ring: number[], ringBase: number) {
    super();
    this.ring = ring;
    this.ringBase = ringBase;
  }

  /** Remembers a packet: PSNTP, then PSNLR, DeltaTLR and its scale packed in one exact integer (< 2^40), then the time. */
  push(psn: number, psnLastRecv: number, deltaLastRecv: number, scaleDtlr: number, tsUs: number): void {
    const o = this.ringBase + this.ringNext * SLOT;
    const r = this.ring;
    r[o] = psn;
    r[o + 1] = psnLastRecv + deltaLastRecv * 0x10000 + scaleDtlr * 0x100000000;
    r[o + 2] = tsUs;
    this.ringNext = (this.ringNext + 1) & RING_MASK;
  }

  /** Offset in `ring` of the most recent packet with PSNTP `psn`, or -1. Newest first. */
  find(psn: number): number {
    const r = this.ring;
    for (let k = 1; k <= RING_SIZE; k++) {
      const o = this.ringBase + ((this.ringNext - k) & RING_MASK) * SLOT;
      if (r[o] === psn) return o;
    }
    return -1;
  }

  newEpoch(): void {
    this.prevPsnLastRecv = -1;
    this.hadState = false;
    for (let k = 0; k < RING_SIZE; k++) this.ring[this.ringBase + k * SLOT] = -1;
  }

  counters(): PsnCounters {
    return { lost: this.lost, reordered: this.reordered, duplicates: this.duplicates, restarts: this.restarts };
  }
}

/** Samples logged per flow before they move into per-metric accumulators; the log starts smaller. */
const LOG_FIRST = 32;
const LOG_LIMIT = 128;

/** A delta and its scale as one integer below 2^24. */
function rawDelta(delta: number, scale: number): number {
  return delta + scale * 0x10000;
}

/** The value in ns of a rawDelta: the very product observe() computed. */
function rawDeltaNs(raw: number): number {
  return (raw % 0x10000) * NS_PER_UNIT[Math.floor(raw / 0x10000)]!;
}

/** The value in ns of a logged sample of `metric`: an RTD is total − peer delay, as computed when seen. */
function loggedValueNs(metric: number, raw: number): number {
  if (metric === RTD || metric === REVERSE_RTD) {
    const totalRaw = raw % 0x1000000;
    return rawDeltaNs(totalRaw) - rawDeltaNs((raw - totalRaw) / 0x1000000);
  }
  return rawDeltaNs(raw);
}

function addTo(acc: (DurationAccumulator | null)[], metric: number, valueNs: number): void {
  let a = acc[metric]!;
  if (a === null) a = acc[metric] = new DurationAccumulator();
  a.add(valueNs);
}

/** rawDelta of the DeltaTLR in the ring slot at `o`. */
function slotRawDelta(r: readonly number[], o: number): number {
  return Math.floor(r[o + 1]! / 0x10000);
}

/** PSNLR of the ring slot at `o`. */
function slotPsnLastRecv(r: readonly number[], o: number): number {
  return r[o + 1]! % 0x10000;
}

/** DeltaTLR of the ring slot at `o` in ns: the same product as when the packet was seen. */
function slotDeltaLastRecvNs(r: readonly number[], o: number): number {
  return rawDeltaNs(slotRawDelta(r, o));
}

export class FlowPdm {
  /**
   * Both senders' recent packets in one array of unboxed doubles (fewer objects per flow): the
   * initiator's 8 slots, then the responder's. A plain array, not a Float64Array: a typed array
   * adds an ArrayBuffer object and a malloc'd store, ~200 bytes (20 MB at 100,000 flows).
   * PSN -1 marks an empty slot.
   */
  private readonly ring: number[] = doubleArray(2 * RING_SIZE * SLOT).fill(-1);
  /** Packets sent by the initiator (A) and by the responder (B). */
  private readonly a = new SenderState(this.ring, 0);
  private readonly b = new SenderState(this.ring, RING_SIZE * SLOT);
  /**
   * The samples so far, in arrival order, each as one exact integer: metric + 8 × its raw PDM
   * fields (rawDelta: delta + 2^16 × scale; an RTD: the total's rawDelta + 2^24 × the peer
   * delay's), from which the value in ns is computed again with the same arithmetic. One array
   * for all metrics instead of an accumulator and an array per metric: ~460 bytes less per
   * flow. When it is full every sample moves into per-metric accumulators (`acc`); the
   * statistics are the same either way.
   */
  private log: number[] | null = null;
  private logCount = 0;
  private acc: (DurationAccumulator | null)[] | null = null;
  /** At most one entry per code (a handful): an array is smaller than a Map for every flow. */
  private findings: Finding[] | null = null;
  private readonly flowIndex: number;
  private readonly observer: SampleObserver | null;

  constructor(flowIndex: number, observer: SampleObserver | null) {
    this.flowIndex = flowIndex;
    this.observer = observer;
  }

  /** FlowAttachment's tag, on the prototype (not a field in each of 100,000 flows). */
  get kind(): string {
    return 'pdm';
  }

  /** Feeds the primary PDM option of one packet; `fromInitiator` is its direction. */
  observe(hit: PdmHit, fromInitiator: boolean, tsUs: number, frame: number): void {
    const s = fromInitiator ? this.a : this.b;
    const peer = fromInitiator ? this.b : this.a;
    const psn = hit.psnThisPkt;
    const startSignature = hit.psnLastRecv === 0 && hit.deltaLastRecv === 0 && hit.deltaLastSent === 0 &&
      hit.scaleDtlr === 0 && hit.scaleDtls === 0;

    let verdict: PsnVerdict;
    if (startSignature && s.hadState && ((psn - s.highest) & 0xffff) !== 1) {
      // The sender dropped its state (RFC 8250 §3.6 timeout) and began again with a new PSN.
      // A sender that never received anything (one-way flows, §4.2) keeps the all-zero fields
      // throughout; its PSN gaps are losses, not restarts.
      s.restart(psn);
      verdict = 'restart';
    } else {
      verdict = s.observe(psn);
    }
    if (verdict === 'first' || verdict === 'restart') {
      if (verdict === 'restart') { s.newEpoch(); this.event(fromInitiator, 'restart', 1, psn, tsUs, frame); }
      s.seenStartPsn = startSignature ? psn : -1;
    } else if (verdict !== 'in_order') {
      this.find('psn_not_sequential', frame);
      if (verdict === 'gap') this.event(fromInitiator, 'lost', s.lastGap, psn, tsUs, frame);
      else this.event(fromInitiator, verdict === 'reordered' ? 'reordered' : 'duplicate', 1, psn, tsUs, frame);
      if (verdict === 'duplicate') return; // a copy repeats its original's samples
    }

    const deltaLastRecvNs = hit.deltaLastRecv * NS_PER_UNIT[hit.scaleDtlr]!;
    // Fresh-sample rule (protocol.md §4): only the first packet after a receive carries new
    // deltas; passively, its PSNLR differs from the previous packet's in this direction.
    // After a packet that carried no state (PSNLR 0, zero deltas: nothing received yet), a
    // PSNLR of 0 is a genuine PSN, so any state at all marks the first packet after a receive.
    const fresh = s.prevPsnLastRecv < 0 || !s.hadState || hit.psnLastRecv !== s.prevPsnLastRecv;
    if (fresh && !startSignature) {
      if (peer.highest >= 0 && !peer.hasReached(hit.psnLastRecv)) this.find('psnlr_unknown', frame);
      if (deltaLastRecvNs > 0) {
        this.sample(fromInitiator ? REVERSE_SERVER_DELAY : SERVER_DELAY, deltaLastRecvNs, rawDelta(hit.deltaLastRecv, hit.scaleDtlr), psn, tsUs, frame);
      }
      if (hit.deltaLastSent !== 0) this.roundTrip(s, peer, hit, fromInitiator, tsUs, frame);
    }
    s.prevPsnLastRecv = hit.psnLastRecv;
    s.hadState = !startSignature;
    s.push(psn, hit.psnLastRecv, hit.deltaLastRecv, hit.scaleDtlr, tsUs);
  }

  /** DeltaTLS gives the total; minus the peer's DeltaTLR in the packet PSNLR names, the RTD. */
  private roundTrip(s: SenderState, peer: SenderState, hit: PdmHit, fromInitiator: boolean, tsUs: number, frame: number): void {
    const totalNs = hit.deltaLastSent * NS_PER_UNIT[hit.scaleDtls]!;
    const totalRaw = rawDelta(hit.deltaLastSent, hit.scaleDtls);
    const psn = hit.psnThisPkt;
    this.sample(fromInitiator ? TOTAL : REVERSE_TOTAL, totalNs, totalRaw, psn, tsUs, frame);
    const answer = peer.find(hit.psnLastRecv);
    if (answer < 0) return;
    const r = this.ring;
    const peerDelayNs = slotDeltaLastRecvNs(r, answer);
    // DeltaTLS runs from this sender's previous send; the answer must be to that very packet,
    // or the RTD would be understated (protocol.md §4, recommendation).
    const previousPsn = (psn - 1) & 0xffff;
    if (peerDelayNs <= 0 || slotPsnLastRecv(r, answer) !== previousPsn) return;
    const rtdNs = totalNs - peerDelayNs;
    this.sample(fromInitiator ? RTD : REVERSE_RTD, rtdNs, totalRaw + slotRawDelta(r, answer) * 0x1000000, psn, tsUs, frame);
    if (rtdNs < 0) this.find('rtd_negative', frame);
    const own = s.find(previousPsn);
    if (own >= 0) {
      // Any capture point on the path sees request and answer inside the sender's own interval.
      const seenUs = r[answer + 2]! - r[own + 2]!;
      const toleranceNs = 2_000 + NS_PER_UNIT[hit.scaleDtls]! + seenUs * 1e-3;
      if (seenUs > 0 && totalNs + toleranceNs < seenUs * 1000) this.find('total_below_capture_rtt', frame);
    }
  }

  private sample(metric: number, valueNs: number, raw: number, psn: number, tsUs: number, frame: number): void {
    const acc = this.acc;
    if (acc !== null) {
      addTo(acc, metric, valueNs);
    } else {
      const n = this.logCount;
      const log = boundedLogRoom(this.log, n, LOG_FIRST, LOG_LIMIT);
      if (log === null) {
        this.acc = this.replayLog(-1);
        this.log = null;
        this.logCount = 0;
        addTo(this.acc, metric, valueNs);
      } else {
        this.log = log;
        log[n] = metric + 8 * raw;
        this.logCount = n + 1;
      }
    }
    this.observer?.onSample?.({ flow_index: this.flowIndex, ts_us: tsUs, metric: METRICS[metric]!, value_ns: valueNs, psn, frame });
  }

  /** Per-metric accumulators of the logged samples of `only` (every metric: -1), in arrival order. */
  private replayLog(only: number): (DurationAccumulator | null)[] {
    const acc: (DurationAccumulator | null)[] = [null, null, null, null, null, null];
    const log = this.log;
    for (let i = 0; i < this.logCount; i++) {
      const code = log![i]!;
      const metric = code % 8;
      if (only < 0 || metric === only) addTo(acc, metric, loggedValueNs(metric, (code - metric) / 8));
    }
    return acc;
  }

  private event(fromInitiator: boolean, kind: PsnEvent['kind'], count: number, psn: number, tsUs: number, frame: number): void {
    this.observer?.onPsnEvent?.({
      flow_index: this.flowIndex, ts_us: tsUs,
      direction: fromInitiator ? 'initiator_to_responder' : 'responder_to_initiator', kind, count, psn, frame,
    });
  }

  find(code: FindingCode, frame: number, message?: string): void {
    if (this.findings === null) this.findings = [];
    for (const f of this.findings) {
      if (f.code === code) { f.count++; return; }
    }
    this.findings.push({ code, message: message ?? FINDINGS[code], count: 1, first_frame: frame });
  }

  /** The statistics of one metric (built from the log while samples are logged); null without samples. */
  accumulator(metric: MetricName): DurationAccumulator | null {
    const m = METRICS.indexOf(metric);
    return (this.acc ?? this.replayLog(m))[m]!;
  }

  psnCounters(fromInitiator: boolean): PsnCounters {
    return (fromInitiator ? this.a : this.b).counters();
  }

  /** First PSNs of epochs whose start was seen, per direction (random-start check). */
  startPsns(): number[] {
    return [this.a.seenStartPsn, this.b.seenStartPsn].filter((p) => p >= 0);
  }

  get restarts(): number {
    return this.a.restarts + this.b.restarts;
  }

  findingList(): Finding[] {
    return this.findings === null ? [] : this.findings.slice();
  }
}
