import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { QuantileSketch } from '../metrics/sketch.js';
import { PAGE_SIZE, StoreError, openStore, sampleInsertOrder } from './store.js';
import { SAMPLE_METRICS, SampleColumns } from './sample-columns.js';
import type { Sample } from '../metrics/types.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './store-schema.js';
import { testFlow, testRunMeta, testSamples } from '../../test/support/store.js';
import { rng } from '../../test/support/build.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const dir = mkdtempSync(join(tmpdir(), 'pdmscope-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshPath = (): string => join(dir, `t${++counter}.db`);

function oneLineStoreError(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && pattern.test(e.message) && !e.message.includes('\n');
}

test('a fresh store has the current schema, WAL mode and pdmscope application id; reopening keeps data', () => {
  const path = freshPath();
  const store = openStore(path);
  store.writeRun(testRunMeta(), [testFlow(0, { rtd_ns: [1, 2, 3] })]);
  store.close();
  const raw = new Database(path, { readonly: true });
  assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(raw.pragma('application_id', { simple: true }), APPLICATION_ID);
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(raw.pragma('page_size', { simple: true }), PAGE_SIZE);
  const tables = raw.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all();
  assert.deepEqual(tables, ['flows', 'psn_events', 'runs', 'samples']);
  raw.close();
  const again = openStore(path);
  assert.equal(again.listRuns().length, 1);
  assert.equal(again.queryFlows().length, 1);
  again.close();
});

test('forward migrations run in order and keep data; a newer schema is refused in one line', () => {
  const path = freshPath();
  const v2: typeof MIGRATIONS = [
    ...MIGRATIONS,
    (db) => { db.exec(`ALTER TABLE runs ADD COLUMN note TEXT DEFAULT 'migrated'`); },
  ];
  const s1 = openStore(path);
  s1.writeRun(testRunMeta(), [testFlow(0)]);
  s1.close();
  const s2 = openStore(path, { migrations: v2 });
  assert.equal(s2.listRuns().length, 1);
  s2.close();
  const raw = new Database(path);
  assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1);
  assert.equal(raw.prepare('SELECT note FROM runs').pluck().get(), 'migrated');
  raw.pragma('user_version = 99');
  raw.close();
  assert.throws(() => openStore(path), oneLineStoreError(new RegExp(`schema version 99 is newer than this pdmscope knows \\(${SCHEMA_VERSION}\\)`)));
  assert.throws(() => openStore(path, { readonly: true }), oneLineStoreError(/newer/));
  // Refusal did not touch the file.
  const check = new Database(path, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 99);
  check.close();
});

test('a file that is not SQLite: one-line error naming the path, file untouched', () => {
  const path = freshPath();
  writeFileSync(path, 'this is not a database, just some text that is long enough to have a header........\n'.repeat(20));
  assert.throws(() => openStore(path), oneLineStoreError(new RegExp(`${path.replace(/[.]/g, '\\.')}: not an SQLite database`)));
  assert.throws(() => openStore(path, { readonly: true }), oneLineStoreError(/not an SQLite database/));
  assert.ok(!existsSync(`${path}-wal`));
});

test('an SQLite database of another application is refused and left alone', () => {
  const path = freshPath();
  const raw = new Database(path);
  raw.exec('CREATE TABLE other (x)');
  raw.close();
  assert.throws(() => openStore(path), oneLineStoreError(/not a pdmscope store/));
  const appPath = freshPath();
  const app = new Database(appPath);
  app.pragma('application_id = 1234');
  app.close();
  assert.throws(() => openStore(appPath), oneLineStoreError(/another application/));
  const check = new Database(path, { readonly: true });
  assert.deepEqual(check.prepare(`SELECT name FROM sqlite_schema`).pluck().all(), ['other']);
  check.close();
});

test('a missing database is not created when opened read-only or with mustExist', () => {
  const path = freshPath();
  assert.throws(() => openStore(path, { readonly: true }), oneLineStoreError(/no such database/));
  assert.throws(() => openStore(path, { mustExist: true }), oneLineStoreError(/no such database/));
  assert.ok(!existsSync(path));
});

