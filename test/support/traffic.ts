// Synthetic PDM conversations for live tests and the capture benchmark: request/response
// exchanges between a client and a server whose PDM fields follow RFC 8250 §3.2 and §4.1 for a
// simulated clock, so every flow yields server delay, total and RTD samples.
//
// Built with the project's own emitters (docs/architecture.md §1: the codecs run backwards). The PDM option
// sits in the Destination Options header, which the UDP checksum does not cover (RFC 8200 §8.1),
// so one template frame per direction is built once and only the 12 PDM bytes are rewritten
// per packet: no allocation per packet, which the burst sender needs.

import { IPPROTO_DSTOPTS, IPPROTO_UDP, emitOptionsHeader, optionsHeaderLength } from '../../src/wire/ext-header.js';
import { IPV6_HEADER_LEN, emitIpv6, parseIpv6Address } from '../../src/wire/ipv6.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, emitEthernet } from '../../src/wire/link.js';
import { type PdmRepr, type ScaledDelta, PDM_OPTION_LENGTH, emitPdm, encodePdmDeltaNs } from '../../src/wire/pdm.js';
import { emitUdp, udpLength } from '../../src/wire/transport.js';

export interface ConversationSpec {
  client: string;
  server: string;
  clientPort: number;
  serverPort: number;
  /** Request/response pairs; the conversation has twice as many packets. */
  exchanges: number;
  /** First PSNs of each side (RFC 8250 §3.2 wants them random; tests want them fixed). */
  clientPsn: number;
  serverPsn: number;
  /** Time the server takes for exchange i (DeltaTLR of its response). */
  serverDelayNs: (i: number) => bigint;
  /** One-way network delay each way. */
  oneWayNs: bigint;
  /** Time between the client receiving response i and sending request i+1. */
  thinkNs: bigint;
  /** Ethernet framing with zero MACs (lo, veth) or raw IPv6. Default true. */
  ethernet?: boolean;
  /** UDP payload size (default 16). */
  payloadBytes?: number;
}

/** Encodes a duration the way a sender would, "no sample" (0, scale 0) when not positive. */
function delta(ns: bigint): ScaledDelta {
  return ns > 0n ? encodePdmDeltaNs(ns) : { delta: 0, scale: 0 };
}

/** One endpoint's PDM state (RFC 8250 §3.2): its PSN, the peer's last PSN and the two times. */
class Endpoint {
  private psn: number;
  private lastRecvPsn = 0;
  private lastRecvNs: bigint | null = null;
  private lastSentNs: bigint | null = null;
  private sentBeforeRecvNs: bigint | null = null;
  private fresh = false;
  constructor(firstPsn: number) {
    this.psn = firstPsn & 0xffff;
  }
  receive(peerPsn: number, atNs: bigint): void {
    this.lastRecvPsn = peerPsn;
    this.lastRecvNs = atNs;
    this.sentBeforeRecvNs = this.lastSentNs;
    this.fresh = true;
  }
  send(atNs: bigint): PdmRepr {
    const psn = this.psn;
    this.psn = (psn + 1) & 0xffff;
    let dtlr: ScaledDelta = { delta: 0, scale: 0 };
    let dtls: ScaledDelta = { delta: 0, scale: 0 };
    if (this.fresh && this.lastRecvNs !== null) {
      dtlr = delta(atNs - this.lastRecvNs); // DeltaTimeLastReceived
      if (this.sentBeforeRecvNs !== null) dtls = delta(this.lastRecvNs - this.sentBeforeRecvNs); // DeltaTimeLastSent
    }
    this.fresh = false;
    this.lastSentNs = atNs;
    return {
      scaleDtlr: dtlr.scale, scaleDtls: dtls.scale, psnThisPkt: psn, psnLastRecv: this.lastRecvPsn,
      deltaLastRecv: dtlr.delta, deltaLastSent: dtls.delta,
    };
  }
}

interface Template {
  frame: Uint8Array;
  /** Offset of the PDM Option Type byte. */
  pdmOffset: number;
}

function template(src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number, payload: Uint8Array, ethernet: boolean): Template {
  const options = new Uint8Array(PDM_OPTION_LENGTH);
  const doh = { nextHeader: IPPROTO_UDP, options };
  const dohLen = optionsHeaderLength(doh);
  const udp = { srcPort, dstPort, payload };
  const l2 = ethernet ? ETHERNET_HEADER_LEN : 0;
  const frame = new Uint8Array(l2 + IPV6_HEADER_LEN + dohLen + udpLength(udp));
  let off = 0;
  if (ethernet) off += emitEthernet({ dst: new Uint8Array(6), src: new Uint8Array(6), ethertype: ETHERTYPE_IPV6 }, frame, 0);
  off += emitIpv6({
    trafficClass: 0, flowLabel: 0, payloadLength: dohLen + udpLength(udp), nextHeader: IPPROTO_DSTOPTS, hopLimit: 64, src, dst,
  }, frame, off);
  const pdmOffset = off + 2;
  off += emitOptionsHeader(doh, frame, off);
  emitUdp(udp, src, dst, frame, off);
  return { frame, pdmOffset };
}

