import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import { ReportError, TIME_BUCKETS, renderReport, writeReportFile } from './report.js';
import { decodeFloat64 } from './report-data.js';
import { syntheticReportInput } from '../../test/support/report.js';
import type { ClientData } from './report-client.js';

function scripts(html: string): { attrs: string; body: string }[] {
  return [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => ({ attrs: m[1]!, body: m[2]! }));
}

function embeddedData(html: string): ClientData {
  const data = scripts(html).find((s) => s.attrs.includes('id="report-data"'));
  assert.ok(data, 'data block present');
  return JSON.parse(data.body) as ClientData;
}

const small = (): ReturnType<typeof syntheticReportInput> => syntheticReportInput([
  { samplesPerMetric: 5000, rtdNs: 2e6, serverDelayNs: 1e5, durationUs: 60e6, lossEvents: 5, port: 443 },
  { samplesPerMetric: 0, rtdNs: 0, serverDelayNs: 0, durationUs: 1e6, lossEvents: 0, port: 53 },
]);

test('the report is one offline document: no external URL, uPlot and its CSS inlined, three scripts', () => {
  const html = renderReport(small());
  assert.match(html, /^<!DOCTYPE html>/);
  const urls = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?\s*([^"'\s>]+)/gi)].map((m) => m[1]!);
  for (const u of urls) assert.ok(!/^(?:https?:)?\/\//i.test(u), `external reference ${u}`);
  assert.doesNotMatch(html, /<link\b/i);
  assert.doesNotMatch(html, /url\(\s*["']?(?:https?:)?\/\//i);
  assert.doesNotMatch(html, /@import/i);
  const s = scripts(html);
  assert.equal(s.length, 3);
  assert.match(s[1]!.body, /uPlot/);
  assert.ok(html.includes('.uplot'), 'uPlot CSS inlined');
  // Both scripts compile.
  new Script(s[1]!.body);
  new Script(s[2]!.body);
});

test('hostile text in titles, paths, anomalies and errors is escaped everywhere', () => {
  const input = small();
  const evil = '</script><script>window.pwned=1</script><!--<img src=x onerror=alert(1)>';
  input.title = `Report ${evil}`;
  input.subtitle = evil;
  input.doc.inputs[0]!.path = evil;
  input.doc.inputs[1]!.error = evil;
  (input.doc.anomalies as Record<string, number>)[evil] = 1;
  input.doc.esp_no_sa_by_spi[evil] = 2;
  input.doc.flows[0]!.findings.push({ code: evil, message: evil, count: 1, first_frame: 1 });
  const html = renderReport(input);
  assert.ok(!html.includes(evil));
  assert.ok(!html.includes('<img'));
  assert.equal(scripts(html).length, 3, 'no script element injected');
  assert.ok(html.includes('&lt;/script&gt;&lt;script&gt;window.pwned=1'));
});

test('embedded series are downsampled to the pixel buckets yet keep each metric\'s extremes', () => {
  const input = syntheticReportInput([{ samplesPerMetric: 50_000, rtdNs: 5e6, serverDelayNs: 2e5, durationUs: 300e6, lossEvents: 30, port: 443 }]);
  const data = embeddedData(renderReport(input));
  const names = data.metrics.map((m) => m.name);
  assert.deepEqual([...names].sort(), ['rtd', 'server_delay', 'total']);
  const flow = data.flows[0]!;
  const xs = decodeFloat64(flow.series!.x);
  assert.ok(xs.length <= 3 * 2 * TIME_BUCKETS, `${xs.length} rows`);
  assert.ok(xs.length >= 3 * TIME_BUCKETS);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i]! >= xs[i - 1]!);
  const f = input.doc.flows[0]!;
  // x is the capture time in seconds since the epoch.
  assert.ok(Math.abs(xs[0]! - f.first_ts_us / 1e6) < 1);
  assert.ok(Math.abs(xs[xs.length - 1]! - f.last_ts_us / 1e6) < 1);
  const stats = { rtd: f.rtd_ns, server_delay: f.server_delay_ns, total: f.total_ns } as const;
  names.forEach((name, k) => {
    const ys = [...decodeFloat64(flow.series!.y[k]!)].filter((v) => !Number.isNaN(v));
    const s = stats[name as keyof typeof stats];
    assert.equal(Math.max(...ys), s.max, `${name} max`);
    assert.equal(Math.min(...ys), s.min, `${name} min`);
    const cdfX = [...decodeFloat64(flow.cdf!.x)];
    const cdfY = [...decodeFloat64(flow.cdf!.y[k]!)];
    const present = cdfX.filter((_, i) => !Number.isNaN(cdfY[i]!));
    assert.equal(Math.max(...present), s.max);
  });
  // Cumulative loss ends at the flow's lost counters.
  const lossY = flow.loss!.y.map((c) => [...decodeFloat64(c)].filter((v) => !Number.isNaN(v)));
  assert.equal(lossY[0]!.at(-1), f.psn.initiator_to_responder.lost);
  assert.equal(lossY[1]!.at(-1), f.psn.responder_to_initiator.lost);
});

test('flows without samples render dashes and placeholders, never charts', () => {
  const html = renderReport(small());
  const data = embeddedData(html);
  const empty = data.flows.find((f) => f.flow_index === 1)!;
  assert.deepEqual([empty.series, empty.cdf, empty.loss], [null, null, null]);
  assert.ok(!html.includes('id="chart-series-1"'));
  assert.match(html, /No delay samples for this flow\./);
  const section = html.slice(html.indexOf('id="flow-1"'));
  assert.match(section, /<td class="num">0<\/td><td class="num">—<\/td>/);
  assert.ok(html.includes('id="chart-series-0"'));
  // A report from a run that kept no samples at all says so.
  const bare = small();
  bare.samples = [];
  bare.psn_events = [];
  const text = renderReport(bare);
  assert.match(text, /No samples in this report/);
  assert.match(text, /packets lost; per-event loss data is not in this report/);
  // And a document without flows.
  const none = small();
  none.doc.flows = [];
  assert.match(renderReport(none), /No flows with PDM\./);
});

test('the flow table carries numeric sort keys, nulls as empty keys', () => {
  const html = renderReport(small());
  const table = html.slice(html.indexOf('id="flow-table"'), html.indexOf('</table>', html.indexOf('id="flow-table"')));
  const rows = [...table.slice(table.indexOf('<tbody>')).matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => [...m[1]!.matchAll(/data-v="([^"]*)"/g)].map((c) => c[1]!));
  assert.equal(rows.length, 2);
  const heads = [...table.matchAll(/<th data-type="(num|text)"[^>]*><button type="button">([^<]*)</g)].map((m) => m[2]!);
  const col = heads.indexOf('RTD p50');
  assert.ok(col > 0);
  assert.ok(Number(rows[0]![col]) > 0);
  assert.equal(rows[1]![col], '');
});

test('max_chart_flows keeps the flows with the most samples and says so', () => {
  const input = syntheticReportInput([
    { samplesPerMetric: 10, rtdNs: 1e6, serverDelayNs: 1e5, durationUs: 1e6, lossEvents: 0, port: 1 },
    { samplesPerMetric: 300, rtdNs: 1e6, serverDelayNs: 1e5, durationUs: 1e6, lossEvents: 0, port: 2 },
    { samplesPerMetric: 100, rtdNs: 1e6, serverDelayNs: 1e5, durationUs: 1e6, lossEvents: 0, port: 3 },
  ]);
  input.max_chart_flows = 2;
  const html = renderReport(input);
  assert.deepEqual(embeddedData(html).flows.map((f) => f.flow_index), [1, 2]);
  assert.match(html, /Sections for 2 of 3 flows/);
  assert.ok(!html.includes('id="flow-0"'));
});

test('writeReportFile writes through a temporary file and reports failures in one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-report-'));
  try {
    const out = join(dir, 'r.html');
    const r = writeReportFile(out, small());
    assert.equal(readFileSync(out).length, r.bytes);
    assert.deepEqual(readdirSync(dir), ['r.html']);
    const bad = join(dir, 'missing', 'r.html');
    assert.throws(() => writeReportFile(bad, small()), (err: unknown) => {
      assert.ok(err instanceof ReportError);
      assert.match(err.message, /missing\/r\.html: cannot write report \(ENOENT\)/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    assert.ok(!existsSync(join(dir, 'missing')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('samples may come from any iterable (a generator reading a store)', () => {
  const input = small();
  const samples = input.samples;
  const events = input.psn_events;
  const html = renderReport({ ...input, samples: (function* () { yield* samples; })(), psn_events: new Set(events) });
  assert.deepEqual(embeddedData(html), embeddedData(renderReport(input)));
});
