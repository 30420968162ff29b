// RFC 8250 delay samples and PSN accounting for one flow, from the PDM options seen passively.
//
// Packet flow of RFC 8250 §4.1, initiator A, responder B:
//   1 A→B  PSNTP a    PSNLR 0   deltas 0 (no sample)
//   2 B→A  PSNTP b    PSNLR a   DeltaTLR = server delay (§2.2)
//   3 A→B  PSNTP a+1  PSNLR b   DeltaTLS = total; RTD = total − DeltaTLR of packet 2 (§2.1)
// The same rules with the roles swapped give the mirror ("reverse") metrics.

import { FINDINGS, FINDING_CODES, type FindingCode } from '../decode/anomalies.js';
import type { PdmHit } from '../decode/packet.js';
import {
  PSN_DUPLICATES, PSN_HIGHEST, PSN_LOST, PSN_REORDERED, PSN_RESTARTS, PSN_STATE_SIZE, type PsnBits, psnAhead, psnHasReached,
  psnInit, psnObserve, psnRestart, type PsnVerdict,
} from '../flow/psn.js';
import { BUCKET_ZERO, DurationAccumulator, QuantileSketch, bucketSign, defaultBucketIndex, doubleArray } from './sketch.js';
import type { Finding, PsnCounters, PsnEvent, Sample } from './types.js';

export const METRICS = ['server_delay', 'total', 'rtd', 'reverse_server_delay', 'reverse_total', 'reverse_rtd'] as const;
export type MetricName = (typeof METRICS)[number];
const SERVER_DELAY = 0, TOTAL = 1, RTD = 2, REVERSE_SERVER_DELAY = 3, REVERSE_TOTAL = 4, REVERSE_RTD = 5;

/** Recent packets of one sender, to match a later PSNLR to the packet it names. */
const RING_SIZE = 8;
const RING_MASK = RING_SIZE - 1;
/**
 * Numbers per ring slot, two exact integers below 2^53 (one double less per slot than PSNTP,
 * fields and time apart: 128 bytes per flow): PSNTP·2^32 + PSNLR·2^16 + DeltaTLR, then
 * ScaleDTLR + 256·(capture time in µs − the flow's first + TIME_OFFSET_US). Only differences of
 * two slots' times are used, which are exact either way; a flow whose times are not whole µs or
 * span more than ±2^44 µs (203 days) keeps them apart in `wideTimes`.
 */
const SLOT = 2;
const PSN_FACTOR = 0x100000000;
const TIME_OFFSET_US = 2 ** 44;
/** 2^scale / 1e9 for every scale: ns per unit of a delta (RFC 8250 Appendix B), looked up per sample. */
const NS_PER_UNIT = Float64Array.from({ length: 256 }, (_, scale) => 2 ** scale / 1e9);

/** Optional per-sample outputs (store `--samples`, the HTML report). */
export interface SampleObserver {
  onSample?(s: Sample): void;
  onPsnEvent?(e: PsnEvent): void;
}

/**
 * After both senders' slots the ring array holds the flow's first capture time (TIME_BASE, NaN
 * before the first packet), each sender's state (SENDER_A, SENDER_B), per metric the exact sum
 * (added in arrival order), min and max (STATS), then the first CODE_WORDS_INLINE words of
 * bucket codes (below): one array per flow instead of six objects and arrays.
 */
const TIME_BASE = 2 * RING_SIZE * SLOT;
/**
 * A sender's state: its PSN accounting (flow/psn.ts), the first PSN of an epoch whose start was
 * seen (PSNLR 0, zero deltas; -1 otherwise), and small fields packed in one number: the next
 * slot of its half of the ring (bits 0-2), whether its previous packet carried state (a PSNLR
 * or a delta: a later all-zero one is a reset; bit 3), its previous PSNLR in the epoch + 1
 * (bits 4-20; 0 before the first).
 */
