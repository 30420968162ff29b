import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { parseIpv6Address } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET } from '../wire/link.js';
import { type PdmRepr, encodePdmDeltaNs, pdmDeltaNs } from '../wire/pdm.js';
import { buildPdmUdpFrame } from './frame-builder.js';
import { PdmEndpoint, encodeDeltaNsFast } from './pdm-endpoint.js';

const S = 1_000_000_000n;
const H = 3600n * S;
/** 10:00:00 on a clock, in ns since that clock's midnight. */
const at = (h: number, m: number, s: number): bigint => BigInt(h) * H + BigInt(m) * 60n * S + BigInt(s) * S;

const A = parseIpv6Address('2001:db8::a')!;
const B = parseIpv6Address('2001:db8::b')!;

/** Emits the PDM in a real frame and decodes it back with the project's decoder. */
function onTheWire(pdm: PdmRepr, src: Uint8Array, dst: Uint8Array): PdmRepr {
  const { frame } = buildPdmUdpFrame({
    link: { kind: 'ethernet', srcMac: new Uint8Array(6), dstMac: new Uint8Array(6) },
    src, dst, srcPort: 40000, dstPort: 7777, payload: new Uint8Array(8), pdm,
  });
  const out = new DecodedPacket();
  new Decoder({ esp: null }).decode(frame, frame.length, LINKTYPE_ETHERNET, out);
  assert.equal(out.primaryPdm, 0, 'the decoder finds the PDM option');
  const h = out.pdm[0]!;
  return {
    scaleDtlr: h.scaleDtlr, scaleDtls: h.scaleDtls, psnThisPkt: h.psnThisPkt, psnLastRecv: h.psnLastRecv,
    deltaLastRecv: h.deltaLastRecv, deltaLastSent: h.deltaLastSent,
  };
}

const close = (actualNs: number, expectedNs: number, what: string): void => {
  // Truncating 16-bit encoding: relative error below 2^-15 (docs/protocol.md §3).
  assert.ok(actualNs <= expectedNs && actualNs >= expectedNs * (1 - 2 ** -15), `${what}: ${actualNs} vs ${expectedNs}`);
};

test('RFC 8250 §4.1 walkthrough: server delay 2 s, total 7 s, RTD 5 s, with the server clock an hour ahead', () => {
  const client = new PdmEndpoint({ initialPsn: 25 });
  const server = new PdmEndpoint({ initialPsn: 12 });

  // Client sends packet 1 at 10:00:00 (client clock).
  const p1 = onTheWire(client.nextPdm(at(10, 0, 0)), A, B);
  assert.deepEqual(p1, { scaleDtlr: 0, scaleDtls: 0, psnThisPkt: 25, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0 });

  // Server receives it at 11:00:03 and replies at 11:00:05 (server clock).
  server.onReceive(p1.psnThisPkt, at(11, 0, 3));
  const p2 = onTheWire(server.nextPdm(at(11, 0, 5)), B, A);
  assert.equal(p2.psnThisPkt, 12);
  assert.equal(p2.psnLastRecv, 25);
  close(pdmDeltaNs(p2.deltaLastRecv, p2.scaleDtlr), 2e9, 'server delay (DeltaTLR)');
  assert.equal(p2.deltaLastSent, 0, 'the server had sent nothing before: no DeltaTLS sample');

  // Client receives the reply at 10:00:07 and sends its next packet at 10:00:08.
  client.onReceive(p2.psnThisPkt, at(10, 0, 7));
  const p3 = onTheWire(client.nextPdm(at(10, 0, 8)), A, B);
  assert.equal(p3.psnThisPkt, 26);
  assert.equal(p3.psnLastRecv, 12);
  const totalNs = pdmDeltaNs(p3.deltaLastSent, p3.scaleDtls);
  close(totalNs, 7e9, 'total (DeltaTLS)');
  close(pdmDeltaNs(p3.deltaLastRecv, p3.scaleDtlr), 1e9, 'client think time (DeltaTLR)');
  const rtdNs = totalNs - pdmDeltaNs(p2.deltaLastRecv, p2.scaleDtlr);
  assert.ok(Math.abs(rtdNs - 5e9) < 5e9 * 2 ** -14, `RTD ${rtdNs}`);
});