test('a locked database (another connection holds an exclusive lock): one-line error', () => {
  // A new file in rollback-journal mode: EXCLUSIVE keeps readers out too.
  const path = freshPath();
  const holder = new Database(path);
  holder.exec('CREATE TABLE x (y)');
  holder.pragma('locking_mode = EXCLUSIVE');
  holder.exec('BEGIN EXCLUSIVE');
  holder.exec('INSERT INTO x VALUES (1)');
  assert.throws(() => openStore(path, { busyTimeoutMs: 50 }), oneLineStoreError(/database is locked/));
  assert.throws(() => openStore(path, { readonly: true, busyTimeoutMs: 50 }), oneLineStoreError(/database is locked/));
  holder.exec('ROLLBACK');
  holder.close();

  // An existing WAL store: a writer holding the write lock makes writeRun fail, not hang.
  const walPath = freshPath();
  openStore(walPath).close();
  const writer = new Database(walPath);
  writer.exec('BEGIN IMMEDIATE');
  const store = openStore(walPath, { busyTimeoutMs: 50 });
  assert.throws(() => store.writeRun(testRunMeta(), [testFlow(0)]), oneLineStoreError(/database is locked/));
  writer.exec('ROLLBACK');
  writer.close();
  store.writeRun(testRunMeta(), [testFlow(0)]);
  assert.equal(store.listRuns().length, 1);
  store.close();
});

test('writeRun then queryFlows gives back the analyze/1 flow report', () => {
  const store = openStore(freshPath());
  const flows = [
    testFlow(0, { server_delay_ns: [1000, 2000], total_ns: [5e6, 6e6, 7.5e10], rtd_ns: [4.999e6, -12.5, 0] }),
    testFlow(1, {}, { esp: { placement: 'outside', spis: [0x1000, 0x2000] }, initiator: { addr: '2001:db8::9', port: null }, responder: { addr: '2001:db8::a', port: null }, proto: 'esp', proto_num: 50 }),
    testFlow(2, {}, { proto: 'icmpv6', proto_num: 58, icmp_echo_id: 77, findings: [] }),
  ];
  const result = store.writeRun(testRunMeta(), flows, testSamples(2, 5));
  assert.deepEqual(result, { run_id: 1, replaced_run_ids: [], flows: 3, samples: 10, psn_events: 0 });
  const got = store.queryFlows({ runId: 1 });
  assert.equal(got.length, 3);
  for (const [i, f] of got.entries()) {
    const { id, run_id, ...report } = f;
    assert.equal(run_id, 1);
    assert.equal(typeof id, 'number');
    assert.deepEqual(report, flows[i]!.report);
  }
  // Durations beyond 9.22 s survive as REAL ns (attoseconds would overflow INTEGER).
  assert.equal(got[0]!.total_ns.max, 7.5e10);
  const sketches = store.flowSketches(got[0]!.id)!;
  assert.equal(sketches.total_ns!.count, 3);
  assert.equal(sketches.rtd_ns!.min, -12.5);
  assert.equal(store.flowSketches(got[1]!.id)!.rtd_ns, null);
  const runs = store.listRuns();
  assert.equal(runs[0]!.flow_count, 3);
  assert.equal(runs[0]!.sample_count, 10);
  assert.equal(runs[0]!.status, 'complete');
  assert.deepEqual(runs[0]!.anomalies, { pdm_bad_length: 1 });
  store.close();
});

test('a sample for an unknown flow rolls the whole run back', () => {
  const store = openStore(freshPath());
  store.writeRun(testRunMeta({ content_hash: 'keep' }), [testFlow(0)]);
  const bad = [{ flow_index: 5, ts_us: 1, metric: 'rtd' as const, value_ns: 1, psn: 1, frame: 1 }];
  assert.throws(() => store.writeRun(testRunMeta({ content_hash: 'other' }), [testFlow(0)], bad), /flow_index 5/);
  assert.equal(store.listRuns().length, 1);
  assert.equal(store.queryFlows().length, 1);
  store.close();
});

