// A decoded packet as the flow layer needs it, in a few int32 words: what the reader thread
// sends instead of the frame when it decodes the capture itself (capture/reader-worker.ts), so
// the analysing thread neither copies frames nor decodes them. One codec for both sides: the
// reader encodes with encodePacketRecord, the analyser reads with PacketRecordView.
//
// Layout (int32 words):
//   0  info: bits 0-4 words in the record; 5 IPv6; 6 carries PDM (any option);
//      7 keyed (IPv6, not a later fragment: it belongs to a flow); 8 primary PDM follows;
//      9 keyed by ICMPv6 echo id; 10-11 the key's ESP placement (ESP_PLACEMENTS);
//      12 an ESP SPI follows; 13 the primary PDM is PDMv2; 16-23 anomaly (1 + index in ANOMALY_NAMES; 0 none)
//   1  captured length (the reader's completeness check counts file offsets with it)
//   [SPI]                                         when bit 12
//   [ts sec, ts usec, proto, src 4 words, dst 4 words, src port, dst port]   when bit 7
//   [PSNTP | PSNLR << 16, DeltaTLR | DeltaTLS << 16, ScaleDTLR | ScaleDTLS << 8]   when bit 8
//   [PSNTP, PSNLR, DeltaTLR | DeltaTLS << 16, ScaleDTLR | ScaleDTLS << 8]      when bits 8 and 13
// Every PDM field fits: RFC 8250 §3.2 PSNs and deltas are 16 bits, scales 8; PDMv2's PSNs are
// 32 bits (draft-ietf-ippm-encrypted-pdmv2-14 §7), a word each. Epoch and Global Pointer are
// not kept: the metrics do not use them.

import { ANOMALY_NAMES, type AnomalyName } from '../decode/anomalies.js';
import { type DecodedPacket, type EspPlacement, PdmHit } from '../decode/packet.js';
import { FlowKeyScratch, keyOf } from './table.js';

/** The most words one record takes. */
export const PACKET_RECORD_MAX_WORDS = 2 + 1 + 13 + 4;

const IPV6 = 1 << 5;
const WITH_PDM = 1 << 6;
const KEYED = 1 << 7;
const PRIMARY = 1 << 8;
const BY_ECHO = 1 << 9;
const PLACEMENT_SHIFT = 10;
const HAS_SPI = 1 << 12;
const PDM_V2 = 1 << 13;
const ANOMALY_SHIFT = 16;
const ESP_PLACEMENTS: readonly EspPlacement[] = ['none', 'outside', 'inside', 'tunnel'];

/** Index in ESP_PLACEMENTS (a switch: no string search per packet). */
function placementCode(p: EspPlacement): number {
  switch (p) {
    case 'none': return 0;
    case 'outside': return 1;
    case 'inside': return 2;
    case 'tunnel': return 3;
  }
}

/**
 * Writes the record of `p` (decoded from a frame of `capLen` bytes captured at tsSec/tsUsec, as
 * libpcap gave them) at `out[at]`; returns its words. `key` is scratch.
 */
export function encodePacketRecord(p: DecodedPacket, capLen: number, tsSec: number, tsUsec: number, key: FlowKeyScratch,
  out: Int32Array, at: number): number {
  let info = 0;
  let n = at + 2;
  if (p.ipVersion === 6) info |= IPV6;
  if (p.pdmCount > 0) info |= WITH_PDM;
  if (p.anomaly !== null) info |= (ANOMALY_NAMES.indexOf(p.anomaly) + 1) << ANOMALY_SHIFT;
  if (p.espSpi >= 0) {
    info |= HAS_SPI;
    out[n++] = p.espSpi;
  }
  // The same test as Analyzer.account: later fragments carry no headers to key on.
  if (p.ipVersion === 6 && p.fragmentOffset <= 0) {
    info |= KEYED;
    keyOf(p, key);
    if (key.byEcho) info |= BY_ECHO;
    info |= placementCode(key.esp) << PLACEMENT_SHIFT;
    out[n] = tsSec;
    out[n + 1] = tsUsec;
    out[n + 2] = key.proto;
    out[n + 3] = key.s0; out[n + 4] = key.s1; out[n + 5] = key.s2; out[n + 6] = key.s3;
    out[n + 7] = key.d0; out[n + 8] = key.d1; out[n + 9] = key.d2; out[n + 10] = key.d3;
    out[n + 11] = key.srcPort;
    out[n + 12] = key.dstPort;
    n += 13;
    const hit = p.primary;
    if (hit !== null) {
      info |= PRIMARY;
      if (hit.version === 2) {
        info |= PDM_V2;
        out[n++] = hit.psnThisPkt;
        out[n++] = hit.psnLastRecv;
      } else {
        out[n++] = hit.psnThisPkt | (hit.psnLastRecv << 16);
      }
      out[n] = hit.deltaLastRecv | (hit.deltaLastSent << 16);
      out[n + 1] = hit.scaleDtlr | (hit.scaleDtls << 8);
      n += 2;
    }
  }
  out[at] = info | (n - at);
  out[at + 1] = capLen;
  return n - at;
}

