// `pdmscope report` against a real SQLite store, in-process through yargs with the same
// failure handling as src/cli/cli.ts (the command may not be registered there yet).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import yargs from 'yargs';
import { reportCommand } from '../src/cli/commands/report.js';
import { EXIT_USAGE, UserError, oneLine } from '../src/cli/errors.js';
import { openStore } from '../src/sink/store.js';
import { testRunMeta } from './support/store.js';
import { renderReport } from '../src/sink/report.js';
import { syntheticReportInput } from './support/report.js';

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
  try {
    await yargs(argv).scriptName('pdmscope').locale('en').strict().demandCommand(1).exitProcess(false)
      .fail((msg, err) => { if (err) throw err; throw new UserError(msg, EXIT_USAGE); })
      .command(reportCommand).parseAsync();
    return { code: 0, stderr };
  } catch (err) {
    return { code: err instanceof UserError ? err.exitCode : 99, stderr: stderr + oneLine(err) };
  } finally {
    process.stderr.write = write;
  }
}

function dataBlock(html: string): unknown {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m);
  return JSON.parse(m[1]!);
}

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-report-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'store.db');
const input = syntheticReportInput([
  { samplesPerMetric: 4000, rtdNs: 3e6, serverDelayNs: 1e5, durationUs: 30e6, lossEvents: 6, port: 443 },
  { samplesPerMetric: 200, rtdNs: 1e6, serverDelayNs: 5e4, durationUs: 5e6, lossEvents: 1, port: 53 },
  { samplesPerMetric: 0, rtdNs: 0, serverDelayNs: 0, durationUs: 1e6, lossEvents: 0, port: 80 },
]);
{
  const store = openStore(db);
  const nullSketches = { server_delay_ns: null, total_ns: null, rtd_ns: null };
  // Run 1 without samples, run 2 with samples and PSN events.
  store.writeRun(testRunMeta({ content_hash: 'a' }), input.doc.flows.map((report) => ({ report, sketches: nullSketches })));
  store.writeRun(testRunMeta({
    content_hash: 'b', inputs: input.doc.inputs, packets: input.doc.packets, anomalies: input.doc.anomalies, esp_no_sa_by_spi: input.doc.esp_no_sa_by_spi,
  }), input.doc.flows.map((report) => ({ report, sketches: nullSketches })), input.samples, { psnEvents: input.psn_events });
  store.close();
}

test('report of the latest run: same tables and chart data as rendering the analysis directly', async () => {
  const out = join(dir, 'latest.html');
  const r = await run(['report', '--db', db, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote .*latest\.html \(run 2, 3 flows, \d+ KiB\)/);
  const html = readFileSync(out, 'utf8');
  assert.deepEqual(dataBlock(html), dataBlock(renderReport(input)));
  assert.match(html, /<title>pdmscope report — run 2<\/title>/);
  assert.match(html, /Run 2 \(analyze\) of /);
  assert.match(html, /file ends inside a packet record at byte 1180/);
  assert.match(html, /pdm_bad_length/);
  assert.match(html, /id="chart-series-0"/);
  assert.match(html, /id="chart-loss-1"/);
});

test('report of a run without samples has tables and says how to get charts', async () => {
  const out = join(dir, 'run1.html');
  const r = await run(['report', '--db', db, '--run', '1', '--out', out, '--title', 'Run <1>']);
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /<title>Run &lt;1&gt;<\/title>/);
  assert.match(html, /No samples in this report/);
  assert.ok(!html.includes('class="chart"'));
  assert.match(html, /id="flow-table"/);
});

test('--max-flows limits the flows that get charts and the samples read', async () => {
  const out = join(dir, 'one.html');
  const r = await run(['report', '--db', db, '--out', out, '--max-flows', '1']);
  assert.equal(r.code, 0, r.stderr);
  const data = dataBlock(readFileSync(out, 'utf8')) as { flows: { flow_index: number }[] };
  assert.deepEqual(data.flows.map((f) => f.flow_index), [0]);
});

test('bad arguments and inputs give one-line errors and the right exit code', async () => {
  const cases: [string[], number, RegExp][] = [
    [['report', '--db', join(dir, 'nope.db'), '--out', join(dir, 'x.html')], 2, /nope\.db: no such database/],
    [['report', '--db', db, '--run', '9', '--out', join(dir, 'x.html')], 2, /no run 9 \(stored runs: 1, 2\)/],
    [['report', '--db', db, '--run', '0', '--out', join(dir, 'x.html')], EXIT_USAGE, /--run must be a positive integer/],
    [['report', '--db', db], EXIT_USAGE, /Missing required argument: out/],
    [['report', '--db', db, '--out', join(dir, 'missing', 'x.html')], 2, /missing\/x\.html: cannot write report \(ENOENT\)/],
    [['report', '--db', db, '--out', join(dir, 'x.html'), '--max-flows', '-1'], EXIT_USAGE, /--max-flows must be a non-negative integer/],
  ];
  const notDb = join(dir, 'not.db');
  writeFileSync(notDb, 'hello, not sqlite'.repeat(100));
  cases.push([['report', '--db', notDb, '--out', join(dir, 'x.html')], 2, /not\.db: not an SQLite database/]);
  const empty = join(dir, 'empty.db');
  openStore(empty).close();
  cases.push([['report', '--db', empty, '--out', join(dir, 'x.html')], 2, /empty\.db: no runs stored yet/]);
  for (const [argv, code, message] of cases) {
    const r = await run(argv);
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.ok(!r.stderr.trim().includes('\n'), r.stderr);
  }
  assert.ok(!existsSync(join(dir, 'x.html')));
});
