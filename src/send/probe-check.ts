// What a reflector refuses to answer, checked on the raw bytes of a packet the decoder already
// read as UDP with PDM to the reflector's port. Pure: no clock, no I/O.
//
// A reflector answers whoever the source address and port name, so every check here is about
// not becoming a traffic source for someone else, and not answering what is not a well-formed
// packet for this host. Each refusal is counted under its name (the reflector's closing line).

import { readU16 } from '../wire/bytes.js';
import { IPPROTO_ROUTING, IPPROTO_UDP, checkExtHeader, isExtensionHeader } from '../wire/ext-header.js';
import { isWireError } from '../wire/errors.js';
import { IPV6_DST_OFFSET, IPV6_HEADER_LEN, IPV6_SRC_OFFSET } from '../wire/ipv6.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../wire/link.js';
import { UDP_HEADER_LEN, verifyTransportChecksum } from '../wire/transport.js';

export const REFUSALS = {
  bad_length: 'IPv6 Payload Length or UDP Length disagrees with the packet (or the capture cut it short)',
  bad_udp_checksum: 'UDP checksum wrong, or zero (never valid for UDP over IPv6, RFC 8200 §8.1)',
  routing_segments_left: 'a Routing header with Segments Left > 0: the packet is not for this host yet (RFC 8200 §4.4)',
  vlan_tagged: 'an 802.1Q-tagged frame: a reply could not be framed for its VLAN',
  multicast_destination: 'sent to a multicast address or a group MAC (one probe must not draw many replies)',
  not_own_destination: 'destination is not one of this host\'s addresses (traffic passing through a router)',
  multicast_source: 'source is a multicast address (ff00::/8), which never sends (RFC 4291 §2.7)',
  invalid_source: 'source is :: or IPv4-mapped (::ffff:0:0/96), neither valid on the wire (RFC 4291 §2.5.2, §2.5.5.2)',
  loopback_source: 'source ::1 on an interface other than loopback (RFC 4291 §2.5.3)',
  own_address: 'source is one of this host\'s own addresses (spoofed: the reflector would answer itself)',
  from_reflector_port: 'source port is the reflector\'s own port: the packet is a reflector\'s reply',
  from_system_port: 'source port below 1024: a service (echo, DNS, NTP, …) that may answer a reply in turn',
  pdm_version_2: 'the probe carries PDMv2: the reflector answers RFC 8250 PDM, whose 16-bit PSNLR cannot name a 32-bit PSN',
} as const;

export type RefusalName = keyof typeof REFUSALS;
export const REFUSAL_NAMES = Object.keys(REFUSALS) as RefusalName[];
export type RefusalCounts = Record<RefusalName, number>;

export function noRefusals(): RefusalCounts {
  return Object.fromEntries(REFUSAL_NAMES.map((n) => [n, 0])) as RefusalCounts;
}

/** This host's addresses, as the reflector knows them. */
export interface OwnAddresses {
  /** Whether the 16 bytes at `buf[off..off+16)` are one of them. */
  has(buf: Uint8Array, off: number): boolean;
}

/** A fixed set of addresses. */
export class AddressSet implements OwnAddresses {
  private readonly keys: Set<string>;
  constructor(addrs: Iterable<Uint8Array>) {
    this.keys = new Set([...addrs].map((a) => addrKey(a, 0)));
  }
  get size(): number { return this.keys.size; }
  has(buf: Uint8Array, off: number): boolean { return this.keys.has(addrKey(buf, off)); }
}

function addrKey(buf: Uint8Array, off: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + off, 16).toString('hex');
}

export interface ProbePolicy {
  /** The reflector's UDP port: replies leave from it. */
  readonly port: number;
  /** Answer loopback sources and this host's own addresses (the reflector serves `lo`). */
  readonly serveLoopback: boolean;
  /** Null: the own-address checks other than source = destination are skipped. */
  readonly ownAddresses: OwnAddresses | null;
}

/** Where the parts of an accepted probe are in its frame. */
export class ProbeLayout {
  ipOff = 0;
  /** End of the IPv6 packet. */
  ipEnd = 0;
  udpOff = 0;
}

/**
 * Why the reflector must not answer this frame, or null (then `out` says where its parts are).
 * `frame[0..capLen)` was captured of `wireLen` bytes on a link of `linkType`; the decoder found
 * UDP with PDM in it. The checks run from the bytes up: framing and lengths, checksum, routing,
 * then the addresses and ports a reply would go to.
 */
