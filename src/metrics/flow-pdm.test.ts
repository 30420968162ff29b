import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PdmHit } from '../decode/packet.js';
import { encodePdmDeltaNs, pdmDeltaNs } from '../wire/pdm.js';
import { FlowPdm } from './flow-pdm.js';
import { DurationAccumulator } from './sketch.js';
import type { PsnEvent, Sample } from './types.js';

const S = 1_000_000_000n; // ns per second

function hit(psnThisPkt: number, psnLastRecv: number, dtlrNs: bigint, dtlsNs: bigint): PdmHit {
  const h = new PdmHit();
  const r = encodePdmDeltaNs(dtlrNs);
  const s = encodePdmDeltaNs(dtlsNs);
  Object.assign(h, { psnThisPkt, psnLastRecv, deltaLastRecv: r.delta, scaleDtlr: r.scale, deltaLastSent: s.delta, scaleDtls: s.scale });
  return h;
}

function quantumNs(ns: bigint): number {
  const e = encodePdmDeltaNs(ns);
  return 2 ** e.scale / 1e9;
}

test('RFC 8250 §4.1 walkthrough: total 7 s, server delay 2 s, RTD 5 s', () => {
  // A sends at 10:00:00 (its clock); B, one hour ahead, receives at 11:00:03 and answers at
  // 11:00:05; A receives at 10:00:07 and sends its next packet. Only differences on one clock.
  const samples: Sample[] = [];
  const flow = new FlowPdm(0, { onSample: (s) => samples.push(s) });
  flow.observe(hit(25, 0, 0n, 0n), true, 0, 1);         // A→B, first packet: no sample
  flow.observe(hit(12, 25, 2n * S, 0n), false, 5e6, 2);   // B→A, DeltaTLR = 2 s
  flow.observe(hit(26, 12, 1n * S, 7n * S), true, 7e6, 3); // A→B, DeltaTLS = 7 s
  const server = flow.accumulator('server_delay')!.stats();
  const total = flow.accumulator('total')!.stats();
  const rtd = flow.accumulator('rtd')!.stats();
  assert.equal(server.count, 1);
  assert.equal(total.count, 1);
  assert.equal(rtd.count, 1);
  assert.ok(Math.abs(server.min! - 2e9) < quantumNs(2n * S));
  assert.ok(Math.abs(total.min! - 7e9) < quantumNs(7n * S));
  assert.ok(Math.abs(rtd.min! - 5e9) < quantumNs(2n * S) + quantumNs(7n * S));
  // A's DeltaTLR (1 s think time) is the mirror metric, never mixed into server delay.
  assert.equal(flow.accumulator('reverse_server_delay')!.stats().count, 1);
  assert.deepEqual(samples.map((s) => s.metric), ['server_delay', 'reverse_server_delay', 'total', 'rtd']);
});

test('zero deltas on first packets are no sample, at any scale field', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hit(100, 0, 0n, 0n), true, 0, 1);
  const h = hit(7, 100, 0n, 0n);
  h.scaleDtlr = 30; // a scale with a zero delta is still zero
  flow.observe(h, false, 1, 2);
  assert.equal(flow.accumulator('server_delay'), null);
  assert.equal(flow.accumulator('total'), null);
});

test('stale repeats (same PSNLR) are not counted twice', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hit(100, 0, 0n, 0n), true, 0, 1);
  flow.observe(hit(7, 100, 3_000_000n, 0n), false, 1, 2);     // response: server delay 3 ms
  flow.observe(hit(8, 100, 9_000_000n, 0n), false, 2, 3);     // a second packet, same PSNLR
  flow.observe(hit(101, 8, 1_000n, 20_000_000n), true, 3, 4); // A answers the newest
  flow.observe(hit(102, 8, 2_000n, 20_000_000n), true, 4, 5); // pure repeat (e.g. after an ACK)
  assert.equal(flow.accumulator('server_delay')!.count, 1);
  assert.equal(flow.accumulator('total')!.count, 1);
  // The RTD uses the DeltaTLR of the packet PSNLR names (8: 9 ms), which answered 100 = 101 − 1.
  const rtd = flow.accumulator('rtd')!.stats();
  assert.equal(rtd.count, 1);
  assert.ok(Math.abs(rtd.min! - 11e6) < 1e3);
});

