// One reused record per packet (gopacket's DecodingLayerParser idea): the decoder fills it in
// place, so decoding allocates nothing per packet. Anything kept past the next packet must be
// copied out (the capture buffer is reused too).

import type { AnomalyName } from './anomalies.js';

/** Where a PDM option sat in the header chain (RFC 8200 §4.1 order). */
export type PdmPosition = 'dstopts' | 'dstopts_before_routing' | 'hop_by_hop';

/** Where a PDM option sat relative to IPsec ESP (RFC 8250 §3.4). */
export type EspPlacement = 'none' | 'outside' | 'inside' | 'tunnel';

/** Layer numbers for headers: clear outer packet, inside ESP (transport), inner tunnel packet. */
export const LAYER_OUTER = 0;
export const LAYER_INSIDE_ESP = 1;
export const LAYER_TUNNEL = 2;

export const MAX_EXT_HEADERS = 16;
export const MAX_PDM_PER_PACKET = 4;

export class PdmHit {
  position: PdmPosition = 'dstopts';
  layer = LAYER_OUTER;
  /** Index into the packet's extension-header list. */
  headerIndex = 0;
  /** Offset of the Option Type byte from the start of its header. */
  offsetInHeader = 0;
  /** 1: RFC 8250 (16-bit PSNs); 2: PDMv2 clear form (draft-ietf-ippm-encrypted-pdmv2-14, 32-bit PSNs). */
  version = 1;
  /** PDMv2 only (0 for version 1): the 12-bit Epoch and the Global Pointer. */
  epoch = 0;
  globalPointer = 0;
  scaleDtlr = 0;
  scaleDtls = 0;
  psnThisPkt = 0;
  psnLastRecv = 0;
  deltaLastRecv = 0;
  deltaLastSent = 0;
}

export class DecodedPacket {
  // Frame metadata, set by the capture source.
  frameNumber = 0;
  tsUs = 0;
  capturedLength = 0;
  wireLength = 0;
  linkType = 0;

  /** 0 when the frame carries neither IPv4 nor IPv6. */
  ipVersion = 0;

  /** Outer IPv6 addresses: 16 bytes each at these offsets of `outerBuf`. */
  outerBuf: Uint8Array = EMPTY;
  outerSrcOff = 0;
  outerDstOff = 0;

  /** Addresses that key the flow: the outer ones, or the inner packet's in tunnel mode. */
  addrBuf: Uint8Array = EMPTY;
  srcOff = 0;
  dstOff = 0;

  extCount = 0;
  readonly extProto = new Uint8Array(MAX_EXT_HEADERS);
  readonly extLength = new Uint16Array(MAX_EXT_HEADERS);
  readonly extLayer = new Uint8Array(MAX_EXT_HEADERS);

  /** Upper-layer protocol of the innermost layer read (-1: none reached). */
  upperProto = -1;
  /** Ports for UDP/TCP/SCTP/UDP-Lite; -1 when absent. */
  srcPort = -1;
  dstPort = -1;
  icmpType = -1;
  /** ICMPv6 echo identifier, which stands in for ports on echo flows. */
  icmpEchoId = -1;
  tcpFlags = 0;
  /** Upper-layer payload bytes after the transport header (TCP pure-ACK detection). */
  upperPayloadLength = -1;
  /** Fragment offset in 8-octet units, -1 when there is no Fragment header. */
  fragmentOffset = -1;

  /** ESP: SPI (-1 when no ESP header), sequence number, and how the payload was opened. */
  espSpi = -1;
  espSeq = 0;
  espOpened: 'no' | 'sa' | 'null_heuristic' = 'no';
  /** True when the decrypted payload was a whole IPv6 packet (tunnel mode). */
  espTunnel = false;

  pdmCount = 0;
  readonly pdm: PdmHit[] = Array.from({ length: MAX_PDM_PER_PACKET }, () => new PdmHit());
  /** Index into `pdm` of the option used for metrics (-1: none). */
  primaryPdm = -1;

  anomaly: AnomalyName | null = null;
  anomalyDetail = '';

  reset(): void {
    this.ipVersion = 0;
    this.outerBuf = EMPTY;
    this.addrBuf = EMPTY;
    this.extCount = 0;
    this.upperProto = -1;
    this.srcPort = -1;
    this.dstPort = -1;
    this.icmpType = -1;
    this.icmpEchoId = -1;
    this.tcpFlags = 0;
    this.upperPayloadLength = -1;
    this.fragmentOffset = -1;
    this.espSpi = -1;
    this.espSeq = 0;
    this.espOpened = 'no';
    this.espTunnel = false;
    this.pdmCount = 0;
    this.primaryPdm = -1;
    this.anomaly = null;
    this.anomalyDetail = '';
  }

  /** The option used for metrics, or null. */
  get primary(): PdmHit | null {
    return this.primaryPdm >= 0 ? this.pdm[this.primaryPdm]! : null;
  }

  /** Where the primary PDM sat relative to ESP. */
  get primaryEspPlacement(): EspPlacement {
    const hit = this.primary;
    if (hit === null) return 'none';
    if (hit.layer === LAYER_TUNNEL) return 'tunnel';
    if (hit.layer === LAYER_INSIDE_ESP) return 'inside';
    return this.espSpi >= 0 ? 'outside' : 'none';
  }

  /** Records the first problem only: each packet counts under exactly one anomaly. */
  flag(name: AnomalyName, detail: string): void {
    if (this.anomaly === null) {
      this.anomaly = name;
      this.anomalyDetail = detail;
    }
  }
}

const EMPTY = new Uint8Array(0);