export function refusalOf(frame: Uint8Array, capLen: number, wireLen: number, linkType: number,
  policy: ProbePolicy, out: ProbeLayout): RefusalName | null {
  let ipOff: number;
  if (linkType === LINKTYPE_ETHERNET) {
    if (capLen < ETHERNET_HEADER_LEN) return 'bad_length';
    if (readU16(frame, 12) !== ETHERTYPE_IPV6) return 'vlan_tagged';
    ipOff = ETHERNET_HEADER_LEN;
  } else if (linkType === LINKTYPE_RAW) {
    ipOff = 0;
  } else {
    return 'bad_length';
  }
  // The whole frame, and exactly the IPv6 packet: a snaplen cut or a Payload Length claiming
  // more would echo a payload we do not have; one claiming less leaves bytes of unknown origin
  // (and 0, a jumbogram, RFC 2675, is no probe). No Ethernet padding to allow for: with PDM and
  // UDP a frame has at least 78 bytes, over the 60-byte minimum.
  if (capLen !== wireLen || capLen > frame.length || capLen < ipOff + IPV6_HEADER_LEN) return 'bad_length';
  const ipEnd = ipOff + IPV6_HEADER_LEN + readU16(frame, ipOff + 4);
  if (ipEnd === ipOff + IPV6_HEADER_LEN || ipEnd !== capLen) return 'bad_length';

  // The header chain up to UDP: lengths, and Segments Left of any Routing header.
  let proto = frame[ipOff + 6]!;
  let off = ipOff + IPV6_HEADER_LEN;
  let segmentsLeft = false;
  for (let n = 0; proto !== IPPROTO_UDP; n++) {
    if (!isExtensionHeader(proto) || n === 16) return 'bad_length';
    const len = checkExtHeader(proto, frame, off, ipEnd);
    if (isWireError(len)) return 'bad_length';
    if (proto === IPPROTO_ROUTING && (off + 4 > ipEnd || frame[off + 3]! > 0)) segmentsLeft = true;
    proto = frame[off]!;
    off += len;
  }
  // UDP Length is the rest of the packet exactly (RFC 768; RFC 8200 §8.1 upper-layer length):
  // a first fragment, or bytes after the datagram, disagree.
  if (off + UDP_HEADER_LEN > ipEnd || readU16(frame, off + 4) !== ipEnd - off) return 'bad_length';
  // Zero means "no checksum", which IPv6 receivers discard (RFC 8200 §8.1; RFC 6936 allows it
  // for tunnels only). The pseudo-header takes the destination of the IPv6 header: with
  // Segments Left > 0 that is not the final one, and the packet is refused below anyway.
  if (readU16(frame, off + 6) === 0 ||
    (!segmentsLeft && !verifyTransportChecksum(IPPROTO_UDP, frame, ipOff + IPV6_SRC_OFFSET, frame, ipOff + IPV6_DST_OFFSET, frame, off, ipEnd - off))) {
    return 'bad_udp_checksum';
  }
  if (segmentsLeft) return 'routing_segments_left';

  const srcOff = ipOff + IPV6_SRC_OFFSET;
  const dstOff = ipOff + IPV6_DST_OFFSET;
  if (frame[dstOff] === 0xff || (linkType === LINKTYPE_ETHERNET && (frame[0]! & 1) === 1)) return 'multicast_destination';
  const own = policy.ownAddresses;
  if (own !== null && !own.has(frame, dstOff)) return 'not_own_destination';
  if (frame[srcOff] === 0xff) return 'multicast_source';
  if (isUnspecified(frame, srcOff) || isV4Mapped(frame, srcOff)) return 'invalid_source';
  if (!policy.serveLoopback) {
    if (isLoopback(frame, srcOff)) return 'loopback_source';
    if (sameAddress(frame, srcOff, dstOff) || (own !== null && own.has(frame, srcOff))) return 'own_address';
  }
  const sport = readU16(frame, off);
  if (sport === policy.port) return 'from_reflector_port';
  if (sport < 1024) return 'from_system_port';
  out.ipOff = ipOff;
  out.ipEnd = ipEnd;
  out.udpOff = off;
  return null;
}

function isUnspecified(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0) return false;
  return true;
}

function isLoopback(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 15; i++) if (b[off + i] !== 0) return false;
  return b[off + 15] === 1;
}

function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

function sameAddress(b: Uint8Array, x: number, y: number): boolean {
  for (let i = 0; i < 16; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}
