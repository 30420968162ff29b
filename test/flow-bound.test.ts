// The flow table's bound (issue 16 #9): `analyze --max-flows N` ends the least recently seen flow
// when a new one would make N + 1, writes it out like an idle-timed-out flow (the document, the
// store), and says so in flow_table; memory stays bounded whatever the number of flows.
// Captures come from scripts/fixtures/many_flows.py (Python struct, not pdmscope's encoder).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { AnalyzeDocument, FlowReport } from '../src/metrics/types.js';
import { openStore } from '../src/sink/store.js';
import { inject, sleep, startLive, uniquePrefix } from './support/live.js';
import { trafficFilter } from './support/traffic.js';
import { CLI, REPO, pdmscope } from './support/cli.js';
import { PYTHON3, ROOT, testNeeding } from './support/prereq.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-flow-bound-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function manyFlows(name: string, flows: number, ...opts: string[]): string {
  const path = join(dir, name);
  execFileSync('/usr/bin/python3', [join(REPO, 'scripts/fixtures/many_flows.py'), path, String(flows), ...opts]);
  return path;
}

const packetsOf = (f: FlowReport): number => f.packets.initiator_to_responder + f.packets.responder_to_initiator;
const withoutTable = (d: AnalyzeDocument): AnalyzeDocument => ({ ...d, flow_table: { max_flows: 0, ended_early: 0 } });

testNeeding('analyze --max-flows: least recently seen flows end early, keep their samples, and every packet stays counted', [PYTHON3], () => {
  // 300 request/reply flows (one server-delay sample each); flow 0 sends again after every 7th new flow.
  const capture = manyFlows('lru.pcap', 300, '--replies', '--revisit', '7');
  const bounded = pdmscope(['analyze', capture, '--format', 'json', '--no-db', '--max-flows', '10']);
  assert.equal(bounded.status, 0, bounded.stderr);
  const doc = JSON.parse(bounded.stdout) as AnalyzeDocument;
  assert.deepEqual(doc.flow_table, { max_flows: 10, ended_early: 290 });
  assert.equal(doc.flows.length, 300);
  assert.equal(doc.flows.reduce((n, f) => n + packetsOf(f), 0), doc.packets.total, 'every packet in one flow');
  for (const f of doc.flows) assert.equal(f.server_delay_ns.count, 1, `flow ${f.flow_index} lost its sample`);
  // Flow 0 is always recently seen, so it is never ended: one flow with all its packets.
  const zero = doc.flows.filter((f) => f.initiator.addr === '2001:db8:1::');
  assert.equal(zero.length, 1);
  assert.equal(packetsOf(zero[0]!), 2 + Math.floor(299 / 7));
  // Nothing else differs from an unbounded run: ending a finished flow early changes no number.
  const unbounded = JSON.parse(pdmscope(['analyze', capture, '--format', 'json', '--no-db']).stdout) as AnalyzeDocument;
  assert.deepEqual(unbounded.flow_table, { max_flows: 250_000, ended_early: 0 });
  assert.deepEqual(withoutTable(doc), withoutTable(unbounded));

  const table = pdmscope(['analyze', capture, '--no-db', '--max-flows', '10']);
  assert.match(table.stdout.split('\n\n')[0]!, /^flow table full: 290 flows ended early \(least recently seen first; --max-flows 10\)$/m);
  assert.doesNotMatch(pdmscope(['analyze', capture, '--no-db']).stdout.split('\n\n')[0]!, /flow table full/);

  // Flows ended early reach the store like any other.
  const db = join(dir, 'lru.db');
  const stored = pdmscope(['analyze', capture, '--format', 'ndjson', '--db', db, '--max-flows', '10', '-q']);
  assert.equal(stored.status, 0, stored.stderr);
  const store = openStore(db, { readonly: true });
  try {
    const flows = store.queryFlows({ runId: store.listRuns().at(-1)!.id, limit: 1000 });
    assert.equal(flows.length, 300);
    assert.equal(flows.reduce((n, f) => n + packetsOf(f), 0), doc.packets.total);
  } finally {
    store.close();
  }

  for (const bad of ['0', '-5', '1.5', 'many']) {
    const r = pdmscope(['analyze', capture, '--no-db', '--max-flows', bad]);
    assert.equal(r.status, 1, `--max-flows ${bad}`);
    assert.match(r.stderr, /^pdmscope: --max-flows must be a whole number ≥ 1, got .*\n$/);
  }
});

testNeeding('analyze --max-flows keeps peak memory bounded on 300,000 one-packet flows', [PYTHON3], () => {
  const capture = manyFlows('many.pcap', 300_000);
  // The child reports its own peak RSS as it exits (the CLI may call process.exit). A file, not
  // `node -e`: the reader worker thread inherits the parent's exec arguments.
  const launcher = join(dir, 'peak-rss.mjs');
  writeFileSync(launcher, `const [cli, ...rest] = process.argv.slice(2);
process.on('exit', () => process.stderr.write('maxrss_kb ' + process.resourceUsage().maxRSS + '\\n'));
process.argv = [process.argv[0], cli, ...rest];
await import(cli);
`);
  const r = spawnSync(process.execPath, [launcher, CLI, 'analyze', capture, '--format', 'ndjson', '--no-db', '-q', '--max-flows', '10000'],
    { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  assert.equal(r.status, 0, r.stderr);
  const peakMb = Number(/maxrss_kb (\d+)/.exec(r.stderr)![1]) / 1024;
  // Measured: ~245 MB bounded, ~465 MB without a bound (the 300,000 flows held until the output).
  assert.ok(peakMb < 360, `peak RSS ${peakMb.toFixed(0)} MB with --max-flows 10000`);
}, 60_000);

testNeeding('live --max-flows: flows ended early are counted for Prometheus and stored at the flush', [ROOT], async () => {
  const prefix = uniquePrefix();
  const db = join(dir, 'live.db');
  const live = startLive(['-i', 'lo', '--filter', trafficFilter(prefix), '--db', db, '--flush-interval', '200ms', '--snaplen', '512',
    '--max-flows', '2', '--prometheus', '127.0.0.1:0']);
  try {
    const m = await live.waitFor(/Prometheus metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
    await live.waitFor(/capturing on lo/);
    // Three flows sent round-robin through a table of two: every packet ends the least recently seen flow.
    const sent = inject({ iface: 'lo', prefix, flows: 3, exchanges: 20 });
    await sleep(600);
    const text = await (await fetch(m[1]!)).text();
    const endedEarly = Number(/^pdmscope_flows_ended_early_total (\d+)$/m.exec(text)?.[1]);
    assert.equal(endedEarly, sent.sent - 2, text);
    assert.match(text, /^pdmscope_open_flows 2$/m);
    live.child.kill('SIGINT');
    assert.equal((await live.exited()).code, 0);
  } finally {
    live.child.kill('SIGKILL');
  }
  const store = openStore(db, { readonly: true });
  try {
    const flows = store.queryFlows({ runId: store.listRuns().at(-1)!.id, limit: 1000 });
    assert.equal(flows.length, 120, 'one stored flow per packet, ended early or at the end');
    assert.equal(flows.reduce((n, f) => n + packetsOf(f), 0), 120);
  } finally {
    store.close();
  }
});
