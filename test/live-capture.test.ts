// `pdmscope live` on lo (root): stored flows match `analyze` of a tcpdump capture of the same
// traffic; the run grows while capturing; SIGINT flushes and exits within 2 s, busy or idle;
// a 200,000-packet burst is accounted for; /metrics parses.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { runLiveBurst } from './support/live-burst.js';
import { CLI_JS, inject, runCli, sleep, startLive, startTcpdump, uniquePrefix } from './support/live.js';
import { trafficFilter, trafficPackets } from './support/traffic.js';
import type { AnalyzeDocument, FlowReport } from '../src/metrics/types.js';
import { openStore } from '../src/sink/store.js';
import { ROOT, TCPDUMP, testNeeding } from './support/prereq.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-live-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function storedFlows(db: string): { status: string; flows: FlowReport[] } {
  const store = openStore(db, { readonly: true });
  try {
    const runs = store.listRuns();
    const run = runs[runs.length - 1]!;
    assert.equal(run.kind, 'live');
    return { status: run.status, flows: store.queryFlows({ runId: run.id }) };
  } finally {
    store.close();
  }
}

const total = (f: FlowReport): number => f.packets.initiator_to_responder + f.packets.responder_to_initiator;

/** The comparable part of a flow: key, counts, delay statistics, PSN accounting. */
function comparable(f: FlowReport): unknown {
  return {
    key: `${f.proto} ${f.initiator.addr} ${f.initiator.port} ${f.responder.addr} ${f.responder.port}`,
    packets: f.packets, pdm_packets: f.pdm_packets,
    server_delay_ns: f.server_delay_ns, total_ns: f.total_ns, rtd_ns: f.rtd_ns, psn: f.psn,
  };
}

function byKey(flows: FlowReport[]): unknown[] {
  return flows.map(comparable).sort((a, b) => String((a as { key: string }).key).localeCompare((b as { key: string }).key));
}

testNeeding('live on lo: the stored run grows during capture and matches analyze of a tcpdump capture', [ROOT, TCPDUMP], async (t) => {
  const prefix = uniquePrefix();
  const filter = trafficFilter(prefix);
  const db = join(dir, 'lo.db');
  const pcap = join(dir, 'lo.pcap');
  const tcpdump = await startTcpdump('lo', filter, pcap);
  const live = startLive(['-i', 'lo', '--filter', filter, '--db', db, '--flush-interval', '300ms', '--format', 'ndjson']);
  try {
    await live.waitFor(/capturing on lo/);
    const spec = { iface: 'lo', prefix, flows: 3, exchanges: 200 };
    const sent = inject(spec);
    assert.equal(sent.sent, trafficPackets(spec));
    await sleep(900);
    // Visible while the capture goes on (WAL readers do not block the writer, native-notes/better-sqlite3.md §3).
    const during = storedFlows(db);
    assert.equal(during.status, 'in_progress');
    assert.equal(during.flows.length, 3);
    assert.equal(during.flows.reduce((n, f) => n + total(f), 0), sent.sent);
    const q = runCli(['query', 'flows', '--db', db, '--latest']);
    assert.equal(q.status, 0, q.stderr);
    assert.match(q.stdout, new RegExp(`${prefix}::1\\]:40000`));

    live.child.kill('SIGINT');
    const exit = await live.exited();
    assert.equal(exit.code, 0, live.stderr());
    tcpdump.child.kill('SIGINT');
    await tcpdump.exited();

    const stored = storedFlows(db);
    assert.equal(stored.status, 'complete');
    const a = runCli(['analyze', pcap, '--no-db', '--format', 'json']);
    assert.equal(a.status, 0, a.stderr);
    const doc = JSON.parse(a.stdout) as AnalyzeDocument;
    assert.equal(doc.packets.total, sent.sent, 'tcpdump saw every packet');
    assert.deepEqual(byKey(stored.flows), byKey(doc.flows));
    for (const f of stored.flows) {
      assert.ok(f.server_delay_ns.count > 190, 'every flow yields server delay samples');
      assert.ok(f.server_delay_ns.min! >= 49_000 && f.server_delay_ns.max! <= 80_000, `server delay within the generated 50–80 µs: ${JSON.stringify(f.server_delay_ns)}`);
    }
    // NDJSON: flow objects, the last line per flow equal to what was stored.
    const lines = live.stdout().trim().split('\n').map((l) => JSON.parse(l) as FlowReport);
    const last = new Map<number, FlowReport>();
    for (const l of lines) last.set(l.flow_index, l);
    assert.deepEqual(byKey([...last.values()]), byKey(stored.flows));
    t.diagnostic(`${sent.sent} packets in ${sent.seconds.toFixed(3)} s; ${lines.length} NDJSON flow updates`);
  } finally {
    live.child.kill('SIGKILL');
    tcpdump.child.kill('SIGKILL');
  }
});

