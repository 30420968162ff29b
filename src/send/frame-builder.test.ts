import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TSHARK, testNeeding } from '../../test/support/prereq.js';
import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { parseIpv6Address } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../wire/link.js';
import type { PdmRepr } from '../wire/pdm.js';
import { FrameTooLargeError, PDM_DSTOPTS_LENGTH, buildPdmUdpFrame, pdmUdpIpv6Length, writePdmAt } from './frame-builder.js';

const SRC = parseIpv6Address('2001:db8::1')!;
const DST = parseIpv6Address('2001:db8:0:1::2')!;
const MAC_A = Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a);
const MAC_B = Uint8Array.of(0x02, 0, 0, 0, 0, 0x0b);
const PDM: PdmRepr = { scaleDtlr: 0x25, scaleDtls: 0x29, psnThisPkt: 0x1234, psnLastRecv: 0xabcd, deltaLastRecv: 0x8e6f, deltaLastSent: 0xd2a0 };

/**
 * Independent UDP checksum (RFC 768 / RFC 8200 §8.1), written from the RFC text rather than
 * through src/wire/transport.ts: sum 16-bit words of src, dst, upper-layer length (32 bits),
 * three zero bytes and next header 17, then the UDP datagram with its checksum field as sent;
 * a correct datagram sums to 0xffff.
 */
function udpChecksumOk(frame: Uint8Array, ipOff: number, udpOff: number): boolean {
  const words: number[] = [];
  const pushBytes = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i += 2) words.push((b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0));
  };
  pushBytes(frame.subarray(ipOff + 8, ipOff + 40)); // source and destination address
  const udpLen = (frame[udpOff + 4]! << 8) | frame[udpOff + 5]!;
  pushBytes(Uint8Array.of(0, 0, udpLen >> 8, udpLen & 0xff, 0, 0, 0, 17));
  pushBytes(frame.subarray(udpOff, udpOff + udpLen));
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return sum === 0xffff;
}

test('Ethernet / IPv6 / DstOpt [PDM, PadN] / UDP: layout byte by byte', () => {
  const payload = new TextEncoder().encode('probe');
  const { frame, pdmOffset, ipv6Length } = buildPdmUdpFrame({
    link: { kind: 'ethernet', srcMac: MAC_A, dstMac: MAC_B }, src: SRC, dst: DST, srcPort: 40000, dstPort: 7777, payload, pdm: PDM,
  });
  assert.equal(PDM_DSTOPTS_LENGTH, 16);
  assert.equal(ipv6Length, 40 + 16 + 8 + 5);
  assert.equal(frame.length, 14 + ipv6Length);
  assert.deepEqual([...frame.subarray(0, 14)], [...MAC_B, ...MAC_A, 0x86, 0xdd]);
  // IPv6: version 6, payload length = DOH 16 + UDP 13, next header 60 (Destination Options).
  assert.equal(frame[14]! >> 4, 6);
  assert.equal((frame[18]! << 8) | frame[19]!, 16 + 13);
  assert.equal(frame[20], 60);
  assert.equal(frame[21], 64);
  // Destination Options (RFC 8250 §3.2 layout, then PadN with length 0):
  // NH=17 | HdrExtLen=1 | 0x0F 0x0A ScaleDTLR ScaleDTLS | PSNTP | PSNLR | DTLR | DTLS | 0x01 0x00
  assert.equal(pdmOffset, 14 + 40 + 2);
  assert.deepEqual([...frame.subarray(54, 70)], [
    17, 1, 0x0f, 0x0a, 0x25, 0x29, 0x12, 0x34, 0xab, 0xcd, 0x8e, 0x6f, 0xd2, 0xa0, 0x01, 0x00,
  ]);
  // UDP: ports, length 13, checksum valid by an independent computation.
  assert.deepEqual([...frame.subarray(70, 76)], [0x9c, 0x40, 0x1e, 0x61, 0, 13]);
  assert.ok(udpChecksumOk(frame, 14, 70));
  assert.equal(new TextDecoder().decode(frame.subarray(78)), 'probe');
});

