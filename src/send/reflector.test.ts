// The reflector's refusals, its rate cap over any sliding second, and two reflectors that must
// not answer each other: in memory, on a clock of the test's own. The probes come from an
// independent encoder (test/support/reflect_probes.py, Python struct).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testNeeding } from '../../test/support/prereq.js';
import { EXPECTED_REFUSAL as EXPECTED, PYTHON3, probeFrames } from '../../test/support/reflect-cases.js';
import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { parseIpv6Address } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET } from '../wire/link.js';
import { buildPdmUdpFrame } from './frame-builder.js';
import type { MonotonicClock } from './pdm-endpoint.js';
import { AddressSet, REFUSAL_NAMES } from './probe-check.js';
import { PdmReflector } from './reflector.js';
import type { PacketSink } from './sink.js';

const A = '2001:db8::a';
const B = '2001:db8::b';
const B_OTHER = '2001:db8::c';
const A_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const B_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0xb);

/** A clock that moves only when told to, or when a timed send busy-waits on it. */
class TestClock implements MonotonicClock {
  t = 1_000_000_000_000n;
  nowNs(): bigint { return this.t; }
  spinUntilNs(atNs: bigint): bigint { if (atNs > this.t) this.t = atNs; return this.t; }
}

function probes(): Record<string, Uint8Array> {
  return probeFrames({ srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b', src: A, dst: B, ownOther: B_OTHER, other: '2001:db8:ffff::99' });
}

function deliver(r: PdmReflector, clock: TestClock, frame: Uint8Array): void {
  r.handleFrame({ frame, capLen: frame.length, wireLen: frame.length, capTsUs: Number(clock.t / 1000n), rxNs: clock.t, linkType: LINKTYPE_ETHERNET });
}

testNeeding('each probe the reflector must not answer is refused and counted under its name; good ones are answered', [PYTHON3], () => {
  const frames = probes();
  assert.deepEqual(Object.keys(frames).sort(), Object.keys(EXPECTED).sort());
  for (const [name, frame] of Object.entries(frames)) {
    const clock = new TestClock();
    const sent: Uint8Array[] = [];
    const r = new PdmReflector({
      port: 7777, delayNs: 0n, clock, mtu: 1500, ownAddresses: new AddressSet([parseIpv6Address(B)!, parseIpv6Address(B_OTHER)!]),
      sink: { linkType: 'ETHERNET', send: (f) => { sent.push(f.slice()); }, close: () => {} },
    });
    deliver(r, clock, frame);
    r.stop();
    const want = EXPECTED[name]!;
    const counted = REFUSAL_NAMES.filter((n) => r.stats.refused[n] > 0);
    if (want === null) {
      assert.equal(sent.length, 1, `${name}: answered`);
      assert.deepEqual(counted, [], `${name}: nothing refused`);
      // The reply echoes the payload and goes back to the probe's source port.
      assert.equal(Buffer.from(sent[0]!.subarray(sent[0]!.length - 16)).toString('latin1'), 'PDMSprobe-test!!');
    } else {
      assert.equal(sent.length, 0, `${name}: not answered`);
      assert.deepEqual(counted, [want], `${name}: counted under ${want}`);
      assert.equal(r.stats.refused[want], 1);
      assert.equal(r.stats.probes, 0, `${name}: not a probe`);
    }
  }
});

testNeeding('loopback sources and our own addresses are answered when the reflector serves loopback', [PYTHON3], () => {
  const frames = probes();
  for (const name of ['loopback_source', 'own_address', 'own_address_other', 'good']) {
    const clock = new TestClock();
    const sent: Uint8Array[] = [];
    const r = new PdmReflector({
      port: 7777, delayNs: 0n, clock, mtu: 1500, serveLoopback: true, ownAddresses: new AddressSet([parseIpv6Address(B)!, parseIpv6Address(B_OTHER)!]),
      sink: { linkType: 'ETHERNET', send: (f) => { sent.push(f.slice()); }, close: () => {} },
    });
    deliver(r, clock, frames[name]!);
    assert.equal(sent.length, 1, name);
  }
});

testNeeding('truncations and byte flips of a good probe never throw, and what is answered stays well-formed', [PYTHON3], () => {
  const good = probes().good!;
  const clock = new TestClock();
  const sent: Uint8Array[] = [];
  const r = new PdmReflector({
    port: 7777, delayNs: 0n, clock, mtu: 1500, maxRepliesPerSecond: 1000,
    sink: { linkType: 'ETHERNET', send: (f) => { sent.push(f.slice()); }, close: () => {} },
  });
  for (let n = 0; n < good.length; n++) { clock.t += 2_000_000n; deliver(r, clock, good.slice(0, n)); }
  assert.equal(sent.length, 0, 'no truncated probe is answered');
  // Every single byte flipped: answered only if the flip is in the PDM option or the MACs (which
  // the checksum does not cover), or in a field a reply does not depend on.
  for (let i = 0; i < good.length; i++) {
    const f = good.slice();
    f[i] = f[i]! ^ 0x40;
    clock.t += 2_000_000n;
    deliver(r, clock, f);
  }
  const d = new Decoder({ esp: null });
  const p = new DecodedPacket();
  for (const reply of sent) {
    d.decode(reply, reply.length, LINKTYPE_ETHERNET, p);
    assert.equal(p.dstPort, 40000);
    assert.equal(p.srcPort, 7777);
  }
});

test('replies never exceed --max-rate in any sliding second (a token bucket let ~2x through)', () => {
  const clock = new TestClock();
  const sendTimes: bigint[] = [];
  const maxRate = 100;
  const r = new PdmReflector({
    port: 7777, delayNs: 0n, clock, mtu: 1500, maxRepliesPerSecond: maxRate,
    sink: { linkType: 'ETHERNET', send: () => { sendTimes.push(clock.t); }, close: () => {} },
  });
  // 400 probes over 2 s from many sources, in bursts.
  const start = clock.t;
  for (let i = 0; i < 400; i++) {
    clock.t = start + BigInt(i) * 5_000_000n + (i % 20 === 0 ? 0n : 1_000n);
    const frame = buildPdmUdpFrame({
      link: { kind: 'ethernet', srcMac: A_MAC, dstMac: B_MAC }, src: parseIpv6Address(`2001:db8::${(i % 50) + 100}`)!, dst: parseIpv6Address(B)!,
      srcPort: 40000 + i, dstPort: 7777, payload: new Uint8Array(16),
      pdm: { scaleDtlr: 0, scaleDtls: 0, psnThisPkt: i, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0 },
    }).frame;
    deliver(r, clock, frame);
  }
  r.stop();
  let worst = 0;
  for (const s of sendTimes) worst = Math.max(worst, sendTimes.filter((t) => t >= s && t < s + 1_000_000_000n).length);
  assert.ok(worst <= maxRate, `${worst} replies within one second, cap ${maxRate}`);
  assert.ok(sendTimes.length >= 2 * maxRate - 5, `${sendTimes.length} replies in 2 s: the cap is not stricter than it says`);
  assert.equal(r.stats.rate_limited + r.stats.replies, r.stats.probes);
});

testNeeding('two reflectors on port 7777 do not answer each other: one packet from 7777 to 7777 draws no reply', [PYTHON3], async () => {
  const frames = probes();
  const clockA = new TestClock();
  const clockB = new TestClock();
  const wire: string[] = [];
  let reflectorA: PdmReflector | null = null;
  let reflectorB: PdmReflector | null = null;
  // Each frame reaches the other host's reflector (and its sender's own capture) on a later turn of the event loop.
  const sinkFrom = (name: 'A' | 'B'): PacketSink => ({
    linkType: 'ETHERNET',
    send: (f) => {
      const copy = f.slice();
      wire.push(name);
      setImmediate(() => {
        const [own, peer, ownClock, peerClock] = name === 'A' ? [reflectorA!, reflectorB!, clockA, clockB] : [reflectorB!, reflectorA!, clockB, clockA];
        deliver(own, ownClock, copy);
        peerClock.t += 100_000n;
        deliver(peer, peerClock, copy);
      });
    },
    close: () => {},
  });
  reflectorA = new PdmReflector({ port: 7777, delayNs: 0n, clock: clockA, mtu: 1500, sink: sinkFrom('A'), ownAddresses: new AddressSet([parseIpv6Address(A)!]) });
  reflectorB = new PdmReflector({ port: 7777, delayNs: 0n, clock: clockB, mtu: 1500, sink: sinkFrom('B'), ownAddresses: new AddressSet([parseIpv6Address(B)!, parseIpv6Address(B_OTHER)!]) });
  // A's address and port 7777 to B's 7777, as if A's reflector had sent it.
  deliver(reflectorB, clockB, frames.from_reflector_port!);
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  reflectorA.stop();
  reflectorB.stop();
  assert.deepEqual(wire, [], `${wire.length} packets exchanged`);
  assert.equal(reflectorB.stats.refused.from_reflector_port, 1);
});