test('RTD only when the answer is to the sender\'s previous packet', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hit(100, 0, 0n, 0n), true, 0, 1);
  flow.observe(hit(101, 0, 0n, 0n), true, 1, 2);              // A sends twice
  flow.observe(hit(7, 100, 3_000_000n, 0n), false, 2, 3);     // B answers the older one
  flow.observe(hit(102, 7, 1_000n, 10_000_000n), true, 3, 4); // DeltaTLS runs from 101's send
  assert.equal(flow.accumulator('total')!.count, 1);
  assert.equal(flow.accumulator('rtd'), null);
});

test('PSN counters per direction, across the wrap, with restarts', () => {
  const flow = new FlowPdm(0, null);
  let b = 65533;
  let frame = 0;
  for (let a = 65530; a < 65530 + 12; a++) {
    const psnA = a & 0xffff;
    if (psnA === 0) continue; // lost before the capture point
    flow.observe(hit(psnA, b, 1000n, 2000n), true, frame, frame++);
    b = (b + 1) & 0xffff;
    flow.observe(hit(b, psnA, 1000n, 2000n), false, frame, frame++);
  }
  assert.deepEqual(flow.psnCounters(true), { lost: 1, reordered: 0, duplicates: 0, restarts: 0 });
  assert.deepEqual(flow.psnCounters(false), { lost: 0, reordered: 0, duplicates: 0, restarts: 0 });
  flow.observe(hit(5000, 0, 0n, 0n), true, frame, frame++); // A lost its state: new random PSN
  assert.equal(flow.psnCounters(true).restarts, 1);
  flow.observe(hit(5003, 0, 0n, 0n), true, frame, frame++); // still stateless: a gap, not a restart
  assert.equal(flow.psnCounters(true).restarts, 1);
  assert.equal(flow.psnCounters(true).lost, 3);
  flow.observe(hit(5004, 0, 0n, 0n), true, frame, frame++);
  assert.equal(flow.findingList().find((f) => f.code === 'psn_not_sequential')?.count, 2);
});

test('scales 0 to 60 and a 75 s delta decode within the quantum', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hit(1, 0, 0n, 0n), true, 0, 1);
  const h = hit(9, 1, 75n * S, 0n);
  flow.observe(h, false, 1, 2);
  const s = flow.accumulator('server_delay')!.stats();
  assert.ok(75e9 - s.max! >= 0 && 75e9 - s.max! < 2 ** h.scaleDtlr / 1e9);
  for (let scale = 0; scale <= 60; scale++) {
    const ns = pdmDeltaNs(0xffff, scale);
    assert.ok(ns > 0 && Number.isFinite(ns));
  }
});

test('PSNLR naming a PSN the peer never sent is a finding', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hit(100, 0, 0n, 0n), true, 0, 1);
  flow.observe(hit(7, 150, 1000n, 0n), false, 1, 2);
  assert.equal(flow.findingList()[0]?.code, 'psnlr_unknown');
});

test('PSNLR 0 is a genuine PSN once the sender has received something', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hit(500, 0, 0n, 0n), true, 0, 1);               // A: nothing received yet
  flow.observe(hit(0, 500, 2_000_000n, 0n), false, 1, 2);      // B starts at PSN 0
  flow.observe(hit(501, 0, 1_000n, 9_000_000n), true, 2, 3);   // A answers PSN 0: a fresh total
  assert.equal(flow.accumulator('total')!.count, 1);
  assert.equal(flow.accumulator('rtd')!.count, 1);
});

