import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/support/build.js';
import { SlidingWindowLimiter } from './rate-window.js';

const SECOND = 1_000_000_000n;

/** The reference: accept t when fewer than n accepted events lie in (t − window, t], counted one by one. */
function bruteForce(arrivals: bigint[], n: number, windowNs: bigint): boolean[] {
  const accepted: bigint[] = [];
  return arrivals.map((t) => {
    const inWindow = accepted.filter((a) => t - a < windowNs).length;
    if (inWindow >= n) return false;
    accepted.push(t);
    return true;
  });
}

/** The most accepted events in any window [s, s + window): windows starting at each event suffice. */
function worstWindow(times: bigint[], windowNs: bigint): number {
  let worst = 0;
  for (const s of times) worst = Math.max(worst, times.filter((t) => t >= s && t < s + windowNs).length);
  return worst;
}

test('the sliding window decides like a brute-force count over random arrivals', () => {
  const random = rng(8250);
  for (let round = 0; round < 60; round++) {
    const n = 1 + Math.floor(random() * 40);
    const windowNs = round % 3 === 0 ? SECOND : BigInt(1 + Math.floor(random() * 5e8));
    // Bursts and gaps: arrivals a few ns to a whole window apart, some at the same instant.
    const arrivals: bigint[] = [];
    let t = BigInt(Math.floor(random() * 1e12));
    for (let i = 0; i < 600; i++) {
      const r = random();
      t += r < 0.2 ? 0n : r < 0.8 ? BigInt(Math.floor(random() * Number(windowNs) / n)) : BigInt(Math.floor(random() * Number(windowNs) * 1.5));
      arrivals.push(t);
    }
    const limiter = new SlidingWindowLimiter(n, windowNs);
    const got = arrivals.map((a) => limiter.tryTake(a));
    const want = bruteForce(arrivals, n, windowNs);
    assert.deepEqual(got, want, `round ${round}: n ${n}, window ${windowNs} ns`);
    const acceptedTimes = arrivals.filter((_, i) => got[i]);
    assert.ok(worstWindow(acceptedTimes, windowNs) <= n, `round ${round}: more than ${n} in one window`);
  }
});

test('a burst of 2N within 1.5 s: N pass in the first second, none more until it slides on', () => {
  const n = 100;
  const limiter = new SlidingWindowLimiter(n);
  // 200 arrivals, 7.5 ms apart: a token bucket of capacity N refilled at N/s passes ~175 of
  // them (100 at once, then the refill), 175 within the first 1.3 s.
  const arrivals = Array.from({ length: 2 * n }, (_, i) => BigInt(i) * 7_500_000n);
  const passed = arrivals.filter((a) => limiter.tryTake(a));
  assert.equal(worstWindow(passed, SECOND), n);
  assert.equal(passed.filter((t) => t < SECOND).length, n);
  // The first arrival at or after 1 s + the first accepted time passes again.
  assert.equal(passed[n], 1_005_000_000n);
});

test('rejects a limit that is not a positive integer', () => {
  assert.throws(() => new SlidingWindowLimiter(0), RangeError);
  assert.throws(() => new SlidingWindowLimiter(1.5), RangeError);
  assert.throws(() => new SlidingWindowLimiter(1, 0n), RangeError);
});
