// decodeFrame: link layer → IPv6 → extension-header chain (options walked inside each header)
// → ESP (through an EspOpener) → upper-layer ports. Never throws on packet bytes; every early
// stop names its reason as an anomaly on the packet.

import { hex32, readU32 } from '../wire/bytes.js';
import { isWireError } from '../wire/errors.js';
import {
  IPPROTO_DSTOPTS, IPPROTO_ESP, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6, IPPROTO_IPV6,
  IPPROTO_ROUTING, IPPROTO_TCP, checkExtHeader, fragmentOffset, isExtensionHeader,
} from '../wire/ext-header.js';
import { IPV6_DST_OFFSET, IPV6_HEADER_LEN, IPV6_SRC_OFFSET, checkIpv6, ipv6PayloadLength } from '../wire/ipv6.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, type LinkPayload, peelLink } from '../wire/link.js';
import { OPT_PAD1, checkOption } from '../wire/options.js';
import { PDM_DATA_LENGTH, PDM_OPTION_TYPE, PDMV2_DRAFT_DATA_LENGTHS, pdmVersionOf, readPdmV2 } from '../wire/pdm.js';
import {
  ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, checkTransport, dstPort, hasPorts, srcPort, tcpFlags,
} from '../wire/transport.js';
import { EspOpenResult, type EspOpener } from './esp-opener.js';
import {
  type DecodedPacket, LAYER_INSIDE_ESP, LAYER_OUTER, LAYER_TUNNEL, MAX_EXT_HEADERS, MAX_PDM_PER_PACKET, type PdmHit,
} from './packet.js';

export interface DecodeContext {
  /** ESP decryption and the ESP-NULL heuristic; null reads nothing inside ESP. */
  esp: EspOpener | null;
}

const ESP_HEADER_LEN = 8;

export class Decoder {
  private readonly link: LinkPayload = { ethertype: 0, offset: 0 };
  private readonly espResult = new EspOpenResult();

  private readonly ctx: DecodeContext;
  /** An IPv6 header of this packet (outer, or inner in tunnel mode) claims more than its frame. */
  private lengthOverrun = false;

  constructor(ctx: DecodeContext) {
    this.ctx = ctx;
  }

  /** Decodes one captured frame and records its capture metadata in `out`. */
  decodeFrame(frame: Uint8Array, capLen: number, wireLen: number, tsUs: number, linkType: number, frameNumber: number, out: DecodedPacket): void {
    this.decode(frame, capLen, linkType, out, wireLen);
    out.frameNumber = frameNumber;
    out.tsUs = tsUs;
    out.capturedLength = capLen;
    out.wireLength = wireLen;
  }

  /**
   * Decodes `frame[0..capLen)` of `linkType` into `out`; leaves the capture metadata alone.
   * `wireLen` is the frame's length on the wire (pcap `len`): when it is above `capLen` the
   * capture cut the frame (snap length) and what is there is decoded; when the frame is whole,
   * an IPv6 Payload Length beyond it makes the packet malformed. The default: a whole frame.
   */
  decode(frame: Uint8Array, capLen: number, linkType: number, out: DecodedPacket, wireLen = capLen): void {
    out.reset();
    this.lengthOverrun = false;
    out.linkType = linkType;
    const linkErr = peelLink(linkType, frame, capLen, this.link);
    if (linkErr !== null) {
      out.flag(linkErr.wireError === 'unsupported' ? 'unsupported_link_type' : 'truncated_link', linkErr.detail);
      return;
    }
    const ethertype = this.link.ethertype;
    if (ethertype === ETHERTYPE_IPV4) {
      out.ipVersion = 4;
      return;
    }
    if (ethertype !== ETHERTYPE_IPV6) return;
    const ipOff = this.link.offset;
    const ipEnd = checkIpv6(frame, ipOff, capLen);
    if (isWireError(ipEnd)) {
      if (ipEnd.wireError === 'truncated') out.flag('truncated_ipv6', ipEnd.detail);
      else out.flag('bad_ip_version', ipEnd.detail);
      return;
    }
    out.ipVersion = 6;
    // RFC 8200 §3: Payload Length counts every byte after the fixed header (0: jumbogram or a
    // TSO capture, read to the end). More than a whole frame holds is a broken packet, as tshark
    // says ("IPv6 payload length exceeds framing length"): its headers still key its flow, but
    // none of its PDM fields are trusted. A snap-length cut (capLen < wireLen) is not that.
    if (capLen >= wireLen && ipEnd === capLen && payloadOverruns(frame, ipOff, capLen)) {
      this.lengthOverrun = true;
      flagOverrun(out, frame, ipOff, capLen, 'the frame');
    }
    out.outerBuf = frame;
    out.outerSrcOff = ipOff + IPV6_SRC_OFFSET;
    out.outerDstOff = ipOff + IPV6_DST_OFFSET;
    out.addrBuf = frame;
    out.srcOff = out.outerSrcOff;
    out.dstOff = out.outerDstOff;
    this.walk(frame, ipOff + IPV6_HEADER_LEN, ipEnd, frame[ipOff + 6]!, LAYER_OUTER, out);
    if (this.lengthOverrun) {
      out.pdmCount = 0;
      return;
    }
    choosePrimaryPdm(out);
  }

