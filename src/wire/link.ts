// Link-layer framing ahead of IP. Link-type numbers are LINKTYPE_* values from pcap files
// (https://www.tcpdump.org/linktypes.html); DLT_RAW appears as 12 or 14 in some files.

import { readU16, readU32, writeU16 } from './bytes.js';
import { type WireError, wireError } from './errors.js';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const DLT_RAW_12 = 12;
export const DLT_RAW_14 = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_QINQ_OLD = 0x9100;
export const ETHERNET_HEADER_LEN = 14;

/** Most VLAN tags followed before giving up (802.1Q, QinQ, and a little beyond). */
export const MAX_VLAN_TAGS = 4;

export function isVlanEthertype(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ || t === ETHERTYPE_QINQ_OLD;
}

/** The result of peeling the link layer: the network protocol family and where it starts. */
export interface LinkPayload {
  /** EtherType-style protocol: 0x86dd IPv6, 0x0800 IPv4, anything else passed on. */
  ethertype: number;
  offset: number;
}

/**
 * Finds the network header in a frame of `linkType`, writing into `out` (reused per packet).
 * Returns null on success or a WireError.
 */
export function peelLink(linkType: number, buf: Uint8Array, end: number, out: LinkPayload): WireError | null {
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (end < ETHERNET_HEADER_LEN) return wireError('truncated', 'ethernet header');
      let type = readU16(buf, 12);
      let off = ETHERNET_HEADER_LEN;
      for (let tags = 0; isVlanEthertype(type); tags++) {
        if (tags === MAX_VLAN_TAGS) return wireError('malformed', 'too many vlan tags');
        if (off + 4 > end) return wireError('truncated', 'vlan tag');
        type = readU16(buf, off + 2);
        off += 4;
      }
      out.ethertype = type;
      out.offset = off;
      return null;
    }
    case LINKTYPE_LINUX_SLL: {
      // packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
      if (end < 16) return wireError('truncated', 'linux sll header');
      out.ethertype = readU16(buf, 14);
      out.offset = 16;
      return null;
    }
    case LINKTYPE_LINUX_SLL2: {
      // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8)
      if (end < 20) return wireError('truncated', 'linux sll2 header');
      out.ethertype = readU16(buf, 0);
      out.offset = 20;
      return null;
    }
    case LINKTYPE_RAW:
    case DLT_RAW_12:
    case DLT_RAW_14: {
      if (end < 1) return wireError('truncated', 'raw ip');
      const version = buf[0]! >>> 4;
      out.ethertype = version === 6 ? ETHERTYPE_IPV6 : version === 4 ? ETHERTYPE_IPV4 : 0;
      out.offset = 0;
      return null;
    }
    case LINKTYPE_IPV6:
      out.ethertype = ETHERTYPE_IPV6;
      out.offset = 0;
      return null;
    case LINKTYPE_IPV4:
      out.ethertype = ETHERTYPE_IPV4;
      out.offset = 0;
      return null;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      // A 4-byte address family: host byte order for NULL, network order for LOOP. AF_INET6 is
      // 24 (NetBSD, OpenBSD), 28 (FreeBSD, DragonFly), 30 (Darwin), 10 (Linux); AF_INET is 2.
      if (end < 4) return wireError('truncated', 'loopback header');
      let family = readU32(buf, 0);
      if (linkType === LINKTYPE_NULL && (family & 0xffff) === 0) family = byteSwap32(family);
      out.ethertype = family === 2 ? ETHERTYPE_IPV4 : isInet6Family(family) ? ETHERTYPE_IPV6 : 0;
      out.offset = 4;
      return null;
    }
    default:
      return wireError('unsupported', `link type ${linkType}`);
  }
}

function byteSwap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

function isInet6Family(f: number): boolean {
  return f === 24 || f === 28 || f === 30 || f === 10;
}

export function isSupportedLinkType(linkType: number): boolean {
  return [LINKTYPE_NULL, LINKTYPE_ETHERNET, DLT_RAW_12, DLT_RAW_14, LINKTYPE_RAW, LINKTYPE_LOOP,
    LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2].includes(linkType);
}

export interface EthernetRepr {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly ethertype: number;
}

export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off: number): number {
  buf.set(repr.dst, off);
  buf.set(repr.src, off + 6);
  writeU16(buf, off + 12, repr.ethertype);
  return ETHERNET_HEADER_LEN;
}