test('same content hash replaces the earlier run; append keeps both', () => {
  const store = openStore(freshPath());
  const first = store.writeRun(testRunMeta({ content_hash: 'h1' }), [testFlow(0), testFlow(1)], testSamples(2, 3));
  const other = store.writeRun(testRunMeta({ content_hash: 'h2' }), [testFlow(0)]);
  const second = store.writeRun(testRunMeta({ content_hash: 'h1' }), [testFlow(0)], testSamples(1, 2));
  assert.deepEqual(second.replaced_run_ids, [first.run_id]);
  assert.deepEqual(store.listRuns().map((r) => r.id), [other.run_id, second.run_id]);
  assert.equal(store.queryFlows().length, 2);
  assert.equal(store.readonlySql('SELECT count(*) FROM samples').rows[0]![0], 2);
  const appended = store.writeRun(testRunMeta({ content_hash: 'h1' }), [testFlow(0)], undefined, { append: true });
  assert.deepEqual(appended.replaced_run_ids, []);
  assert.equal(store.listRuns().length, 3);
  // A null hash never replaces anything.
  store.writeRun(testRunMeta({ content_hash: null }), [testFlow(0)]);
  store.writeRun(testRunMeta({ content_hash: null }), [testFlow(0)]);
  assert.equal(store.listRuns().length, 5);
  store.close();
});

test('readonlySql answers queries and refuses every statement that would write', () => {
  const path = freshPath();
  const store = openStore(path);
  store.writeRun(testRunMeta(), [testFlow(0, { rtd_ns: [1e6] })]);
  const ok = store.readonlySql('SELECT id, proto, rtd_ns_p50, rtd_ns_sketch FROM flows');
  assert.deepEqual(ok.columns, ['id', 'proto', 'rtd_ns_p50', 'rtd_ns_sketch']);
  assert.equal(ok.rows[0]![1], 'udp');
  for (const sql of [
    'DELETE FROM flows',
    "INSERT INTO runs (kind) VALUES ('x')",
    'UPDATE flows SET proto = 1',
    'DROP TABLE flows',
    'CREATE TABLE evil (x)',
    'PRAGMA user_version = 5',
    'WITH x AS (SELECT 1) DELETE FROM samples',
    'VACUUM',
    'REINDEX',
  ]) {
    assert.throws(() => store.readonlySql(sql), oneLineStoreError(/^sql: /), sql);
  }
  assert.throws(() => store.readonlySql("ATTACH DATABASE 'x.db' AS x"), oneLineStoreError(/^sql: /));
  assert.throws(() => store.readonlySql('SELECT 1; DELETE FROM flows'), oneLineStoreError(/^sql: /));
  assert.throws(() => store.readonlySql('SELEC nonsense'), oneLineStoreError(/^sql: /));
  assert.equal(store.queryFlows().length, 1);
  assert.equal(store.listRuns().length, 1);
  assert.ok(!existsSync(join(dir, 'x.db')));
  store.close();
  // The same through a store opened read-only.
  const ro = openStore(path, { readonly: true });
  assert.throws(() => ro.readonlySql('DELETE FROM flows'), oneLineStoreError(/would write/));
  assert.throws(() => ro.writeRun(testRunMeta(), []), /read-only/);
  assert.equal(ro.readonlySql('SELECT count(*) AS n FROM flows').rows[0]![0], 1);
  ro.close();
});

