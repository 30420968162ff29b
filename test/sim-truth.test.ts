// `pdmscope analyze` against the PDM simulator's truth (scripts/fixtures/simulate.py): flows,
// packet counts, PSN counters, and the server delay / total / RTD statistics, within the bound
// the RFC 8250 encoding allows. The simulator knows each delta exactly before encoding; a
// decoded delta × 2^scale attoseconds lies in (true − 2^scale as, true] (truncation), so:
//   server delay, total: decoded ∈ (v − 2^scale, v]
//   RTD = total − server delay: decoded ∈ (v − 2^scale_total, v + 2^scale_server_delay)
// min, max and mean keep the per-sample bound; percentiles may come from a sketch, so they get
// 1% relative error (DDSketch α) plus the bound, around the ranks any common definition uses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnalyzeDocument, DurationStats, FlowReport, PsnCounters } from '../src/metrics/types.js';
import {
  type SimTruth, type TruthFlow, fixtureName, loadTruth, mapLimit, pdmv2Fixtures, runCliAsync, simFixtures,
} from './support/fixtures.js';

const PERCENTILE_REL_ERROR = 0.01;
/** Float slack for comparisons of ns values built from attoseconds. */
const EPS_REL = 1e-9;

interface Bounds { lo: number; hi: number }

function eps(v: number): number {
  return Math.abs(v) * EPS_REL + 1e-12;
}

function boundsOf(truth: TruthFlow, metric: 'server_delay' | 'total' | 'rtd'): Bounds[] {
  if (metric === 'rtd') {
    return truth.rtd.map((s) => ({ lo: s.value_ns - 2 ** s.total_scale / 1e9, hi: s.value_ns + 2 ** s.server_delay_scale / 1e9 }));
  }
  return truth[metric].map((s) => ({ lo: s.value_ns - 2 ** s.scale / 1e9, hi: s.value_ns }));
}

function within(what: string, got: number | null, lo: number, hi: number): void {
  assert.ok(got !== null && Number.isFinite(got), `${what}: expected a number, got ${String(got)}`);
  assert.ok(got >= lo - eps(lo) && got <= hi + eps(hi), `${what}: ${got} not in [${lo}, ${hi}]`);
}