const SEEN_START = PSN_STATE_SIZE;
const PACKED = PSN_STATE_SIZE + 1;
const SENDER_SIZE = PSN_STATE_SIZE + 2;
const SENDER_A = TIME_BASE + 1;
const SENDER_B = SENDER_A + SENDER_SIZE;
const STATS = SENDER_B + SENDER_SIZE;
const STAT_FIELDS = 3;
const INLINE_CODES = STATS + METRICS.length * STAT_FIELDS;
const CODE_WORDS_INLINE = 12;
const RING_LENGTH = INLINE_CODES + CODE_WORDS_INLINE;

/**
 * The samples themselves are not kept: the statistics are count, sum, min and max (exact, in
 * the ring array) and percentiles from a quantile sketch whose buckets depend only on each
 * value's bucket (sign and log index). So a flow keeps one 17-bit code per sample, three to a
 * double (exact integers below 2^51), in arrival order: metric + 8 × bucket code, the bucket
 * code 0 for the zero bucket, else 1 + 2 × (index − codeBase + CODE_WINDOW) + (1 if negative).
 * A sketch built from the codes has the very buckets, count, sum, min and max of one fed with
 * the values, at ~2.7 bytes a sample instead of 8 or more. The codes array grows in few steps
 * (outgrown arrays are old-generation garbage with 100,000 flows open); past the last step, or
 * for an index outside the window around the flow's first one, the flow moves to one
 * QuantileSketch per metric, whose memory does not grow with samples.
 */
const CODE_RADIX = 0x20000;
const CODES_PER_WORD = 3;
const CODE_WINDOW = 4095;
/**
 * Words in all (36, 96, 192, 384 samples): CODE_WORDS_INLINE in the ring array (most short
 * flows), the rest in `codes`, which holds 20, then 52, then 116 words; nothing is copied out of
 * the ring array, so the first step leaves no garbage.
 */
const CODE_WORDS_SECOND = 32;
const CODE_WORDS_LIMIT = 128;
/** codeBase before the flow's first sample outside the zero bucket. */
const NO_CODE_BASE = 0x3fffffff;

/** A delta and its scale as one integer below 2^24. */
function rawDelta(delta: number, scale: number): number {
  return delta + scale * 0x10000;
}

/**
 * Bucket indices of recent rawDeltas, direct-mapped: a server delay or total in ns is a
 * function of its raw (delta, scale) pair, and so is its bucket, so the logarithm is taken once
 * per pair seen instead of once per sample. Shared by every flow (bounded: 2 × 16 KB).
 */
const INDEX_MEMO_BITS = 12;
const indexMemoRaw = new Int32Array(1 << INDEX_MEMO_BITS).fill(-1);
const indexMemo = new Int32Array(1 << INDEX_MEMO_BITS);

/** defaultBucketIndex of the (positive) value in ns of `raw`, `valueNs`. */
function rawDeltaIndex(raw: number, valueNs: number): number {
  const slot = Math.imul(raw, 0x9e3779b1) >>> (32 - INDEX_MEMO_BITS);
  if (indexMemoRaw[slot] === raw) return indexMemo[slot]!;
  const index = defaultBucketIndex(valueNs);
  indexMemoRaw[slot] = raw;
  indexMemo[slot] = index;
  return index;
}

// A slot's fields are read with bitwise operators, which take an integer modulo 2^32 (exact
// for these non-negative integers below 2^53): no `%` on doubles (a slow fmod call) per packet.

/** PSNLR of the ring slot at `o`. */
function slotPsnLastRecv(r: readonly number[], o: number): number {
  return r[o]! >>> 16 & 0xffff;
}

/** The capture time of the ring slot at `o` in µs since the flow's first packet, + TIME_OFFSET_US. */
function slotTime(r: readonly number[], o: number): number {
  return Math.floor(r[o + 1]! / 0x100);
}

/** DeltaTLR of the ring slot at `o` in ns: the same product as when the packet was seen. */
function slotDeltaLastRecvNs(r: readonly number[], o: number): number {
  return (r[o]! & 0xffff) * NS_PER_UNIT[r[o + 1]! & 0xff]!;
}