test('statistics from the per-flow bucket codes equal an accumulator fed with the reported samples, at every storage step', () => {
  // Exchanges A→B→A with server delays and totals over scales 0..60 and negative RTDs (a
  // server delay above the total), so every metric and both RTD signs go through the bucket
  // codes: up to 36 samples stay in the ring array, then 96, 192 and 384 in the codes array,
  // and 200 exchanges (over 1,000 samples) move the flow to one sketch per metric.
  let seed = 99;
  const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const ns = (): bigint => BigInt(Math.floor(next() * 2 ** Math.floor(next() * 60)));
  for (const exchanges of [3, 6, 10, 16, 30, 60, 200]) {
    const samples: Sample[] = [];
    const flow = new FlowPdm(0, { onSample: (s) => samples.push(s) });
    let frame = 0;
    let a = 1000, b = 40000;
    flow.observe(hit(a, 0, 0n, 0n), true, 0, ++frame);
    for (let i = 0; i < exchanges; i++) {
      flow.observe(hit(b, a, ns(), ns()), false, frame * 10, ++frame);
      a = (a + 1) & 0xffff;
      flow.observe(hit(a, b, ns(), ns()), true, frame * 10, ++frame);
      b = (b + 1) & 0xffff;
    }
    for (const metric of ['server_delay', 'total', 'rtd', 'reverse_server_delay', 'reverse_total', 'reverse_rtd'] as const) {
      const direct = new DurationAccumulator();
      for (const s of samples) if (s.metric === metric) direct.add(s.value_ns);
      const got = flow.accumulator(metric);
      if (direct.count === 0) { assert.equal(got, null, metric); continue; }
      assert.deepEqual(got!.stats(), direct.stats(), `${metric} after ${exchanges} exchanges`);
      assert.deepEqual(got!.sketchBytes(), direct.sketchBytes(), `${metric} after ${exchanges} exchanges`);
    }
    assert.ok(samples.some((s) => s.metric === 'rtd' && s.value_ns < 0), 'a negative RTD was exercised');
    assert.ok(samples.length > (exchanges === 200 ? 384 : 0));
  }
});

function rawHit(psnThisPkt: number, psnLastRecv: number, deltaLastRecv: number, scaleDtlr: number, deltaLastSent: number, scaleDtls: number): PdmHit {
  const h = new PdmHit();
  Object.assign(h, { psnThisPkt, psnLastRecv, deltaLastRecv, scaleDtlr, deltaLastSent, scaleDtls });
  return h;
}

test('server delays too far apart for the bucket-code window (1 as and 65535 × 2^255 as) give the same statistics', () => {
  for (const order of ['small first', 'huge first']) {
    const samples: Sample[] = [];
    const flow = new FlowPdm(0, { onSample: (s) => samples.push(s) });
    let a = 10, b = 20000, frame = 0;
    flow.observe(rawHit(a, 0, 0, 0, 0, 0), true, 0, ++frame);
    for (let i = 0; i < 40; i++) {
      const huge = (i % 2 === 0) === (order === 'huge first');
      flow.observe(rawHit(b, a, huge ? 0xffff : 1, huge ? 255 : 0, 0, 0), false, frame, ++frame);
      a = (a + 1) & 0xffff;
      flow.observe(rawHit(a, b, 0, 0, 0, 0), true, frame, ++frame);
      b = (b + 1) & 0xffff;
    }
    const direct = new DurationAccumulator();
    for (const s of samples) if (s.metric === 'server_delay') direct.add(s.value_ns);
    assert.equal(direct.count, 40);
    const got = flow.accumulator('server_delay')!;
    assert.deepEqual(got.stats(), direct.stats(), order);
    assert.deepEqual(got.sketchBytes(), direct.sketchBytes(), order);
  }
});

