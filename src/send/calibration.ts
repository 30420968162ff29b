// Learning the capture clock (capture-clock.ts) before the first probe or reply: a few frames
// of the IEEE 802 Local Experimental EtherType 1 (0x88B5), addressed from and to our own MAC (a
// switch never sends them back, a peer drops them), which our capture sees leave. Without them
// the first offset comes from the first real send, which is the slowest of a run (cold kernel
// and library paths: up to 1 ms on the development host), and the first DeltaTLR after it was
// encoded up to that much too high (native-notes/cap.md §4).

import { readU16 } from '../wire/bytes.js';
import { LINKTYPE_ETHERNET } from '../wire/link.js';
import type { CaptureClock } from './capture-clock.js';
import type { MonotonicClock } from './pdm-endpoint.js';
import type { ReceivedFrame } from './receiver.js';
import type { PacketSink } from './sink.js';
import { PREP_NS, spinUntil } from './timed-send.js';

/** IEEE Std 802 Local Experimental EtherType 1, for the calibration frames. */
export const ETHERTYPE_CALIBRATION = 0x88b5;
const CALIBRATION_TAG = new TextEncoder().encode('pdmscope clock calibration ');
const NONCE_LEN = 16;
const ETH_HEADER = 14;

/** The CaptureClock key of a captured calibration frame, or null for any other frame. */
export function calibrationKeyOf(f: ReceivedFrame): string | null {
  if (f.linkType !== LINKTYPE_ETHERNET || f.capLen < ETH_HEADER + CALIBRATION_TAG.length + NONCE_LEN) return null;
  if (readU16(f.frame, 12) !== ETHERTYPE_CALIBRATION) return null;
  return keyAt(f.frame);
}

function keyAt(frame: Uint8Array): string {
  return 'cal|' + Buffer.from(frame.subarray(ETH_HEADER, ETH_HEADER + CALIBRATION_TAG.length + NONCE_LEN)).toString('latin1');
}

/**
 * Sends `frames` calibration frames 2 ms apart, each noted in `captureClock` the way timed
 * sends are (the time it was due, then a busy wait until then: timed-send.ts), so that their
 * offsets compare with those of replies and probes. Throws the sink's error.
 */
export async function sendCalibrationFrames(clock: MonotonicClock, sink: PacketSink, captureClock: CaptureClock,
  ownMac: Uint8Array, frames = 8, stopped: () => boolean = () => false): Promise<void> {
  for (let i = 0; i < frames && !stopped(); i++) {
    const frame = Buffer.alloc(60);
    frame.set(ownMac, 0);
    frame.set(ownMac, 6);
    frame.writeUInt16BE(ETHERTYPE_CALIBRATION, 12);
    frame.set(CALIBRATION_TAG, ETH_HEADER);
    frame.write(`${process.pid}-${i}`.padEnd(NONCE_LEN, ' ').slice(0, NONCE_LEN), ETH_HEADER + CALIBRATION_TAG.length, 'latin1');
    const atNs = clock.nowNs() + PREP_NS;
    captureClock.noteSent(keyAt(frame), atNs);
    spinUntil(clock, atNs);
    sink.send(frame);
    await new Promise((r) => setTimeout(r, 2));
  }
}