/** Where the ring half of the sender whose state is at `so` starts. */
function ringHalf(so: number): number {
  return so === SENDER_A ? 0 : RING_SIZE * SLOT;
}

/** PSNLR of the previous packet of the sender at `so` in the epoch; -1 before the first. */
function prevPsnLastRecv(r: readonly number[], so: number): number {
  return (r[so + PACKED]! >> 4) - 1;
}

function hadState(r: readonly number[], so: number): boolean {
  return (r[so + PACKED]! & 8) !== 0;
}

function setPrevious(r: number[], so: number, psnLastRecv: number, had: boolean): void {
  r[so + PACKED] = (r[so + PACKED]! & RING_MASK) | (had ? 8 : 0) | ((psnLastRecv + 1) << 4);
}

/** Remembers a packet of the sender at `so` as the two numbers of a slot (see SLOT); returns the slot's offset. */
function pushSlot(r: number[], so: number, packetWord: number, timeWord: number): number {
  const packed = r[so + PACKED]!;
  const next = packed & RING_MASK;
  const o = ringHalf(so) + next * SLOT;
  r[o] = packetWord;
  r[o + 1] = timeWord;
  r[so + PACKED] = (packed & ~RING_MASK) | ((next + 1) & RING_MASK);
  return o;
}

/** Offset of the most recent packet of the sender at `so` with PSNTP `psn`, or -1. Newest first. */
function findSlot(r: readonly number[], so: number, psn: number): number {
  const half = ringHalf(so);
  const next = r[so + PACKED]! & RING_MASK;
  // PSNTP is the top of the packet word: compare ranges, no division per slot.
  const lo = psn * PSN_FACTOR;
  const hi = lo + PSN_FACTOR;
  for (let k = 1; k <= RING_SIZE; k++) {
    const o = half + ((next - k) & RING_MASK) * SLOT;
    const w = r[o]!;
    if (w >= lo && w < hi) return o;
  }
  return -1;
}

/** Forgets the previous packets of the sender at `so` (a new epoch after a restart). */
function newEpoch(r: number[], so: number, wide: number[] | null): void {
  setPrevious(r, so, -1, false);
  const half = ringHalf(so);
  for (let k = 0; k < RING_SIZE; k++) r[half + k * SLOT] = -1;
  if (wide === null) return;
  wide[WIDE_PREV + senderIndex(so)] = -1;
  for (let k = 0; k < RING_SIZE; k++) wide[WIDE_SLOTS + 2 * (half / SLOT + k)] = -1;
}

/**
 * PDMv2 (draft-ietf-ippm-encrypted-pdmv2-14 §7) PSNs are 32 bits: a slot's packet word keeps
 * only their low 16 bits, so a flow that has seen a PDMv2 packet keeps them exactly in a second
 * array, `wide` (RFC 8250 flows never allocate it): each sender's PDM version (1 or 2; PSN
 * arithmetic is modulo 2^16 or 2^32 by it), each sender's previous PSNLR, then PSNTP and PSNLR
 * per ring slot (-1: empty). A sender whose version changes starts a new PDM session (counted as
 * a restart, like a new random PSN): its PSNs before and after are not one sequence.
 */
const WIDE_VERSION = 0;
const WIDE_PREV = 2;
const WIDE_SLOTS = 4;
const WIDE_LENGTH = WIDE_SLOTS + 2 * 2 * RING_SIZE;

function senderIndex(so: number): number {
  return so === SENDER_A ? 0 : 1;
}

/** PSN width of the sender at `so`. */
function senderBits(wide: readonly number[] | null, so: number): PsnBits {
  return wide !== null && wide[WIDE_VERSION + senderIndex(so)] === 2 ? 32 : 16;
}

/** Offset in `wide` of the exact PSNTP of the ring slot at `o` (its PSNLR follows). */
function wideSlot(o: number): number {
  return WIDE_SLOTS + 2 * (o / SLOT);
}

