// IPv6 extension headers (RFC 8200 §4). Every header here except Fragment and AH uses the
// uniform layout of RFC 6564: Next Header, Hdr Ext Len in 8-octet units not counting the first 8.
//
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Header  |  Hdr Ext Len  |                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
// .                 header-specific data (options, ...)           .

import { readU16, writeU16 } from './bytes.js';
import { type WireResult, wireError } from './errors.js';

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_MOBILITY = 135;
export const IPPROTO_HIP = 139;
export const IPPROTO_SHIM6 = 140;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

/** True for the headers walked as extension headers (ESP is handled by its own codec). */
export function isExtensionHeader(proto: number): boolean {
  return (
    proto === IPPROTO_HOPOPTS || proto === IPPROTO_ROUTING || proto === IPPROTO_FRAGMENT ||
    proto === IPPROTO_DSTOPTS || proto === IPPROTO_AH || proto === IPPROTO_MOBILITY ||
    proto === IPPROTO_HIP || proto === IPPROTO_SHIM6
  );
}

/**
 * Checks the extension header of type `proto` at `off`; returns its length in bytes.
 * Lengths: uniform (len + 1) × 8; Fragment 8; AH (len + 2) × 4 (RFC 4302 §2.2).
 */
export function checkExtHeader(proto: number, buf: Uint8Array, off: number, end: number): WireResult<number> {
  if (off + 2 > end) return wireError('truncated', 'extension header');
  let len: number;
  if (proto === IPPROTO_FRAGMENT) len = 8;
  else if (proto === IPPROTO_AH) len = (buf[off + 1]! + 2) * 4;
  else len = (buf[off + 1]! + 1) * 8;
  if (off + len > end) return wireError('truncated', 'extension header body');
  return len;
}

export function extNextHeader(buf: Uint8Array, off: number): number {
  return buf[off]!;
}

// Fragment header (RFC 8200 §4.5):
// | Next Header |  Reserved  |      Fragment Offset    |Res|M|
// |                         Identification                    |
export function fragmentOffset(buf: Uint8Array, off: number): number {
  return readU16(buf, off + 2) >>> 3;
}

export function fragmentMoreFlag(buf: Uint8Array, off: number): boolean {
  return (buf[off + 3]! & 1) === 1;
}

/** Writes an options header (Hop-by-Hop or Destination Options) around `options`, padded. */
export interface OptionsHeaderRepr {
  readonly nextHeader: number;
  /** Option TLVs without trailing padding; emitOptionsHeader pads to a multiple of 8. */
  readonly options: Uint8Array;
}

export function optionsHeaderLength(repr: OptionsHeaderRepr): number {
  return Math.ceil((2 + repr.options.length) / 8) * 8;
}

export function emitOptionsHeader(repr: OptionsHeaderRepr, buf: Uint8Array, off: number): number {
  const len = optionsHeaderLength(repr);
  buf[off] = repr.nextHeader;
  buf[off + 1] = len / 8 - 1;
  buf.set(repr.options, off + 2);
  const pad = len - 2 - repr.options.length;
  const padOff = off + 2 + repr.options.length;
  // RFC 8200 §4.2: Pad1 for a single octet, PadN (type 1, length n−2) otherwise.
  if (pad === 1) buf[padOff] = 0;
  else if (pad >= 2) {
    buf[padOff] = 1;
    buf[padOff + 1] = pad - 2;
    buf.fill(0, padOff + 2, padOff + pad);
  }
  return len;
}

export function emitFragmentHeader(
  nextHeader: number, offsetUnits: number, more: boolean, identification: number,
  buf: Uint8Array, off: number,
): number {
  buf[off] = nextHeader;
  buf[off + 1] = 0;
  writeU16(buf, off + 2, (offsetUnits << 3) | (more ? 1 : 0));
  buf[off + 4] = (identification >>> 24) & 0xff;
  buf[off + 5] = (identification >>> 16) & 0xff;
  buf[off + 6] = (identification >>> 8) & 0xff;
  buf[off + 7] = identification & 0xff;
  return 8;
}
