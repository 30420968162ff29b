// Timed sends (PDM encoded for the instant of sending), the capture clock's estimate, the
// real-time option, the garbage collection pacer and the in-memory warm-up.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { parseIpv6Address } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET } from '../wire/link.js';
import { pdmDeltaNs } from '../wire/pdm.js';
import { CaptureClock } from './capture-clock.js';
import { buildPdmUdpFrame } from './frame-builder.js';
import { DEFAULT_RT_PRIORITY, GC_QUIET_NS, GcPacer, parseRealtimeOption, schedPolicy } from './latency.js';
import { MONOTONIC_CLOCK, type MonotonicClock, PdmEndpoint } from './pdm-endpoint.js';
import type { PacketSink } from './sink.js';
import { MAX_OVERSHOOT_NS, PREP_NS, sendPdmAt, spinUntil } from './timed-send.js';
import { warmUpExchange } from './warm-up.js';

const PLACEHOLDER = { scaleDtlr: 0, scaleDtls: 0, psnThisPkt: 0, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0 };

function frame(): { frame: Uint8Array; pdmOffset: number } {
  return buildPdmUdpFrame({
    link: { kind: 'ethernet', srcMac: new Uint8Array(6), dstMac: new Uint8Array(6) },
    src: parseIpv6Address('2001:db8::a')!, dst: parseIpv6Address('2001:db8::b')!,
    srcPort: 40000, dstPort: 7777, payload: new Uint8Array(16), pdm: PLACEHOLDER,
  });
}

/** The PDM option of a frame as the project's decoder reads it. */
function decodedPdm(f: Uint8Array): { psn: number; dtlrNs: number } {
  const p = new DecodedPacket();
  new Decoder({ esp: null }).decode(f, f.length, LINKTYPE_ETHERNET, p);
  const h = p.pdm[p.primaryPdm]!;
  return { psn: h.psnThisPkt, dtlrNs: pdmDeltaNs(h.deltaLastRecv, h.scaleDtlr) };
}

/** A clock that advances `stepNs` per read, plus one jump of `jumpNs` at read number `jumpAt`. */
function steppingClock(startNs: bigint, stepNs: bigint, jumpAt = -1, jumpNs = 0n): MonotonicClock & { reads: number } {
  let now = startNs;
  const c = {
    reads: 0,
    nowNs(): bigint {
      c.reads++;
      now += stepNs + (c.reads === jumpAt ? jumpNs : 0n);
      return now;
    },
  };
  return c;
}

function recordingSink(clock: MonotonicClock): PacketSink & { sent: { at: bigint; bytes: Uint8Array }[] } {
  const sent: { at: bigint; bytes: Uint8Array }[] = [];
  return { linkType: 'ETHERNET', sent, send(f: Uint8Array): void { sent.push({ at: clock.nowNs(), bytes: f.slice() }); }, close(): void {} };
}

test('sendPdmAt: the option is encoded for the target, and the frame leaves once the clock reaches it', () => {
  const clock = steppingClock(1_000_000_000n, 100n);
  const sink = recordingSink(clock);
  const e = new PdmEndpoint({ initialPsn: 7 });
  e.onReceive(3, 1_000_000_000n);
  const f = frame();
  const at = 1_005_000_000n; // receive + 5 ms
  const sent = sendPdmAt(clock, e, sink, f.frame, f.pdmOffset, at);
  assert.equal(sent.txNs, at);
  assert.equal(sent.retargets, 0);
  assert.ok(sent.startedNs >= at && sent.startedNs - at <= MAX_OVERSHOOT_NS);
  assert.equal(sink.sent.length, 1);
  assert.ok(sink.sent[0]!.at >= at, 'not sent before the target');
  const wire = decodedPdm(sink.sent[0]!.bytes);
  assert.equal(wire.psn, 7);
  // 5 ms exactly, but for the truncating 16-bit encoding (docs/protocol.md §3).
  assert.ok(wire.dtlrNs <= 5e6 && wire.dtlrNs >= 5e6 * (1 - 2 ** -15), `DeltaTLR ${wire.dtlrNs}`);
  assert.equal(e.nextPsn, 8, 'the PSN advanced once the frame was sent');
});

test('sendPdmAt: held up past the target, it encodes again for a later instant instead of sending a stale time', () => {
  // The 30th read jumps 40 µs: the process "did not run" near the end of the wait.
  const clock = steppingClock(0n, 1_000n, 30, 40_000n);
  const sink = recordingSink(clock);
  const e = new PdmEndpoint({ initialPsn: 0 });
  e.onReceive(1, 0n);
  const f = frame();
  const sent = sendPdmAt(clock, e, sink, f.frame, f.pdmOffset, 30_000n);
  assert.equal(sent.retargets, 1);
  assert.ok(sent.txNs > 30_000n + 40_000n, `new target ${sent.txNs} after the stall`);
  assert.ok(sent.startedNs - sent.txNs <= MAX_OVERSHOOT_NS);
  const wire = decodedPdm(sink.sent[0]!.bytes);
  assert.ok(Math.abs(wire.dtlrNs - Number(sent.txNs)) <= Number(sent.txNs) * 2 ** -15, 'DeltaTLR encodes the new target');
  assert.equal(e.packetsSent, 1);
});

