// Upper-layer headers, as far as flows need them: ports, the ICMPv6 echo identifier, and the
// UDP checksum the sender writes.

import { readU16, writeU16 } from './bytes.js';
import { type WireResult, wireError } from './errors.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from './ext-header.js';

export const UDP_HEADER_LEN = 8;
export const TCP_MIN_HEADER_LEN = 20;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

/** Protocols whose first four bytes are source and destination port. */
export function hasPorts(proto: number): boolean {
  return proto === IPPROTO_UDP || proto === IPPROTO_TCP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE;
}

/** Minimum bytes that must be captured to read the protocol's header as pdmscope uses it. */
export function minTransportHeader(proto: number): number {
  if (proto === IPPROTO_TCP) return TCP_MIN_HEADER_LEN;
  if (proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE) return UDP_HEADER_LEN;
  if (proto === IPPROTO_SCTP) return 12;
  return 4;
}

export function checkTransport(proto: number, buf: Uint8Array, off: number, end: number): WireResult<number> {
  const min = minTransportHeader(proto);
  if (off + min > end) return wireError('truncated', 'transport header');
  if (proto === IPPROTO_TCP) {
    const dataOffset = (buf[off + 12]! >>> 4) * 4;
    if (dataOffset < TCP_MIN_HEADER_LEN) return wireError('malformed', `tcp data offset ${dataOffset}`);
    if (off + dataOffset > end) return wireError('truncated', 'tcp options');
    return dataOffset;
  }
  return min;
}

export function srcPort(buf: Uint8Array, off: number): number {
  return readU16(buf, off);
}

export function dstPort(buf: Uint8Array, off: number): number {
  return readU16(buf, off + 2);
}

export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + 13]!;
}

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

export function udpLength(repr: UdpRepr): number {
  return UDP_HEADER_LEN + repr.payload.length;
}

/**
 * Writes a UDP datagram with its checksum over the RFC 8200 §8.1 pseudo-header: the final
 * destination and the upper-layer length, never the extension headers before it.
 */
export function emitUdp(repr: UdpRepr, src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number): number {
  const len = udpLength(repr);
  writeU16(buf, off, repr.srcPort);
  writeU16(buf, off + 2, repr.dstPort);
  writeU16(buf, off + 4, len);
  writeU16(buf, off + 6, 0);
  buf.set(repr.payload, off + UDP_HEADER_LEN);
  let sum = pseudoHeaderSum(src, dst, len, IPPROTO_UDP);
  sum = onesComplementAdd(sum, buf, off, len);
  let check = ~foldChecksum(sum) & 0xffff;
  if (check === 0) check = 0xffff; // RFC 8200 §8.1: a computed zero is sent as all ones
  writeU16(buf, off + 6, check);
  return len;
}

export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, upperLength: number, proto: number): number {
  let sum = 0;
  for (let i = 0; i < 16; i += 2) sum += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  sum += (upperLength >>> 16) + (upperLength & 0xffff) + proto;
  return sum;
}

export function onesComplementAdd(sum: number, buf: Uint8Array, off: number, len: number): number {
  let s = sum;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) {
    s += (buf[i]! << 8) | buf[i + 1]!;
    if (s > 0x7fffffff) s = (s & 0xffff) + (s >>> 16);
  }
  if (i < end) s += buf[i]! << 8;
  return s;
}

export function foldChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Verifies an upper-layer checksum (UDP, TCP, ICMPv6, UDP-Lite over its whole length) against the
 * pseudo-header of `src`/`dst`. Used by the ESP-NULL heuristic to accept a guessed ICV length.
 */
export function verifyTransportChecksum(
  proto: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  buf: Uint8Array, off: number, len: number,
): boolean {
  let sum = 0;
  for (let i = 0; i < 16; i += 2) {
    sum += ((src[srcOff + i]! << 8) | src[srcOff + i + 1]!) + ((dst[dstOff + i]! << 8) | dst[dstOff + i + 1]!);
  }
  sum += (len >>> 16) + (len & 0xffff) + proto;
  sum = onesComplementAdd(sum, buf, off, len);
  return foldChecksum(sum) === 0xffff;
}