test('total below the capture round trip: the same findings whatever the capture times look like', () => {
  // Per exchange: B answers A's packet `gapUs` later (server delay 1 ms), A sends again 1 µs
  // later with a total of 10 ms. The capture point saw A's packet and the answer `gapUs` apart,
  // so a total of 10 ms is too small exactly when gapUs·1000 > 10 ms + the tolerance.
  const gapsUs = [50_000, 5_000, 80_000, 100, 20_000, 7_000, 200_000, 3, 40_000];
  const totalNs = 10_000_000n;
  const fires = gapsUs.map((g) => g * 1000 > 10_000_000 + 2_000 + quantumNs(totalNs) + g * 1e-3);
  // Capture time of A's packet of exchange i (µs from the first packet); B's answer is 1 µs before.
  const aTimeUs = (i: number): number => gapsUs.slice(0, i + 1).reduce((x, g) => x + g + 1, 0);
  // Jumps fall between an answer and A's next packet, an interval no check uses.
  const forms: [string, (t: number) => number][] = [
    ['from zero', (t) => t],
    ['epoch µs', (t) => 1.7e15 + t],
    ['fractional µs', (t) => 1.7e15 + 0.25 + t],
    ['a jump past 2^44 µs', (t) => 1.7e15 + t + (t >= aTimeUs(3) ? 2 ** 45 : 0)],
    ['going back 2^46 µs', (t) => 1.7e15 + t - (t >= aTimeUs(5) ? 2 ** 46 : 0)],
  ];
  let firstValues: number[] | null = null;
  for (const [name, at] of forms) {
    const samples: Sample[] = [];
    const flow = new FlowPdm(0, { onSample: (x) => samples.push(x) });
    let a = 300, b = 9000, frame = 0, t = 0;
    flow.observe(hit(a, 0, 0n, 0n), true, at(t), ++frame);
    for (const gapUs of gapsUs) {
      t += gapUs;
      flow.observe(hit(b, a, 1_000_000n, 0n), false, at(t), ++frame);
      t += 1;
      a = (a + 1) & 0xffff;
      flow.observe(hit(a, b, 1_000n, totalNs), true, at(t), ++frame);
      b = (b + 1) & 0xffff;
    }
    assert.equal(flow.accumulator('total')!.count, gapsUs.length, name);
    assert.equal(flow.accumulator('rtd')!.count, gapsUs.length, name);
    // RTD = 10 ms − the server delay stored in B's ring slot next to its time.
    const rtd = flow.accumulator('rtd')!.stats();
    assert.ok(Math.abs(rtd.min! - 9e6) < 1e3 && Math.abs(rtd.max! - 9e6) < 1e3, name);
    const values = samples.map((x) => x.value_ns);
    firstValues ??= values;
    assert.deepEqual(values, firstValues, name);
    const below = flow.findingList().find((f) => f.code === 'total_below_capture_rtt');
    assert.equal(below?.count, fires.filter(Boolean).length, name);
    assert.equal(below?.first_frame, 3 + 2 * fires.indexOf(true), name); // A's packet of the first such exchange
  }
});

test('a PSN gap reports the number of packets lost in its event, across the wrap', () => {
  const events: PsnEvent[] = [];
  const flow = new FlowPdm(3, { onPsnEvent: (e) => events.push(e) });
  let frame = 0;
  for (const psn of [65533, 65534, 2, 3, 10]) flow.observe(hit(psn, 0, 0n, 0n), true, frame, ++frame);
  assert.deepEqual(events.map((e) => [e.kind, e.count, e.psn]), [['lost', 3, 2], ['lost', 6, 10]]);
  assert.equal(flow.psnCounters(true).lost, 9);
});

// PDMv2 (draft-ietf-ippm-encrypted-pdmv2-14 §7): the same metrics from 32-bit PSNs.

function hitV2(psnThisPkt: number, psnLastRecv: number, dtlrNs: bigint, dtlsNs: bigint): PdmHit {
  const h = hit(psnThisPkt, psnLastRecv, dtlrNs, dtlsNs);
  h.version = 2;
  return h;
}

const TOP32 = 0x1_0000_0000;

