// Benchmark capture for ESP: AES-GCM-16 (RFC 4106) transport mode, PDM inside ESP, one request/
// response flow per 100 packets. Encrypted with node:crypto; the decoder side is checked
// against scapy vectors and tshark in the ESP tests, so sharing node:crypto here is harmless.

import { createCipheriv } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { PcapFileWriter } from '../src/capture/pcap-writer.js';
import { IPPROTO_ESP, IPPROTO_DSTOPTS, IPPROTO_UDP, emitOptionsHeader } from '../src/wire/ext-header.js';
import { emitIpv6 } from '../src/wire/ipv6.js';
import { LINKTYPE_RAW } from '../src/wire/link.js';
import { PDM_OPTION_LENGTH, emitPdm, encodePdmDeltaNs } from '../src/wire/pdm.js';
import { emitUdp } from '../src/wire/transport.js';
import { addr } from '../test/support/build.js';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const SALT = Buffer.from('deadbeef', 'hex');

export function generateEspBenchCapture(path: string, saPath: string, packets: number): void {
  const a = addr('2001:db8::1');
  const b = addr('2001:db8::2');
  writeFileSync(saPath, [
    `"IPv6","2001:db8::1","2001:db8::2","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x${KEY.toString('hex')}${SALT.toString('hex')}","NULL",""`,
    `"IPv6","2001:db8::2","2001:db8::1","0x00002002","AES-GCM with 16 octet ICV [RFC4106]","0x${KEY.toString('hex')}${SALT.toString('hex')}","NULL",""`,
  ].join('\n') + '\n');
  const w = new PcapFileWriter(path, { format: 'pcap', linkType: LINKTYPE_RAW });
  const payload = new Uint8Array(64);
  // DOH 16 + UDP 8 + payload 64 = 88; pad 1,2 so that pad length and next header end 4-aligned.
  const inner = new Uint8Array(16 + 8 + payload.length + 4);
  let tsNs = 1_700_000_000_000_000_000n;
  let psnA = 1000;
  let psnB = 5000;
  let seqA = 0;
  let seqB = 0;
  for (let n = 0; n < packets; n++) {
    const fromA = n % 2 === 0;
    const src = fromA ? a : b;
    const dst = fromA ? b : a;
    const first = n === 0;
    const sd = encodePdmDeltaNs(1_500_000n);
    const total = encodePdmDeltaNs(21_500_000n);
    const pdm = fromA
      ? { psnThisPkt: psnA, psnLastRecv: first ? 0 : (psnB - 1) & 0xffff, deltaLastRecv: first ? 0 : 100, scaleDtlr: first ? 0 : 20, deltaLastSent: first ? 0 : total.delta, scaleDtls: first ? 0 : total.scale }
      : { psnThisPkt: psnB, psnLastRecv: (psnA - 1) & 0xffff, deltaLastRecv: sd.delta, scaleDtlr: sd.scale, deltaLastSent: 0, scaleDtls: 0 };
    if (fromA) psnA = (psnA + 1) & 0xffff;
    else psnB = (psnB + 1) & 0xffff;
    const opts = new Uint8Array(PDM_OPTION_LENGTH);
    emitPdm(pdm, opts, 0);
    emitOptionsHeader({ nextHeader: IPPROTO_UDP, options: opts }, inner, 0);
    emitUdp({ srcPort: fromA ? 40000 : 443, dstPort: fromA ? 443 : 40000, payload }, src, dst, inner, 16);
    inner[inner.length - 4] = 1;
    inner[inner.length - 3] = 2;
    inner[inner.length - 2] = 2;
    inner[inner.length - 1] = IPPROTO_DSTOPTS;
    const spi = fromA ? 0x1001 : 0x2002;
    const seq = fromA ? ++seqA : ++seqB;
    const esp = Buffer.alloc(8 + 8 + inner.length + 16);
    esp.writeUInt32BE(spi, 0);
    esp.writeUInt32BE(seq, 4);
    esp.writeUInt32BE(0, 8);
    esp.writeUInt32BE(seq, 12);
    const c = createCipheriv('aes-128-gcm', KEY, Buffer.concat([SALT, esp.subarray(8, 16)]), { authTagLength: 16 });
    c.setAAD(esp.subarray(0, 8));
    const ct = Buffer.concat([c.update(inner), c.final()]);
    ct.copy(esp, 16);
    c.getAuthTag().copy(esp, 16 + ct.length);
    const frame = new Uint8Array(40 + esp.length);
    emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: esp.length, nextHeader: IPPROTO_ESP, hopLimit: 64, src, dst }, frame, 0);
    frame.set(esp, 40);
    tsNs += fromA ? 20_000_000n : 1_500_000n;
    w.writePacket(frame, tsNs);
  }
  w.close();
}
