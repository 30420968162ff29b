import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, parseIpv6Address } from '../wire/ipv6.js';
import { Ipv6TextCache } from './ipv6-text.js';

/** xorshift32, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

test('the cache gives formatIpv6 text for every address, hits and colliding misses alike', () => {
  const next = rng(8250);
  const cache = new Ipv6TextCache();
  // A pool larger than the table forces evictions and slot collisions; zero runs exercise ::.
  const pool: Uint8Array[] = [];
  for (let i = 0; i < 10_000; i++) {
    const a = new Uint8Array(16);
    for (let b = 0; b < 16; b++) a[b] = next() & 0xff;
    const zeros = next() % 4;
    if (zeros > 0) a.fill(0, 2 * (next() % 6), 2 * (next() % 6) + 2 * zeros);
    pool.push(a);
  }
  for (const text of ['::', '::1', '2001:db8::1', '::ffff:192.0.2.1', 'fe80::1:0:0:1']) pool.push(parseIpv6Address(text)!);
  const frame = new Uint8Array(40);
  for (let round = 0; round < 100_000; round++) {
    const a = pool[next() % pool.length]!;
    const off = next() % 24;
    frame.fill(0xee);
    frame.set(a, off);
    assert.equal(cache.text(frame, off), formatIpv6(a, 0));
  }
});

test('an address differing only in its last byte is not taken from the cache', () => {
  const cache = new Ipv6TextCache();
  const a = parseIpv6Address('2001:db8::1')!;
  const b = parseIpv6Address('2001:db8::2')!;
  assert.equal(cache.text(a, 0), '2001:db8::1');
  assert.equal(cache.text(b, 0), '2001:db8::2');
  assert.equal(cache.text(a, 0), '2001:db8::1');
});
