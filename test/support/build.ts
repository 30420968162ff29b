// Frames for unit tests, built with pdmscope's own emitters. Golden tests use frames from an
// independent encoder (scapy fixtures) so a shared bug cannot hide.

import { IPPROTO_DSTOPTS, IPPROTO_UDP, emitOptionsHeader, optionsHeaderLength } from '../../src/wire/ext-header.js';
import { IPV6_HEADER_LEN, emitIpv6, parseIpv6Address } from '../../src/wire/ipv6.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, emitEthernet } from '../../src/wire/link.js';
import { type PdmRepr, PDM_OPTION_LENGTH, emitPdm } from '../../src/wire/pdm.js';
import { emitUdp, udpLength } from '../../src/wire/transport.js';

export function addr(text: string): Uint8Array {
  const a = parseIpv6Address(text);
  if (a === null) throw new Error(`bad test address ${text}`);
  return a;
}

export function pdmOption(pdm: PdmRepr): Uint8Array {
  const b = new Uint8Array(PDM_OPTION_LENGTH);
  emitPdm(pdm, b, 0);
  return b;
}

export interface UdpPdmFrame {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  pdm: PdmRepr | null;
  payload?: Uint8Array;
  ethernet?: boolean;
}

/** Ethernet / IPv6 / Destination Options [PDM, PadN] / UDP / payload. */
export function udpPdmFrame(f: UdpPdmFrame): Uint8Array {
  const src = addr(f.src);
  const dst = addr(f.dst);
  const payload = f.payload ?? new TextEncoder().encode('hello');
  const udp = { srcPort: f.srcPort, dstPort: f.dstPort, payload };
  const doh = f.pdm === null ? null : { nextHeader: IPPROTO_UDP, options: pdmOption(f.pdm) };
  const dohLen = doh === null ? 0 : optionsHeaderLength(doh);
  const l2 = f.ethernet === false ? 0 : ETHERNET_HEADER_LEN;
  const buf = new Uint8Array(l2 + IPV6_HEADER_LEN + dohLen + udpLength(udp));
  let off = 0;
  if (l2 > 0) off += emitEthernet({ dst: new Uint8Array(6), src: new Uint8Array(6), ethertype: ETHERTYPE_IPV6 }, buf, 0);
  off += emitIpv6({
    trafficClass: 0, flowLabel: 0, payloadLength: dohLen + udpLength(udp),
    nextHeader: doh === null ? IPPROTO_UDP : IPPROTO_DSTOPTS, hopLimit: 64, src, dst,
  }, buf, off);
  if (doh !== null) off += emitOptionsHeader(doh, buf, off);
  emitUdp(udp, src, dst, buf, off);
  return buf;
}

/** A deterministic PRNG (mulberry32) for seeded random tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
