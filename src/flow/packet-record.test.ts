// The packet record (packet-record.ts): what the reader thread encodes must read back as the very
// key, PDM fields and counter inputs the analyser would have taken from the decoded packet.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ANOMALY_NAMES } from '../decode/anomalies.js';
import { DecodedPacket, LAYER_INSIDE_ESP, LAYER_OUTER } from '../decode/packet.js';
import { encodePacketRecord, PACKET_RECORD_MAX_WORDS, PacketRecordView, packetRecordCapLen, packetRecordWords } from './packet-record.js';
import { FlowKeyScratch, keyOf } from './table.js';

/** A decoded IPv6 packet with addresses 2001:db8::s → 2001:db8::d written into its own buffer. */
function ipv6Packet(src: number, dst: number): DecodedPacket {
  const p = new DecodedPacket();
  const buf = new Uint8Array(40);
  const dv = new DataView(buf.buffer);
  dv.setUint32(8, 0x20010db8); dv.setUint32(20, src >>> 0);
  dv.setUint32(24, 0x20010db8); dv.setUint32(36, dst >>> 0);
  p.ipVersion = 6;
  p.outerBuf = buf; p.addrBuf = buf;
  p.outerSrcOff = 8; p.srcOff = 8;
  p.outerDstOff = 24; p.dstOff = 24;
  return p;
}

function withPdm(p: DecodedPacket, layer: number, f: { psn: number; psnlr: number; dtlr: number; dtls: number; sr: number; ss: number }): DecodedPacket {
  const h = p.pdm[0]!;
  h.layer = layer;
  h.psnThisPkt = f.psn; h.psnLastRecv = f.psnlr; h.deltaLastRecv = f.dtlr; h.deltaLastSent = f.dtls;
  h.scaleDtlr = f.sr; h.scaleDtls = f.ss;
  p.pdmCount = 1;
  p.primaryPdm = 0;
  return p;
}

function roundTrip(p: DecodedPacket, capLen = 1234, sec = 0x9000_0001, usec = 999_999): { view: PacketRecordView; words: number } {
  const out = new Int32Array(PACKET_RECORD_MAX_WORDS + 3).fill(0x55555555);
  const n = encodePacketRecord(p, capLen, sec | 0, usec, new FlowKeyScratch(), out, 3);
  assert.ok(n >= 2 && n <= PACKET_RECORD_MAX_WORDS, `${n} words`);
  assert.equal(packetRecordWords(out, 3), n);
  assert.equal(packetRecordCapLen(out, 3), capLen);
  const view = new PacketRecordView();
  view.read(out, 3);
  return { view, words: n };
}

function sameKey(view: PacketRecordView, p: DecodedPacket): void {
  const expected = new FlowKeyScratch();
  keyOf(p, expected);
  assert.deepEqual({ ...view.key }, { ...expected });
}

test('a UDP packet with PDM at the extremes of every field reads back exactly (RFC 8250 §3.2 field widths)', () => {
  //  0                   1                   2                   3
  //  |  Option Type  | Option Length |    ScaleDTLR  |   ScaleDTLS   |
  //  |   PSN This Packet             |  PSN Last Received            |
  //  |   Delta Time Last Received    |  Delta Time Last Sent         |
  for (const f of [
    { psn: 0xffff, psnlr: 0xffff, dtlr: 0xffff, dtls: 0xffff, sr: 0xff, ss: 0xff },
    { psn: 0, psnlr: 0, dtlr: 0, dtls: 0, sr: 0, ss: 0 },
    { psn: 0x8000, psnlr: 1, dtlr: 0x8001, dtls: 2, sr: 60, ss: 16 },
  ]) {
    const p = withPdm(ipv6Packet(0xffff_fffe, 7), LAYER_OUTER, f);
    p.upperProto = 17; p.srcPort = 65535; p.dstPort = 0; p.pdmCount = 2;
    const { view } = roundTrip(p);
    assert.equal(view.ipv6, true);
    assert.equal(view.withPdm, true);
    assert.equal(view.keyed, true);
    assert.equal(view.espSpi, -1);
    assert.equal(view.anomaly, null);
    assert.equal(view.tsUs, 0x9000_0001 * 1e6 + 999_999, 'seconds past 2^31 stay unsigned');
    sameKey(view, p);
    const h = view.hit!;
    assert.deepEqual([h.psnThisPkt, h.psnLastRecv, h.deltaLastRecv, h.deltaLastSent, h.scaleDtlr, h.scaleDtls],
      [f.psn, f.psnlr, f.dtlr, f.dtls, f.sr, f.ss]);
  }
});

test('ESP: an SPI with its top bit set, the placements and a closed payload key as analyze keys them', () => {
  const closed = ipv6Packet(1, 2);
  closed.espSpi = 0xdead_beef; closed.anomaly = 'esp_no_sa';
  let r = roundTrip(closed).view;
  assert.equal(r.espSpi, 0xdead_beef);
  assert.equal(r.anomaly, 'esp_no_sa');
  assert.equal(r.key.esp, 'outside');
  assert.equal(r.key.proto, 50);
  assert.equal(r.hit, null);
  sameKey(r, closed);

  const inside = withPdm(ipv6Packet(3, 4), LAYER_INSIDE_ESP, { psn: 5, psnlr: 6, dtlr: 7, dtls: 8, sr: 9, ss: 10 });
  inside.espSpi = 0x1000; inside.espOpened = 'null_heuristic'; inside.upperProto = 6; inside.srcPort = 443; inside.dstPort = 50000;
  r = roundTrip(inside).view;
  assert.equal(r.key.esp, 'inside');
  sameKey(r, inside);
});