  /** Walks the header chain from `proto` at `off` up to `end` of `buf`. */
  private walk(buf: Uint8Array, startOff: number, end: number, startProto: number, startLayer: number, out: DecodedPacket): void {
    let off = startOff;
    let proto = startProto;
    let layer = startLayer;
    let data = buf;
    let dataEnd = end;
    for (;;) {
      if (isExtensionHeader(proto)) {
        if (out.extCount === MAX_EXT_HEADERS) {
          out.flag('ext_hdr_chain_too_long', `more than ${MAX_EXT_HEADERS} extension headers`);
          return;
        }
        const len = checkExtHeader(proto, data, off, dataEnd);
        if (isWireError(len)) {
          out.flag('ext_hdr_overrun', `${headerName(proto)}: ${len.detail}`);
          return;
        }
        const index = out.extCount++;
        out.extProto[index] = proto;
        out.extLength[index] = len;
        out.extLayer[index] = layer;
        if (proto === IPPROTO_DSTOPTS || proto === IPPROTO_HOPOPTS) {
          walkOptions(data, off, len, proto, index, layer, out);
        } else if (proto === IPPROTO_ROUTING) {
          markBeforeRouting(out, layer);
        } else if (proto === IPPROTO_FRAGMENT) {
          out.fragmentOffset = fragmentOffset(data, off);
          if (out.fragmentOffset !== 0) {
            // RFC 8200 §4.5: what follows is not headers; PDM lives in the offset-0 fragment.
            out.upperProto = data[off]!;
            out.flag('non_first_fragment', `fragment offset ${out.fragmentOffset * 8}`);
            return;
          }
        }
        proto = data[off]!;
        off += len;
        continue;
      }
      if (proto === IPPROTO_ESP) {
        if (off + ESP_HEADER_LEN > dataEnd) {
          out.upperProto = IPPROTO_ESP;
          out.flag('esp_truncated', 'esp header');
          return;
        }
        if (out.espSpi >= 0 || this.ctx.esp === null) {
          // Nested ESP is not followed; without an opener the payload stays closed.
          out.upperProto = IPPROTO_ESP;
          if (out.espSpi < 0) { out.espSpi = readU32(data, off); out.espSeq = readU32(data, off + 4); }
          if (!hasOutsidePdm(out)) out.flag('esp_no_sa', `spi ${hex32(out.espSpi)}`);
          return;
        }
        out.espSpi = readU32(data, off);
        out.espSeq = readU32(data, off + 4);
        const r = this.espResult;
        this.ctx.esp.open(data, off, dataEnd, out.outerBuf, out.outerSrcOff, out.outerDstOff, r);
        if (r.status !== 'ok') {
          out.upperProto = IPPROTO_ESP;
          flagEsp(out, r);
          return;
        }
        out.espOpened = r.method;
        data = r.buf;
        off = r.off;
        dataEnd = r.end;
        proto = r.nextHeader;
        layer = LAYER_INSIDE_ESP;
        if (proto === IPPROTO_IPV6) {
          // Tunnel mode: the payload is a whole IPv6 packet; its addresses key the flow.
          const innerEnd = checkIpv6(data, off, dataEnd);
          if (isWireError(innerEnd)) {
            out.upperProto = IPPROTO_IPV6;
            out.flag(innerEnd.wireError === 'truncated' ? 'truncated_ipv6' : 'bad_ip_version', `inner ${innerEnd.detail}`);
            return;
          }
          if (payloadOverruns(data, off, dataEnd)) {
            // The opened payload is whole (its ICV or trailer checked): no snap length to blame.
            this.lengthOverrun = true;
            flagOverrun(out, data, off, dataEnd, 'the esp payload (inner header)');
          }
          out.espTunnel = true;
          out.addrBuf = data;
          out.srcOff = off + IPV6_SRC_OFFSET;
          out.dstOff = off + IPV6_DST_OFFSET;
          proto = data[off + 6]!;
          off += IPV6_HEADER_LEN;
          dataEnd = innerEnd;
          layer = LAYER_TUNNEL;
        }
        continue;
      }
      out.upperProto = proto;
      if (proto === 59) return; // No Next Header
      readTransport(data, off, dataEnd, proto, out);
      return;
    }
  }
}