function address(text: string): Uint8Array {
  const a = parseIpv6Address(text);
  if (a === null) throw new Error(`not an IPv6 address: ${text}`);
  return a;
}

/**
 * A conversation as a sequence of frames. `next()` returns the next frame in a buffer that is
 * rewritten by the following call (copy it to keep it), or null at the end.
 */
export class PdmConversation {
  readonly packets: number;
  private readonly spec: ConversationSpec;
  private readonly request: Template;
  private readonly response: Template;
  private readonly client: Endpoint;
  private readonly server: Endpoint;
  private index = 0;
  private clientSendNs = 1_000_000n;

  constructor(spec: ConversationSpec) {
    this.spec = spec;
    this.packets = spec.exchanges * 2;
    const c = address(spec.client);
    const s = address(spec.server);
    const payload = new Uint8Array(spec.payloadBytes ?? 16).fill(0x50);
    const eth = spec.ethernet !== false;
    this.request = template(c, s, spec.clientPort, spec.serverPort, payload, eth);
    this.response = template(s, c, spec.serverPort, spec.clientPort, payload, eth);
    this.client = new Endpoint(spec.clientPsn);
    this.server = new Endpoint(spec.serverPsn);
  }

  /** True when the next frame goes from the client to the server. */
  get nextIsRequest(): boolean {
    return (this.index & 1) === 0;
  }

  next(): Uint8Array | null {
    if (this.index >= this.packets) return null;
    const i = this.index >> 1;
    const sp = this.spec;
    let t: Template;
    if ((this.index & 1) === 0) {
      const pdm = this.client.send(this.clientSendNs);
      this.server.receive(pdm.psnThisPkt, this.clientSendNs + sp.oneWayNs);
      t = this.request;
      emitPdm(pdm, t.frame, t.pdmOffset);
    } else {
      const arrivedNs = this.clientSendNs + sp.oneWayNs;
      const sentNs = arrivedNs + sp.serverDelayNs(i);
      const pdm = this.server.send(sentNs);
      const backNs = sentNs + sp.oneWayNs;
      this.client.receive(pdm.psnThisPkt, backNs);
      this.clientSendNs = backNs + sp.thinkNs;
      t = this.response;
      emitPdm(pdm, t.frame, t.pdmOffset);
    }
    this.index++;
    return t.frame;
  }
}

/** Spec of a set of flows between two addresses of one /48 (fd00::/8, never routed). */
export interface TrafficSpec {
  /** The first three groups of a ULA prefix, e.g. "fd00:5d:1"; the flows use PREFIX::1 and PREFIX::2. */
  prefix: string;
  flows: number;
  /** Exchanges per flow (2 packets each). */
  exchanges: number;
  ethernet?: boolean;
  /** First client port; flow k uses basePort + k. Default 40000. */
  basePort?: number;
  serverPort?: number;
}

export function trafficConversations(t: TrafficSpec): PdmConversation[] {
  const out: PdmConversation[] = [];
  for (let k = 0; k < t.flows; k++) {
    out.push(new PdmConversation({
      client: `${t.prefix}::1`, server: `${t.prefix}::2`,
      clientPort: (t.basePort ?? 40000) + k, serverPort: t.serverPort ?? 7000,
      exchanges: t.exchanges, clientPsn: 1000 + 17 * k, serverPsn: 30000 + 31 * k,
      // 50–80 µs of server time, varying so the quantiles differ from the mean.
      serverDelayNs: (i) => BigInt(50_000 + ((i * 7919 + k * 104729) % 30_000)),
      oneWayNs: BigInt(200_000 + k * 1000), thinkNs: 1_000_000n,
      ...(t.ethernet === undefined ? {} : { ethernet: t.ethernet }),
    }));
  }
  return out;
}

/** The BPF filter that matches exactly the traffic of `trafficConversations` with this prefix. */
export function trafficFilter(prefix: string): string {
  return `ip6 net ${prefix}::/48`;
}

/** Every frame of the flows, interleaved round-robin (each buffer is reused: copy to keep). */
export function* trafficFrames(t: TrafficSpec): Generator<Uint8Array, void, void> {
  const convs = trafficConversations(t);
  let active = convs.length;
  while (active > 0) {
    active = 0;
    for (const c of convs) {
      const f = c.next();
      if (f === null) continue;
      active++;
      yield f;
    }
  }
}

/** Packets in the traffic of `t`. */
export function trafficPackets(t: TrafficSpec): number {
  return t.flows * t.exchanges * 2;
}