test('ICMPv6 echo flows, later fragments, IPv4 and every anomaly name', () => {
  const echo = ipv6Packet(9, 10);
  echo.upperProto = 58; echo.icmpEchoId = 0xbeef;
  let r = roundTrip(echo).view;
  assert.equal(r.key.byEcho, true);
  sameKey(r, echo);

  const fragment = ipv6Packet(1, 2);
  fragment.fragmentOffset = 8;
  r = roundTrip(fragment).view;
  assert.equal(r.keyed, false, 'a later fragment belongs to no flow');
  assert.equal(r.ipv6, true);
  assert.equal(roundTrip(fragment).words, 2);

  const v4 = new DecodedPacket();
  v4.ipVersion = 4;
  r = roundTrip(v4).view;
  assert.equal(r.ipv6, false);
  assert.equal(r.keyed, false);

  for (const name of ANOMALY_NAMES) {
    const p = new DecodedPacket();
    p.flag(name, 'detail');
    assert.equal(roundTrip(p).view.anomaly, name);
  }
});

test('records written back to back are walked by their own lengths', () => {
  const out = new Int32Array(PACKET_RECORD_MAX_WORDS * 50);
  const key = new FlowKeyScratch();
  const written: number[] = [];
  let at = 0;
  for (let i = 0; i < 50; i++) {
    const p = i % 3 === 0 ? new DecodedPacket() : ipv6Packet(i, i + 1);
    if (i % 3 === 2) withPdm(p, LAYER_OUTER, { psn: i, psnlr: 0, dtlr: 0, dtls: 0, sr: 0, ss: 0 });
    written.push(at);
    at += encodePacketRecord(p, 100 + i, i, i, key, out, at);
  }
  const walked: number[] = [];
  const view = new PacketRecordView();
  for (let i = 0; i < at; i += packetRecordWords(out, i)) {
    walked.push(i);
    view.read(out, i);
    assert.equal(packetRecordCapLen(out, i), 100 + walked.length - 1);
  }
  assert.deepEqual(walked, written);
});

test('a PDMv2 primary keeps its 32-bit PSNs and its version (draft-ietf-ippm-encrypted-pdmv2-14 §7)', () => {
  for (const [psn, psnlr] of [[0xffff_ffff, 0], [0, 0xffff_ffff], [0x8000_0000, 0x7fff_ffff], [0x1_0000, 0xffff], [5, 6]] as const) {
    const p = withPdm(ipv6Packet(1, 2), LAYER_OUTER, { psn, psnlr, dtlr: 0xffff, dtls: 1, sr: 255, ss: 0 });
    p.pdm[0]!.version = 2; p.pdm[0]!.epoch = 0xfff; p.pdm[0]!.globalPointer = 7;
    p.upperProto = 17; p.srcPort = 1; p.dstPort = 2; p.espSpi = 0x8000_0001;
    const { view, words } = roundTrip(p);
    assert.equal(words, PACKET_RECORD_MAX_WORDS, 'the longest record: an SPI, keyed, PDMv2');
    const h = view.hit!;
    assert.deepEqual([h.version, h.psnThisPkt, h.psnLastRecv, h.deltaLastRecv, h.deltaLastSent, h.scaleDtlr, h.scaleDtls],
      [2, psn, psnlr, 0xffff, 1, 255, 0]);
    sameKey(view, p);
  }
  // The view's reused hit goes back to version 1 for an RFC 8250 record.
  const out = new Int32Array(2 * PACKET_RECORD_MAX_WORDS);
  const key = new FlowKeyScratch();
  const v2 = withPdm(ipv6Packet(1, 2), LAYER_OUTER, { psn: 0xabcdef01, psnlr: 0x10203040, dtlr: 1, dtls: 2, sr: 3, ss: 4 });
  v2.pdm[0]!.version = 2;
  const v1 = withPdm(ipv6Packet(1, 2), LAYER_OUTER, { psn: 0xabcd, psnlr: 0x1020, dtlr: 1, dtls: 2, sr: 3, ss: 4 });
  const second = encodePacketRecord(v2, 100, 1, 1, key, out, 0);
  encodePacketRecord(v1, 100, 1, 1, key, out, second);
  const view = new PacketRecordView();
  view.read(out, 0);
  assert.deepEqual([view.hit!.version, view.hit!.psnThisPkt, view.hit!.psnLastRecv], [2, 0xabcdef01, 0x10203040]);
  view.read(out, second);
  assert.deepEqual([view.hit!.version, view.hit!.psnThisPkt, view.hit!.psnLastRecv], [1, 0xabcd, 0x1020]);
});
