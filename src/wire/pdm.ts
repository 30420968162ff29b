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

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { type WireResult, wireError } from './errors.js';

export const PDM_OPTION_TYPE = 0x0f;
/** Option data length without Type and Length; RFC 8250 §3.2 says it MUST be 10. */
export const PDM_DATA_LENGTH = 10;
/** Whole option, Type and Length included. */
export const PDM_OPTION_LENGTH = 12;
/** Data lengths seen in draft-ietf-ippm-encrypted-pdmv2 revisions (docs/protocol.md §7). */
export const PDMV2_DRAFT_DATA_LENGTHS: readonly number[] = [18, 22, 34];
/** PDMv2 clear form (draft-ietf-ippm-encrypted-pdmv2-14 §7): Opt Data Len 22, Version 2. */
export const PDMV2_DATA_LENGTH = 22;
export const PDMV2_OPTION_LENGTH = 24;
export const PDMV2_VERSION = 2;

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

// draft-ietf-ippm-encrypted-pdmv2-14 §7: PDMv2 in the clear. The same option type (so says §7;
// its IANA section asks for a new one, docs/protocol.md §7); earlier revisions laid it out
// differently (and encrypted it with HPKE), so only Version 2 with data length 22 is read, and
// the encrypted form not at all.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Option Type  | Opt Data Len  | Vers. |        Epoch          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  PSN This Packet (PSNTP), 32 bits             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  PSN Last Received (PSNLR), 32 bits           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  Global Pointer, 32 bits                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   ScaleDTLR   |   ScaleDTLS   |           Reserved            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Delta Time Last Recv (DTLR)  |  Delta Time Last Sent (DTLS)  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/** Offsets from the Option Type byte: the one layout parsePdmV2 and emitPdmV2 share. */
const V2_VERSION_EPOCH = 2;
const V2_PSNTP = 4;
const V2_PSNLR = 8;
const V2_GLOBAL_POINTER = 12;
const V2_SCALE_DTLR = 16;
const V2_SCALE_DTLS = 17;
const V2_RESERVED = 18;
const V2_DTLR = 20;
const V2_DTLS = 22;

export interface PdmV2Repr extends PdmRepr {
  /** 12 bits. */
  readonly epoch: number;
  readonly globalPointer: number;
}

/**
 * The version of the PDM option at `off`, when its data length (at `off + 1`, the option known
 * to fit) is one pdmscope reads: 1 (RFC 8250, length 10), 2 (PDMv2 clear form, length 22 with
 * Version 2); 0 for anything else (pdm_bad_length).
 */
export function pdmVersionOf(buf: Uint8Array, off: number): 0 | 1 | 2 {
  const dataLen = buf[off + 1]!;
  if (dataLen === PDM_DATA_LENGTH) return 1;
  if (dataLen === PDMV2_DATA_LENGTH && buf[off + V2_VERSION_EPOCH]! >>> 4 === PDMV2_VERSION) return 2;
  return 0;
}

/** Checks a PDMv2 clear-form option at `off` (the Option Type byte) fitting before `end`; returns its data length. */
export function checkPdmV2(buf: Uint8Array, off: number, end: number): WireResult<number> {
  if (off + 2 > end) return wireError('truncated', 'pdm option header');
  if (buf[off] !== PDM_OPTION_TYPE) return wireError('malformed', 'not a pdm option');
  const dataLen = buf[off + 1]!;
  if (off + 2 + dataLen > end) return wireError('truncated', 'pdm option data');
  if (dataLen !== PDMV2_DATA_LENGTH) return wireError('bad_length', `pdm option length ${dataLen}`);
  const version = buf[off + V2_VERSION_EPOCH]! >>> 4;
  if (version !== PDMV2_VERSION) return wireError('bad_length', `pdm option length ${dataLen} with version ${version}`);
  return dataLen;
}

/** PDMv2 fields as a mutable target: the decoder reads into its reused per-packet record. */
export type PdmV2Fields = { -readonly [K in keyof PdmV2Repr]: PdmV2Repr[K] };

/** Reads the fields of a checked PDMv2 option at `off` (the Option Type byte) into `into`. Reserved is ignored. */
export function readPdmV2(buf: Uint8Array, off: number, into: PdmV2Fields): void {
  into.epoch = readU16(buf, off + V2_VERSION_EPOCH) & 0x0fff;
  into.psnThisPkt = readU32(buf, off + V2_PSNTP);
  into.psnLastRecv = readU32(buf, off + V2_PSNLR);
  into.globalPointer = readU32(buf, off + V2_GLOBAL_POINTER);
  into.scaleDtlr = buf[off + V2_SCALE_DTLR]!;
  into.scaleDtls = buf[off + V2_SCALE_DTLS]!;
  into.deltaLastRecv = readU16(buf, off + V2_DTLR);
  into.deltaLastSent = readU16(buf, off + V2_DTLS);
}

/** The fields of a checked PDMv2 option at `off` as a new object. */
export function parsePdmV2(buf: Uint8Array, off: number): PdmV2Repr {
  const r: PdmV2Fields = { epoch: 0, psnThisPkt: 0, psnLastRecv: 0, globalPointer: 0, scaleDtlr: 0, scaleDtls: 0, deltaLastRecv: 0, deltaLastSent: 0 };
  readPdmV2(buf, off, r);
  return r;
}

/** Writes a PDMv2 clear-form option (Type, Length and data: 24 bytes, Reserved 0) at `off`. */
export function emitPdmV2(repr: PdmV2Repr, buf: Uint8Array, off: number): number {
  buf[off] = PDM_OPTION_TYPE;
  buf[off + 1] = PDMV2_DATA_LENGTH;
  writeU16(buf, off + V2_VERSION_EPOCH, (PDMV2_VERSION << 12) | (repr.epoch & 0x0fff));
  writeU32(buf, off + V2_PSNTP, repr.psnThisPkt);
  writeU32(buf, off + V2_PSNLR, repr.psnLastRecv);
  writeU32(buf, off + V2_GLOBAL_POINTER, repr.globalPointer);
  buf[off + V2_SCALE_DTLR] = repr.scaleDtlr & 0xff;
  buf[off + V2_SCALE_DTLS] = repr.scaleDtls & 0xff;
  writeU16(buf, off + V2_RESERVED, 0);
  writeU16(buf, off + V2_DTLR, repr.deltaLastRecv & 0xffff);
  writeU16(buf, off + V2_DTLS, repr.deltaLastSent & 0xffff);
  return PDMV2_OPTION_LENGTH;
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
