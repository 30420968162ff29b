import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addr, pdmOption, rng, udpPdmFrame } from '../../test/support/build.js';
import { IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_UDP, emitFragmentHeader, emitOptionsHeader } from '../wire/ext-header.js';
import { emitIpv6 } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW } from '../wire/link.js';
import { PDMV2_OPTION_LENGTH, emitPdmV2 } from '../wire/pdm.js';
import { emitUdp } from '../wire/transport.js';
import { EspSaOpener } from '../crypto/esp.js';
import { parseEspSaText } from '../crypto/sa-file.js';
import { ANOMALY_NAMES } from './anomalies.js';
import { Decoder } from './decode.js';
import { DecodedPacket } from './packet.js';

const PDM = { scaleDtlr: 44, scaleDtls: 40, psnThisPkt: 25, psnLastRecv: 12, deltaLastRecv: 0xde0b, deltaLastSent: 45474 };
const decoder = new Decoder({ esp: null });

function decode(frame: Uint8Array, linkType = LINKTYPE_ETHERNET): DecodedPacket {
  const p = new DecodedPacket();
  decoder.decode(frame, frame.length, linkType, p);
  return p;
}

test('Ethernet / IPv6 / DOH(PDM) / UDP: fields, ports, position', () => {
  const p = decode(udpPdmFrame({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 40000, dstPort: 443, pdm: PDM }));
  assert.equal(p.anomaly, null);
  assert.equal(p.ipVersion, 6);
  assert.equal(p.upperProto, IPPROTO_UDP);
  assert.equal(p.srcPort, 40000);
  assert.equal(p.dstPort, 443);
  assert.equal(p.pdmCount, 1);
  const hit = p.primary!;
  assert.equal(hit.position, 'dstopts');
  assert.equal(hit.psnThisPkt, 25);
  assert.equal(hit.psnLastRecv, 12);
  assert.equal(hit.deltaLastRecv, 0xde0b);
  assert.equal(hit.scaleDtls, 40);
  assert.equal(p.primaryEspPlacement, 'none');
});

/** IPv6 with a chain of headers built by hand: [proto, bytes] pairs, then UDP. */
function chain(headers: [number, Uint8Array][], payload = 'x'): Uint8Array {
  const src = addr('2001:db8::a');
  const dst = addr('2001:db8::b');
  const udp = { srcPort: 1000, dstPort: 2000, payload: new TextEncoder().encode(payload) };
  const extLen = headers.reduce((n, [, b]) => n + b.length, 0);
  const buf = new Uint8Array(40 + extLen + 8 + udp.payload.length);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: buf.length - 40, nextHeader: headers[0]?.[0] ?? IPPROTO_UDP, hopLimit: 64, src, dst }, buf, 0);
  let off = 40;
  headers.forEach(([, bytes], i) => {
    buf.set(bytes, off);
    buf[off] = headers[i + 1]?.[0] ?? IPPROTO_UDP;
    off += bytes.length;
  });
  emitUdp(udp, src, dst, buf, off);
  return buf;
}

function optsHeader(options: Uint8Array): Uint8Array {
  const len = Math.ceil((2 + options.length) / 8) * 8;
  const b = new Uint8Array(len);
  emitOptionsHeader({ nextHeader: 0, options }, b, 0);
  return b;
}

function routingHeader(): Uint8Array {
  const b = new Uint8Array(8); // type 0-like stub with no addresses: Hdr Ext Len 0
  b[2] = 4; // segment routing type, segments left 0
  return b;
}

test('PDM in the Destination Options header before a Routing header is not the final one', () => {
  const first = pdmOption({ ...PDM, psnThisPkt: 111 });
  const final = pdmOption({ ...PDM, psnThisPkt: 222 });
  const p = decode(chain([[IPPROTO_DSTOPTS, optsHeader(first)], [IPPROTO_ROUTING, routingHeader()], [IPPROTO_DSTOPTS, optsHeader(final)]]), LINKTYPE_RAW);
  assert.equal(p.anomaly, null);
  assert.equal(p.pdmCount, 2);
  assert.equal(p.pdm[0]!.position, 'dstopts_before_routing');
  assert.equal(p.pdm[1]!.position, 'dstopts');
  assert.equal(p.primary!.psnThisPkt, 222);
  assert.equal(p.extCount, 3);
});

