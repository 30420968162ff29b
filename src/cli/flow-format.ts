// Human-readable rendering of the analyze/1 document (the table format).

import { ANOMALIES, ANOMALY_NAMES, type AnomalyName } from '../decode/anomalies.js';
import type { AnalyzeDocument, DurationStats, Endpoint, FlowReport } from '../metrics/types.js';
import { formatDurationNs, formatTsUs } from './units.js';
import { hex32 } from '../wire/bytes.js';

export function endpointText(e: Endpoint): string {
  return e.port === null ? e.addr : `[${e.addr}]:${e.port}`;
}

function statsRow(name: string, s: DurationStats): string {
  const cells = [s.min, s.mean, s.p50, s.p90, s.p99, s.max].map((v) => formatDurationNs(v).padStart(10));
  return `    ${name.padEnd(13)}${String(s.count).padStart(7)}${cells.join('')}`;
}

export function renderFlow(f: FlowReport, n: number): string {
  const esp = f.esp === null ? '' : `  esp ${f.esp.placement} spi ${f.esp.spis.map(hex32).join(',')}`;
  const echo = f.icmp_echo_id !== undefined ? `  echo id ${f.icmp_echo_id}` : '';
  const durationUs = f.last_ts_us - f.first_ts_us;
  const lines = [
    `flow ${n}  ${f.proto}  ${endpointText(f.initiator)} -> ${endpointText(f.responder)}${esp}${echo}`,
    `    packets      i->r ${f.packets.initiator_to_responder} (${f.pdm_packets.initiator_to_responder} PDM)` +
      `   r->i ${f.packets.responder_to_initiator} (${f.pdm_packets.responder_to_initiator} PDM)` +
      `   ${formatTsUs(f.first_ts_us)} for ${formatDurationNs(durationUs * 1000)}` +
      (f.pdm_sessions > 1 ? `   ${f.pdm_sessions} PDM sessions` : ''),
    `    ${'metric'.padEnd(13)}${'count'.padStart(7)}${['min', 'mean', 'p50', 'p90', 'p99', 'max'].map((h) => h.padStart(10)).join('')}`,
    statsRow('server delay', f.server_delay_ns),
    statsRow('rtd', f.rtd_ns),
    statsRow('total', f.total_ns),
  ];
  const psn = (d: 'initiator_to_responder' | 'responder_to_initiator', label: string): string => {
    const c = f.psn[d];
    return `    psn ${label}     lost ${c.lost}  reordered ${c.reordered}  duplicates ${c.duplicates}  restarts ${c.restarts}`;
  };
  lines.push(psn('initiator_to_responder', 'i->r'), psn('responder_to_initiator', 'r->i'));
  for (const finding of f.findings) {
    lines.push(`    finding      ${finding.code} x${finding.count} (first frame ${finding.first_frame}): ${finding.message}`);
  }
  return lines.join('\n');
}

export function renderAnalyzeTable(doc: AnalyzeDocument): string {
  const parts: string[] = [];
  writeAnalyzeTable(doc, doc.flows.length, doc.flows, (text) => parts.push(text));
  return parts.join('');
}

/**
 * The table of a document whose flows arrive one at a time (`flowCount` of them): the text goes
 * to `write` in pieces, never one string for 100,000 flows.
 */
export function writeAnalyzeTable(head: Omit<AnalyzeDocument, 'flows'>, flowCount: number, flows: Iterable<FlowReport>,
  write: (text: string) => void): void {
  const p = head.packets;
  const out = [
    `${head.inputs.length === 1 ? head.inputs[0]!.path : `${head.inputs.length} files`}: ${p.total} packets, ${p.ipv6} IPv6, ` +
      `${p.with_pdm} with PDM, ${p.malformed} malformed; ${flowCount} flow${flowCount === 1 ? '' : 's'}`,
  ];
  for (const input of head.inputs) if (!input.complete) out.push(`  INCOMPLETE ${input.path}: ${input.error ?? 'not read to the end'}`);
  const anomalies = Object.entries(head.anomalies);
  if (anomalies.length > 0) {
    out.push('anomalies:');
    for (const [name, n] of anomalies) out.push(anomalyLine(name as AnomalyName, n));
  }
  for (const [spi, n] of Object.entries(head.esp_no_sa_by_spi)) out.push(`  esp_no_sa for spi ${spi}: ${n} packets (give keys with --esp-sa)`);
  const table = head.flow_table;
  if (table !== undefined && table.ended_early > 0) {
    out.push(`flow table full: ${table.ended_early} flow${table.ended_early === 1 ? '' : 's'} ended early (least recently seen first; --max-flows ${table.max_flows})`);
  }
  write(out.join('\n'));
  let n = 0;
  for (const f of flows) write('\n\n' + renderFlow(f, ++n));
  if (flowCount === 0) write('\n\nno flow carried a valid PDM option' + (p.ipv6 > 0 ? ' (--all-flows lists the IPv6 flows)' : ''));
  write('\n');
}

/** The longest anomaly name: the summaries' name column is this wide, so every count lines up. */
const ANOMALY_NAME_WIDTH = Math.max(...ANOMALY_NAMES.map((name) => name.length));

/** One line of an anomaly summary (analyze's table, packets' stderr): name, count, meaning. */
export function anomalyLine(name: AnomalyName, count: number): string {
  return `  ${name.padEnd(ANOMALY_NAME_WIDTH)} ${String(count).padStart(9)}  ${ANOMALIES[name]}`;
}
