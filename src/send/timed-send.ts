// Sending a PDM packet at a chosen instant, with PDM encoded for that instant before it comes.
//
// A delta that ends at a send (DeltaTLR: this send − the last receive, RFC 8250 §3.2) is taken
// from a clock read before the send; whatever happens between that read and the kernel's
// capture timestamp of the packet makes the encoded delta low by that much. Reading the clock,
// encoding and writing the option, then sending, puts the encoding work (and any preemption or
// garbage collection during it) inside that window (native-notes/cap.md §4, §6).
//
// Instead the send time is chosen first: the option is encoded for the target instant, the
// process busy-waits until the clock reaches it, and sends at once. Between the last clock read
// and the send there is one comparison. If the wait overshoots the target (the process was held
// up: preempted, or a virtual CPU not running), the option is encoded again for a later target
// rather than sent with a stale time. What remains is the send path itself (a system call and
// the kernel up to its packet taps), whose fastest case CaptureClock already absorbs.

import type { PdmRepr } from '../wire/pdm.js';
import { writePdmAt } from './frame-builder.js';
import type { MonotonicClock, PdmEndpoint } from './pdm-endpoint.js';
import type { PacketSink } from './sink.js';

/** Time to encode and write the option before a target set from "now" (measured: 1 to 3 µs). */
export const PREP_NS = 20_000n;
/** A wait that ends later than this past its target is redone for a new target. */
export const MAX_OVERSHOOT_NS = 5_000n;
/** Retargets before sending anyway (each costs PREP_NS; four in a row means a host in trouble). */
const MAX_RETARGETS = 4;

export interface TimedSend {
  /** The instant the option was encoded for; the send call began at most MAX_OVERSHOOT_NS later, unless `retargets` reached its limit. */
  readonly txNs: bigint;
  readonly pdm: PdmRepr;
  /** Clock reading at the start of the send call. */
  readonly startedNs: bigint;
  /** Clock reading when the send call returned. */
  readonly returnedNs: bigint;
  /** How often the target was moved because the wait overshot it. */
  readonly retargets: number;
}

/** Busy-waits until `clock` reads `atNs` or later; returns the reading. */
export function spinUntil(clock: MonotonicClock, atNs: bigint): bigint {
  if (clock.spinUntilNs !== undefined) return clock.spinUntilNs(atNs);
  let now = clock.nowNs();
  while (now < atNs) now = clock.nowNs();
  return now;
}

/**
 * Sends `frame` (with its PDM option at `pdmOffset`) at `atNs`, or as soon as possible after
 * it when that has passed, its PDM encoded by `endpoint` for the instant of sending. The
 * endpoint's state advances only once the sink accepted the frame; the sink's error is thrown.
 * The caller should arrive a little early: the wait until `atNs` is a busy wait.
 */
export function sendPdmAt(clock: MonotonicClock, endpoint: PdmEndpoint, sink: PacketSink,
  frame: Uint8Array, pdmOffset: number, atNs: bigint): TimedSend {
  // A Buffer over the same bytes, made now: the sink would otherwise allocate one in the window.
  const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  let target = atNs;
  let retargets = 0;
  for (;;) {
    const now = clock.nowNs();
    if (target - now < PREP_NS) target = now + PREP_NS;
    const pdm = endpoint.peekPdm(target);
    writePdmAt(buf, pdmOffset, pdm);
    const startedNs = spinUntil(clock, target);
    if (startedNs - target > MAX_OVERSHOOT_NS && retargets < MAX_RETARGETS) {
      retargets++;
      continue;
    }
    sink.send(buf);
    const returnedNs = clock.nowNs();
    endpoint.commitSent(target);
    return { txNs: target, pdm, startedNs, returnedNs, retargets };
  }
}

