import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PSN_DUPLICATES, PSN_EPOCH_START, PSN_HIGHEST, PSN_LOST, PSN_REORDERED, PSN_RESTARTS, PSN_RESTART_GAP, PSN_STATE_SIZE,
  type PsnBits, psnAhead, psnHasReached, psnInit, psnObserve, psnRestart, type PsnVerdict,
} from './psn.js';
import { rng } from '../../test/support/build.js';

/** One direction's PSN accounting in an array of its own, read through getters (the tests' view of one state). */
class PsnTracker {
  private readonly st: number[] = new Array<number>(PSN_STATE_SIZE);
  private readonly bits: PsnBits;

  constructor(bits: PsnBits = 16) {
    this.bits = bits;
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
    return psnObserve(this.st, 0, psn, this.bits);
  }

  /** Starts a new epoch explicitly (a peer's state timeout seen through zero deltas). */
  restart(psn: number): void {
    psnRestart(this.st, 0, psn);
  }

  /** True if `psn` is at or behind the highest PSN seen (serial order), i.e. it was sent. */
  hasReached(psn: number): boolean {
    return psnHasReached(this.st, 0, psn, this.bits);
  }
}

function feed(psns: number[], bits: PsnBits = 16): PsnTracker {
  const t = new PsnTracker(bits);
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

// PDMv2 (draft-ietf-ippm-encrypted-pdmv2-14 §7): the same accounting on 32-bit PSNs.
const TOP = 0xffff_ffff;

test('32-bit PSNs: in order across the wrap from 2^32 − 1 to 0, and 65535 → 65536 is no wrap', () => {
  const t = feed([TOP - 2, TOP - 1, TOP, 0, 1, 2], 32);
  assert.deepEqual([t.lost, t.reordered, t.duplicates, t.restarts], [0, 0, 0, 0]);
  assert.equal(t.highest, 2);
  const u = feed([65534, 65535, 65536, 65537], 32);
  assert.deepEqual([u.lost, u.restarts, u.highest], [0, 0, 65537]);
  // 65535 → 0, in order for 16-bit PSNs, is a jump back far beyond the window for 32-bit ones.
  assert.equal(feed([65535, 0], 16).restarts, 0);
  assert.equal(feed([65535, 0], 32).restarts, 1);
});

test('32-bit PSNs: gaps, late packets and duplicates across the wrap, in serial arithmetic', () => {
  assert.equal(feed([TOP - 1, TOP, 2, 3], 32).lost, 2);
  const t = feed([TOP - 1, 0, TOP, 1], 32);
  assert.deepEqual([t.lost, t.reordered, t.duplicates], [0, 1, 0]);
  const d = feed([TOP, 0, 0, TOP], 32);
  assert.deepEqual([d.lost, d.reordered, d.duplicates], [0, 0, 2]);
  const r = feed([5, 5 + PSN_RESTART_GAP], 32);
  assert.equal(r.restarts, 1);
  // A packet from before the capture's first one, across the wrap: no loss was ever counted for it.
  const early = feed([0, TOP], 32);
  assert.deepEqual([early.lost, early.reordered, early.epochStart], [0, 1, TOP]);
  const h = feed([TOP - 1, 1], 32);
  assert.ok(h.hasReached(TOP) && h.hasReached(1) && h.hasReached(0x8000_0002));
  assert.ok(!h.hasReached(2) && !h.hasReached(0x8000_0000));
});

test('psnAhead equals (a − b) mod 2^bits computed in BigInt, on 100,000 seeded random pairs', () => {
  const rand = rng(1982);
  for (let i = 0; i < 100_000; i++) {
    const bits: PsnBits = i % 2 === 0 ? 16 : 32;
    const m = 2 ** bits;
    const edge = [0, 1, m - 1, m / 2, m / 2 - 1];
    const a = i % 7 === 0 ? edge[i % 5]! : Math.floor(rand() * m);
    const b = i % 11 === 0 ? edge[(i >> 1) % 5]! : Math.floor(rand() * m);
    const want = Number(((BigInt(a) - BigInt(b)) % BigInt(m) + BigInt(m)) % BigInt(m));
    assert.equal(psnAhead(a, b, bits), want, `${a} − ${b} mod 2^${bits}`);
  }
});
