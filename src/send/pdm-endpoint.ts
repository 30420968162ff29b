// Sender-side PDM state for one 5-tuple (RFC 8250 §3.2, §4.1; docs/protocol.md §4, §5): the PSN
// counter, the peer's last PSN, and the two timestamps the deltas are taken from. Pure: the
// caller passes every timestamp, read from a monotonic clock (docs/protocol.md §11 pitfall 14).

import { randomInt } from 'node:crypto';
import type { PdmRepr, ScaledDelta } from '../wire/pdm.js';

/** A monotonic clock in whole nanoseconds. Never Date.now(): 1 ms resolution, and it can step. */
export interface MonotonicClock {
  nowNs(): bigint;
  /**
   * Busy-waits until the clock reads `atNs` or later and returns that reading. Optional: the
   * default (timed-send.ts) loops on nowNs().
   */
  spinUntilNs?(atNs: bigint): bigint;
}

/**
 * process.hrtime.bigint() is CLOCK_MONOTONIC as one BigInt of nanoseconds, so seconds and
 * fractions are never combined by hand (the Linux PDM patch bug, docs/protocol.md §11 pitfall 14).
 *
 * Its busy wait polls performance.now(), the same CLOCK_MONOTONIC (libuv's uv_hrtime) as a
 * double of milliseconds, so a wait of a millisecond does not allocate some 5000 BigInts and
 * invite a garbage collection just before a timed send; only the last 10 µs poll hrtime.
 */
/** The last stretch of a busy wait polls hrtime itself: the two reads differ by a µs or so. */
const FINE_SPIN_NS = 10_000;

export const MONOTONIC_CLOCK: MonotonicClock = {
  nowNs: () => process.hrtime.bigint(),
  spinUntilNs(atNs: bigint): bigint {
    const baseNs = process.hrtime.bigint();
    const untilMs = performance.now() + (Number(atNs - baseNs) - FINE_SPIN_NS) / 1e6;
    while (performance.now() < untilMs) { /* spin */ }
    let now = process.hrtime.bigint();
    while (now < atNs) now = process.hrtime.bigint();
    return now;
  },
};

export interface PdmEndpointOptions {
  /** The first PSNTP; random by default (RFC 8250 §3.2: a random start hinders insertion). */
  initialPsn?: number;
}

/**
 * PDM state of one endpoint of one 5-tuple. Call `onReceive` for every PDM packet received from
 * the peer and `nextPdm` for every packet sent, each with the time it happened.
 *
 * Which packets carry a sample (docs/protocol.md §4.1, fresh-sample rule): only the first packet sent
 * after a receive carries DeltaTLR (this send − that receive) and DeltaTLS (that receive − the
 * send before it). Later packets sent before anything else arrives repeat PSNLR and carry zero
 * deltas with scale 0, which decoders read as "no sample" (docs/protocol.md §11 pitfall 5). Repeating the
 * old deltas instead would let a passive analyzer that keys freshness on timestamps count them
 * twice, and recomputing them against the newer send would make DeltaTLS negative (the FreeBSD
 * comment on ordering in docs/protocol.md §11 pitfall 14).
 */
export class PdmEndpoint {
  private psnNext: number;
  private lastRecvPsn = 0;
  private lastRecvNs: bigint | null = null;
  private lastSentNs: bigint | null = null;
  /** The last send that happened before `lastRecvNs`: DeltaTLS is measured from it. */
  private sentBeforeRecvNs: bigint | null = null;
  private freshReceive = false;
  private lastSentPsn = -1;
  private sentCount = 0;
  private receivedCount = 0;

  constructor(options: PdmEndpointOptions = {}) {
    this.psnNext = (options.initialPsn ?? randomInt(0, 0x10000)) & 0xffff;
  }

  /** The PSNTP the next packet will carry. */
  get nextPsn(): number { return this.psnNext; }
  /** PSNTP of the last packet received from the peer (0 before any). */
  get lastReceivedPsn(): number { return this.lastRecvPsn; }
  get packetsSent(): number { return this.sentCount; }
  get packetsReceived(): number { return this.receivedCount; }