test('SQL injection attempts in filters are harmless (bound parameters, whitelisted sort)', () => {
  const store = openStore(freshPath());
  store.writeRun(testRunMeta(), [testFlow(0), testFlow(1)]);
  for (const addr of ["x' OR '1'='1", "2001:db8::1' OR 1=1 --", "'; DROP TABLE flows; --", '" OR ""="']) {
    assert.deepEqual(store.queryFlows({ addr }), [], addr);
    assert.deepEqual(store.queryFlows({ proto: addr }), [], addr);
  }
  assert.throws(() => store.queryFlows({ sort: 'id; DROP TABLE flows' }), oneLineStoreError(/unknown sort key/));
  assert.throws(() => store.queryFlows({ limit: -1 }), /limit/);
  assert.equal(store.queryFlows().length, 2);
  assert.equal(store.queryFlows({ addr: '2001:db8::1' }).length, 2);
  assert.equal(store.queryFlows({ addr: '2001:db8::2', port: 40_001 }).length, 1);
  assert.equal(store.queryFlows({ proto: '17' }).length, 2);
  assert.equal(store.queryFlows({ proto: 'UDP' }).length, 2);
  store.close();
});

test('filters, --latest, sort whitelist and limit', () => {
  const store = openStore(freshPath());
  store.writeRun(testRunMeta({ content_hash: 'a' }), [
    testFlow(0, { rtd_ns: [1e6, 2e6] }),
    testFlow(1, { rtd_ns: [9e6, 10e6, 50e6] }),
    testFlow(2, {}),
    testFlow(3, { rtd_ns: [5e6] }),
  ]);
  const latest = store.writeRun(testRunMeta({ content_hash: 'b' }), [testFlow(0, { rtd_ns: [3e6] })]);
  const bySort = store.queryFlows({ runId: 1, sort: 'rtd_p99' });
  assert.deepEqual(bySort.map((f) => f.flow_index), [1, 3, 0, 2]); // worst first, no RTD last
  assert.deepEqual(store.queryFlows({ runId: 1, sort: 'rtd_p99', limit: 2 }).map((f) => f.flow_index), [1, 3]);
  assert.deepEqual(store.queryFlows({ runId: 1, minRtdNs: 5e6 }).map((f) => f.flow_index), [1, 3]);
  assert.deepEqual(store.queryFlows({ latest: true }).map((f) => f.run_id), [latest.run_id]);
  assert.deepEqual(store.queryFlows({ runId: 1, sort: 'first_ts' }).map((f) => f.flow_index), [0, 1, 2, 3]);
  store.close();
});

test('merge across runs equals the sketch of all values, not an average of percentiles', () => {
  const store = openStore(freshPath());
  const a = Array.from({ length: 500 }, (_, i) => 1e6 + i * 1e3);        // 1.0–1.5 ms
  const b = Array.from({ length: 100 }, (_, i) => 40e6 + i * 1e5);       // 40–50 ms
  const c = [-3000, 0, 7.5e10];
  store.writeRun(testRunMeta({ content_hash: 'r1' }), [testFlow(0, { rtd_ns: a, server_delay_ns: [1] }), testFlow(1, { rtd_ns: [5] })]);
  store.writeRun(testRunMeta({ content_hash: 'r2' }), [testFlow(0, { rtd_ns: b })]);
  store.writeRun(testRunMeta({ content_hash: 'r3' }), [testFlow(0, { rtd_ns: c })]);
  const merged = store.queryFlows({ merge: true, sort: 'rtd_count' });
  assert.equal(merged.length, 2);
  const m = merged[0]!;
  assert.deepEqual(m.run_ids, [1, 2, 3]);
  assert.equal(m.flow_ids.length, 3);
  const all = new QuantileSketch();
  for (const v of [...a, ...b, ...c]) all.add(v);
  assert.equal(m.rtd_ns.count, all.count);
  assert.equal(m.rtd_ns.min, -3000);
  assert.equal(m.rtd_ns.max, 7.5e10);
  assert.equal(m.rtd_ns.p50, all.quantile(0.5));
  assert.equal(m.rtd_ns.p90, all.quantile(0.9));
  assert.equal(m.rtd_ns.p99, all.quantile(0.99));
  assert.ok(Math.abs(m.rtd_ns.mean! - all.sum / all.count) < 1e-6);
  // The average of the three stored p90s would be far off.
  assert.equal(m.server_delay_ns.count, 1);
  assert.equal(m.packets.initiator_to_responder, 30);
  assert.equal(m.psn.initiator_to_responder.lost, 3);
  assert.equal(m.findings[0]!.count, 9);
  assert.equal(m.reverse.server_delay_ns.count, 6);
  assert.equal(m.reverse.server_delay_ns.p50, null);
  // Filters apply to the merged values.
  assert.equal(store.queryFlows({ merge: true, minRtdNs: 1e6 }).length, 1);
  assert.equal(store.queryFlows({ merge: true, runId: 2 })[0]!.rtd_ns.count, 100);
  store.close();
});

