// RFC 8250 §3.2: the Performance and Diagnostic Metrics destination option.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Option Type  | Option Length |   ScaleDTLR   |   ScaleDTLS   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   PSN This Packet (PSNTP)     |  PSN Last Received (PSNLR)    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Delta Time Last Recv (DTLR)  |  Delta Time Last Sent (DTLS)  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { type WireResult, wireError } from './errors.js';

export const PDM_OPTION_TYPE = 0x0f;
/** Option data length without Type and Length; RFC 8250 §3.2 says it MUST be 10. */
export const PDM_DATA_LENGTH = 10;
/** Whole option, Type and Length included. */
export const PDM_OPTION_LENGTH = 12;
/** Data lengths seen in draft-ietf-ippm-encrypted-pdmv2 revisions (protocol.md §7). */
export const PDMV2_DRAFT_DATA_LENGTHS: readonly number[] = [18, 22, 34];

export interface PdmRepr {
  readonly scaleDtlr: number;
  readonly scaleDtls: number;
  readonly psnThisPkt: number;
  readonly psnLastRecv: number;
  readonly deltaLastRecv: number;
  readonly deltaLastSent: number;
}

/**
 * Checks that a PDM option starts at `off` (the Option Type byte) and fits before `end`.
 * Returns the option data length on success so callers can report other lengths.
 */
export function checkPdm(buf: Uint8Array, off: number, end: number): WireResult<number> {
  if (off + 2 > end) return wireError('truncated', 'pdm option header');
  if (buf[off] !== PDM_OPTION_TYPE) return wireError('malformed', 'not a pdm option');
  const dataLen = buf[off + 1]!;
  if (off + 2 + dataLen > end) return wireError('truncated', 'pdm option data');
  if (dataLen !== PDM_DATA_LENGTH) return wireError('bad_length', `pdm option length ${dataLen}`);
  return dataLen;
}

/** Reads the six fields of a checked PDM option at `off` (the Option Type byte). */
export function parsePdm(buf: Uint8Array, off: number): PdmRepr {
  return {
    scaleDtlr: buf[off + 2]!,
    scaleDtls: buf[off + 3]!,
    psnThisPkt: (buf[off + 4]! << 8) | buf[off + 5]!,
    psnLastRecv: (buf[off + 6]! << 8) | buf[off + 7]!,
    deltaLastRecv: (buf[off + 8]! << 8) | buf[off + 9]!,
    deltaLastSent: (buf[off + 10]! << 8) | buf[off + 11]!,
  };
}

/** Writes a PDM option (Type, Length and data: 12 bytes) at `off`. */
export function emitPdm(repr: PdmRepr, buf: Uint8Array, off: number): number {
  buf[off] = PDM_OPTION_TYPE;
  buf[off + 1] = PDM_DATA_LENGTH;
  buf[off + 2] = repr.scaleDtlr & 0xff;
  buf[off + 3] = repr.scaleDtls & 0xff;
  buf[off + 4] = (repr.psnThisPkt >>> 8) & 0xff;
  buf[off + 5] = repr.psnThisPkt & 0xff;
  buf[off + 6] = (repr.psnLastRecv >>> 8) & 0xff;
  buf[off + 7] = repr.psnLastRecv & 0xff;
  buf[off + 8] = (repr.deltaLastRecv >>> 8) & 0xff;
  buf[off + 9] = repr.deltaLastRecv & 0xff;
  buf[off + 10] = (repr.deltaLastSent >>> 8) & 0xff;
  buf[off + 11] = repr.deltaLastSent & 0xff;
  return PDM_OPTION_LENGTH;
}

/**
 * Decodes a scaled delta to nanoseconds: value × 2^scale attoseconds (RFC 8250 Appendix B).
 * Never `<<`: JS shifts are 32-bit and wrap for scale ≥ 16. A double holds the 16 significant
 * bits exactly for every scale 0..255.
 */
export function pdmDeltaNs(delta: number, scale: number): number {
  return (delta * 2 ** scale) / 1e9;
}

/** Same as {@link pdmDeltaNs} in attoseconds, exact as a BigInt. */
export function pdmDeltaAttoseconds(delta: number, scale: number): bigint {
  return BigInt(delta) << BigInt(scale);
}

export interface ScaledDelta {
  readonly delta: number;
  readonly scale: number;
}

const ATTOSECONDS_PER_NS = 1_000_000_000n;

/**
 * Encodes a duration in attoseconds: shift right until it fits 16 bits; the shift count is the
 * scale (RFC 8250 Appendix B.2). Truncates, as the reference encoders do, so the decoded value
 * is never above the true one and is within 2^scale attoseconds of it. Negative durations
 * (clock misuse) encode as zero; durations beyond scale 255 saturate.
 */
export function encodePdmDeltaAttoseconds(attoseconds: bigint): ScaledDelta {
  if (attoseconds <= 0n) return { delta: 0, scale: 0 };
  let scale = 0;
  let value = attoseconds;
  while (value > 0xffffn) {
    value >>= 1n;
    scale++;
  }
  if (scale > 255) return { delta: 0xffff, scale: 255 };
  return { delta: Number(value), scale };
}

/** Encodes a whole number of nanoseconds (a BigInt from a monotonic clock). */
export function encodePdmDeltaNs(ns: bigint): ScaledDelta {
  return encodePdmDeltaAttoseconds(ns * ATTOSECONDS_PER_NS);
}