test('sendPdmAt: a target already past is moved PREP_NS ahead; a sink error leaves the endpoint as it was', () => {
  const clock = steppingClock(10_000_000n, 1_000n);
  const e = new PdmEndpoint({ initialPsn: 100 });
  e.onReceive(1, 1_000_000n);
  const f = frame();
  const failing: PacketSink = { linkType: 'ETHERNET', send(): void { throw new Error('interface down'); }, close(): void {} };
  assert.throws(() => sendPdmAt(clock, e, failing, f.frame, f.pdmOffset, 0n), /interface down/);
  assert.equal(e.nextPsn, 100, 'no PSN consumed by a frame that never left');
  assert.equal(e.packetsSent, 0);
  const sink = recordingSink(clock);
  const before = clock.nowNs();
  const sent = sendPdmAt(clock, e, sink, f.frame, f.pdmOffset, 0n);
  assert.ok(sent.txNs > before && sent.txNs - before <= PREP_NS + 5_000n);
  assert.equal(decodedPdm(sink.sent[0]!.bytes).psn, 100);
});

test('spinUntil: the real clock busy-waits to the instant (allocation-free poll, then hrtime)', () => {
  for (const aheadNs of [0n, 5_000n, 50_000n, 300_000n]) {
    const at = MONOTONIC_CLOCK.nowNs() + aheadNs;
    const now = spinUntil(MONOTONIC_CLOCK, at);
    assert.ok(now >= at, `returned ${now - at} ns early`);
  }
});

test('CaptureClock: the fastest of the last sends sets the offset; calibration frames count until three real sends', () => {
  const c = new CaptureClock();
  const OFFSET_US = 1_700_000_000_000_000; // CLOCK_REALTIME − CLOCK_MONOTONIC, µs
  const capUs = (monoNs: bigint, latencyUs: number): number => Number(monoNs / 1000n) + OFFSET_US + latencyUs;
  assert.equal(c.calibrated, false);
  assert.equal(c.receiveTimeNs(123, 999n), 999n, 'before calibration: the delivery time');
  // Calibration frames, fast (latency 2 µs).
  for (let i = 0; i < 4; i++) {
    c.noteSent(`cal|${i}`, BigInt(i) * 1_000_000n);
    assert.ok(c.noteCaptured(`cal|${i}`, capUs(BigInt(i) * 1_000_000n, 2)) !== null);
  }
  assert.equal(c.offset, BigInt(OFFSET_US + 2) * 1000n);
  // Real sends, latency 12, 10, 15, 15 µs: after the third, only they count (minimum 10 µs).
  // Each send's lag is measured against the estimate in force before its capture (the one its
  // DeltaTLR was encoded with): 13 µs for the third (calibration's 2 µs), then 5 µs.
  const lags = [12, 10, 15, 15].map((l, i) => {
    const tx = 10_000_000n + BigInt(i) * 1_000_000n;
    c.noteSent(`r${i}`, tx);
    const seen = c.noteCaptured(`r${i}`, capUs(tx, l))!;
    assert.equal(seen.wireNs, tx + BigInt(l) * 1000n - (c.offset! - BigInt(OFFSET_US) * 1000n), 'the capture mapped with the updated estimate');
    return seen.lagNs;
  });
  assert.deepEqual(lags, [10_000n, 8_000n, 13_000n, 5_000n]);
  assert.equal(c.offset, BigInt(OFFSET_US + 10) * 1000n);
  assert.equal(c.noteCaptured('unknown', 1), null);
  // A capture maps to monotonic time as capture − offset, never after its delivery.
  assert.equal(c.receiveTimeNs(capUs(50_000_000n, 10), 60_000_000n), 50_000_000n);
  assert.equal(c.receiveTimeNs(capUs(50_000_000n, 10), 40_000_000n), 40_000_000n);
  assert.equal(c.matched, 8);
});

test('parseRealtimeOption: default on, bare flag, priority, --no-realtime, and bad values', () => {
  assert.deepEqual(parseRealtimeOption(undefined), { priority: DEFAULT_RT_PRIORITY, explicit: false });
  assert.deepEqual(parseRealtimeOption(''), { priority: DEFAULT_RT_PRIORITY, explicit: true });
  assert.deepEqual(parseRealtimeOption('70'), { priority: 70, explicit: true });
  assert.equal(parseRealtimeOption(false), null);
  assert.equal(parseRealtimeOption('off'), null);
  for (const bad of ['0', '100', '4.5', 'fast', '-3']) assert.throws(() => parseRealtimeOption(bad), /1\.\.99/);
});

test('schedPolicy reads this process from /proc', () => {
  const p = schedPolicy(process.pid);
  assert.ok(p !== null);
  assert.ok(Number.isInteger(p.policy) && p.policy >= 0);
  assert.equal(schedPolicy(-1), null);
});

test('GcPacer: collects only when nothing is due soon, at most once per 20 ms', () => {
  const calls: string[] = [];
  const pacer = new GcPacer((o) => { calls.push(o?.type ?? 'full'); });
  pacer.full();
  pacer.idle(0n, GC_QUIET_NS - 1n); // something due too soon
  assert.deepEqual(calls, ['major']);
  pacer.idle(0n, null);
  pacer.idle(1_000_000n, null); // within 20 ms of the last
  pacer.idle(25_000_000n, 25_000_000n + GC_QUIET_NS);
  assert.deepEqual(calls, ['major', 'minor', 'minor']);
  assert.equal(pacer.minor, 2);
  const off = new GcPacer(null);
  off.full();
  off.idle(0n, null);
  assert.equal(off.enabled, false);
});

test('warmUpExchange: every probe of the in-memory exchange is answered', () => {
  assert.deepEqual(warmUpExchange(40), { probes: 40, replies: 40 });
});