test('querySamples: one flow, one metric, time order', () => {
  const store = openStore(freshPath());
  const samples = [
    { flow_index: 0, ts_us: 30, metric: 'rtd' as const, value_ns: 3.5, psn: 3, frame: 30 },
    { flow_index: 0, ts_us: 10, metric: 'rtd' as const, value_ns: 1.25, psn: 1, frame: 10 },
    { flow_index: 0, ts_us: 20, metric: 'server_delay' as const, value_ns: 2e10, psn: 2, frame: 20 },
    { flow_index: 1, ts_us: 5, metric: 'rtd' as const, value_ns: 9, psn: 9, frame: 5 },
  ];
  store.writeRun(testRunMeta(), [testFlow(0), testFlow(1)], samples);
  const [f0] = store.queryFlows({ sort: 'id' });
  assert.deepEqual(store.querySamples({ flowId: f0!.id, metric: 'rtd' }).map((s) => s.ts_us), [10, 30]);
  assert.deepEqual(store.querySamples({ flowId: f0!.id }), [
    { ts_us: 10, metric: 'rtd', value_ns: 1.25, psn: 1, frame: 10 },
    { ts_us: 20, metric: 'server_delay', value_ns: 2e10, psn: 2, frame: 20 },
    { ts_us: 30, metric: 'rtd', value_ns: 3.5, psn: 3, frame: 30 },
  ]);
  store.close();
});

test('live run: visible while in progress, flows upserted, samples appended, finish completes it', () => {
  const path = freshPath();
  const store = openStore(path);
  const live = store.beginLiveRun(testRunMeta({ kind: 'live', content_hash: null, command: 'pdmscope live -i eth0' }));
  const reader = openStore(path, { readonly: true });
  assert.equal(reader.listRuns()[0]!.status, 'in_progress');
  assert.equal(reader.listRuns()[0]!.finished_at_us, null);
  live.flush({ flows: [testFlow(0, { rtd_ns: [1e6] })], samples: testSamples(1, 3), packets: { total: 5 } });
  assert.equal(reader.queryFlows()[0]!.rtd_ns.count, 1);
  assert.equal(reader.listRuns()[0]!.sample_count, 3);
  assert.equal(reader.listRuns()[0]!.packets.total, 5);
  live.upsertFlows([testFlow(0, { rtd_ns: [1e6, 2e6] }), testFlow(1)]);
  assert.equal(live.appendSamples(testSamples(2, 2)), 4);
  live.appendPsnEvents([{ flow_index: 1, ts_us: 9, direction: 'initiator_to_responder', kind: 'lost', count: 3, psn: 7, frame: 2 }]);
  const flows = reader.queryFlows();
  assert.equal(flows.length, 2);
  assert.equal(flows[0]!.rtd_ns.count, 2);
  assert.equal(reader.listRuns()[0]!.sample_count, 7);
  assert.throws(() => live.appendSamples([{ flow_index: 9, ts_us: 1, metric: 'rtd', value_ns: 1, psn: 1, frame: 1 }]), /flow_index 9/);
  live.finish({ finished_at_us: 1_700_000_009_000_000, packets: { total: 99 } });
  const run = reader.listRuns()[0]!;
  assert.equal(run.status, 'complete');
  assert.equal(run.finished_at_us, 1_700_000_009_000_000);
  assert.equal(run.packets.total, 99);
  assert.equal(reader.readonlySql('SELECT count(*) FROM psn_events').rows[0]![0], 1);
  reader.close();
  store.close();
});

