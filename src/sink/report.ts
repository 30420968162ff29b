// The HTML report: ONE self-contained file that works offline. uPlot (docs/architecture.md §7: fastest of
// the measured libraries at 100k points) is inlined from node_modules with its CSS; the data is
// embedded as base64 Float64Arrays, reduced in Node to min/max per pixel bucket so extremes
// survive and 100k-point series stay smooth. The overview and the tables are plain HTML (readable
// without scripts); the script adds charts and table sorting. No external URL anywhere.

import { writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { AnalyzeDocument, DurationStats, Endpoint, FlowReport, PsnEvent, Sample } from '../metrics/types.js';
import {
  LOSS_DIRECTIONS, PLOTTED_METRICS, cdfPoints, collectFlowSeries, cumulativeSeries, downsampleMinMax, encodeFloat64,
  interleaveSeries, scaleX, type FlowSeries, type XY,
} from './report-data.js';
import {
  durationAxisLabels, escapeHtml, escapeScriptText, escapeStyleText, formatCount, formatDurationNs, formatSpanUs,
  formatTsUsUtc, jsonForScript,
} from './report-format.js';
import { reportClientMain, type ClientColumns, type ClientData, type ClientFlow } from './report-client.js';
import { hex32 } from '../wire/bytes.js';

export interface ReportInput {
  title: string;
  generated_at_us: number;
  doc: AnalyzeDocument;
  /** Delay samples of the document's flows (matched by flow_index); may be empty. */
  samples: Sample[] | Iterable<Sample>;
  psn_events: PsnEvent[] | Iterable<PsnEvent>;
  /** Flows that get a section with charts, those with the most samples first (default 50). */
  max_chart_flows?: number;
  /** A line under the title, e.g. which run of which store the report shows. */
  subtitle?: string;
}

/** A report that could not be written; the message is one line naming the file. */
export class ReportError extends Error {}

export const DEFAULT_MAX_CHART_FLOWS = 50;
/** Pixel buckets of the time axis: about one per pixel column of a full-width chart. */
export const TIME_BUCKETS = 1000;
export const CDF_POINTS = 600;

const METRIC_STYLE: Record<(typeof PLOTTED_METRICS)[number], { label: string; color: string; stats: 'rtd_ns' | 'server_delay_ns' | 'total_ns' }> = {
  rtd: { label: 'RTD', color: '#2563eb', stats: 'rtd_ns' },
  server_delay: { label: 'Server delay', color: '#059669', stats: 'server_delay_ns' },
  total: { label: 'Total', color: '#c084fc', stats: 'total_ns' },
};
const LOSS_STYLE = [
  { label: 'Lost initiator → responder', color: '#dc2626' },
  { label: 'Lost responder → initiator', color: '#ea580c' },
];

let uplotAssets: { js: string; css: string } | null = null;
function loadUplot(): { js: string; css: string } {
  if (uplotAssets === null) {
    const require = createRequire(import.meta.url);
    uplotAssets = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return uplotAssets;
}

/** The page script: the shared formatters, the client, and its call on the embedded data. */
function clientScript(): string {
  const parts = [formatDurationNs, durationAxisLabels, formatTsUsUtc, formatCount, reportClientMain].map((f) => f.toString());
  return `(function () {\n'use strict';\n${parts.join('\n')}\nreportClientMain(JSON.parse(document.getElementById('report-data').textContent));\n})();`;
}

function endpointText(e: Endpoint): string {
  return e.port === null ? e.addr : `[${e.addr}]:${e.port}`;
}

function protoText(f: FlowReport): string {
  const base = f.proto.toUpperCase();
  return f.esp === null ? base : `${base} · ESP ${f.esp.placement}`;
}

function flowExtras(f: FlowReport): string {
  const parts: string[] = [];
  if (f.esp !== null && f.esp.spis.length > 0) parts.push(`SPI ${f.esp.spis.map(hex32).join(', ')}`);
  if (f.icmp_echo_id !== undefined) parts.push(`echo id ${f.icmp_echo_id}`);
  return parts.join(' · ');
}

const totalPackets = (f: FlowReport): number => f.packets.initiator_to_responder + f.packets.responder_to_initiator;
const totalLost = (f: FlowReport): number => f.psn.initiator_to_responder.lost + f.psn.responder_to_initiator.lost;

/** A table cell with its sort key; null values show '—' and sort last. */
function cell(text: string, key: number | string | null, numeric: boolean, extraClass = ''): string {
  const v = key === null || (typeof key === 'number' && !Number.isFinite(key)) ? '' : String(key);
  const cls = [numeric ? 'num' : '', extraClass].filter((c) => c !== '').join(' ');
  return `<td${cls === '' ? '' : ` class="${cls}"`} data-v="${escapeHtml(v)}">${escapeHtml(text)}</td>`;
}

function durationCell(ns: number | null): string {
  return cell(formatDurationNs(ns), ns, true);
}

function flowTable(flows: readonly FlowReport[], charted: ReadonlySet<number>): string {
  // One capture day (the usual case): the Start column shows the time of day to the millisecond.
  const days = new Set(flows.map((f) => formatTsUsUtc(f.first_ts_us).slice(0, 10)));
  const sameDay = days.size <= 1;
  const headers: [string, 'num' | 'text'][] = [
    ['#', 'num'], ['Protocol', 'text'], ['Initiator', 'text'], ['Responder', 'text'], ['Packets', 'num'],
    ['Server p50', 'num'], ['Total p50', 'num'], ['RTD n', 'num'], ['RTD p50', 'num'], ['RTD p90', 'num'],
    ['RTD p99', 'num'], ['RTD max', 'num'], ['Lost', 'num'], ['Start (UTC)', 'num'], ['Duration', 'num'],
  ];
  const head = headers.map(([h, type]) => `<th data-type="${type}" scope="col"><button type="button">${escapeHtml(h)}</button></th>`).join('');
  const rows = flows.map((f) => {
    const index = charted.has(f.flow_index)
      ? `<td class="num" data-v="${f.flow_index}"><a href="#flow-${f.flow_index}">${f.flow_index}</a></td>`
      : cell(String(f.flow_index), f.flow_index, true);
    return `<tr>${[
      index, cell(protoText(f), protoText(f), false), cell(endpointText(f.initiator), endpointText(f.initiator), false, 'addr'),
      cell(endpointText(f.responder), endpointText(f.responder), false, 'addr'),
      cell(formatCount(totalPackets(f)), totalPackets(f), true),
      durationCell(f.server_delay_ns.p50), durationCell(f.total_ns.p50), cell(formatCount(f.rtd_ns.count), f.rtd_ns.count, true),
      durationCell(f.rtd_ns.p50), durationCell(f.rtd_ns.p90), durationCell(f.rtd_ns.p99), durationCell(f.rtd_ns.max),
      cell(formatCount(totalLost(f)), totalLost(f), true, totalLost(f) > 0 ? 'bad' : ''),
      cell(sameDay ? formatTsUsUtc(f.first_ts_us).slice(11, 23) : formatTsUsUtc(f.first_ts_us).slice(0, 19), f.first_ts_us, true),
      cell(formatSpanUs(f.last_ts_us - f.first_ts_us), f.last_ts_us - f.first_ts_us, true),
    ].join('')}</tr>`;
  }).join('\n');
  const dayNote = sameDay && flows.length > 0 ? ` Start times are on ${formatTsUsUtc(flows[0]!.first_ts_us).slice(0, 10)}.` : '';
  return `<div class="table-wrap tall"><table class="sortable flows" id="flow-table"><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></div>
<p class="meta">Click a column header to sort. RTD = total − server delay (RFC 8250 §4.1); server delay from the responder's DeltaTLR, total from the initiator's DeltaTLS.${dayNote}</p>`;
}

function statsRow(label: string, color: string | null, s: DurationStats): string {
  const swatch = color === null ? '' : `<span class="swatch" style="background:${color}"></span>`;
  const v = (x: number | null): string => `<td class="num">${escapeHtml(formatDurationNs(x))}</td>`;
  return `<tr><th scope="row">${swatch}${escapeHtml(label)}</th><td class="num">${formatCount(s.count)}</td>${v(s.min)}${v(s.p50)}${v(s.p90)}${v(s.p99)}${v(s.max)}${v(s.mean)}</tr>`;
}

function flowSection(f: FlowReport, series: FlowSeries | undefined, hasChartData: { series: boolean; cdf: boolean; loss: boolean }, anySamples: boolean): string {
  const statsRows = (['rtd', 'server_delay', 'total'] as const).map((m) => statsRow(METRIC_STYLE[m].label, METRIC_STYLE[m].color, f[METRIC_STYLE[m].stats]));
  const reverse: [string, DurationStats][] = [
    ['Reverse RTD (responder as client)', f.reverse.rtd_ns],
    ['Reverse server delay (initiator answering)', f.reverse.server_delay_ns],
    ['Reverse total', f.reverse.total_ns],
  ];
  for (const [label, s] of reverse) if (s.count > 0) statsRows.push(statsRow(label, null, s));
  const psnRows = LOSS_DIRECTIONS.map((d, k) => {
    const p = f.psn[d];
    return `<tr><th scope="row"><span class="swatch" style="background:${LOSS_STYLE[k]!.color}"></span>${k === 0 ? 'Initiator → responder' : 'Responder → initiator'}</th>`
      + `<td class="num${p.lost > 0 ? ' bad' : ''}">${formatCount(p.lost)}</td><td class="num">${formatCount(p.reordered)}</td><td class="num">${formatCount(p.duplicates)}</td><td class="num">${formatCount(p.restarts)}</td></tr>`;
  }).join('');
  const findings = f.findings.length === 0 ? '' : `<h4>Findings</h4><ul class="findings">${f.findings.map((x) =>
    `<li><code>${escapeHtml(x.code)}</code> × ${formatCount(x.count)} (first frame ${formatCount(x.first_frame)}): ${escapeHtml(x.message)}</li>`).join('')}</ul>`;
  const noSamples = anySamples ? 'No delay samples for this flow.' : 'No samples in this report (the analysis kept none; store them with --samples).';
  const seriesBox = hasChartData.series
    ? `<div class="chart" id="chart-series-${f.flow_index}" role="img" aria-label="Delay over time, flow ${f.flow_index}"></div>`
    : `<p class="empty">${noSamples}</p>`;
  const cdfBox = hasChartData.cdf
    ? `<div class="chart" id="chart-cdf-${f.flow_index}" role="img" aria-label="Delay distribution, flow ${f.flow_index}"></div>`
    : `<p class="empty">${noSamples}</p>`;
  const lost = totalLost(f);
  const lossBox = hasChartData.loss
    ? `<div class="chart" id="chart-loss-${f.flow_index}" role="img" aria-label="PSN loss over time, flow ${f.flow_index}"></div>`
    : `<p class="empty">${lost === 0 ? 'No PSN gaps: no packets lost in either direction.' : `${formatCount(lost)} packets lost; per-event loss data is not in this report.`}</p>`;
  const extras = flowExtras(f);
  const sampleNote = series === undefined ? '' : ` · ${formatCount(series.sampleCount)} samples`;
  return `<section class="flow" id="flow-${f.flow_index}">
<h3><span class="flow-no">Flow ${f.flow_index}</span> <span class="proto">${escapeHtml(protoText(f))}</span> <span class="addr">${escapeHtml(endpointText(f.initiator))}</span> <span class="arrow">→</span> <span class="addr">${escapeHtml(endpointText(f.responder))}</span></h3>
<p class="meta">${escapeHtml(formatTsUsUtc(f.first_ts_us))} – ${escapeHtml(formatTsUsUtc(f.last_ts_us))} UTC (${escapeHtml(formatSpanUs(f.last_ts_us - f.first_ts_us))}) · packets ${formatCount(f.packets.initiator_to_responder)} → / ${formatCount(f.packets.responder_to_initiator)} ← (PDM ${formatCount(f.pdm_packets.initiator_to_responder)} / ${formatCount(f.pdm_packets.responder_to_initiator)}) · ${formatCount(f.pdm_sessions)} PDM session${f.pdm_sessions === 1 ? '' : 's'}${extras === '' ? '' : ` · ${escapeHtml(extras)}`}${sampleNote}</p>
<div class="flow-tables">
<table class="stats"><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Samples</th><th scope="col" class="num">Min</th><th scope="col" class="num">p50</th><th scope="col" class="num">p90</th><th scope="col" class="num">p99</th><th scope="col" class="num">Max</th><th scope="col" class="num">Mean</th></tr></thead><tbody>${statsRows.join('')}</tbody></table>
<table class="stats"><thead><tr><th scope="col">PSN</th><th scope="col" class="num">Lost</th><th scope="col" class="num">Reordered</th><th scope="col" class="num">Duplicates</th><th scope="col" class="num">Restarts</th></tr></thead><tbody>${psnRows}</tbody></table>
</div>
${findings}
<figure class="panel wide"><figcaption>Delay over time <span class="hint">UTC · drag to zoom, double-click to reset</span></figcaption>${seriesBox}</figure>
<div class="pair">
<figure class="panel"><figcaption>Distribution (CDF)</figcaption>${cdfBox}</figure>
<figure class="panel"><figcaption>PSN loss over time <span class="hint">cumulative packets</span></figcaption>${lossBox}</figure>
</div>
</section>`;
}

function encodeColumns(joined: { xs: Float64Array; ys: Float64Array[] }): ClientColumns {
  return { x: encodeFloat64(joined.xs), y: joined.ys.map(encodeFloat64) };
}

/** Chart columns of one flow: downsampled per metric on common buckets, then interleaved. */
function clientFlow(f: FlowReport, s: FlowSeries | undefined): ClientFlow {
  if (s === undefined) return { flow_index: f.flow_index, series: null, cdf: null, loss: null };
  const metrics = PLOTTED_METRICS.map((m) => s.metrics[m].finish());
  let lo = f.first_ts_us;
  let hi = f.last_ts_us;
  for (const p of metrics) if (p.xs.length > 0) { lo = Math.min(lo, p.xs[0]!); hi = Math.max(hi, p.xs[p.xs.length - 1]!); }
  const hasSamples = metrics.some((p) => p.xs.length > 0);
  const series = hasSamples
    ? encodeColumns(interleaveSeries(metrics.map((p) => scaleX(downsampleMinMax(p, TIME_BUCKETS, lo, hi), 1e-6))))
    : null;
  const cdf = hasSamples ? encodeColumns(interleaveSeries(metrics.map((p) => cdfPoints(p.ys, CDF_POINTS)))) : null;
  const lossEvents = LOSS_DIRECTIONS.map((d) => s.lost[d].finish());
  const loss = lossEvents.some((e) => e.xs.length > 0)
    ? encodeColumns(interleaveSeries(lossEvents.map((e): XY => scaleX(downsampleMinMax(cumulativeSeries(e, lo, hi), TIME_BUCKETS, lo, hi), 1e-6))))
    : null;
  return { flow_index: f.flow_index, series, cdf, loss };
}

/** The flows that get a section: the most samples first, then the document order; capped. */
function chartedFlows(flows: readonly FlowReport[], bySeries: ReadonlyMap<number, FlowSeries>, max: number): FlowReport[] {
  const ranked = flows.map((f, i) => ({ f, i, n: bySeries.get(f.flow_index)?.sampleCount ?? 0 }))
    .sort((a, b) => b.n - a.n || a.i - b.i)
    .slice(0, Math.max(0, max));
  return ranked.sort((a, b) => a.i - b.i).map((r) => r.f);
}

function overview(input: ReportInput): string {
  const { doc } = input;
  const p = doc.packets;
  const anomalyEntries = Object.entries(doc.anomalies as Record<string, number>).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const anomalyTotal = anomalyEntries.reduce((s, [, n]) => s + n, 0);
  const lost = doc.flows.reduce((s, f) => s + totalLost(f), 0);
  const card = (label: string, value: string, cls = ''): string => `<div class="card${cls === '' ? '' : ` ${cls}`}"><div class="card-value">${value}</div><div class="card-label">${escapeHtml(label)}</div></div>`;
  const cards = [
    card('Packets', formatCount(p.total)), card('IPv6', formatCount(p.ipv6)), card('With PDM', formatCount(p.with_pdm)),
    card('Malformed', formatCount(p.malformed), p.malformed > 0 ? 'warn' : ''), card('Flows', formatCount(doc.flows.length)),
    card('Anomalies', formatCount(anomalyTotal), anomalyTotal > 0 ? 'warn' : ''), card('PSN lost', formatCount(lost), lost > 0 ? 'warn' : ''),
  ].join('');
  const inputs = doc.inputs.length === 0 ? '<p class="empty">No inputs.</p>' : `<table class="plain"><thead><tr><th scope="col">File</th><th scope="col">Format</th><th scope="col">Link types</th><th scope="col" class="num">Packets</th><th scope="col">State</th></tr></thead><tbody>${
    doc.inputs.map((i) => `<tr><td class="addr">${escapeHtml(i.path)}</td><td>${escapeHtml(i.format)}</td><td>${escapeHtml(i.link_types.join(', '))}</td><td class="num">${formatCount(i.packets)}</td><td class="wrap">${
      i.complete && i.error === null ? '<span class="ok">complete</span>' : `<span class="bad">${i.complete ? 'complete, with error' : 'incomplete'}</span>${i.error === null ? '' : `: ${escapeHtml(i.error)}`}`}</td></tr>`).join('')}</tbody></table>`;
  const anomalies = anomalyEntries.length === 0 ? '<p class="empty">No anomalies.</p>' : `<table class="plain"><thead><tr><th scope="col">Anomaly</th><th scope="col" class="num">Count</th></tr></thead><tbody>${
    anomalyEntries.map(([name, n]) => `<tr><td><code>${escapeHtml(name)}</code></td><td class="num">${formatCount(n)}</td></tr>`).join('')}</tbody></table>`;
  const spis = Object.entries(doc.esp_no_sa_by_spi ?? {});
  const noSa = spis.length === 0 ? '' : `<h3>ESP without a key, by SPI</h3><table class="plain"><thead><tr><th scope="col">SPI</th><th scope="col" class="num">Packets</th></tr></thead><tbody>${
    spis.sort((a, b) => b[1] - a[1]).map(([spi, n]) => `<tr><td><code>${escapeHtml(spi)}</code></td><td class="num">${formatCount(n)}</td></tr>`).join('')}</tbody></table>`;
  return `<section id="overview"><h2>Overview</h2><div class="cards">${cards}</div>
<div class="two-col"><div><h3>Inputs</h3>${inputs}</div><div><h3>Anomalies</h3>${anomalies}${noSa}</div></div></section>`;
}

function timeRange(doc: AnalyzeDocument): string {
  if (doc.flows.length === 0) return '';
  const first = Math.min(...doc.flows.map((f) => f.first_ts_us));
  const last = Math.max(...doc.flows.map((f) => f.last_ts_us));
  return ` · traffic ${formatTsUsUtc(first)} – ${formatTsUsUtc(last)} UTC (${formatSpanUs(last - first)})`;
}

const PAGE_CSS = `
:root { --fg:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc; --card:#fff; --accent:#2563eb; --bad:#b91c1c; --ok:#047857; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color:var(--fg); background:var(--bg); }
header.top { background:#0f172a; color:#f8fafc; padding:20px 32px; }
header.top h1 { margin:0; font-size:22px; font-weight:650; letter-spacing:-0.01em; }
header.top p { margin:4px 0 0; color:#cbd5e1; font-size:13px; }
main { max-width:1600px; margin:0 auto; padding:8px 32px 48px; }
h2 { font-size:18px; margin:28px 0 12px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:18px 0 8px; }
h4 { font-size:13px; margin:12px 0 4px; color:var(--muted); text-transform:uppercase; letter-spacing:0.04em; }
code, .addr { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size:12.5px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(140px, 1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
.card-value { font-size:22px; font-weight:650; font-variant-numeric:tabular-nums; }
.card-label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:0.04em; }
.card.warn .card-value { color:var(--bad); }
.two-col { display:grid; grid-template-columns:minmax(0, 3fr) minmax(0, 2fr); gap:24px; }
table { border-collapse:collapse; background:var(--card); font-variant-numeric:tabular-nums; }
table.plain, table.stats { border:1px solid var(--line); border-radius:8px; }
th, td { padding:5px 9px; text-align:left; border-bottom:1px solid var(--line); white-space:nowrap; }
thead th { background:#f1f5f9; font-weight:600; font-size:12px; color:#334155; }
td.num, th.num { text-align:right; }
tbody tr:last-child td, tbody tr:last-child th { border-bottom:none; }
.ok { color:var(--ok); font-weight:600; }
.bad { color:var(--bad); font-weight:600; }
.empty { color:var(--muted); font-style:italic; margin:8px 0; }
.table-wrap { overflow:auto; border:1px solid var(--line); border-radius:8px; background:var(--card); }
.table-wrap.tall { max-height:520px; }
table.flows { width:100%; font-size:13px; }
td.wrap { white-space:normal; }
.two-col table.plain { width:100%; }
table.flows thead th { position:sticky; top:0; z-index:1; padding:0; }
table.flows thead th button { all:unset; display:block; padding:7px 20px 7px 8px; cursor:pointer; position:relative; white-space:nowrap; }
table.flows thead th[data-type=num] button { text-align:right; }
table.flows thead th button::after { content:"↕"; position:absolute; right:7px; color:#94a3b8; font-size:11px; }
table.flows thead th[aria-sort=ascending] button::after { content:"▲"; color:var(--accent); }
table.flows thead th[aria-sort=descending] button::after { content:"▼"; color:var(--accent); }
table.flows thead th button:focus-visible { outline:2px solid var(--accent); outline-offset:-2px; }
table.flows tbody tr:nth-child(even) { background:#f8fafc; }
table.flows tbody tr:hover { background:#eff6ff; }
table.flows a { color:var(--accent); text-decoration:none; font-weight:600; }
section.flow { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:4px 20px 20px; margin:20px 0; }
section.flow h3 { font-size:15px; display:flex; flex-wrap:wrap; gap:8px; align-items:baseline; }
.flow-no { background:var(--accent); color:#fff; border-radius:4px; padding:1px 8px; font-size:12.5px; }
.proto { color:var(--muted); font-weight:600; font-size:12.5px; }
.arrow { color:var(--muted); }
.meta { color:var(--muted); margin:0 0 12px; font-size:13px; }
.flow-tables { display:flex; flex-wrap:wrap; gap:16px; align-items:flex-start; }
table.stats th[scope=row] { font-weight:500; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:8px; vertical-align:-1px; }
ul.findings { margin:4px 0; padding-left:20px; }
figure.panel { margin:16px 0 0; min-width:0; }
figcaption { font-weight:600; font-size:13px; margin-bottom:4px; }
figcaption .hint { font-weight:400; color:var(--muted); margin-left:8px; font-size:12px; }
.pair { display:grid; grid-template-columns:minmax(0, 1fr) minmax(0, 1fr); gap:24px; }
.chart { width:100%; min-height:40px; }
.uplot .u-legend { font-size:12px; text-align:left; margin-top:2px; }
.uplot .u-legend .u-marker { width:10px; height:10px; }
.uplot .u-legend th { font-weight:500; }
.uplot .u-legend th, .uplot .u-legend td { border:none; padding:1px 6px; background:none; }
.uplot .u-legend tr { margin-right:12px; }
footer { color:var(--muted); font-size:12px; margin-top:32px; }
@media (max-width: 900px) { .two-col, .pair { grid-template-columns:1fr; } main { padding:8px 12px 32px; } }
`;

/** The report as one self-contained HTML document. */
export function renderReport(input: ReportInput): string {
  const { doc } = input;
  const bySeries = collectFlowSeries(input.samples, input.psn_events);
  const anySamples = [...bySeries.values()].some((s) => s.sampleCount > 0);
  const charted = chartedFlows(doc.flows, bySeries, input.max_chart_flows ?? DEFAULT_MAX_CHART_FLOWS);
  const clientFlows: ClientFlow[] = [];
  const sections: string[] = [];
  for (const f of charted) {
    const s = bySeries.get(f.flow_index);
    const cf = clientFlow(f, s);
    clientFlows.push(cf);
    sections.push(flowSection(f, s, { series: cf.series !== null, cdf: cf.cdf !== null, loss: cf.loss !== null }, anySamples));
  }
  const data: ClientData = {
    metrics: PLOTTED_METRICS.map((m) => ({ name: m, label: METRIC_STYLE[m].label, color: METRIC_STYLE[m].color })),
    loss: LOSS_STYLE,
    flows: clientFlows,
  };
  const chartedSet = new Set(charted.map((f) => f.flow_index));
  const cappedNote = charted.length < doc.flows.length
    ? `<p class="meta">Sections for ${formatCount(charted.length)} of ${formatCount(doc.flows.length)} flows (those with the most samples); every flow is in the table above.</p>`
    : '';
  const uplot = loadUplot();
  const generated = `Generated ${formatTsUsUtc(input.generated_at_us)} UTC`;
  const subtitle = [input.subtitle ?? '', generated + timeRange(doc)].filter((x) => x !== '').join(' · ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pdmscope">
<title>${escapeHtml(input.title)}</title>
<style>${escapeStyleText(uplot.css)}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<header class="top"><h1>${escapeHtml(input.title)}</h1><p>${escapeHtml(subtitle)}</p></header>
<main>
${overview(input)}
<section id="flows"><h2>Flows</h2>${doc.flows.length === 0 ? '<p class="empty">No flows with PDM.</p>' : flowTable(doc.flows, chartedSet)}</section>
${sections.length === 0 ? '' : `<section id="flow-details"><h2>Flow details</h2>${cappedNote}\n${sections.join('\n')}</section>`}
<footer>${escapeHtml(doc.schema)} · pdmscope · times in UTC</footer>
</main>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${escapeScriptText(uplot.js)}</script>
<script>${escapeScriptText(clientScript())}</script>
</body>
</html>
`;
}

/**
 * Renders the report and writes it to `path` (through a temporary file renamed into place, so a
 * failed write never leaves half a report). Throws ReportError with a one-line message.
 */
export function writeReportFile(path: string, input: ReportInput, beforeWrite?: () => void): { bytes: number; charted_flows: number } {
  const html = renderReport(input);
  // e.g. a store read without locks checks it did not change while read (store.ts assertUnchanged)
  beforeWrite?.();
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, html);
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* never created */ }
    const e = err as NodeJS.ErrnoException;
    throw new ReportError(`${path}: cannot write report (${e.code ?? e.message.split('\n')[0]})`);
  }
  const charted = Math.min(input.doc.flows.length, input.max_chart_flows ?? DEFAULT_MAX_CHART_FLOWS);
  return { bytes: Buffer.byteLength(html), charted_flows: charted };
}
