import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PSN_DUPLICATES, PSN_EPOCH_START, PSN_HIGHEST, PSN_LOST, PSN_REORDERED, PSN_RESTARTS, PSN_RESTART_GAP, PSN_STATE_SIZE,
  psnHasReached, psnInit, psnObserve, psnRestart, type PsnVerdict,
} from './psn.js';

/** One direction's PSN accounting in an array of its own, read through getters (the tests' view of one state). */
class PsnTracker {
  private readonly st: number[] = new Array<number>(PSN_STATE_SIZE);

  constructor() {
    psnInit(this.st, 0);
  }

  get highest(): number { return this.st[PSN_HIGHEST]!; }
  get epochStart(): number { return this.st[PSN_EPOCH_START]!; }
  get lost(): number { return this.st[PSN_LOST]!; }
  get reordered(): number { return this.st[PSN_REORDERED]!; }
  get duplicates(): number { return this.st[PSN_DUPLICATES]!; }
  get restarts(): number { return this.st[PSN_RESTARTS]!; }

  /** Feeds one PSNTP; returns what it means for the sequence. */
  observe(psn: number): PsnVerdict {
    return psnObserve(this.st, 0, psn);
  }

  /** Starts a new epoch explicitly (a peer's state timeout seen through zero deltas). */
  restart(psn: number): void {
    psnRestart(this.st, 0, psn);
  }

  /** True if `psn` is at or behind the highest PSN seen (serial order), i.e. it was sent. */
  hasReached(psn: number): boolean {
    return psnHasReached(this.st, 0, psn);
  }
}

function feed(psns: number[]): PsnTracker {
  const t = new PsnTracker();
  for (const p of psns) t.observe(p);
  return t;
}

test('in order across the wrap from 65535 to 0 counts nothing', () => {
  const t = feed([65533, 65534, 65535, 0, 1, 2]);
  assert.deepEqual([t.lost, t.reordered, t.duplicates, t.restarts], [0, 0, 0, 0]);
  assert.equal(t.highest, 2);
});

test('a gap across the wrap is loss, in serial arithmetic', () => {
  const t = feed([65534, 65535, 2, 3]); // 0 and 1 missing
  assert.equal(t.lost, 2);
});

test('a late packet turns a loss into a reordering, also across the wrap', () => {
  const t = feed([65534, 0, 65535, 1]);
  assert.deepEqual([t.lost, t.reordered, t.duplicates], [0, 1, 0]);
});

test('duplicates of the newest and of older packets', () => {
  const t = feed([10, 11, 11, 12, 10]);
  assert.deepEqual([t.lost, t.reordered, t.duplicates], [0, 0, 2]);
});

test('a jump to a new random PSN is a restart, not thousands of losses', () => {
  const t = feed([100, 101, 102, 40000, 40001]);
  assert.deepEqual([t.lost, t.restarts], [0, 1]);
  assert.equal(t.epochStart, 40000);
  const back = feed([30000, 30001, 20000, 20001]);
  assert.deepEqual([back.lost, back.reordered, back.restarts], [0, 0, 1]);
});

test('the restart threshold is a forward gap of PSN_RESTART_GAP', () => {
  assert.equal(feed([0, PSN_RESTART_GAP - 1]).lost, PSN_RESTART_GAP - 2);
  assert.equal(feed([0, PSN_RESTART_GAP]).restarts, 1);
});

test('hasReached compares serially', () => {
  const t = feed([65530, 65535, 3]);
  assert.ok(t.hasReached(3));
  assert.ok(t.hasReached(65535));
  assert.ok(!t.hasReached(4));
  assert.ok(!t.hasReached(1000));
});

test('a packet older than the first one seen is reordering, never negative loss', () => {
  const t = feed([100, 99, 101, 98]);
  assert.deepEqual([t.lost, t.reordered], [0, 2]);
});

test('states at offsets of one array (as FlowPdm keeps both directions) stay apart and equal PsnTracker', () => {
  const st = new Array<number>(3 + 2 * PSN_STATE_SIZE + 3).fill(7);
  const a = 3, b = 3 + PSN_STATE_SIZE;
  psnInit(st, a);
  psnInit(st, b);
  const seqA = [65534, 0, 65535, 1, 1, 5, 40000, 40001];
  const seqB = [10, 11, 11, 12, 10, 200, 199];
  const ta = new PsnTracker();
  const tb = new PsnTracker();
  for (let i = 0; i < Math.max(seqA.length, seqB.length); i++) {
    if (i < seqA.length) assert.equal(psnObserve(st, a, seqA[i]!), ta.observe(seqA[i]!));
    if (i < seqB.length) assert.equal(psnObserve(st, b, seqB[i]!), tb.observe(seqB[i]!));
  }
  for (const [o, t] of [[a, ta], [b, tb]] as const) {
    assert.deepEqual([st[o + PSN_HIGHEST], st[o + PSN_LOST], st[o + PSN_REORDERED], st[o + PSN_DUPLICATES], st[o + PSN_RESTARTS]],
      [t.highest, t.lost, t.reordered, t.duplicates, t.restarts]);
    assert.equal(psnHasReached(st, o, t.highest), true);
  }
  assert.deepEqual([st[0], st[1], st[2], st.at(-3), st.at(-2), st.at(-1)], [7, 7, 7, 7, 7, 7], 'nothing written outside the states');
  psnRestart(st, a, 123);
  assert.equal(st[a + PSN_HIGHEST], 123);
  assert.equal(st[a + PSN_RESTARTS], ta.restarts + 1);
});