/** findSlot on the exact PSNTPs of a flow with `wide`. */
function findWideSlot(r: readonly number[], wide: readonly number[], so: number, psn: number): number {
  const half = ringHalf(so);
  const next = r[so + PACKED]! & RING_MASK;
  for (let k = 1; k <= RING_SIZE; k++) {
    const o = half + ((next - k) & RING_MASK) * SLOT;
    if (wide[wideSlot(o)] === psn) return o;
  }
  return -1;
}

/** The `wide` array of a flow that has seen only RFC 8250 packets so far: its slots' PSNs are exact in the packet words. */
function widen(r: readonly number[]): number[] {
  const wide = doubleArray(WIDE_LENGTH);
  wide[WIDE_VERSION] = wide[WIDE_VERSION + 1] = 1;
  wide[WIDE_PREV] = prevPsnLastRecv(r, SENDER_A);
  wide[WIDE_PREV + 1] = prevPsnLastRecv(r, SENDER_B);
  for (let o = 0; o < 2 * RING_SIZE * SLOT; o += SLOT) {
    const w = r[o]!;
    wide[wideSlot(o)] = w < 0 ? -1 : Math.floor(w / PSN_FACTOR);
    wide[wideSlot(o) + 1] = w < 0 ? -1 : slotPsnLastRecv(r, o);
  }
  return wide;
}

/** A flow's ring array: empty slots (packet word -1), no time base, fresh senders, each metric's sum 0, min +∞, max −∞. */
function newRing(): number[] {
  const ring = doubleArray(RING_LENGTH).fill(-1);
  ring[TIME_BASE] = NaN;
  for (const so of [SENDER_A, SENDER_B]) {
    psnInit(ring, so);
    ring[so + SEEN_START] = -1;
    ring[so + PACKED] = 0;
  }
  for (let o = STATS; o < INLINE_CODES; o += STAT_FIELDS) {
    ring[o] = 0;
    ring[o + 1] = Infinity;
    ring[o + 2] = -Infinity;
  }
  return ring;
}

/** One empty slot per metric, for the sketches built from a flow's codes. */
function noSketches(): (QuantileSketch | null)[] {
  return METRICS.map(() => null);
}

export class FlowPdm {
  /**
   * Both senders' recent packets in one array of unboxed doubles (fewer objects per flow): the
   * initiator's 8 slots, then the responder's, then each metric's sum, min and max (STATS). A
   * plain array, not a Float64Array: a typed array adds an ArrayBuffer object and a malloc'd
   * store, ~200 bytes (20 MB at 100,000 flows). PSN -1 marks an empty slot.
   */
  private readonly ring: number[] = newRing();
  /** Capture times of the ring's slots, by slot, for a flow whose times do not fit the time word; null otherwise. */
  private wideTimes: number[] | null = null;
  /** Exact 32-bit PSNs and each sender's PDM version, once the flow has seen PDMv2 (see WIDE_VERSION); null otherwise. */
  private wide: number[] | null = null;
  /** The bucket codes past the ring array's CODE_WORDS_INLINE words (see CODE_RADIX); `codeCount` codes in all. */
  private codes: number[] | null = null;
  private codeCount = 0;
  /** The bucket index the codes are relative to: the flow's first sample outside the zero bucket. */
  private codeBase = NO_CODE_BASE;
  /** Once the codes are given up: one sketch per metric (null: no sample yet), fed directly. */
  private sketches: (QuantileSketch | null)[] | null = null;
  /**
   * Per finding seen, in order of first sight: its index in FINDING_CODES, count, first frame.
   * Small integers in an array of exactly that length, not Finding objects in a growable array:
   * almost every flow of a capture taken away from the initiator has one (~170 bytes each).
   */
  private findings: number[] | null = null;
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
    const r = this.ring;
    const s = fromInitiator ? SENDER_A : SENDER_B;
    const peer = fromInitiator ? SENDER_B : SENDER_A;
    const psn = hit.psnThisPkt;
    const startSignature = hit.psnLastRecv === 0 && hit.deltaLastRecv === 0 && hit.deltaLastSent === 0 &&
      hit.scaleDtlr === 0 && hit.scaleDtls === 0;