/** The IPv6 header at `off` claims a (non-zero) Payload Length beyond `end`. */
function payloadOverruns(buf: Uint8Array, off: number, end: number): boolean {
  const payloadLength = ipv6PayloadLength(buf, off);
  return payloadLength !== 0 && off + IPV6_HEADER_LEN + payloadLength > end;
}

/** Kept out of the decode path's own code (its size decides what the JIT inlines). */
function flagOverrun(out: DecodedPacket, buf: Uint8Array, off: number, end: number, where: string): void {
  out.flag('ipv6_payload_length_exceeds_frame', `payload length ${ipv6PayloadLength(buf, off)}, ${end - off - IPV6_HEADER_LEN} bytes in ${where}`);
}

function readTransport(buf: Uint8Array, off: number, end: number, proto: number, out: DecodedPacket): void {
  if (!hasPorts(proto) && proto !== IPPROTO_ICMPV6) return;
  const hdrLen = checkTransport(proto, buf, off, end);
  if (isWireError(hdrLen)) {
    out.flag('truncated_transport', `${headerName(proto)}: ${hdrLen.detail}`);
    return;
  }
  if (proto === IPPROTO_ICMPV6) {
    const type = buf[off]!;
    out.icmpType = type;
    if (type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) {
      out.icmpEchoId = (buf[off + 4]! << 8) | buf[off + 5]!;
    }
    return;
  }
  out.srcPort = srcPort(buf, off);
  out.dstPort = dstPort(buf, off);
  if (proto === IPPROTO_TCP) out.tcpFlags = tcpFlags(buf, off);
  out.upperPayloadLength = end - off - hdrLen;
}

function walkOptions(buf: Uint8Array, hdrOff: number, hdrLen: number, proto: number, index: number, layer: number, out: DecodedPacket): void {
  const end = hdrOff + hdrLen;
  let o = hdrOff + 2;
  while (o < end) {
    if (buf[o] === OPT_PAD1) { o++; continue; }
    const len = checkOption(buf, o, end);
    if (isWireError(len)) {
      out.flag('option_overrun', `${headerName(proto)} option at byte ${o - hdrOff}: ${len.detail}`);
      return;
    }
    if (buf[o] === PDM_OPTION_TYPE) recordPdm(buf, o, hdrOff, proto, index, layer, out);
    o += len;
  }
}

/** The next PDM slot of the packet, placed; null (pdm_duplicate) when the packet has used them all. */
function takePdmHit(o: number, hdrOff: number, proto: number, index: number, layer: number, out: DecodedPacket): PdmHit | null {
  if (out.pdmCount === MAX_PDM_PER_PACKET) {
    out.flag('pdm_duplicate', `more than ${MAX_PDM_PER_PACKET} pdm options`);
    return null;
  }
  const hit = out.pdm[out.pdmCount++]!;
  hit.position = proto === IPPROTO_HOPOPTS ? 'hop_by_hop' : 'dstopts';
  hit.layer = layer;
  hit.headerIndex = index;
  hit.offsetInHeader = o - hdrOff;
  return hit;
}

/** RFC 8250 §3.1 puts PDM in Destination Options; RFC 8200 §4.2 aligns it at 2n. */
function flagPdmPlacement(o: number, hdrOff: number, proto: number, out: DecodedPacket): void {
  if (proto === IPPROTO_HOPOPTS) out.flag('pdm_in_hop_by_hop', 'pdm in a hop-by-hop options header');
  else if ((o - hdrOff) % 2 !== 0) out.flag('pdm_misaligned', `pdm at odd offset ${o - hdrOff}`);
}