test('a damaged stored sketch is a clear error, not a crash', () => {
  const path = freshPath();
  const store = openStore(path);
  store.writeRun(testRunMeta(), [testFlow(0, { rtd_ns: [1, 2] })]);
  store.close();
  const raw = new Database(path);
  raw.prepare('UPDATE flows SET rtd_ns_sketch = ?').run(Buffer.from([0x50, 0x51, 1, 0, 1, 2, 3]));
  raw.close();
  const again = openStore(path, { readonly: true });
  assert.throws(() => again.queryFlows({ merge: true }), oneLineStoreError(/damaged sketch/));
  assert.equal(again.queryFlows().length, 1);
  again.close();
});

/** Samples of `flows` flows interleaved, time order broken by a second "file" that restarts the clock. */
function randomSamples(seed: number, count: number, flows: number): Sample[] {
  const random = rng(seed);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const restart = i > count / 2 ? -500 : 0;
    out.push({
      flow_index: Math.floor(random() * flows),
      // Coarse timestamps so that equal ts_us within a flow and metric occur often.
      ts_us: 1_700_000_000_000_000 + restart + Math.floor(i / 3) + (random() < 0.1 ? -Math.floor(random() * 50) : 0),
      metric: SAMPLE_METRICS[Math.floor(random() * SAMPLE_METRICS.length)]!,
      value_ns: random() * 1e9,
      psn: i & 0xffff,
      frame: i + 1,
    });
  }
  return out;
}

test('sampleInsertOrder: by flow id, metric name, time, ties in arrival order (same as sorting the objects)', () => {
  const samples = randomSamples(11, 20_000, 37);
  // Flow ids in a different order than the flow indices, as after replaced runs.
  const ids = new Map<number, number>();
  for (let f = 0; f < 37; f++) ids.set(f, 1000 + ((f * 17) % 37));
  const columns = SampleColumns.from(samples);
  const { order, groupStart, flowIdByRank } = sampleInsertOrder(columns, ids);
  const expected = samples.map((s, i) => ({ s, i })).sort((a, b) =>
    ids.get(a.s.flow_index)! - ids.get(b.s.flow_index)! ||
    (a.s.metric < b.s.metric ? -1 : a.s.metric > b.s.metric ? 1 : 0) ||
    a.s.ts_us - b.s.ts_us || a.i - b.i).map((x) => x.i);
  assert.deepEqual([...order], expected);
  assert.deepEqual(flowIdByRank, [...ids.values()].sort((a, b) => a - b));
  assert.equal(groupStart.length, flowIdByRank.length * SAMPLE_METRICS.length + 1);
  assert.equal(groupStart[groupStart.length - 1], samples.length);
  for (let g = 0; g + 1 < groupStart.length; g++) {
    const flowId = flowIdByRank[Math.floor(g / SAMPLE_METRICS.length)]!;
    const metric = SAMPLE_METRICS[g % SAMPLE_METRICS.length]!;
    for (let j = groupStart[g]!; j < groupStart[g + 1]!; j++) {
      const s = samples[order[j]!]!;
      assert.equal(ids.get(s.flow_index), flowId);
      assert.equal(s.metric, metric);
    }
  }
  // Sparse flow indices take the Map path and give the same order.
  const sparseSamples = samples.map((s) => ({ ...s, flow_index: s.flow_index * 1_000_000 }));
  const sparseIds = new Map([...ids].map(([f, id]) => [f * 1_000_000, id]));
  assert.deepEqual([...sampleInsertOrder(SampleColumns.from(sparseSamples), sparseIds).order], expected);
  assert.throws(() => sampleInsertOrder(SampleColumns.from([{ ...samples[0]!, flow_index: 99 }]), ids), /flow_index 99/);
});

