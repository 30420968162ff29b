// ESP-NULL without an SA (RFC 2410 encryption, any integrity): the payload is clear text, but
// where it ends depends on the ICV length, which only the SA knows. Like Wireshark's heuristic
// (a part of RFC 5879's idea) we guess the ICV length and accept a guess only when everything
// after it is consistent: RFC 4303 §2.4 trailer, a known Next Header, inner headers that parse
// and an upper-layer checksum that verifies. Unlike Wireshark we also try ICV 0 (NULL
// authentication) and 8 (GMAC-style 64-bit ICVs).

import { readU16 } from '../wire/bytes.js';
import { isWireError } from '../wire/errors.js';
import {
  IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6, IPPROTO_IPV6, IPPROTO_ROUTING,
  IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, checkExtHeader,
} from '../wire/ext-header.js';
import { IPV6_DST_OFFSET, IPV6_HEADER_LEN, IPV6_SRC_OFFSET } from '../wire/ipv6.js';
import { TCP_MIN_HEADER_LEN, UDP_HEADER_LEN, verifyTransportChecksum } from '../wire/transport.js';

/** ICV lengths tried, in order: NULL auth, 64-bit, HMAC-*-96, -128, -192, -256. */
export const NULL_HEURISTIC_ICV_LENGTHS: readonly number[] = [0, 8, 12, 16, 24, 32];

const MAX_INNER_EXT_HEADERS = 8;

/** Next Header values the heuristic accepts in the ESP trailer. */
export function isHeuristicNextHeader(nh: number): boolean {
  return nh === IPPROTO_DSTOPTS || nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_FRAGMENT ||
    nh === IPPROTO_TCP || nh === IPPROTO_UDP || nh === IPPROTO_ICMPV6 || nh === IPPROTO_SCTP ||
    nh === IPPROTO_UDPLITE || nh === IPPROTO_IPV6;
}

/**
 * RFC 4303 §2.4 default padding: Pad Length `padLen` bytes 1, 2, 3, … right before the Pad
 * Length octet at `padLenOff`. Returns the payload end, or -1 when it does not fit or differs.
 */
export function checkPadding(buf: Uint8Array, payloadOff: number, padLenOff: number): number {
  const padLen = buf[padLenOff]!;
  const padStart = padLenOff - padLen;
  if (padStart < payloadOff) return -1;
  for (let i = 0; i < padLen; i++) if (buf[padStart + i] !== i + 1) return -1;
  return padStart;
}

/**
 * True when `buf[off..end)`, starting with header `proto`, is a plausible packet payload whose
 * upper-layer checksum verifies against the addresses at `addr[srcOff]` / `addr[dstOff]`.
 * `exactEnd`: the payload must end exactly at `end` (transport mode; tunnel mode allows TFC
 * padding after the inner packet, RFC 4303 §2.7).
 */
export function innerPayloadVerifies(
  buf: Uint8Array, off: number, end: number, proto: number,
  addr: Uint8Array, srcOff: number, dstOff: number, allowTunnel: boolean,
): boolean {
  let o = off;
  let p = proto;
  for (let n = 0; n <= MAX_INNER_EXT_HEADERS; n++) {
    if (p === IPPROTO_HOPOPTS || p === IPPROTO_ROUTING || p === IPPROTO_DSTOPTS || p === IPPROTO_FRAGMENT) {
      const len = checkExtHeader(p, buf, o, end);
      if (isWireError(len)) return false;
      if (p === IPPROTO_HOPOPTS && o !== off) return false; // RFC 8200 §4.1: Hop-by-Hop only first
      // A fragment's upper-layer checksum covers the reassembled packet: nothing to verify here.
      if (p === IPPROTO_FRAGMENT) return false;
      p = buf[o]!;
      o += len;
      continue;
    }
    if (p === IPPROTO_IPV6) {
      if (!allowTunnel || o + IPV6_HEADER_LEN > end || buf[o]! >>> 4 !== 6) return false;
      const payloadLength = readU16(buf, o + 4);
      const innerEnd = o + IPV6_HEADER_LEN + payloadLength;
      if (payloadLength === 0 || innerEnd > end) return false;
      return innerPayloadVerifies(buf, o + IPV6_HEADER_LEN, innerEnd, buf[o + 6]!, buf, o + IPV6_SRC_OFFSET,
        o + IPV6_DST_OFFSET, false);
    }
    return upperLayerVerifies(buf, o, end, p, addr, srcOff, dstOff);
  }
  return false;
}

function upperLayerVerifies(buf: Uint8Array, off: number, end: number, proto: number,
  addr: Uint8Array, srcOff: number, dstOff: number): boolean {
  const len = end - off;
  switch (proto) {
    case IPPROTO_UDP: {
      if (len < UDP_HEADER_LEN || readU16(buf, off + 4) !== len) return false;
      // RFC 8200 §8.1: a zero UDP checksum is invalid over IPv6, so it proves nothing.
      if (readU16(buf, off + 6) === 0) return false;
      return verifyTransportChecksum(proto, addr, srcOff, addr, dstOff, buf, off, len);
    }
    case IPPROTO_UDPLITE: {
      // RFC 3828 §3.1: coverage 0 means the whole datagram; partial coverage is not checked here.
      if (len < UDP_HEADER_LEN) return false;
      const coverage = readU16(buf, off + 4);
      if (coverage !== 0 && coverage !== len) return false;
      return verifyTransportChecksum(proto, addr, srcOff, addr, dstOff, buf, off, len);
    }
    case IPPROTO_TCP: {
      if (len < TCP_MIN_HEADER_LEN) return false;
      const dataOffset = (buf[off + 12]! >>> 4) * 4;
      if (dataOffset < TCP_MIN_HEADER_LEN || dataOffset > len) return false;
      return verifyTransportChecksum(proto, addr, srcOff, addr, dstOff, buf, off, len);
    }
    case IPPROTO_ICMPV6:
      if (len < 4) return false;
      return verifyTransportChecksum(proto, addr, srcOff, addr, dstOff, buf, off, len);
    case IPPROTO_SCTP:
      return len >= 12 && sctpChecksumVerifies(buf, off, len);
    default:
      return false;
  }
}

// CRC-32C (Castagnoli), RFC 9260 Appendix A: reflected polynomial 0x82F63B78.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** SCTP common header checksum (RFC 9260 §6.8): CRC-32C with the checksum field as zero. */
export function sctpChecksumVerifies(buf: Uint8Array, off: number, len: number): boolean {
  let crc = 0xffffffff;
  for (let i = 0; i < len; i++) {
    const b = i >= 8 && i < 12 ? 0 : buf[off + i]!;
    crc = CRC32C_TABLE[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  }
  crc = ~crc >>> 0;
  // The CRC is stored least significant byte first (RFC 9260 Appendix A).
  const stored = (buf[off + 8]! | (buf[off + 9]! << 8) | (buf[off + 10]! << 16) | (buf[off + 11]! << 24)) >>> 0;
  return stored === crc;
}