test('Pad1 has no length byte; PDM after it sits at an odd offset and is flagged', () => {
  const opts = new Uint8Array([0, ...pdmOption(PDM)]);
  const p = decode(chain([[IPPROTO_DSTOPTS, optsHeader(opts)]]), LINKTYPE_RAW);
  assert.equal(p.pdmCount, 1);
  assert.equal(p.pdm[0]!.offsetInHeader, 3);
  assert.equal(p.anomaly, 'pdm_misaligned');
  assert.equal(p.primary!.psnThisPkt, 25);
});

test('PDM in Hop-by-Hop is counted and never used for metrics', () => {
  const p = decode(chain([[IPPROTO_HOPOPTS, optsHeader(pdmOption(PDM))]]), LINKTYPE_RAW);
  assert.equal(p.anomaly, 'pdm_in_hop_by_hop');
  assert.equal(p.pdmCount, 1);
  assert.equal(p.primary, null);
});

test('PDMv2 draft lengths are pdm_bad_length, with the detail', () => {
  for (const len of [18, 22, 34, 8]) {
    const opt = new Uint8Array(2 + len);
    opt[0] = 0x0f;
    opt[1] = len;
    const p = decode(chain([[IPPROTO_DSTOPTS, optsHeader(opt)]]), LINKTYPE_RAW);
    assert.equal(p.anomaly, 'pdm_bad_length');
    assert.equal(p.pdmCount, 0);
    assert.match(p.anomalyDetail, new RegExp(`length ${len}`));
    if (len !== 8) assert.match(p.anomalyDetail, /PDMv2/);
  }
});

test('PDM only from offset-0 fragments', () => {
  const frag0 = new Uint8Array(8);
  emitFragmentHeader(0, 0, true, 7, frag0, 0);
  const p0 = decode(chain([[IPPROTO_FRAGMENT, frag0], [IPPROTO_DSTOPTS, optsHeader(pdmOption(PDM))]]), LINKTYPE_RAW);
  assert.equal(p0.anomaly, null);
  assert.equal(p0.primary!.psnThisPkt, 25);
  const frag1 = new Uint8Array(8);
  emitFragmentHeader(0, 100, false, 7, frag1, 0);
  const p1 = decode(chain([[IPPROTO_FRAGMENT, frag1], [IPPROTO_DSTOPTS, optsHeader(pdmOption(PDM))]]), LINKTYPE_RAW);
  assert.equal(p1.anomaly, 'non_first_fragment');
  assert.equal(p1.pdmCount, 0);
});

test('an option running past its header is option_overrun', () => {
  const opts = new Uint8Array([0x1e, 40]); // claims 40 data bytes in a 8-byte header
  const p = decode(chain([[IPPROTO_DSTOPTS, optsHeader(opts)]]), LINKTYPE_RAW);
  assert.equal(p.anomaly, 'option_overrun');
});

test('a header chain longer than the bound stops with ext_hdr_chain_too_long', () => {
  const headers: [number, Uint8Array][] = Array.from({ length: 20 }, () => [IPPROTO_DSTOPTS, optsHeader(new Uint8Array(0))]);
  const p = decode(chain(headers), LINKTYPE_RAW);
  assert.equal(p.anomaly, 'ext_hdr_chain_too_long');
});

test('other link types: raw 101, IPv6 229, BSD NULL, SLL2', () => {
  const eth = udpPdmFrame({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 1, dstPort: 2, pdm: PDM });
  const ip = eth.subarray(14);
  assert.equal(decode(ip, LINKTYPE_RAW).primary?.psnThisPkt, 25);
  assert.equal(decode(ip, LINKTYPE_IPV6).primary?.psnThisPkt, 25);
  const nullLe = new Uint8Array(4 + ip.length);
  nullLe.set([30, 0, 0, 0]); // AF_INET6 on Darwin, host (little-endian) order
  nullLe.set(ip, 4);
  assert.equal(decode(nullLe, LINKTYPE_NULL).primary?.psnThisPkt, 25);
  const sll2 = new Uint8Array(20 + ip.length);
  sll2.set([0x86, 0xdd]);
  sll2.set(ip, 20);
  assert.equal(decode(sll2, LINKTYPE_LINUX_SLL2).primary?.psnThisPkt, 25);
});