test('only the first packet after a receive carries a sample; later ones repeat PSNLR with zero deltas', () => {
  const e = new PdmEndpoint({ initialPsn: 100 });
  e.nextPdm(1_000n);
  e.onReceive(7, 5_000n);
  const fresh = e.nextPdm(6_000n);
  assert.equal(fresh.psnLastRecv, 7);
  assert.ok(fresh.deltaLastRecv > 0 && fresh.deltaLastSent > 0);
  close(pdmDeltaNs(fresh.deltaLastRecv, fresh.scaleDtlr), 1_000, 'DeltaTLR');
  close(pdmDeltaNs(fresh.deltaLastSent, fresh.scaleDtls), 4_000, 'DeltaTLS');
  const stale = e.nextPdm(9_000n);
  assert.deepEqual(stale, { scaleDtlr: 0, scaleDtls: 0, psnThisPkt: 102, psnLastRecv: 7, deltaLastRecv: 0, deltaLastSent: 0 });
});

test('two receives between sends: DeltaTLR from the last, DeltaTLS from the send before it', () => {
  const e = new PdmEndpoint({ initialPsn: 1 });
  e.nextPdm(0n);
  e.onReceive(50, 10_000n);
  e.onReceive(51, 30_000n);
  const p = e.nextPdm(31_000n);
  assert.equal(p.psnLastRecv, 51);
  close(pdmDeltaNs(p.deltaLastRecv, p.scaleDtlr), 1_000, 'DeltaTLR');
  close(pdmDeltaNs(p.deltaLastSent, p.scaleDtls), 30_000, 'DeltaTLS');
});

test('PSN wraps modulo 2^16; the initial PSN is random and in range', () => {
  const e = new PdmEndpoint({ initialPsn: 0xfffe });
  assert.deepEqual([0, 1, 2].map((i) => e.nextPdm(BigInt(i)).psnThisPkt), [0xfffe, 0xffff, 0]);
  const starts = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const p = new PdmEndpoint().nextPsn;
    assert.ok(Number.isInteger(p) && p >= 0 && p <= 0xffff);
    starts.add(p);
  }
  assert.ok(starts.size > 50, 'initial PSNs differ between endpoints');
});

test('a clock misread never produces a negative or wrapped delta: it encodes as no sample', () => {
  const e = new PdmEndpoint({ initialPsn: 1 });
  e.nextPdm(10_000n);
  e.onReceive(9, 5_000n); // receive stamped before the send: broken ordering
  const p = e.nextPdm(4_000n); // and a send stamped before the receive
  assert.equal(p.deltaLastRecv, 0);
  assert.equal(p.scaleDtlr, 0);
  assert.equal(p.deltaLastSent, 0);
});

test('refineSentTime moves the reference of the next DeltaTLS, and only for the last packet sent', () => {
  const e = new PdmEndpoint({ initialPsn: 10 });
  e.nextPdm(1_000n);
  e.refineSentTime(9, 1_500n); // not the last packet: ignored
  e.refineSentTime(10, 1_040n); // its wire time
  e.onReceive(3, 9_040n);
  const p = e.nextPdm(10_000n);
  close(pdmDeltaNs(p.deltaLastSent, p.scaleDtls), 8_000, 'DeltaTLS from the wire time');
  // Refining after the receive (capture delivered late) still applies to the pending sample.
  const f = new PdmEndpoint({ initialPsn: 1 });
  f.nextPdm(0n);
  f.onReceive(5, 10_000n);
  f.refineSentTime(1, 2_000n);
  const q = f.nextPdm(11_000n);
  close(pdmDeltaNs(q.deltaLastSent, q.scaleDtls), 8_000, 'DeltaTLS after a late refinement');
});

test('the fast delta encoder matches encodePdmDeltaNs bit for bit', () => {
  const values: bigint[] = [0n, -5n, 1n, 2n, 3n, 65n, 66n, 1000n, 999_999n, 1_000_000n, 5_000_000n, 1_000_000_000n, 3_600_000_000_000n];
  for (let bit = 0n; bit < 80n; bit++) values.push(1n << bit, (1n << bit) - 1n, (1n << bit) + 1n);
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 20_000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    values.push(x >> BigInt(i % 64));
  }
  for (const v of values) assert.deepEqual(encodeDeltaNsFast(v), encodePdmDeltaNs(v), `ns ${v}`);
});
