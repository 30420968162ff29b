// `pdmscope live` between two network namespaces joined by a veth pair (root): traffic from one
// namespace, capture in the other, checked against analyze of a tcpdump capture; and the veth
// deleted under the capture: a one-line error, the flows flushed, exit status 2.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

import { type Running, inject, runCli, sleep, startLive, startTcpdump, uniquePrefix } from './support/live.js';
import { trafficFilter } from './support/traffic.js';
import type { AnalyzeDocument, FlowReport } from '../src/metrics/types.js';
import { openStore } from '../src/sink/store.js';
import { NETNS, ROOT, TCPDUMP, testNeeding } from './support/prereq.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-livens-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Pair { nsA: string; nsB: string; vethA: string; vethB: string; cleanup(): void }

/** Two namespaces, a veth between them, fd00::/8 addresses only. */
function makePair(tag: string): Pair {
  const id = `${process.pid.toString(36)}${tag}`;
  const nsA = `pdmlA${id}`;
  const nsB = `pdmlB${id}`;
  const vethA = `pla${id}`.slice(0, 15);
  const vethB = `plb${id}`.slice(0, 15);
  const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'pipe' }); };
  const cleanup = (): void => {
    for (const ns of [nsA, nsB]) { try { ip('netns', 'del', ns); } catch { /* not there */ } }
  };
  try {
    ip('netns', 'add', nsA);
    ip('netns', 'add', nsB);
    ip('link', 'add', vethA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', 'fd00:5d:ffff::a/64', 'dev', vethA, 'nodad');
    ip('-n', nsB, 'addr', 'add', 'fd00:5d:ffff::b/64', 'dev', vethB, 'nodad');
    ip('-n', nsA, 'link', 'set', vethA, 'up');
    ip('-n', nsB, 'link', 'set', vethB, 'up');
  } catch (err) {
    cleanup();
    throw err;
  }
  return { nsA, nsB, vethA, vethB, cleanup };
}

const inNs = (ns: string): string[] => ['ip', 'netns', 'exec', ns];
const total = (f: FlowReport): number => f.packets.initiator_to_responder + f.packets.responder_to_initiator;
const comparable = (f: FlowReport): unknown => ({
  key: `${f.initiator.addr} ${f.initiator.port} ${f.responder.addr} ${f.responder.port}`,
  packets: f.packets, pdm_packets: f.pdm_packets, server_delay_ns: f.server_delay_ns, total_ns: f.total_ns, rtd_ns: f.rtd_ns, psn: f.psn,
});
const byKey = (flows: FlowReport[]): unknown[] => flows.map(comparable).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

function lastRun(db: string): { status: string; inputs: unknown[]; flows: FlowReport[] } {
  const store = openStore(db, { readonly: true });
  try {
    const runs = store.listRuns();
    const run = runs[runs.length - 1]!;
    return { status: run.status, inputs: run.inputs, flows: store.queryFlows({ runId: run.id }) };
  } finally {
    store.close();
  }
}

function kill(...procs: (Running | null)[]): void {
  for (const p of procs) if (p !== null && p.child.exitCode === null) p.child.kill('SIGKILL');
}

testNeeding('two namespaces over veth: live in one, traffic from the other, same flows as analyze of tcpdump', [ROOT, NETNS, TCPDUMP], async () => {
  const pair = makePair('m');
  let live: Running | null = null;
  let tcpdump: Running | null = null;
  try {
    const prefix = uniquePrefix();
    const filter = trafficFilter(prefix);
    const db = join(dir, 'veth.db');
    const pcap = join(dir, 'veth.pcap');
    tcpdump = await startTcpdump(pair.vethA, filter, pcap, inNs(pair.nsA));
    live = startLive(['-i', pair.vethA, '--filter', filter, '--db', db, '--flush-interval', '500ms'], inNs(pair.nsA));
    await live.waitFor(/capturing on/);
    const sent = inject({ iface: pair.vethB, prefix, flows: 4, exchanges: 150 }, inNs(pair.nsB));
    await sleep(800);
    live.child.kill('SIGINT');
    const exit = await live.exited();
    assert.equal(exit.code, 0, live.stderr());
    tcpdump.child.kill('SIGINT');
    await tcpdump.exited();
    const run = lastRun(db);
    assert.equal(run.status, 'complete');
    assert.equal(run.flows.length, 4);
    assert.equal(run.flows.reduce((n, f) => n + total(f), 0), sent.sent);
    const a = runCli(['analyze', pcap, '--no-db', '--format', 'json']);
    assert.equal(a.status, 0, a.stderr);
    const doc = JSON.parse(a.stdout) as AnalyzeDocument;
    assert.equal(doc.packets.total, sent.sent);
    assert.deepEqual(byKey(run.flows), byKey(doc.flows));
  } finally {
    kill(live, tcpdump);
    pair.cleanup();
  }
});

testNeeding('the interface disappears under the capture: one-line error, flows flushed, exit 2', [ROOT, NETNS], async (t) => {
  const pair = makePair('g');
  let live: Running | null = null;
  try {
    const prefix = uniquePrefix();
    const db = join(dir, 'gone.db');
    // A long flush interval: the flows stored come from the flush on the way out.
    live = startLive(['-i', pair.vethA, '--filter', trafficFilter(prefix), '--db', db, '--flush-interval', '60s'], inNs(pair.nsA));
    await live.waitFor(/capturing on/);
    const sent = inject({ iface: pair.vethB, prefix, flows: 2, exchanges: 100 }, inNs(pair.nsB));
    await sleep(300);
    const t0 = Date.now();
    execFileSync('ip', ['-n', pair.nsB, 'link', 'del', pair.vethB]); // takes its peer with it
    const exit = await live.exited();
    assert.equal(exit.code, 2, live.stderr());
    assert.ok(exit.atMs - t0 < 2000, `exited ${exit.atMs - t0} ms after the delete`);
    const errors = live.stderr().split('\n').filter((l) => /disappeared/.test(l));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, new RegExp(`^pdmscope: interface '${pair.vethA}' disappeared during the capture; flows until then are in run \\d+ of `));
    const run = lastRun(db);
    assert.equal(run.status, 'complete');
    assert.equal(run.flows.reduce((n, f) => n + total(f), 0), sent.sent);
    assert.match(JSON.stringify(run.inputs), /interface disappeared during capture/);
    t.diagnostic(`exit ${exit.atMs - t0} ms after the veth was deleted`);
  } finally {
    kill(live);
    pair.cleanup();
  }
});
