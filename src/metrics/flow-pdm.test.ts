import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PdmHit } from '../decode/packet.js';
import { encodePdmDeltaNs, pdmDeltaNs } from '../wire/pdm.js';
import { FlowPdm } from './flow-pdm.js';
import { DurationAccumulator } from './sketch.js';
import type { Sample } from './types.js';

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

test('statistics from the per-flow sample log equal an accumulator fed with the reported samples, below and above the log limit', () => {
  // Exchanges A→B→A with server delays and totals over scales 0..60 and negative RTDs (a
  // server delay above the total), so every metric and both RTD signs go through the log's
  // integer encoding; 10 exchanges stay in the log, 200 overflow it (128 samples).
  let seed = 99;
  const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const ns = (): bigint => BigInt(Math.floor(next() * 2 ** Math.floor(next() * 60)));
  for (const exchanges of [10, 200]) {
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
    assert.ok(samples.length > (exchanges === 200 ? 128 : 0));
  }
});