test('every snap-length cut of a full frame decodes without throwing and names its stop', () => {
  const frame = chain([[IPPROTO_HOPOPTS, optsHeader(new Uint8Array(4))], [IPPROTO_DSTOPTS, optsHeader(pdmOption(PDM))]]);
  const eth = new Uint8Array(14 + frame.length);
  eth.set([0x86, 0xdd], 12);
  eth.set(frame, 14);
  for (let len = 0; len < eth.length; len++) {
    const p = new DecodedPacket();
    decoder.decode(eth, len, LINKTYPE_ETHERNET, p, eth.length);
    if (len < 14 + 40) assert.ok(p.anomaly === 'truncated_link' || p.anomaly === 'truncated_ipv6', `len ${len}: ${p.anomaly}`);
    else if (len < eth.length - 1) assert.notEqual(p.anomaly, null, `len ${len} must name why it stopped`);
    else assert.equal(p.anomaly, null, 'a cut payload after complete headers is not an anomaly');
    if (p.pdmCount > 0) assert.equal(p.primary!.psnThisPkt, 25);
  }
});

test('200,000 seeded random and mutated inputs never throw and keep sane counters', () => {
  const rand = rng(8250);
  const base = udpPdmFrame({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 40000, dstPort: 443, pdm: PDM });
  const p = new DecodedPacket();
  const known = new Set<string>(ANOMALY_NAMES);
  const buf = new Uint8Array(256);
  let withPdm = 0;
  for (let i = 0; i < 200_000; i++) {
    let len: number;
    let wireLen: number;
    if (i % 2 === 0) {
      // mutation: a valid frame with a few bytes changed and a random cut
      buf.set(base);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) buf[14 + Math.floor(rand() * (base.length - 14))] = Math.floor(rand() * 256);
      len = Math.floor(rand() * (base.length + 1));
      wireLen = i % 4 === 0 ? base.length : len; // a snap-length cut, or a whole frame
    } else {
      len = Math.floor(rand() * buf.length);
      for (let k = 0; k < len; k++) buf[k] = Math.floor(rand() * 256);
      if (len > 14) { buf[12] = 0x86; buf[13] = 0xdd; buf[14] = (buf[14]! & 0x0f) | 0x60; }
      wireLen = len + (i % 3 === 0 ? Math.floor(rand() * 100) : 0);
    }
    const linkType = [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_NULL, LINKTYPE_LINUX_SLL2, 113, 108, 12][i % 7]!;
    decoder.decode(buf, len, linkType, p, wireLen);
    if (p.anomaly !== null) assert.ok(known.has(p.anomaly));
    if (p.anomaly === 'ipv6_payload_length_exceeds_frame') assert.equal(p.primary, null);
    assert.ok(p.pdmCount >= 0 && p.pdmCount <= p.pdm.length);
    assert.ok(p.extCount <= 16);
    if (p.primary !== null) withPdm++;
  }
  assert.ok(withPdm > 1000, `mutations should keep many PDM packets readable (${withPdm})`);
});

// Defect 8 of issue 16: a whole frame (caplen = len) shorter than its IPv6 Payload Length says is
// a broken packet (tshark: "IPv6 payload length exceeds framing length"), not a snap-length cut.
test('a whole frame shorter than its IPv6 Payload Length: ipv6_payload_length_exceeds_frame, flow key kept, no PDM', () => {
  const full = udpPdmFrame({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 40000, dstPort: 443, pdm: PDM, payload: new Uint8Array(32) });
  // Every length that holds the whole IPv6 header but not its payload: the same bytes, once as a
  // whole frame (malformed) and once as a snap-length cut of the full frame (decoded as it is).
  for (let len = 14 + 40; len < full.length; len++) {
    const p = new DecodedPacket();
    decoder.decode(full, len, LINKTYPE_ETHERNET, p, len);
    assert.equal(p.anomaly, 'ipv6_payload_length_exceeds_frame', `len ${len}`);
    assert.equal(p.ipVersion, 6);
    assert.equal(p.pdmCount, 0, `len ${len}: no PDM option is reported`);
    assert.equal(p.primary, null, `len ${len}: no PDM sample`);
    const cut = new DecodedPacket();
    decoder.decode(full, len, LINKTYPE_ETHERNET, cut, full.length);
    assert.notEqual(cut.anomaly, 'ipv6_payload_length_exceeds_frame', `len ${len} cut by the snap length`);
  }
  // Headers and UDP complete, payload short: the flow key (ports) stays, the PDM goes.
  const short = new DecodedPacket();
  decoder.decode(full, full.length - 1, LINKTYPE_ETHERNET, short, full.length - 1);
  assert.equal(short.anomaly, 'ipv6_payload_length_exceeds_frame');
  assert.equal(short.srcPort, 40000);
  assert.equal(short.dstPort, 443);
  assert.equal(short.primary, null);
  const snap = new DecodedPacket();
  decoder.decode(full, full.length - 1, LINKTYPE_ETHERNET, snap, full.length);
  assert.equal(snap.anomaly, null, 'a snap-length cut after complete headers is not an anomaly');
  assert.equal(snap.primary?.psnThisPkt, 25);
  // A Payload Length raised on an otherwise whole frame, by 1 and by the most it can claim.
  for (const extra of [1, 0xffff - (full.length - 54)]) {
    const lying = full.slice();
    new DataView(lying.buffer).setUint16(14 + 4, full.length - 54 + extra);
    const q = new DecodedPacket();
    decoder.decodeFrame(lying, lying.length, lying.length, 0, LINKTYPE_ETHERNET, 1, q);
    assert.equal(q.anomaly, 'ipv6_payload_length_exceeds_frame', `+${extra}`);
    assert.equal(q.primary, null);
    assert.match(q.anomalyDetail, new RegExp(`payload length ${full.length - 54 + extra}, ${full.length - 54} bytes`));
  }
  // Payload Length 0 (a jumbogram, or a TSO capture) reads to the end of the frame, as before.
  const zero = full.slice();
  new DataView(zero.buffer).setUint16(14 + 4, 0);
  assert.equal(decode(zero).anomaly, null);
  assert.equal(decode(zero).primary?.psnThisPkt, 25);
});

