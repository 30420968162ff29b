// Long timers on a fake clock: Node's own timers cannot take more than 2^31-1 ms (issue 16:
// `live --duration 720h` stopped at once), these wait as long as asked, never less.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { afterMs, everyMs, MAX_TIMER_MS, type TimerHost } from './long-timer.js';

/** A clock that only moves when told; its timers behave like Node's, overflow included. */
class FakeTimers implements TimerHost {
  nowMs = 1000;
  private nextId = 1;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  /** Every delay asked of setTimeout. */
  readonly asked: number[] = [];

  now(): number { return this.nowMs; }

  setTimeout(fn: () => void, ms: number): unknown {
    this.asked.push(ms);
    // What Node does with a delay it cannot take (lib/internal/timers.js): 1 ms and a warning.
    const delay = ms > MAX_TIMER_MS || !(ms >= 1) ? 1 : ms;
    const id = this.nextId++;
    this.pending.set(id, { at: this.nowMs + delay, fn });
    return id;
  }

  clearTimeout(handle: unknown): void { this.pending.delete(handle as number); }

  /** Moves the clock to `toMs`, firing due timers in order (each at its own time). */
  advanceTo(toMs: number): void {
    for (let fired = 0; ; fired++) {
      if (fired > 10_000) throw new Error('runaway timers: a delay turned into 1 ms over and over');
      let first: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.pending) if (e[1].at <= toMs && (first === null || e[1].at < first[1].at)) first = e;
      if (first === null) break;
      this.pending.delete(first[0]);
      this.nowMs = Math.max(this.nowMs, first[1].at);
      first[1].fn();
    }
    this.nowMs = toMs;
  }
}

const HOUR_MS = 3600e3;

test('afterMs: 720 h (past one Node timer) fires after 720 h, not at once, through chained timers', () => {
  const t = new FakeTimers();
  let firedAt: number | null = null;
  afterMs(720 * HOUR_MS, () => { firedAt = t.nowMs; }, t);
  assert.ok(t.asked.every((ms) => ms <= MAX_TIMER_MS && ms >= 0), `asked ${t.asked}`);
  t.advanceTo(1000 + 1);
  assert.equal(firedAt, null, 'fired at once');
  t.advanceTo(1000 + 719 * HOUR_MS);
  assert.equal(firedAt, null);
  t.advanceTo(1000 + 720 * HOUR_MS - 1);
  assert.equal(firedAt, null);
  t.advanceTo(1000 + 721 * HOUR_MS);
  assert.equal(firedAt, 1000 + 720 * HOUR_MS);
  assert.ok(t.asked.length >= 2, 'one Node timer cannot have held it');
});

test('afterMs: short and long delays fire exactly once, on time; cancel stops it', () => {
  for (const ms of [0, 1, 2.5, MAX_TIMER_MS - 1, MAX_TIMER_MS, MAX_TIMER_MS + 1, 3 * MAX_TIMER_MS + 7, Number.MAX_SAFE_INTEGER / 1e6]) {
    const t = new FakeTimers();
    const fired: number[] = [];
    afterMs(ms, () => fired.push(t.nowMs), t);
    t.advanceTo(1000 + ms + MAX_TIMER_MS * 2);
    assert.equal(fired.length, 1, `${ms} ms`);
    assert.ok(fired[0]! >= 1000 + ms && fired[0]! <= 1000 + Math.ceil(ms) + 1, `${ms} ms fired at +${fired[0]! - 1000}`);
  }
  const t = new FakeTimers();
  let fired = false;
  const timer = afterMs(40 * 24 * HOUR_MS, () => { fired = true; }, t);
  t.advanceTo(1000 + 30 * 24 * HOUR_MS); // in its second Node timer
  timer.cancel();
  t.advanceTo(1000 + 50 * 24 * HOUR_MS);
  assert.equal(fired, false);
  assert.equal(t.pending.size, 0);
  assert.throws(() => afterMs(Infinity, () => {}, t), RangeError);
  assert.throws(() => afterMs(NaN, () => {}, t), RangeError);
});

test('afterMs: a Node timer that fires early is followed by another for what is left', () => {
  const t = new FakeTimers();
  let fired = false;
  afterMs(100, () => { fired = true; }, t);
  // Fire the pending timer 30 ms early.
  const [id, entry] = [...t.pending][0]!;
  t.pending.delete(id);
  t.nowMs = 1070;
  entry.fn();
  assert.equal(fired, false);
  t.advanceTo(1099);
  assert.equal(fired, false);
  t.advanceTo(1100);
  assert.equal(fired, true);
});

test('everyMs: intervals past one Node timer and short ones, on time without drift, until cancelled', () => {
  for (const ms of [10, 720 * HOUR_MS]) {
    const t = new FakeTimers();
    const calls: number[] = [];
    const timer = everyMs(ms, () => calls.push(t.nowMs - 1000), t);
    t.advanceTo(1000 + 5 * ms + ms / 2);
    assert.deepEqual(calls, [1, 2, 3, 4, 5].map((k) => k * ms), `${ms} ms`);
    timer.cancel();
    t.advanceTo(1000 + 20 * ms);
    assert.equal(calls.length, 5);
  }
  // A call that runs past the next one's time: the next comes an interval later, not in a burst.
  const t = new FakeTimers();
  const calls: number[] = [];
  everyMs(10, () => { calls.push(t.nowMs - 1000); if (calls.length === 1) t.nowMs += 35; }, t);
  t.advanceTo(1000 + 60);
  assert.deepEqual(calls, [10, 55]);
  assert.throws(() => everyMs(0, () => {}, t), RangeError);
  assert.throws(() => everyMs(Infinity, () => {}, t), RangeError);
});