/** Words of the record starting at `words[at]`. */
export function packetRecordWords(words: Int32Array, at: number): number {
  return words[at]! & 31;
}

/** Captured length of the record starting at `words[at]`. */
export function packetRecordCapLen(words: Int32Array, at: number): number {
  return words[at + 1]!;
}

/**
 * Reads records in place, one at a time: `read` fills the fields, the flow key and (when the
 * packet has a primary PDM option) the PDM hit. Nothing is allocated per record.
 */
export class PacketRecordView {
  ipv6 = false;
  withPdm = false;
  anomaly: AnomalyName | null = null;
  /** The ESP SPI (unsigned), or -1 without ESP. */
  espSpi = -1;
  /** Belongs to a flow: `key`, `tsUs` and `hit` are set. */
  keyed = false;
  tsUs = 0;
  readonly key = new FlowKeyScratch();
  /** The primary PDM option's fields, or null (the version and the six PDM fields are set; not PDMv2's epoch and pointer). */
  hit: PdmHit | null = null;
  private readonly hitScratch = new PdmHit();

  read(w: Int32Array, at: number): void {
    const info = w[at]!;
    this.ipv6 = (info & IPV6) !== 0;
    this.withPdm = (info & WITH_PDM) !== 0;
    const anomaly = (info >>> ANOMALY_SHIFT) & 0xff;
    this.anomaly = anomaly === 0 ? null : ANOMALY_NAMES[anomaly - 1] ?? null;
    let n = at + 2;
    if ((info & HAS_SPI) !== 0) this.espSpi = w[n++]! >>> 0;
    else this.espSpi = -1;
    this.keyed = (info & KEYED) !== 0;
    this.hit = null;
    if (!this.keyed) return;
    const k = this.key;
    // capture/native.ts microsFromSecUsec, inline: flow/ may not import capture/ (the codec
    // moves to pipeline/reader-thread/ in issue 17, and then calls it).
    this.tsUs = (w[n]! >>> 0) * 1e6 + (w[n + 1]! >>> 0);
    k.proto = w[n + 2]!;
    k.s0 = w[n + 3]!; k.s1 = w[n + 4]!; k.s2 = w[n + 5]!; k.s3 = w[n + 6]!;
    k.d0 = w[n + 7]!; k.d1 = w[n + 8]!; k.d2 = w[n + 9]!; k.d3 = w[n + 10]!;
    k.srcPort = w[n + 11]!;
    k.dstPort = w[n + 12]!;
    k.byEcho = (info & BY_ECHO) !== 0;
    k.esp = ESP_PLACEMENTS[(info >> PLACEMENT_SHIFT) & 3]!;
    if ((info & PRIMARY) === 0) return;
    n += 13;
    const h = this.hitScratch;
    if ((info & PDM_V2) !== 0) {
      h.version = 2;
      h.psnThisPkt = w[n++]! >>> 0;
      h.psnLastRecv = w[n++]! >>> 0;
    } else {
      const psns = w[n++]!;
      h.version = 1;
      h.psnThisPkt = psns & 0xffff;
      h.psnLastRecv = psns >>> 16;
    }
    const deltas = w[n]!;
    const scales = w[n + 1]!;
    h.deltaLastRecv = deltas & 0xffff;
    h.deltaLastSent = deltas >>> 16;
    h.scaleDtlr = scales & 0xff;
    h.scaleDtls = (scales >>> 8) & 0xff;
    this.hit = h;
  }
}