  /** Records a PDM packet from the peer, received at `rxNs`. */
  onReceive(peerPsnThisPkt: number, rxNs: bigint): void {
    this.lastRecvPsn = peerPsnThisPkt & 0xffff;
    this.lastRecvNs = rxNs;
    this.sentBeforeRecvNs = this.lastSentNs;
    this.freshReceive = true;
    this.receivedCount++;
  }

  /**
   * Replaces the send time of the last packet sent (PSNTP `psn`) by a better one, such as its
   * kernel capture timestamp mapped onto the monotonic clock (capture-clock.ts): the time read
   * before the send is early by the send-path latency. Later DeltaTLS values are measured from
   * it. Ignored for any other packet.
   */
  refineSentTime(psn: number, wireNs: bigint): void {
    if (psn !== this.lastSentPsn || this.lastSentNs === null) return;
    if (this.sentBeforeRecvNs === this.lastSentNs) this.sentBeforeRecvNs = wireNs;
    this.lastSentNs = wireNs;
  }

  /**
   * The PDM option for a packet sent at `txNs`, and advances the state (PSNTP + 1 mod 2^16).
   * Take `txNs` after every receive already handed to onReceive: deltas are then never negative
   * (and a negative one would encode as zero, "no sample", rather than wrap).
   */
  nextPdm(txNs: bigint): PdmRepr {
    const pdm = this.peekPdm(txNs);
    this.commitSent(txNs);
    return pdm;
  }

  /**
   * The PDM option a packet sent at `txNs` would carry, without changing any state: a timed
   * send (timed-send.ts) encodes it for an instant still to come, and encodes again for a later
   * one if it missed that instant.
   */
  peekPdm(txNs: bigint): PdmRepr {
    let dtlr: ScaledDelta = NO_SAMPLE;
    let dtls: ScaledDelta = NO_SAMPLE;
    if (this.freshReceive && this.lastRecvNs !== null) {
      dtlr = encodeDeltaNsFast(txNs - this.lastRecvNs);
      if (this.sentBeforeRecvNs !== null) dtls = encodeDeltaNsFast(this.lastRecvNs - this.sentBeforeRecvNs);
    }
    return {
      scaleDtlr: dtlr.scale,
      scaleDtls: dtls.scale,
      psnThisPkt: this.psnNext,
      psnLastRecv: this.lastRecvPsn,
      deltaLastRecv: dtlr.delta,
      deltaLastSent: dtls.delta,
    };
  }

  /** Records that the packet peekPdm(txNs) described was sent: PSNTP + 1 mod 2^16. */
  commitSent(txNs: bigint): void {
    this.freshReceive = false;
    this.lastSentNs = txNs;
    this.lastSentPsn = this.psnNext;
    this.psnNext = (this.psnNext + 1) & 0xffff;
    this.sentCount++;
  }
}

const NO_SAMPLE: ScaledDelta = { delta: 0, scale: 0 };
const ATTOSECONDS_PER_NS = 1_000_000_000n;

/**
 * encodePdmDeltaNs (src/wire/pdm.ts), bit for bit, in a few BigInt operations instead of one
 * shift per bit: it runs between reading the send time and sending, where every microsecond
 * shows up in the encoded delta. The scale is guessed from a double and corrected by one.
 */
export function encodeDeltaNsFast(ns: bigint): ScaledDelta {
  if (ns <= 0n) return NO_SAMPLE;
  const as = ns * ATTOSECONDS_PER_NS;
  let scale = Math.max(0, Math.floor(Math.log2(Number(as))) - 15);
  let delta = as >> BigInt(scale);
  while (delta > 0xffffn) { scale++; delta >>= 1n; }
  while (scale > 0 && delta < 0x8000n) { scale--; delta = as >> BigInt(scale); }
  if (scale > 255) return { delta: 0xffff, scale: 255 };
  return { delta: Number(delta), scale };
}
