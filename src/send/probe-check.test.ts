import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/support/build.js';
import { testNeeding } from '../../test/support/prereq.js';
import { EXPECTED_REFUSAL, PYTHON3, probeFrames } from '../../test/support/reflect-cases.js';
import { parseIpv6Address } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../wire/link.js';
import { AddressSet, ProbeLayout, type ProbePolicy, REFUSALS, refusalOf } from './probe-check.js';

const B = '2001:db8::b';
const POLICY: ProbePolicy = { port: 7777, serveLoopback: false, ownAddresses: new AddressSet([parseIpv6Address(B)!, parseIpv6Address('2001:db8::c')!]) };

function frames(): Record<string, Uint8Array> {
  return probeFrames({ srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b', src: '2001:db8::a', dst: B, ownOther: '2001:db8::c', other: '2001:db8:ffff::99' });
}

function check(f: Uint8Array, linkType = LINKTYPE_ETHERNET, capLen = f.length, wireLen = capLen, out = new ProbeLayout()): string | null {
  return refusalOf(f, capLen, wireLen, linkType, POLICY, out);
}

testNeeding('each independent probe meets its refusal; a good one is laid out to its payload', [PYTHON3], () => {
  for (const [name, f] of Object.entries(frames())) {
    // The PDM version is the reflector's check on the decoded option (reflector.ts); the framing
    // of a PDMv2 probe is sound.
    assert.equal(check(f), name === 'pdm_version_2' ? null : EXPECTED_REFUSAL[name], name);
    assert.ok(EXPECTED_REFUSAL[name] === null || EXPECTED_REFUSAL[name]! in REFUSALS);
  }
  const good = frames().good!;
  const out = new ProbeLayout();
  assert.equal(check(good, LINKTYPE_ETHERNET, good.length, good.length, out), null);
  assert.deepEqual([out.ipOff, out.udpOff, out.ipEnd], [14, 14 + 40 + 16, good.length]);
  // The same packet on a raw-IP link (tun, WireGuard), and cut by a snaplen.
  assert.equal(check(good.subarray(14), LINKTYPE_RAW), null);
  assert.equal(check(good, LINKTYPE_ETHERNET, good.length - 1, good.length), 'bad_length');
  assert.equal(check(good, 113), 'bad_length', 'a link type the reflector cannot answer on');
  // An 802.1Q tag in front of IPv6.
  const tagged = new Uint8Array(good.length + 4);
  tagged.set(good.subarray(0, 12));
  tagged.set([0x81, 0x00, 0x00, 0x05], 12);
  tagged.set(good.subarray(12), 16);
  assert.equal(check(tagged), 'vlan_tagged');
});

testNeeding('without the host\'s addresses, source = destination is still refused and any destination answered', [PYTHON3], () => {
  const f = frames();
  const blind: ProbePolicy = { port: 7777, serveLoopback: false, ownAddresses: null };
  assert.equal(refusalOf(f.own_address!, f.own_address!.length, f.own_address!.length, LINKTYPE_ETHERNET, blind, new ProbeLayout()), 'own_address');
  assert.equal(refusalOf(f.not_own_destination!, f.not_own_destination!.length, f.not_own_destination!.length, LINKTYPE_ETHERNET, blind, new ProbeLayout()), null);
});

testNeeding('truncations, every byte flipped, and seeded random bytes never throw; what passes is laid out inside the frame', [PYTHON3], () => {
  const all = frames();
  const sane = (f: Uint8Array, linkType: number): void => {
    const out = new ProbeLayout();
    if (refusalOf(f, f.length, f.length, linkType, POLICY, out) === null) {
      assert.ok(out.ipOff + 40 <= out.udpOff && out.udpOff + 8 <= out.ipEnd && out.ipEnd <= f.length);
    }
  };
  for (const f of Object.values(all)) {
    for (let n = 0; n <= f.length; n++) { sane(f.subarray(0, n), LINKTYPE_ETHERNET); sane(f.subarray(Math.min(14, n), n), LINKTYPE_RAW); }
    for (let i = 0; i < f.length; i++) {
      for (const bit of [0x01, 0x80]) { const g = f.slice(); g[i] = g[i]! ^ bit; sane(g, LINKTYPE_ETHERNET); }
    }
  }
  const random = rng(16);
  const good = all.good!;
  for (let i = 0; i < 20_000; i++) {
    // Half pure noise, half a good probe with a few random bytes.
    const f = i % 2 === 0 ? Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)) : good.slice();
    if (i % 2 === 1) for (let k = 0; k < 3; k++) f[Math.floor(random() * f.length)] = Math.floor(random() * 256);
    sane(f, i % 4 < 2 ? LINKTYPE_ETHERNET : LINKTYPE_RAW);
  }
});

test('the refusal catalogue names each counter once, snake_case', () => {
  for (const name of Object.keys(REFUSALS)) assert.match(name, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
});