function recordPdm(buf: Uint8Array, o: number, hdrOff: number, proto: number, index: number, layer: number, out: DecodedPacket): void {
  // RFC 8250 (length 10) stays on this short path; any other length goes to recordOtherPdm, so
  // the common case keeps the size the JIT inlines into the header walk.
  if (buf[o + 1] !== PDM_DATA_LENGTH) {
    recordOtherPdm(buf, o, hdrOff, proto, index, layer, out);
    return;
  }
  const hit = takePdmHit(o, hdrOff, proto, index, layer, out);
  if (hit === null) return;
  hit.version = 1;
  hit.epoch = 0;
  hit.globalPointer = 0;
  hit.scaleDtlr = buf[o + 2]!;
  hit.scaleDtls = buf[o + 3]!;
  hit.psnThisPkt = (buf[o + 4]! << 8) | buf[o + 5]!;
  hit.psnLastRecv = (buf[o + 6]! << 8) | buf[o + 7]!;
  hit.deltaLastRecv = (buf[o + 8]! << 8) | buf[o + 9]!;
  hit.deltaLastSent = (buf[o + 10]! << 8) | buf[o + 11]!;
  flagPdmPlacement(o, hdrOff, proto, out);
}

/** A PDM option whose length is not 10: the PDMv2 clear form (length 22, version 2), or pdm_bad_length. */
function recordOtherPdm(buf: Uint8Array, o: number, hdrOff: number, proto: number, index: number, layer: number, out: DecodedPacket): void {
  if (pdmVersionOf(buf, o) !== 2) {
    const dataLen = buf[o + 1]!;
    const draft = PDMV2_DRAFT_DATA_LENGTHS.includes(dataLen) ? ` (a PDMv2 draft length, version field ${buf[o + 2]! >>> 4})` : '';
    out.flag('pdm_bad_length', `pdm option length ${dataLen}${draft}`);
    return;
  }
  const hit = takePdmHit(o, hdrOff, proto, index, layer, out);
  if (hit === null) return;
  hit.version = 2;
  readPdmV2(buf, o, hit);
  flagPdmPlacement(o, hdrOff, proto, out);
}

/** A Routing header makes the Destination Options headers before it (same layer) non-final. */
function markBeforeRouting(out: DecodedPacket, layer: number): void {
  for (let i = 0; i < out.pdmCount; i++) {
    const hit = out.pdm[i]!;
    if (hit.layer === layer && hit.position === 'dstopts') hit.position = 'dstopts_before_routing';
  }
}

function hasOutsidePdm(out: DecodedPacket): boolean {
  for (let i = 0; i < out.pdmCount; i++) if (out.pdm[i]!.layer === LAYER_OUTER) return true;
  return false;
}

function flagEsp(out: DecodedPacket, r: EspOpenResult): void {
  switch (r.status) {
    case 'no_sa':
      if (!hasOutsidePdm(out)) out.flag('esp_no_sa', `spi ${hex32(out.espSpi)}`);
      return;
    case 'auth_failed': out.flag('esp_auth_failed', r.detail); return;
    case 'bad_trailer': out.flag('esp_bad_trailer', r.detail); return;
    case 'truncated': out.flag('esp_truncated', r.detail); return;
    case 'tfc_dummy': out.flag('esp_tfc_dummy', r.detail); return;
    case 'ok': return;
  }
}

/**
 * The PDM used for metrics: a final-destination Destination Options PDM (RFC 8250 §3.3) from the
 * innermost layer read. Several at the same level: the last one, flagged pdm_duplicate.
 */
function choosePrimaryPdm(out: DecodedPacket): void {
  let best = -1;
  let bestRank = -1;
  let tie = false;
  for (let i = 0; i < out.pdmCount; i++) {
    const hit = out.pdm[i]!;
    if (hit.position === 'hop_by_hop') continue;
    const rank = hit.layer * 2 + (hit.position === 'dstopts' ? 1 : 0);
    if (rank > bestRank) { best = i; bestRank = rank; tie = false; }
    else if (rank === bestRank) { best = i; tie = true; }
  }
  out.primaryPdm = best;
  if (tie) out.flag('pdm_duplicate', 'several pdm options at the same header position');
}

export function headerName(proto: number): string {
  switch (proto) {
    case IPPROTO_HOPOPTS: return 'hop-by-hop';
    case IPPROTO_ROUTING: return 'routing';
    case IPPROTO_FRAGMENT: return 'fragment';
    case IPPROTO_DSTOPTS: return 'destination options';
    case 51: return 'ah';
    case IPPROTO_ESP: return 'esp';
    case IPPROTO_TCP: return 'tcp';
    case 17: return 'udp';
    case 132: return 'sctp';
    case 136: return 'udplite';
    case IPPROTO_ICMPV6: return 'icmpv6';
    default: return `protocol ${proto}`;
  }
}

export { LAYER_INSIDE_ESP, LAYER_TUNNEL };