test('a frame longer than its IPv6 packet (Ethernet padding, FCS): the trailing bytes are not read', () => {
  const payload = new TextEncoder().encode('hi');
  const frame = udpPdmFrame({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 40000, dstPort: 443, pdm: PDM, payload });
  for (const trailer of [1, 4, 6, 40]) {
    const padded = new Uint8Array(frame.length + trailer).fill(0xee);
    padded.set(frame);
    const p = decode(padded);
    assert.equal(p.anomaly, null, `${trailer} trailing bytes`);
    assert.equal(p.primary?.psnThisPkt, 25);
    assert.equal(p.upperPayloadLength, payload.length, 'the UDP payload ends where the IPv6 packet ends');
  }
  // A TCP pure ACK padded to the 60-byte Ethernet minimum plus FCS stays a pure ACK (0 payload bytes).
  const ip = new Uint8Array(40 + 20);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 20, nextHeader: 6, hopLimit: 64, src: addr('2001:db8::1'), dst: addr('2001:db8::2') }, ip, 0);
  ip[40 + 12] = 0x50; // data offset 5 words
  ip[40 + 13] = 0x10; // ACK
  const eth = new Uint8Array(14 + ip.length + 4).fill(0xee);
  eth.set([0x86, 0xdd], 12);
  eth.set(ip, 14);
  const ack = decode(eth);
  assert.equal(ack.anomaly, null);
  assert.equal(ack.upperPayloadLength, 0);
});

test('tunnel mode: an inner IPv6 Payload Length beyond the opened ESP payload is ipv6_payload_length_exceeds_frame', () => {
  const opener = new EspSaOpener(parseEspSaText('"IPv6","2001:db8::1","2001:db8::2","0x00004000","NULL","","NULL",""', 'test'));
  const tunnel = new Decoder({ esp: opener });
  const inner = udpPdmFrame({ src: '2001:db8::a', dst: '2001:db8::b', srcPort: 1000, dstPort: 2000, pdm: PDM, ethernet: false });
  const build = (innerPayloadLength: number): Uint8Array => {
    const body = inner.slice();
    new DataView(body.buffer).setUint16(4, innerPayloadLength);
    const padLen = (4 - ((body.length + 2) % 4)) % 4; // RFC 4303 §2.4: payload + trailer a multiple of 4
    const esp = new Uint8Array(8 + body.length + padLen + 2);
    const dv = new DataView(esp.buffer);
    dv.setUint32(0, 0x4000);
    dv.setUint32(4, 1);
    esp.set(body, 8);
    for (let i = 0; i < padLen; i++) esp[8 + body.length + i] = i + 1;
    esp[esp.length - 2] = padLen;
    esp[esp.length - 1] = 41; // IPv6: tunnel mode
    const pkt = new Uint8Array(40 + esp.length);
    emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: esp.length, nextHeader: 50, hopLimit: 64, src: addr('2001:db8::1'), dst: addr('2001:db8::2') }, pkt, 0);
    pkt.set(esp, 40);
    return pkt;
  };
  const good = new DecodedPacket();
  const ok = build(inner.length - 40);
  tunnel.decode(ok, ok.length, LINKTYPE_RAW, good);
  assert.equal(good.anomaly, null, good.anomalyDetail);
  assert.equal(good.espTunnel, true);
  assert.equal(good.primary?.psnThisPkt, 25);
  const bad = build(inner.length - 40 + 8);
  const p = new DecodedPacket();
  tunnel.decode(bad, bad.length, LINKTYPE_RAW, p);
  assert.equal(p.anomaly, 'ipv6_payload_length_exceeds_frame');
  assert.match(p.anomalyDetail, /bytes in the esp payload \(inner header\)$/);
  assert.equal(p.espTunnel, true, 'the inner addresses still key the flow');
  assert.equal(p.primary, null);
  assert.equal(p.pdmCount, 0);
});