test('writeRun stores the same rows from a SampleColumns batch as from Sample objects', () => {
  const samples = randomSamples(3, 3000, 5);
  const flows = [0, 1, 2, 3, 4].map((f) => testFlow(f));
  const dump = (path: string): unknown[] => {
    const raw = new Database(path, { readonly: true });
    const rows = raw.prepare('SELECT f.flow_index, s.ts_us, s.metric, s.value_ns, s.psn, s.frame, s.seq FROM samples s JOIN flows f ON f.id = s.flow_id ORDER BY f.flow_index, s.metric, s.ts_us, s.seq').raw(true).all();
    raw.close();
    return rows;
  };
  const a = freshPath(), b = freshPath();
  const sa = openStore(a);
  assert.equal(sa.writeRun(testRunMeta(), flows, samples).samples, 3000);
  sa.close();
  const sb = openStore(b);
  assert.equal(sb.writeRun(testRunMeta(), flows, SampleColumns.from(samples)).samples, 3000);
  sb.close();
  const rowsA = dump(a);
  assert.equal(rowsA.length, 3000);
  assert.deepEqual(rowsA, dump(b));
  // Every stored value is the sample's own; seq counts equal timestamps of a flow and metric
  // in arrival order (0 for the first).
  const sorted = samples.map((s, i) => ({ s, i })).sort((a, b) => a.s.flow_index - b.s.flow_index ||
    (a.s.metric < b.s.metric ? -1 : a.s.metric > b.s.metric ? 1 : 0) || a.s.ts_us - b.s.ts_us || a.i - b.i);
  let ties = 0;
  const expected = sorted.map(({ s }, k) => {
    const p = k > 0 ? sorted[k - 1]!.s : undefined;
    ties = p !== undefined && p.flow_index === s.flow_index && p.metric === s.metric && p.ts_us === s.ts_us ? ties + 1 : 0;
    return [s.flow_index, s.ts_us, s.metric, s.value_ns, s.psn, s.frame, ties];
  });
  assert.ok(expected.some((row) => row[6] === 2), 'the data has triple ties');
  assert.deepEqual(rowsA, expected);
});

test('equal timestamps of one flow and metric are all kept, in arrival order, also across live batches', () => {
  const path = freshPath();
  const store = openStore(path);
  const tie = (frame: number): Sample => ({ flow_index: 0, ts_us: 1_700_000_000_000_000, metric: 'rtd', value_ns: frame, psn: frame, frame });
  store.writeRun(testRunMeta(), [testFlow(0)], [tie(1), tie(2), tie(3)]);
  const [flow] = store.queryFlows();
  assert.deepEqual(store.querySamples({ flowId: flow!.id, metric: 'rtd' }).map((s) => s.frame), [1, 2, 3]);
  const live = store.beginLiveRun(testRunMeta({ kind: 'live', content_hash: null }));
  live.upsertFlows([testFlow(0)]);
  assert.equal(live.appendSamples([tie(10), tie(11)]), 2);
  live.flush({ samples: [tie(12)] });
  assert.equal(live.appendSamples(SampleColumns.from([tie(13), tie(14)])), 2);
  live.finish({});
  const liveFlow = store.queryFlows({ runId: live.runId })[0]!;
  assert.deepEqual(store.querySamples({ flowId: liveFlow.id, metric: 'rtd' }).map((s) => s.frame), [10, 11, 12, 13, 14]);
  assert.deepEqual(store.querySamples({ flowId: liveFlow.id, metric: 'rtd', limit: 2 }).map((s) => s.frame), [10, 11]);
  store.writeRun(testRunMeta({ content_hash: 'same-time' }), [testFlow(0)], [
    { flow_index: 0, ts_us: 7, metric: 'total', value_ns: 3, psn: 1, frame: 1 },
    { flow_index: 0, ts_us: 7, metric: 'rtd', value_ns: 2, psn: 1, frame: 1 },
    { flow_index: 0, ts_us: 7, metric: 'server_delay', value_ns: 1, psn: 1, frame: 1 },
  ]);
  const newest = store.queryFlows({ latest: true })[0]!;
  // Different metrics at one time (one packet): name order, whatever the arrival order.
  assert.deepEqual(store.querySamples({ flowId: newest.id }).map((s) => s.metric), ['rtd', 'server_delay', 'total']);
  store.close();
});