    const highestBefore = r[s + PSN_HIGHEST]!;
    let bits: PsnBits = 16;
    let versionChanged = false;
    let wide = this.wide;
    if (wide !== null || hit.version !== 1) {
      if (wide === null) wide = this.wide = widen(r);
      const v = WIDE_VERSION + senderIndex(s);
      if (wide[v] !== hit.version) {
        versionChanged = highestBefore >= 0;
        wide[v] = hit.version;
      }
      bits = hit.version === 2 ? 32 : 16;
    }
    let verdict: PsnVerdict;
    if (versionChanged) {
      // Another PDM version from this sender: a new PSN space, so a new session.
      psnRestart(r, s, psn);
      verdict = 'restart';
    } else if (startSignature && hadState(r, s) && psnAhead(psn, highestBefore, bits) !== 1) {
      // The sender dropped its state (RFC 8250 §3.6 timeout) and began again with a new PSN.
      // A sender that never received anything (one-way flows, §4.2) keeps the all-zero fields
      // throughout; its PSN gaps are losses, not restarts.
      psnRestart(r, s, psn);
      verdict = 'restart';
    } else {
      verdict = psnObserve(r, s, psn, bits);
    }
    if (verdict === 'first' || verdict === 'restart') {
      if (verdict === 'restart') { newEpoch(r, s, wide); this.event(fromInitiator, 'restart', 1, psn, tsUs, frame); }
      r[s + SEEN_START] = startSignature ? psn : -1;
    } else if (verdict !== 'in_order') {
      this.find('psn_not_sequential', frame);
      if (verdict === 'gap') this.event(fromInitiator, 'lost', psnAhead(psn, highestBefore, bits) - 1, psn, tsUs, frame);
      else this.event(fromInitiator, verdict === 'reordered' ? 'reordered' : 'duplicate', 1, psn, tsUs, frame);
      if (verdict === 'duplicate') return; // a copy repeats its original's samples
    }