test('PDMv2: the RFC 8250 §4.1 walkthrough with 32-bit PSNs across the 2^32 wrap', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hitV2(TOP32 - 1, 0, 0n, 0n), true, 0, 1);
  flow.observe(hitV2(0x1_2345, TOP32 - 1, 2n * S, 0n), false, 5e6, 2);
  flow.observe(hitV2(0, 0x1_2345, 1n * S, 7n * S), true, 7e6, 3); // PSNTP wrapped to 0
  flow.observe(hitV2(0x1_2346, 0, 3n * S, 0n), false, 9e6, 4);
  flow.observe(hitV2(1, 0x1_2346, 1n * S, 6n * S), true, 10e6, 5);
  assert.equal(flow.accumulator('server_delay')!.count, 2);
  assert.equal(flow.accumulator('total')!.count, 2);
  const rtd = flow.accumulator('rtd')!.stats();
  assert.equal(rtd.count, 2);
  assert.ok(Math.abs(rtd.min! - 3e9) < quantumNs(3n * S) + quantumNs(6n * S));
  assert.ok(Math.abs(rtd.max! - 5e9) < quantumNs(2n * S) + quantumNs(7n * S));
  assert.deepEqual(flow.psnCounters(true), { lost: 0, reordered: 0, duplicates: 0, restarts: 0 });
  assert.deepEqual(flow.psnCounters(false), { lost: 0, reordered: 0, duplicates: 0, restarts: 0 });
  assert.deepEqual(flow.findingList(), []);
});

test('PDMv2: PSNs equal in their low 16 bits are different PSNs (no RTD, psnlr_unknown)', () => {
  const flow = new FlowPdm(0, null);
  flow.observe(hitV2(0x5_0007, 0, 0n, 0n), true, 0, 1);
  // B names 0x6_0007: same low 16 bits as A's PSN, never sent.
  flow.observe(hitV2(0x10, 0x6_0007, 2n * S, 0n), false, 1, 2);
  assert.equal(flow.findingList()[0]?.code, 'psnlr_unknown');
  flow.observe(hitV2(0x5_0008, 0x10, 1n * S, 7n * S), true, 2, 3);
  assert.equal(flow.accumulator('total')!.count, 1);
  assert.equal(flow.accumulator('rtd'), null, 'the answer was not to 0x5_0007');
  // A gap of 2^16 + 1 in 32-bit PSNs is a restart, not one lost packet.
  flow.observe(hitV2(0x6_0009, 0x10, 0n, 0n), true, 3, 4);
  assert.equal(flow.psnCounters(true).restarts, 1);
  assert.equal(flow.psnCounters(true).lost, 0);
});

test('PDMv2 and RFC 8250 in one flow: a sender changing version starts a new session (a restart)', () => {
  const events: PsnEvent[] = [];
  const flow = new FlowPdm(0, { onPsnEvent: (e) => events.push(e) });
  flow.observe(hit(100, 0, 0n, 0n), true, 0, 1);
  flow.observe(hit(7, 100, 3_000_000n, 0n), false, 1, 2);
  flow.observe(hit(101, 7, 1_000n, 10_000_000n), true, 2, 3);
  flow.observe(hitV2(0x9_0000, 7, 1_000n, 10_000_000n), true, 3, 4); // A switches to PDMv2
  assert.deepEqual(flow.psnCounters(true), { lost: 0, reordered: 0, duplicates: 0, restarts: 1 });
  assert.deepEqual(events.map((e) => [e.kind, e.psn, e.direction]), [['restart', 0x9_0000, 'initiator_to_responder']]);
  // B, still RFC 8250, answers the PDMv2 packet: its PSNLR holds a 32-bit PSN exactly.
  flow.observe(hit(8, 0x9_0000, 4_000_000n, 0n), false, 4, 5);
  flow.observe(hitV2(0x9_0001, 8, 1_000n, 12_000_000n), true, 5, 6);
  assert.equal(flow.accumulator('server_delay')!.count, 2);
  assert.equal(flow.accumulator('rtd')!.count, 2, 'RTD from a PDMv2 total and an RFC 8250 server delay');
  assert.ok(Math.abs(flow.accumulator('rtd')!.stats().max! - 8e6) < 1e4);
  assert.deepEqual(flow.psnCounters(false), { lost: 0, reordered: 0, duplicates: 0, restarts: 0 });
  // Back to RFC 8250: another restart; 16-bit arithmetic again (65535 → 0 in order).
  flow.observe(hit(65535, 8, 0n, 0n), true, 6, 7);
  flow.observe(hit(0, 8, 0n, 0n), true, 7, 8);
  assert.deepEqual(flow.psnCounters(true), { lost: 0, reordered: 0, duplicates: 0, restarts: 2 });
});

