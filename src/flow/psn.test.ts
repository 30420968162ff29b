import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PSN_RESTART_GAP, PsnTracker } from './psn.js';

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