test('migration 1 → 2: samples move to the WITHOUT ROWID table with their values and order', () => {
  const path = freshPath();
  // A store of the previous release: 4 KiB pages, schema 1.
  const pre = new Database(path);
  pre.pragma('page_size = 4096');
  pre.pragma('journal_mode = WAL');
  pre.close();
  const v1 = openStore(path, { migrations: MIGRATIONS.slice(0, 1) });
  const samples: Sample[] = [
    { flow_index: 0, ts_us: 30, metric: 'rtd', value_ns: 3.5, psn: 3, frame: 30 },
    { flow_index: 0, ts_us: 10, metric: 'rtd', value_ns: 1.25, psn: 1, frame: 10 },
    { flow_index: 0, ts_us: 10, metric: 'rtd', value_ns: 1.5, psn: 2, frame: 11 },
    { flow_index: 0, ts_us: 20, metric: 'server_delay', value_ns: 2e10, psn: 2, frame: 20 },
    { flow_index: 1, ts_us: 5, metric: 'total', value_ns: 9, psn: 9, frame: 5 },
  ];
  // A v1 store as the previous release wrote it: rowid table, samples_flow index, no seq.
  const raw1 = new Database(path);
  raw1.prepare('INSERT INTO runs (kind, status, started_at_us, command, inputs, packets, anomalies, tool_version) VALUES (?, ?, 1, ?, ?, ?, ?, ?)')
    .run('analyze', 'complete', 'x', '[]', '{}', '{}', 'old');
  v1.close();
  const ins = raw1.prepare('INSERT INTO samples (run_id, flow_id, ts_us, metric, value_ns, psn, frame) VALUES (1, ?, ?, ?, ?, ?, ?)');
  for (const s of samples) ins.run(s.flow_index + 1, s.ts_us, s.metric, s.value_ns, s.psn, s.frame);
  assert.equal(raw1.pragma('user_version', { simple: true }), 1);
  raw1.close();
  const store = openStore(path);
  assert.deepEqual(store.querySamples({ flowId: 1, metric: 'rtd' }).map((s) => [s.ts_us, s.frame]), [[10, 10], [10, 11], [30, 30]]);
  assert.deepEqual(store.querySamples({ flowId: 1 }).map((s) => s.frame), [10, 11, 20, 30]);
  assert.deepEqual(store.querySamples({ flowId: 2 }), [{ ts_us: 5, metric: 'total', value_ns: 9, psn: 9, frame: 5 }]);
  store.close();
  const raw = new Database(path, { readonly: true });
  assert.equal(raw.pragma('user_version', { simple: true }), 2);
  assert.equal(raw.pragma('page_size', { simple: true }), 4096, 'an existing store keeps its page size');
  const sql = raw.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'samples'`).pluck().get() as string;
  assert.match(sql, /PRIMARY KEY \(flow_id, metric, ts_us, seq\)\s*\) WITHOUT ROWID/);
  assert.equal(raw.prepare(`SELECT count(*) FROM sqlite_schema WHERE name IN ('samples_flow', 'samples_v2')`).pluck().get(), 0);
  // The old rowids became seq: the tie at ts 10 keeps its insertion order.
  assert.deepEqual(raw.prepare('SELECT seq FROM samples WHERE flow_id = 1 AND metric = ? ORDER BY ts_us, seq').pluck().all('rtd'), [2, 3, 1]);
  raw.close();
});

test('a flow\'s samples of one metric are read from the primary key in order, without a sort step', () => {
  const store = openStore(freshPath());
  store.writeRun(testRunMeta(), [testFlow(0)], testSamples(1, 10));
  const plan = store.readonlySql('EXPLAIN QUERY PLAN SELECT ts_us, metric, value_ns, psn, frame FROM samples WHERE flow_id = 1 AND metric = \'rtd\' ORDER BY ts_us, metric, seq');
  const detail = plan.rows.map((r) => String(r[plan.columns.indexOf('detail')])).join('; ');
  assert.match(detail, /USING PRIMARY KEY \(flow_id=\? AND metric=\?\)/);
  assert.doesNotMatch(detail, /TEMP B-TREE/);
  store.close();
});