test('the decoder reads back what the builder wrote; writePdmAt changes PDM and keeps the checksum valid', () => {
  const built = buildPdmUdpFrame({
    link: { kind: 'ethernet', srcMac: MAC_A, dstMac: MAC_B }, src: SRC, dst: DST, srcPort: 1, dstPort: 65535, payload: new Uint8Array(33), pdm: PDM,
  });
  const later: PdmRepr = { scaleDtlr: 1, scaleDtls: 2, psnThisPkt: 3, psnLastRecv: 4, deltaLastRecv: 5, deltaLastSent: 6 };
  writePdmAt(built.frame, built.pdmOffset, later);
  assert.ok(udpChecksumOk(built.frame, 14, 14 + 40 + 16), 'PDM lies outside the UDP checksum (RFC 8200 §8.1)');
  const out = new DecodedPacket();
  new Decoder({ esp: null }).decode(built.frame, built.frame.length, LINKTYPE_ETHERNET, out);
  assert.equal(out.anomaly, null);
  assert.equal(out.upperProto, 17);
  assert.equal(out.srcPort, 1);
  assert.equal(out.dstPort, 65535);
  assert.equal(out.upperPayloadLength, 33);
  const h = out.pdm[out.primaryPdm]!;
  assert.equal(h.position, 'dstopts');
  assert.deepEqual([h.scaleDtlr, h.scaleDtls, h.psnThisPkt, h.psnLastRecv, h.deltaLastRecv, h.deltaLastSent], [1, 2, 3, 4, 5, 6]);
});

test('raw-IP framing (tun, wireguard) has no link header', () => {
  const { frame } = buildPdmUdpFrame({ link: { kind: 'raw' }, src: SRC, dst: DST, srcPort: 9, dstPort: 9, payload: new Uint8Array(1), pdm: PDM });
  assert.equal(frame[0]! >> 4, 6);
  assert.ok(udpChecksumOk(frame, 0, 56));
  const out = new DecodedPacket();
  new Decoder({ esp: null }).decode(frame, frame.length, LINKTYPE_RAW, out);
  assert.equal(out.primaryPdm, 0);
});

test('payloads of 0..63 bytes all checksum, and the checksum field is never 0', () => {
  for (let n = 0; n < 64; n++) {
    const payload = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const { frame } = buildPdmUdpFrame({ link: { kind: 'raw' }, src: SRC, dst: DST, srcPort: 40000 + n, dstPort: 7777, payload, pdm: PDM });
    assert.ok(udpChecksumOk(frame, 0, 56), `payload ${n}`);
    assert.notEqual((frame[62]! << 8) | frame[63]!, 0, 'UDP over IPv6 never sends checksum 0');
  }
});

test('MTU: a packet one byte too large is refused with what would fit', () => {
  const mtu = 1400;
  const fits = mtu - pdmUdpIpv6Length(0);
  const spec = { link: { kind: 'raw' } as const, src: SRC, dst: DST, srcPort: 1, dstPort: 2, pdm: PDM };
  assert.equal(buildPdmUdpFrame({ ...spec, payload: new Uint8Array(fits) }, mtu).ipv6Length, mtu);
  assert.throws(() => buildPdmUdpFrame({ ...spec, payload: new Uint8Array(fits + 1) }, mtu), (err: unknown) => {
    assert.ok(err instanceof FrameTooLargeError);
    assert.match(err.message, /1401 bytes exceeds the link MTU of 1400 bytes \(the largest UDP payload that fits is 1336 bytes\)/);
    return true;
  });
});

function writePcap(path: string, linkType: number, frames: Uint8Array[]): void {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(65535, 16); gh.writeUInt32LE(linkType, 20);
  parts.push(gh);
  frames.forEach((f, i) => {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(1700000000 + i, 0); rh.writeUInt32LE(f.length, 8); rh.writeUInt32LE(f.length, 12);
    parts.push(rh, Buffer.from(f));
  });
  writeFileSync(path, Buffer.concat(parts));
}

testNeeding('tshark decodes the built frames: PDM fields and a good UDP checksum', [TSHARK], () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-frame-'));
  try {
    const frames = [0, 1, 7, 100, 1200].map((n, i) => buildPdmUdpFrame({
      link: { kind: 'ethernet', srcMac: MAC_A, dstMac: MAC_B }, src: SRC, dst: DST, srcPort: 50000 + i, dstPort: 7777,
      payload: Uint8Array.from({ length: n }, (_, j) => (j * 13 + i) & 0xff), pdm: { ...PDM, psnThisPkt: 100 + i },
    }).frame);
    const path = join(dir, 'frames.pcap');
    writePcap(path, 1, frames);
    const out = execFileSync('tshark', ['-r', path, '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=,',
      '-e', 'ipv6.opt.pdm.psn_this_pkt', '-e', 'ipv6.opt.pdm.psn_last_recv', '-e', 'ipv6.opt.pdm.scale_dtlr',
      '-e', 'ipv6.opt.pdm.scale_dtls', '-e', 'ipv6.opt.pdm.delta_last_recv', '-e', 'ipv6.opt.pdm.delta_last_sent',
      '-e', 'udp.checksum.status', '-e', 'udp.dstport'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rows = out.trim().split('\n');
    assert.equal(rows.length, frames.length);
    rows.forEach((r, i) => {
      // udp.checksum.status 1 = Good
      assert.equal(r, `${100 + i},${0xabcd},${0x25},${0x29},${0x8e6f},${0xd2a0},1,7777`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