    const deltaLastRecvNs = hit.deltaLastRecv * NS_PER_UNIT[hit.scaleDtlr]!;
    // Fresh-sample rule (docs/protocol.md §4.1): only the first packet after a receive carries new
    // deltas; passively, its PSNLR differs from the previous packet's in this direction.
    // After a packet that carried no state (PSNLR 0, zero deltas: nothing received yet), a
    // PSNLR of 0 is a genuine PSN, so any state at all marks the first packet after a receive.
    const previous = wide === null ? prevPsnLastRecv(r, s) : wide[WIDE_PREV + senderIndex(s)]!;
    const fresh = previous < 0 || !hadState(r, s) || hit.psnLastRecv !== previous;
    if (fresh && !startSignature) {
      if (r[peer + PSN_HIGHEST]! >= 0 && !psnHasReached(r, peer, hit.psnLastRecv, senderBits(wide, peer))) this.find('psnlr_unknown', frame);
      if (deltaLastRecvNs > 0) {
        const index = rawDeltaIndex(rawDelta(hit.deltaLastRecv, hit.scaleDtlr), deltaLastRecvNs);
        this.sample(fromInitiator ? REVERSE_SERVER_DELAY : SERVER_DELAY, deltaLastRecvNs, 1, index, psn, tsUs, frame);
      }
      if (hit.deltaLastSent !== 0) this.roundTrip(s, peer, hit, bits, fromInitiator, tsUs, frame);
    }
    const time = this.timeWord(tsUs);
    if (wide === null) {
      setPrevious(r, s, hit.psnLastRecv, !startSignature);
      const o = pushSlot(r, s, psn * PSN_FACTOR + hit.psnLastRecv * 0x10000 + hit.deltaLastRecv, hit.scaleDtlr + 0x100 * time);
      if (this.wideTimes !== null) this.wideTimes[o / SLOT] = tsUs;
      return;
    }
    // The packed fields keep the low 16 bits (their bit layout); `wide` the exact PSNs.
    setPrevious(r, s, hit.psnLastRecv & 0xffff, !startSignature);
    wide[WIDE_PREV + senderIndex(s)] = hit.psnLastRecv;
    const o = pushSlot(r, s, (psn & 0xffff) * PSN_FACTOR + (hit.psnLastRecv & 0xffff) * 0x10000 + hit.deltaLastRecv, hit.scaleDtlr + 0x100 * time);
    wide[wideSlot(o)] = psn;
    wide[wideSlot(o) + 1] = hit.psnLastRecv;
    if (this.wideTimes !== null) this.wideTimes[o / SLOT] = tsUs;
  }

  /** `tsUs` − the flow's first time + TIME_OFFSET_US for a slot's time word; 0 once the times are kept wide. */
  private timeWord(tsUs: number): number {
    if (this.wideTimes !== null) return 0;
    const r = this.ring;
    let base = r[TIME_BASE]!;
    if (base !== base) base = r[TIME_BASE] = tsUs;
    const sinceFirst = tsUs - base;
    // Whole µs (as libpcap gives them) within ±2^44 µs: every difference of two is exact.
    if (tsUs === Math.floor(tsUs) && base === Math.floor(base) && sinceFirst > -TIME_OFFSET_US && sinceFirst < TIME_OFFSET_US) {
      return sinceFirst + TIME_OFFSET_US;
    }
    const wide = doubleArray(2 * RING_SIZE);
    for (let i = 0; i < 2 * RING_SIZE; i++) wide[i] = slotTime(r, i * SLOT) - TIME_OFFSET_US + base;
    this.wideTimes = wide;
    return 0;
  }

  /** DeltaTLS gives the total; minus the peer's DeltaTLR in the packet PSNLR names, the RTD. */
  private roundTrip(s: number, peer: number, hit: PdmHit, bits: PsnBits, fromInitiator: boolean, tsUs: number, frame: number): void {
    const totalNs = hit.deltaLastSent * NS_PER_UNIT[hit.scaleDtls]!;
    const psn = hit.psnThisPkt;
    this.sample(fromInitiator ? TOTAL : REVERSE_TOTAL, totalNs, 1, rawDeltaIndex(rawDelta(hit.deltaLastSent, hit.scaleDtls), totalNs), psn, tsUs, frame);
    const r = this.ring;
    const wide = this.wide;
    const answer = wide === null ? findSlot(r, peer, hit.psnLastRecv) : findWideSlot(r, wide, peer, hit.psnLastRecv);
    if (answer < 0) return;
    const peerDelayNs = slotDeltaLastRecvNs(r, answer);
    // DeltaTLS runs from this sender's previous send; the answer must be to that very packet,
    // or the RTD would be understated (docs/protocol.md §4.2).
    const previousPsn = psnAhead(psn, 1, bits);
    if (peerDelayNs <= 0 || (wide === null ? slotPsnLastRecv(r, answer) : wide[wideSlot(answer) + 1]!) !== previousPsn) return;
    const rtdNs = totalNs - peerDelayNs;
    const sign = bucketSign(rtdNs);
    this.sample(fromInitiator ? RTD : REVERSE_RTD, rtdNs, sign, sign === BUCKET_ZERO ? 0 : defaultBucketIndex(Math.abs(rtdNs)), psn, tsUs, frame);
    if (rtdNs < 0) this.find('rtd_negative', frame);
    const own = wide === null ? findSlot(r, s, previousPsn) : findWideSlot(r, wide, s, previousPsn);
    if (own >= 0) {
      // Any capture point on the path sees request and answer inside the sender's own interval.
      const wide = this.wideTimes;
      const seenUs = wide === null ? slotTime(r, answer) - slotTime(r, own) : wide[answer / SLOT]! - wide[own / SLOT]!;
      const toleranceNs = 2_000 + NS_PER_UNIT[hit.scaleDtls]! + seenUs * 1e-3;
      if (seenUs > 0 && totalNs + toleranceNs < seenUs * 1000) this.find('total_below_capture_rtt', frame);
    }
  }

  /** One sample of `metric`, in its bucket (bucketSign `sign`, defaultBucketIndex `index`). */
  private sample(metric: number, valueNs: number, sign: number, index: number, psn: number, tsUs: number, frame: number): void {
    if (this.sketches !== null || !this.addCode(metric, valueNs, sign, index)) {
      const sketches = this.sketches ?? this.toSketches();
      let s = sketches[metric]!;
      if (s === null) s = sketches[metric] = new QuantileSketch();
      s.addInBucket(valueNs, sign, index);
    }
    this.observer?.onSample?.({ flow_index: this.flowIndex, ts_us: tsUs, metric: METRICS[metric]!, value_ns: valueNs, psn, frame });
  }

  /** Records a sample as a bucket code and in its metric's sum, min and max; false when it does not fit (the caller moves to sketches). */
  private addCode(metric: number, valueNs: number, sign: number, index: number): boolean {
    let code = 0;
    if (sign !== BUCKET_ZERO) {
      if (this.codeBase === NO_CODE_BASE) this.codeBase = index;
      const offset = index - this.codeBase + CODE_WINDOW;
      if (!(offset >= 0 && offset <= 2 * CODE_WINDOW)) return false;
      code = 1 + 2 * offset + (sign < 0 ? 1 : 0);
    }
    const n = this.codeCount;
    const word = Math.floor(n / CODES_PER_WORD);
    const place = n - word * CODES_PER_WORD;
    const entry = metric + 8 * code;
    const shifted = place === 0 ? entry : entry * (place === 1 ? CODE_RADIX : CODE_RADIX * CODE_RADIX);
    const r = this.ring;
    if (word < CODE_WORDS_INLINE) {
      const i = INLINE_CODES + word;
      r[i] = place === 0 ? shifted : r[i]! + shifted;
    } else {
      const i = word - CODE_WORDS_INLINE;
      let codes = this.codes;
      if (codes === null) {
        codes = this.codes = doubleArray(CODE_WORDS_SECOND - CODE_WORDS_INLINE);
      } else if (i >= codes.length) {
        const words = codes.length + CODE_WORDS_INLINE;
        if (words >= CODE_WORDS_LIMIT) return false;
        const grown = doubleArray(Math.min(2 * words, CODE_WORDS_LIMIT) - CODE_WORDS_INLINE);
        for (let k = 0; k < i; k++) grown[k] = codes[k]!;
        codes = this.codes = grown;
      }
      codes[i] = place === 0 ? shifted : codes[i]! + shifted;
    }
    this.codeCount = n + 1;
    const o = STATS + metric * STAT_FIELDS;
    r[o] = r[o]! + valueNs;
    if (valueNs < r[o + 1]!) r[o + 1] = valueNs;
    if (valueNs > r[o + 2]!) r[o + 2] = valueNs;
    return true;
  }

  /** Gives the codes up for one sketch per metric holding the same samples. */
  private toSketches(): (QuantileSketch | null)[] {
    const sketches = noSketches();
    this.countCodes(sketches, -1);
    this.sketches = sketches;
    this.codes = null;
    this.codeCount = 0;
    return sketches;
  }

  /** The sketch of the coded samples of `metric`, counted in arrival order; null without any. */
  private sketchOfCodes(metric: number): QuantileSketch | null {
    const sketches = noSketches();
    this.countCodes(sketches, metric);
    return sketches[metric]!;
  }

  /**
   * Counts the coded samples of `only` (every metric: -1) in arrival order into `sketches`,
   * creating each metric's sketch from its sum, min and max at its first code.
   */
  private countCodes(sketches: (QuantileSketch | null)[], only: number): void {
    const codes = this.codes;
    const r = this.ring;
    const n = this.codeCount;
    for (let i = 0; i < n; i += CODES_PER_WORD) {
      const word = i / CODES_PER_WORD;
      let rest = word < CODE_WORDS_INLINE ? r[INLINE_CODES + word]! : codes![word - CODE_WORDS_INLINE]!;
      const inWord = Math.min(CODES_PER_WORD, n - i);
      for (let k = 0; k < inWord; k++) {
        const higher = Math.floor(rest / CODE_RADIX);
        const entry = rest - higher * CODE_RADIX;
        rest = higher;
        const metric = entry & 7;
        if (only >= 0 && metric !== only) continue;
        let sketch = sketches[metric]!;
        if (sketch === null) {
          const o = STATS + metric * STAT_FIELDS;
          sketch = sketches[metric] = QuantileSketch.fromSummary(r[o]!, r[o + 1]!, r[o + 2]!);
        }
        const code = entry >> 3;
        if (code === 0) sketch.countInBucket(0, 0);
        else sketch.countInBucket(((code - 1) & 1) === 1 ? -1 : 1, ((code - 1) >> 1) - CODE_WINDOW + this.codeBase);
      }
    }
  }

  private event(fromInitiator: boolean, kind: PsnEvent['kind'], count: number, psn: number, tsUs: number, frame: number): void {
    this.observer?.onPsnEvent?.({
      flow_index: this.flowIndex, ts_us: tsUs,
      direction: fromInitiator ? 'initiator_to_responder' : 'responder_to_initiator', kind, count, psn, frame,
    });
  }

  /** Counts one occurrence of a finding at `frame`. */
  find(code: FindingCode, frame: number): void {
    const codeIndex = FINDING_CODES.indexOf(code);
    const list = this.findings;
    if (list === null) { this.findings = [codeIndex, 1, frame]; return; }
    for (let i = 0; i < list.length; i += 3) {
      if (list[i] === codeIndex) { list[i + 1] = list[i + 1]! + 1; return; }
    }
    const grown = new Array<number>(list.length + 3);
    for (let i = 0; i < list.length; i++) grown[i] = list[i]!;
    grown[list.length] = codeIndex;
    grown[list.length + 1] = 1;
    grown[list.length + 2] = frame;
    this.findings = grown;
  }

  /** The statistics of one metric (a sketch built from the codes while the flow keeps codes); null without samples. */
  accumulator(metric: MetricName): DurationAccumulator | null {
    const m = METRICS.indexOf(metric);
    const sketch = this.sketches === null ? this.sketchOfCodes(m) : this.sketches[m]!;
    return sketch === null ? null : DurationAccumulator.ofSketch(sketch);
  }

  psnCounters(fromInitiator: boolean): PsnCounters {
    const r = this.ring;
    const s = fromInitiator ? SENDER_A : SENDER_B;
    return { lost: r[s + PSN_LOST]!, reordered: r[s + PSN_REORDERED]!, duplicates: r[s + PSN_DUPLICATES]!, restarts: r[s + PSN_RESTARTS]! };
  }

  /** First PSNs of epochs whose start was seen, per direction (random-start check). */
  startPsns(): number[] {
    return [this.ring[SENDER_A + SEEN_START]!, this.ring[SENDER_B + SEEN_START]!].filter((p) => p >= 0);
  }

  get restarts(): number {
    return this.ring[SENDER_A + PSN_RESTARTS]! + this.ring[SENDER_B + PSN_RESTARTS]!;
  }

  /** The findings in order of first sight, as new objects. */
  findingList(): Finding[] {
    const out: Finding[] = [];
    const list = this.findings;
    if (list === null) return out;
    for (let i = 0; i < list.length; i += 3) {
      const code = FINDING_CODES[list[i]!]!;
      out.push({ code, message: FINDINGS[code], count: list[i + 1]!, first_frame: list[i + 2]! });
    }
    return out;
  }
}