test('PDMv2 clear form (Version 2, length 22): decoded with 32-bit PSNs; length 22 with another version stays pdm_bad_length', () => {
  const v2 = { epoch: 0x123, psnThisPkt: 0xffff_ffff, psnLastRecv: 0x1_0000, globalPointer: 0xdead_beef, scaleDtlr: 44, scaleDtls: 40, deltaLastRecv: 0xde0b, deltaLastSent: 45474 };
  const opt = new Uint8Array(PDMV2_OPTION_LENGTH);
  emitPdmV2(v2, opt, 0);
  const p = decode(chain([[IPPROTO_DSTOPTS, optsHeader(opt)]]), LINKTYPE_RAW);
  assert.equal(p.anomaly, null);
  const hit = p.primary!;
  assert.deepEqual({ version: hit.version, epoch: hit.epoch, psnThisPkt: hit.psnThisPkt, psnLastRecv: hit.psnLastRecv, globalPointer: hit.globalPointer,
    scaleDtlr: hit.scaleDtlr, scaleDtls: hit.scaleDtls, deltaLastRecv: hit.deltaLastRecv, deltaLastSent: hit.deltaLastSent }, { version: 2, ...v2 });
  // The reused hit goes back to version 1 (epoch and pointer 0) for the next RFC 8250 packet.
  const v1 = new DecodedPacket();
  decoder.decode(chain([[IPPROTO_DSTOPTS, optsHeader(pdmOption(PDM))]]), 40 + 16 + 9, LINKTYPE_RAW, v1);
  const again = new DecodedPacket();
  decoder.decode(chain([[IPPROTO_DSTOPTS, optsHeader(opt)]]), 40 + 32 + 9, LINKTYPE_RAW, again);
  decoder.decode(chain([[IPPROTO_DSTOPTS, optsHeader(pdmOption(PDM))]]), 40 + 16 + 9, LINKTYPE_RAW, again);
  assert.deepEqual([again.primary!.version, again.primary!.epoch, again.primary!.globalPointer, again.primary!.psnThisPkt], [1, 0, 0, 25]);
  for (const version of [0, 1, 3, 15]) {
    const bad = opt.slice();
    bad[2] = (version << 4) | (bad[2]! & 0x0f);
    const q = decode(chain([[IPPROTO_DSTOPTS, optsHeader(bad)]]), LINKTYPE_RAW);
    assert.equal(q.anomaly, 'pdm_bad_length', `version ${version}`);
    assert.match(q.anomalyDetail, new RegExp(`length 22 \\(a PDMv2 draft length, version field ${version}\\)`));
    assert.equal(q.pdmCount, 0);
  }
  // Every cut of the v2 option inside its header (the header's own length kept) is an overrun.
  for (let keep = 2; keep < PDMV2_OPTION_LENGTH; keep++) {
    const hdr = new Uint8Array(8 + Math.ceil(keep / 8) * 8);
    hdr[1] = hdr.length / 8 - 1;
    hdr.set(opt.subarray(0, Math.min(keep, hdr.length - 2)), 2);
    const q = decode(chain([[IPPROTO_DSTOPTS, hdr]]), LINKTYPE_RAW);
    if (hdr.length - 2 < PDMV2_OPTION_LENGTH) assert.equal(q.anomaly, 'option_overrun', `keep ${keep}`);
    assert.ok(q.primary === null || q.primary.version === 2);
  }
});