test('PDMv2 gives exactly the samples, events and counters of RFC 8250 for the same exchange (seeded random, 16- vs 32-bit PSNs)', () => {
  const rand = (() => { let a = 0x5eed; return () => { a = (a + 0x6d2b79f5) >>> 0; let t = Math.imul(a ^ (a >>> 15), a | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; })();
  for (let run = 0; run < 40; run++) {
    // One conversation in PSN index space; v1 maps an index to (base16 + i) mod 2^16, v2 to
    // (base32 + i) mod 2^32 with base32 just below the 32-bit wrap.
    type P = { a: boolean; psn: number; psnlr: number; dtlr: bigint; dtls: bigint; t: number };
    const packets: P[] = [];
    let ia = 0, ib = 0, lastFromB = -1, lastFromA = -1, t = 0;
    for (let k = 0; k < 300; k++) {
      const fromA = k % 2 === 0 || rand() < 0.1;
      if (fromA) {
        if (rand() < 0.02) ia += 2000; // a new random start (restart)
        packets.push({ a: true, psn: ia, psnlr: lastFromB, dtlr: BigInt(Math.floor(rand() * 1e6)), dtls: BigInt(Math.floor(rand() * 5e7)), t: t++ });
        lastFromA = ia++;
      } else {
        packets.push({ a: false, psn: ib, psnlr: lastFromA, dtlr: BigInt(Math.floor(rand() * 4e7)), dtls: BigInt(Math.floor(rand() * 1e6)), t: t++ });
        lastFromB = ib++;
      }
      const last = packets[packets.length - 1]!;
      if (rand() < 0.05) packets.push({ ...last }); // a network duplicate
    }
    // Loss and local reordering before the capture point.
    const seen = packets.filter(() => rand() > 0.05);
    for (let k = 0; k + 1 < seen.length; k++) if (rand() < 0.03) [seen[k], seen[k + 1]] = [seen[k + 1]!, seen[k]!];
    const base16 = Math.floor(rand() * 0x10000);
    const base32 = TOP32 - 1 - Math.floor(rand() * 200);
    const outputs = [16, 32].map((bits) => {
      const map = (i: number): number => (i < 0 ? 0 : bits === 16 ? (base16 + i) % 0x10000 : (base32 + i) % TOP32);
      const samples: string[] = [];
      const events: string[] = [];
      const flow = new FlowPdm(0, {
        onSample: (s) => samples.push(`${s.metric} ${s.value_ns} ${s.frame}`),
        onPsnEvent: (e) => events.push(`${e.kind} ${e.count} ${e.frame} ${e.direction}`),
      });
      seen.forEach((p, frame) => {
        const h = (bits === 16 ? hit : hitV2)(map(p.psn), map(p.psnlr), p.psnlr < 0 ? 0n : p.dtlr, p.psnlr < 0 ? 0n : p.dtls);
        flow.observe(h, p.a, p.t * 1000, frame + 1);
      });
      return { samples, events, a: flow.psnCounters(true), b: flow.psnCounters(false), findings: flow.findingList() };
    });
    assert.ok(outputs[0]!.samples.length > 100, `run ${run}: ${outputs[0]!.samples.length} samples`);
    assert.deepEqual(outputs[1], outputs[0], `run ${run}`);
  }
});
