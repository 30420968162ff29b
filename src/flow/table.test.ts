import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/support/build.js';
import { type Flow, FlowKeyScratch, FlowTable } from './table.js';

function key(a: number, b: number, pa: number, pb: number, proto = 17): FlowKeyScratch {
  const k = new FlowKeyScratch();
  k.proto = proto;
  k.s0 = 0x20010db8; k.s3 = a;
  k.d0 = 0x20010db8; k.d3 = b;
  k.srcPort = pa;
  k.dstPort = pb;
  return k;
}

test('both directions of a 5-tuple are one flow; the first sender is the initiator', () => {
  const ended: Flow[] = [];
  const t = new FlowTable({ idleTimeoutUs: 1e9, maxFlows: 1e6, onFlowEnd: (f) => ended.push(f) });
  const f1 = t.lookup(key(1, 2, 40000, 443), 0, 1);
  assert.equal(t.forward, true);
  const f2 = t.lookup(key(2, 1, 443, 40000), 1, 2);
  assert.equal(f2, f1);
  assert.equal(t.forward, false);
  assert.notEqual(t.lookup(key(1, 2, 40001, 443), 2, 3), f1, 'another port is another flow');
  assert.notEqual(t.lookup(key(1, 2, 40000, 443, 6), 3, 4), f1, 'another protocol is another flow');
  assert.equal(t.size, 3);
});

test('an idle gap longer than the timeout ends the flow and starts a new one', () => {
  const ended: Flow[] = [];
  const t = new FlowTable({ idleTimeoutUs: 100, maxFlows: 1e6, onFlowEnd: (f) => ended.push(f) });
  const f1 = t.lookup(key(1, 2, 1, 2), 0, 1);
  f1.lastTsUs = 0;
  const f2 = t.lookup(key(2, 1, 2, 1), 500, 2);
  assert.notEqual(f2, f1);
  assert.equal(t.forward, true, 'the new flow starts with this packet\'s sender as initiator');
  assert.deepEqual(ended, [f1]);
});

test('random inserts, lookups and expiries keep every live flow findable (probe-run deletion)', () => {
  const rand = rng(7);
  const ended = new Set<Flow>();
  const t = new FlowTable({ idleTimeoutUs: 1000, maxFlows: 1e6, onFlowEnd: (f) => ended.add(f) });
  const live = new Map<number, Flow>();
  let now = 0;
  for (let i = 0; i < 50_000; i++) {
    now += 1;
    const id = Math.floor(rand() * 3000);
    const f = t.lookup(key(id, id * 7, id & 0xffff, 53), now, i);
    f.lastTsUs = now;
    const prev = live.get(id);
    if (prev !== undefined && prev !== f) assert.ok(ended.has(prev), 'a replaced flow must have ended');
    live.set(id, f);
  }
  for (const [id, f] of live) {
    if (ended.has(f) || now - f.lastTsUs > 1000) continue;
    assert.equal(t.lookup(key(id * 7, id, 53, id & 0xffff), now, 0), f);
  }
  assert.equal(t.size + 0, [...t.all()].length);
});

test('the bound on flows ends the longest idle first', () => {
  const ended: Flow[] = [];
  const t = new FlowTable({ idleTimeoutUs: 1e12, maxFlows: 100, onFlowEnd: (f) => ended.push(f) });
  for (let i = 0; i < 300; i++) t.lookup(key(i, 1000, 1, 2), i, i).lastTsUs = i;
  assert.ok(t.size <= 101);
  assert.ok(ended.length >= 199);
  const newestEnded = Math.max(...ended.map((f) => f.lastTsUs));
  const oldestLive = Math.min(...[...t.all()].map((f) => f.lastTsUs));
  assert.ok(newestEnded < oldestLive, `${newestEnded} < ${oldestLive}`);
});