testNeeding('SIGINT: everything seen is stored, exit within 2 s, busy or idle', [ROOT], async (t) => {
  const prefix = uniquePrefix();
  const filter = trafficFilter(prefix);
  const db = join(dir, 'sigint.db');
  // The flush interval is long: what is stored comes from the final flush on SIGINT.
  const live = startLive(['-i', 'lo', '--filter', filter, '--db', db, '--flush-interval', '60s', '--snaplen', '512']);
  try {
    await live.waitFor(/capturing on lo/);
    const sent = inject({ iface: 'lo', prefix, flows: 5, exchanges: 300 });
    await sleep(300);
    const t0 = Date.now();
    live.child.kill('SIGINT');
    const exit = await live.exited();
    const ms = exit.atMs - t0;
    assert.equal(exit.code, 0, live.stderr());
    assert.ok(ms < 2000, `exited ${ms} ms after SIGINT`);
    const stored = storedFlows(db);
    assert.equal(stored.status, 'complete');
    assert.equal(stored.flows.length, 5);
    assert.equal(stored.flows.reduce((n, f) => n + total(f), 0), sent.sent);
    // --format table: the flow table at the end.
    assert.match(live.stdout(), new RegExp(`^lo: ${sent.sent} packets, ${sent.sent} IPv6, ${sent.sent} with PDM, 0 malformed; 5 flows$`, 'm'));
    t.diagnostic(`busy: exit ${ms} ms after SIGINT`);
  } finally {
    live.child.kill('SIGKILL');
  }

  // Idle: nothing matches the filter, so node_pcap's close() cannot release the handle (native-notes/node_pcap.md #9).
  const idle = startLive(['-i', 'lo', '--filter', trafficFilter(uniquePrefix()), '--db', join(dir, 'idle.db')]);
  try {
    await idle.waitFor(/capturing on lo/);
    await sleep(300);
    const t0 = Date.now();
    idle.child.kill('SIGTERM');
    const exit = await idle.exited();
    assert.equal(exit.code, 0, idle.stderr());
    assert.ok(exit.atMs - t0 < 2000, `idle: exited ${exit.atMs - t0} ms after SIGTERM`);
    assert.equal(storedFlows(join(dir, 'idle.db')).status, 'complete');
    t.diagnostic(`idle: exit ${exit.atMs - t0} ms after SIGTERM`);
  } finally {
    idle.child.kill('SIGKILL');
  }
});

testNeeding('load: 200,000 PDM packets on lo, captured + kernel drops = sent', [ROOT], async (t) => {
  const r = await runLiveBurst(200_000);
  assert.equal(r.sent, 200_000);
  assert.equal(r.captured + r.dropped, r.sent, JSON.stringify(r));
  assert.equal(r.pdmPackets, r.captured);
  t.diagnostic(`sent ${r.sent} in ${r.seconds.toFixed(2)} s (${Math.round(r.sent / r.seconds)} packets/s), captured ${r.captured}, kernel drops ${r.dropped}`);
});

/** One sample line of the text format 0.0.4: name, optional labels with escaped values, a float. */
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;
const META_LINE = /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|summary|histogram|untyped))$/;

testNeeding('--prometheus: /metrics parses and counts the traffic', [ROOT], async () => {
  const prefix = uniquePrefix();
  const live = startLive(['-i', 'lo', '--filter', trafficFilter(prefix), '--no-db', '--flush-interval', '200ms', '--snaplen', '512', '--prometheus', '127.0.0.1:0']);
  try {
    const m = await live.waitFor(/Prometheus metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
    await live.waitFor(/capturing on lo/);
    const sent = inject({ iface: 'lo', prefix, flows: 2, exchanges: 50 });
    await sleep(600);
    const res = await fetch(m[1]!);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    assert.ok(text.endsWith('\n'));
    for (const line of text.slice(0, -1).split('\n')) assert.ok(SAMPLE_LINE.test(line) || META_LINE.test(line), `bad line: ${line}`);
    assert.match(text, new RegExp(`^pdmscope_pdm_packets_total ${sent.sent}$`, 'm'));
    assert.match(text, /^pdmscope_open_flows 2$/m);
    assert.match(text, new RegExp(`^pdmscope_server_delay_seconds\\{initiator="\\[${prefix}::1\\]:40000",responder="\\[${prefix}::2\\]:7000",proto="udp",quantile="0.5"\\} `, 'm'));
    assert.match(text, /^pdmscope_round_trip_delay_seconds_count\{[^}]*\} \d+$/m);
    assert.equal((await fetch(m[1]!.replace('/metrics', '/'))).status, 404);
    live.child.kill('SIGINT');
    assert.equal((await live.exited()).code, 0);
  } finally {
    live.child.kill('SIGKILL');
  }
});

test('live argument errors are one line', () => {
  const r = runCli(['live', '-i', 'lo', '--no-db', '--prometheus', 'example.org:9464']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^pdmscope: --prometheus: 'example.org' is a host name; .*\n$/);
  const d = runCli(['live', '-i', 'lo', '--no-db', '--flush-interval', 'soon']);
  assert.equal(d.status, 1);
  assert.match(d.stderr, /^pdmscope: invalid --flush-interval 'soon'/);
});

testNeeding('live without the right to capture: one line naming root and setcap, exit 2', [ROOT], () => {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI_JS, 'live', '-i', 'lo', '--no-db'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^pdmscope: lo: capturing needs root or the capture capabilities \(.*\); run as root or: setcap cap_net_raw,cap_net_admin=eip .*\n$/);
});

testNeeding('live: an unknown interface lists the real ones', [ROOT], () => {
  const r = runCli(['live', '-i', 'nosuch0', '--no-db']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^pdmscope: unknown interface 'nosuch0'; interfaces: .*\blo\b.*\n$/);
});