/** Checks one DurationStats against the truth's samples of that metric. */
function checkStats(what: string, got: DurationStats, bounds: readonly Bounds[]): void {
  assert.equal(got.count, bounds.length, `${what}.count`);
  if (bounds.length === 0) {
    for (const k of ['min', 'mean', 'max', 'p50', 'p90', 'p99'] as const) assert.equal(got[k], null, `${what}.${k} with count 0`);
    return;
  }
  const los = bounds.map((b) => b.lo).sort((a, b) => a - b);
  const his = bounds.map((b) => b.hi).sort((a, b) => a - b);
  const n = bounds.length;
  within(`${what}.min`, got.min, los[0]!, his[0]!);
  within(`${what}.max`, got.max, los[n - 1]!, his[n - 1]!);
  within(`${what}.mean`, got.mean, los.reduce((a, b) => a + b, 0) / n, his.reduce((a, b) => a + b, 0) / n);
  for (const [k, p] of [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
    // Ranks spanned by nearest-rank, interpolating and sketch definitions, one rank of slack.
    const r0 = Math.max(0, Math.floor(p * (n - 1)) - 1);
    const r1 = Math.min(n - 1, Math.ceil(p * n));
    const lo = los[r0]!;
    const hi = his[r1]!;
    const widen = (v: number, sign: number): number => v + sign * Math.abs(v) * PERCENTILE_REL_ERROR;
    within(`${what}.${k}`, got[k], widen(lo, -1), widen(hi, +1));
  }
}

function findFlow(doc: AnalyzeDocument, truth: TruthFlow): FlowReport | undefined {
  return doc.flows.find((f) =>
    f.proto_num === truth.proto_num &&
    f.initiator.addr === truth.initiator.addr && f.responder.addr === truth.responder.addr &&
    f.initiator.port === truth.initiator.port && f.responder.port === truth.responder.port &&
    (truth.icmp_echo_id === null || f.icmp_echo_id === undefined || f.icmp_echo_id === truth.icmp_echo_id));
}

type CliResult = Awaited<ReturnType<typeof runCliAsync>>;

function analyzeRun(file: string): Promise<CliResult> {
  return runCliAsync(['analyze', file, '--format', 'json', '--no-db', '--quiet', ...loadTruth(file).analyze_args]);
}

function parseAnalyze(file: string, r: CliResult): AnalyzeDocument {
  assert.equal(r.status, 0, `pdmscope analyze ${file} exited ${r.status}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as AnalyzeDocument;
}

function checkFlow(scenario: string, truth: SimTruth, tf: TruthFlow, flow: FlowReport): void {
  const where = `${scenario} flow ${tf.flow_index} (${tf.proto} ${tf.initiator.addr} ${String(tf.initiator.port)} → ` +
    `${tf.responder.addr} ${String(tf.responder.port)})`;
  assert.equal(flow.proto, tf.proto, `${where}: proto`);
  assert.deepEqual(flow.packets, tf.packets, `${where}: packets`);
  assert.deepEqual(flow.pdm_packets, tf.pdm_packets, `${where}: pdm_packets`);
  const first = truth.packets.find((p) => p.frame === tf.first_frame);
  const last = truth.packets.find((p) => p.frame === tf.last_frame);
  assert.equal(flow.first_ts_us, first?.ts_us, `${where}: first_ts_us`);
  assert.equal(flow.last_ts_us, last?.ts_us, `${where}: last_ts_us`);
  for (const dir of ['initiator_to_responder', 'responder_to_initiator'] as const) {
    const got: PsnCounters = flow.psn[dir];
    assert.deepEqual({ lost: got.lost, reordered: got.reordered, duplicates: got.duplicates, restarts: got.restarts },
      tf.psn[dir], `${where}: psn ${dir}`);
  }
  checkStats(`${where}: server_delay_ns`, flow.server_delay_ns, boundsOf(tf, 'server_delay'));
  checkStats(`${where}: total_ns`, flow.total_ns, boundsOf(tf, 'total'));
  checkStats(`${where}: rtd_ns`, flow.rtd_ns, boundsOf(tf, 'rtd'));
}

test('analyze agrees with the simulator truth (RFC 8250 and PDMv2 scenarios)', async (t) => {
  const files = [...simFixtures(), ...pdmv2Fixtures()];
  const runs = await mapLimit(files, 4, analyzeRun); // ~0.3-1 s per CLI start: run four at once
  for (const [i, file] of files.entries()) {
    const scenario = fixtureName(file);
    await t.test(scenario, () => {
      const truth = loadTruth(file);
      const doc = parseAnalyze(file, runs[i]!);
      assert.equal(doc.schema, 'pdmscope.analyze/1');
      assert.equal(doc.packets.total, truth.frames, `${scenario}: packets.total`);
      assert.equal(doc.packets.with_pdm, truth.packets.length, `${scenario}: packets.with_pdm`);
      assert.deepEqual(doc.anomalies, {}, `${scenario}: a clean simulation has no anomalies`);
      assert.equal(doc.flows.length, truth.flows.length, `${scenario}: PDM flows`);
      for (const tf of truth.flows) {
        const flow = findFlow(doc, tf);
        assert.ok(flow, `${scenario}: no flow ${tf.proto} ${tf.initiator.addr} → ${tf.responder.addr} in the analyze output`);
        checkFlow(scenario, truth, tf, flow);
      }
    });
  }
});

test('the RFC 8250 §4.1 walkthrough truth: server delay 2 s, total 7 s, RTD 5 s', () => {
  const truth = loadTruth(simFixtures().find((f) => fixtureName(f) === 'rfc8250-walkthrough')!);
  const flow = truth.flows[0]!;
  assert.equal(flow.server_delay[0]?.value_as, '2000000000000000000');
  assert.equal(flow.total[0]?.value_as, '7000000000000000000');
  assert.equal(flow.rtd[0]?.value_as, '5000000000000000000');
  assert.equal(truth.hosts.B?.clock_offset_ns, 3600e9);
});

test('checkStats accepts exact-bound values and rejects values outside the quantisation bound', () => {
  const bounds = [{ lo: 9, hi: 10 }, { lo: 19, hi: 20 }, { lo: 29, hi: 30 }];
  const ok: DurationStats = { count: 3, min: 9.5, mean: 19.5, max: 30, p50: 20, p90: 30, p99: 30 };
  checkStats('ok', ok, bounds);
  assert.throws(() => checkStats('min', { ...ok, min: 10.5 }, bounds));
  assert.throws(() => checkStats('max', { ...ok, max: 30.5 }, bounds));
  assert.throws(() => checkStats('count', { ...ok, count: 2 }, bounds));
  assert.throws(() => checkStats('p99', { ...ok, p99: 5 }, bounds));
  checkStats('empty', { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null }, []);
  assert.throws(() => checkStats('zeros', { count: 0, min: 0, mean: 0, max: 0, p50: 0, p90: 0, p99: 0 }, []));
});
