// Synthetic frames for capture tests: one reusable template per link type, with the per-packet
// fields (PSN, deltas, UDP source port) patched in place.
//
//  Ethernet (14) | IPv6 (40, next header 60) | Destination Options (16, next header 17) |
//  UDP (8) | payload
//
// Destination Options header (RFC 8200 §4.6), Hdr Ext Len 1 = 16 bytes:
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | NextHdr| Len=1  | 0x0F   | 10     |ScaleDTLR|ScaleDTLS| PSN This Packet|
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | PSN Last Received| Delta Time Last Recv | Delta Time Last Sent| PadN 0 |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
// (PDM option type 0x0F, length 10: RFC 8250 §3.1; PadN type 1 length 0.)

export const IPV6_NEXT_DSTOPTS = 60;
export const IPV6_NEXT_UDP = 17;

export interface PdmFrameFields {
  psnThisPkt: number;
  psnLastRecv: number;
  deltaLastRecv: number;
  deltaLastSent: number;
  scaleDtlr: number;
  scaleDtls: number;
  srcPort: number;
  dstPort: number;
}

export type FrameLink = 'ethernet' | 'raw' | 'sll' | 'sll2' | 'null' | 'loop';

const LINK_HEADER_LEN: Record<FrameLink, number> = { ethernet: 14, raw: 0, sll: 16, sll2: 20, null: 4, loop: 4 };

/**
 * A frame template: Eth/IPv6/DstOpt(PDM)/UDP/payload (or with no Destination Options header
 * when `withPdm` is false). `fill` patches the PDM and port fields of the shared buffer.
 */
export class PdmFrameTemplate {
  readonly frame: Uint8Array;
  private readonly ipOff: number;
  private readonly pdmOff: number;
  private readonly udpOff: number;

  constructor(link: FrameLink = 'ethernet', payloadBytes = 64, withPdm = true) {
    const linkLen = LINK_HEADER_LEN[link];
    const dstOptLen = withPdm ? 16 : 0;
    this.ipOff = linkLen;
    this.pdmOff = linkLen + 40 + 2;
    this.udpOff = linkLen + 40 + dstOptLen;
    const f = new Uint8Array(this.udpOff + 8 + payloadBytes);
    this.frame = f;
    const dv = new DataView(f.buffer);
    switch (link) {
      case 'ethernet':
        f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
        dv.setUint16(12, 0x86dd);
        break;
      case 'sll':
        dv.setUint16(0, 0); // packet sent to us
        dv.setUint16(2, 1); // ARPHRD_ETHER
        dv.setUint16(4, 6);
        f.set([0x02, 0, 0, 0, 0, 1], 6);
        dv.setUint16(14, 0x86dd);
        break;
      case 'sll2':
        dv.setUint16(0, 0x86dd);
        dv.setUint32(4, 1); // ifindex
        dv.setUint16(8, 1); // ARPHRD_ETHER
        f[11] = 6;
        f.set([0x02, 0, 0, 0, 0, 1], 12);
        break;
      case 'null':
        dv.setUint32(0, 24, true); // AF_INET6 (BSD value), host order in the writer's host
        break;
      case 'loop':
        dv.setUint32(0, 24, false); // AF_INET6, network order
        break;
      case 'raw':
        break;
    }
    const ip = this.ipOff;
    f[ip] = 0x60;
    dv.setUint16(ip + 4, dstOptLen + 8 + payloadBytes);
    f[ip + 6] = withPdm ? IPV6_NEXT_DSTOPTS : IPV6_NEXT_UDP;
    f[ip + 7] = 64;
    f.set([0x20, 0x01, 0x0d, 0xb8], ip + 8);
    f[ip + 23] = 1;
    f.set([0x20, 0x01, 0x0d, 0xb8], ip + 24);
    f[ip + 39] = 2;
    if (withPdm) {
      const d = ip + 40;
      f[d] = IPV6_NEXT_UDP;
      f[d + 1] = 1;
      f[d + 2] = 0x0f;
      f[d + 3] = 10;
      f[d + 14] = 1; // PadN, length 0
      f[d + 15] = 0;
    }
    dv.setUint16(this.udpOff + 4, 8 + payloadBytes);
    for (let i = 0; i < payloadBytes; i++) f[this.udpOff + 8 + i] = i & 0xff;
  }

  /** Writes the PDM fields and ports (no checksum: UDP checksum left 0 is fine for captures). */
  fill(fields: PdmFrameFields): Uint8Array {
    const f = this.frame;
    const p = this.pdmOff;
    if (f[this.ipOff + 6] === IPV6_NEXT_DSTOPTS) {
      f[p + 2] = fields.scaleDtlr;
      f[p + 3] = fields.scaleDtls;
      f[p + 4] = fields.psnThisPkt >>> 8; f[p + 5] = fields.psnThisPkt & 0xff;
      f[p + 6] = fields.psnLastRecv >>> 8; f[p + 7] = fields.psnLastRecv & 0xff;
      f[p + 8] = fields.deltaLastRecv >>> 8; f[p + 9] = fields.deltaLastRecv & 0xff;
      f[p + 10] = fields.deltaLastSent >>> 8; f[p + 11] = fields.deltaLastSent & 0xff;
    }
    const u = this.udpOff;
    f[u] = fields.srcPort >>> 8; f[u + 1] = fields.srcPort & 0xff;
    f[u + 2] = fields.dstPort >>> 8; f[u + 3] = fields.dstPort & 0xff;
    return f;
  }

  /** Offset of the PSN This Packet field inside the frame (tests read it back). */
  get psnOffset(): number {
    return this.pdmOff + 4;
  }
}
