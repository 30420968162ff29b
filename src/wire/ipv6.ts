// RFC 8200 §3: the IPv6 fixed header.
//
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |           Flow Label                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Payload Length        |  Next Header  |   Hop Limit   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 Source Address (128 bits)                     |
// |               Destination Address (128 bits)                  |

import { readU16, writeU16 } from './bytes.js';
import { type WireResult, wireError } from './errors.js';

export const IPV6_HEADER_LEN = 40;
export const IPV6_SRC_OFFSET = 8;
export const IPV6_DST_OFFSET = 24;

export interface Ipv6Repr {
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

/**
 * Checks an IPv6 header at `off`; returns the end of the packet as the header claims it,
 * clipped to `end` (the captured bytes). A payload length of 0 (jumbogram, or TSO captures)
 * means "to the end of the captured data".
 */
export function checkIpv6(buf: Uint8Array, off: number, end: number): WireResult<number> {
  if (off + IPV6_HEADER_LEN > end) return wireError('truncated', 'ipv6 header');
  if (buf[off]! >>> 4 !== 6) return wireError('malformed', `ip version ${buf[off]! >>> 4}`);
  const payloadLength = readU16(buf, off + 4);
  if (payloadLength === 0) return end;
  return Math.min(end, off + IPV6_HEADER_LEN + payloadLength);
}

export function ipv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + 6]!;
}

export function ipv6PayloadLength(buf: Uint8Array, off: number): number {
  return readU16(buf, off + 4);
}

export function parseIpv6(buf: Uint8Array, off: number): Ipv6Repr {
  return {
    trafficClass: ((buf[off]! & 0x0f) << 4) | (buf[off + 1]! >>> 4),
    flowLabel: ((buf[off + 1]! & 0x0f) << 16) | readU16(buf, off + 2),
    payloadLength: readU16(buf, off + 4),
    nextHeader: buf[off + 6]!,
    hopLimit: buf[off + 7]!,
    src: buf.slice(off + IPV6_SRC_OFFSET, off + IPV6_SRC_OFFSET + 16),
    dst: buf.slice(off + IPV6_DST_OFFSET, off + IPV6_DST_OFFSET + 16),
  };
}

export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array, off: number): number {
  buf[off] = 0x60 | ((repr.trafficClass >>> 4) & 0x0f);
  buf[off + 1] = ((repr.trafficClass & 0x0f) << 4) | ((repr.flowLabel >>> 16) & 0x0f);
  writeU16(buf, off + 2, repr.flowLabel & 0xffff);
  writeU16(buf, off + 4, repr.payloadLength);
  buf[off + 6] = repr.nextHeader;
  buf[off + 7] = repr.hopLimit;
  buf.set(repr.src, off + IPV6_SRC_OFFSET);
  buf.set(repr.dst, off + IPV6_DST_OFFSET);
  return IPV6_HEADER_LEN;
}

/** Formats 16 address bytes at `off` the RFC 5952 way (lower case, longest zero run as ::). */
export function formatIpv6(buf: Uint8Array, off = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(readU16(buf, off + 2 * i));
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero word is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (bestStart === 0 && bestLen === 5 && words[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Parses a textual IPv6 address (RFC 4291 §2.2, with an optional dotted quad); null if invalid. */
export function parseIpv6Address(text: string): Uint8Array | null {
  let s = text.trim();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length === 0 || s.length > 45) return null;
  const out = new Uint8Array(16);
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const quad = item.split('.');
        if (quad.length !== 4) return null;
        const bytes = quad.map((q) => (/^\d{1,3}$/.test(q) ? Number(q) : 256));
        if (bytes.some((b) => b > 255)) return null;
        groups.push((bytes[0]! << 8) | bytes[1]!, (bytes[2]! << 8) | bytes[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
      groups.push(parseInt(item, 16));
    }
    return groups;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1 && head.length !== 8) return null;
  if (halves.length === 2 && head.length + tail.length > 7) return null;
  head.forEach((w, i) => writeU16(out, 2 * i, w));
  tail.forEach((w, i) => writeU16(out, 2 * (8 - tail.length + i), w));
  return out;
}
