// The UDP payload of pdmscope probes. The reflector echoes any payload unchanged; the sender
// reads its own back only to report which probe a reply belongs to when PSNLR pairing fails.
//
//  0                   1                   2                   3
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 magic "PDMS" (0x50444d53)                     |
// |                 session id (random, u32)                      |
// |                 sequence number (u32, from 1)                 |
// |                 zero fill up to --size ...                    |

import { readU32, writeU32 } from '../wire/bytes.js';

export const PROBE_MAGIC = 0x50444d53;
export const PROBE_HEADER_LEN = 12;

export function buildProbePayload(size: number, sessionId: number, seq: number): Uint8Array {
  const p = new Uint8Array(Math.max(size, PROBE_HEADER_LEN));
  writeU32(p, 0, PROBE_MAGIC);
  writeU32(p, 4, sessionId >>> 0);
  writeU32(p, 8, seq >>> 0);
  return p;
}

/** The probe's sequence number if `payload[off..end)` is a probe of `sessionId`, else -1. */
export function probeSeq(payload: Uint8Array, off: number, end: number, sessionId: number): number {
  if (end - off < PROBE_HEADER_LEN) return -1;
  if (readU32(payload, off) !== PROBE_MAGIC || readU32(payload, off + 4) !== sessionId >>> 0) return -1;
  return readU32(payload, off + 8);
}
