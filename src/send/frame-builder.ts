// Builds Ethernet (or nothing, for raw-IP links) / IPv6 / Destination Options [PDM, PadN] / UDP /
// payload into one buffer with the project's own emitters (docs/architecture.md §1: the codecs run backwards).
//
// The PDM option sits in the final-destination Destination Options header, which the UDP
// checksum does not cover (RFC 8200 §8.1, docs/protocol.md §11 pitfall 15). So a frame is built and
// checksummed before the send time is known, and the PDM fields are written last, at the
// moment of sending (`writePdmAt`), without touching the checksum.

import { IPPROTO_DSTOPTS, IPPROTO_UDP, emitOptionsHeader, optionsHeaderLength } from '../wire/ext-header.js';
import { IPV6_HEADER_LEN, emitIpv6 } from '../wire/ipv6.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, emitEthernet } from '../wire/link.js';
import { type PdmRepr, PDM_OPTION_LENGTH, emitPdm } from '../wire/pdm.js';
import { UDP_HEADER_LEN, emitUdp } from '../wire/transport.js';

/** How frames are framed below IPv6: Ethernet (lo too, with zero MACs) or raw IP (tun, wg). */
export type LinkFraming =
  | { readonly kind: 'ethernet'; readonly srcMac: Uint8Array; readonly dstMac: Uint8Array }
  | { readonly kind: 'raw' };

export interface PdmUdpFrameSpec {
  readonly link: LinkFraming;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
  readonly hopLimit?: number;
  readonly trafficClass?: number;
  readonly flowLabel?: number;
  /** Written now; replace it at send time with writePdmAt. */
  readonly pdm: PdmRepr;
}

export interface BuiltFrame {
  readonly frame: Uint8Array;
  /** Offset of the PDM Option Type byte in `frame`. */
  readonly pdmOffset: number;
  /** Length of the IPv6 packet (header included), as compared with the MTU. */
  readonly ipv6Length: number;
}

/** A frame that does not fit the link; the message says by how much and what would fit. */
export class FrameTooLargeError extends Error {
  readonly ipv6Length: number;
  readonly mtu: number;
  constructor(ipv6Length: number, mtu: number, payloadLength: number) {
    const fits = payloadLength - (ipv6Length - mtu);
    super(`an IPv6 packet of ${ipv6Length} bytes exceeds the link MTU of ${mtu} bytes` +
      (fits >= 0 ? ` (the largest UDP payload that fits is ${fits} bytes)` : ''));
    this.ipv6Length = ipv6Length;
    this.mtu = mtu;
  }
}

/** 16 bytes: PDM (12) then PadN to the next multiple of 8 (docs/protocol.md §2, the usual layout). */
export const PDM_DSTOPTS_LENGTH = optionsHeaderLength({ nextHeader: IPPROTO_UDP, options: new Uint8Array(PDM_OPTION_LENGTH) });

export function linkHeaderLength(link: LinkFraming): number {
  return link.kind === 'ethernet' ? ETHERNET_HEADER_LEN : 0;
}

/** Bytes of the IPv6 packet for a UDP payload of `payloadLength`. */
export function pdmUdpIpv6Length(payloadLength: number): number {
  return IPV6_HEADER_LEN + PDM_DSTOPTS_LENGTH + UDP_HEADER_LEN + payloadLength;
}

/**
 * Builds the frame. Throws FrameTooLargeError when the IPv6 packet exceeds `mtu` (the kernel
 * does not fragment injected frames; it would fail with EMSGSIZE, native-notes/cap.md §9).
 */
export function buildPdmUdpFrame(spec: PdmUdpFrameSpec, mtu = Infinity): BuiltFrame {
  const ipv6Length = pdmUdpIpv6Length(spec.payload.length);
  if (ipv6Length > mtu) throw new FrameTooLargeError(ipv6Length, mtu, spec.payload.length);
  if (ipv6Length - IPV6_HEADER_LEN > 0xffff) throw new FrameTooLargeError(ipv6Length, 0xffff + IPV6_HEADER_LEN, spec.payload.length);
  const l2 = linkHeaderLength(spec.link);
  const frame = new Uint8Array(l2 + ipv6Length);
  let off = 0;
  if (spec.link.kind === 'ethernet') {
    off += emitEthernet({ dst: spec.link.dstMac, src: spec.link.srcMac, ethertype: ETHERTYPE_IPV6 }, frame, off);
  }
  off += emitIpv6({
    trafficClass: spec.trafficClass ?? 0,
    flowLabel: spec.flowLabel ?? 0,
    payloadLength: ipv6Length - IPV6_HEADER_LEN,
    nextHeader: IPPROTO_DSTOPTS,
    hopLimit: spec.hopLimit ?? 64,
    src: spec.src,
    dst: spec.dst,
  }, frame, off);
  const options = new Uint8Array(PDM_OPTION_LENGTH);
  emitPdm(spec.pdm, options, 0);
  const dohOff = off;
  off += emitOptionsHeader({ nextHeader: IPPROTO_UDP, options }, frame, off);
  // Pseudo-header: the final destination and the UDP length; the 16 bytes of Destination
  // Options count in Payload Length but not here (RFC 8200 §8.1).
  emitUdp({ srcPort: spec.srcPort, dstPort: spec.dstPort, payload: spec.payload }, spec.src, spec.dst, frame, off);
  return { frame, pdmOffset: dohOff + 2, ipv6Length };
}

/** Writes the PDM fields into a built frame; the UDP checksum stays valid (see the file comment). */
export function writePdmAt(frame: Uint8Array, pdmOffset: number, pdm: PdmRepr): void {
  emitPdm(pdm, frame, pdmOffset);
}
