import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { DurationStats, FlowReport } from '../metrics/types.js';
import {
  ListenAddressError, escapeLabelValue, parseListenAddress, renderPrometheus, startMetricsServer, type PrometheusSnapshot,
} from './prometheus.js';

// Text format 0.0.4: metric name, optional {label="value",...} with \\ \" \n escapes, a Go float.
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;
const META_LINE = /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|summary))$/;

const NONE: DurationStats = { count: 0, min: null, mean: null, max: null, p50: null, p90: null, p99: null };
function stats(count: number, p50: number): DurationStats {
  return { count, min: p50 / 2, mean: p50, max: p50 * 2, p50, p90: p50 * 1.5, p99: p50 * 1.9 };
}
function flow(i: number, pdm: number, over: Partial<FlowReport> = {}): FlowReport {
  return {
    flow_index: i, proto: 'udp', proto_num: 17,
    initiator: { addr: '2001:db8::1', port: 40000 + i }, responder: { addr: '2001:db8::2', port: 443 }, esp: null,
    packets: { initiator_to_responder: pdm, responder_to_initiator: pdm }, pdm_packets: { initiator_to_responder: pdm, responder_to_initiator: 0 },
    first_ts_us: 1, last_ts_us: 2, server_delay_ns: stats(pdm, 50_000), total_ns: stats(pdm, 400_000), rtd_ns: NONE,
    reverse: { server_delay_ns: NONE, total_ns: NONE, rtd_ns: NONE },
    psn: { initiator_to_responder: { lost: 0, reordered: 0, duplicates: 0, restarts: 0 }, responder_to_initiator: { lost: 0, reordered: 0, duplicates: 0, restarts: 0 } },
    pdm_sessions: 1, findings: [], ...over,
  };
}
function snap(flows: FlowReport[], anomalies: Record<string, number> = {}): PrometheusSnapshot {
  return { packets: { total: 10, ipv6: 9, with_pdm: 8, malformed: 1 }, anomalies, kernelDropped: 3, interfaceDropped: 0, openFlows: flows.length, flows };
}
function assertParses(text: string): string[] {
  assert.ok(text.endsWith('\n'));
  const lines = text.slice(0, -1).split('\n');
  for (const l of lines) assert.ok(SAMPLE_LINE.test(l) || META_LINE.test(l), `bad line: ${JSON.stringify(l)}`);
  // Each family has one HELP and one TYPE, before its samples.
  const types = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  assert.equal(new Set(types).size, types.length);
  return lines;
}

test('counters, gauges and per-flow summaries in the 0.0.4 text format', () => {
  const lines = assertParses(renderPrometheus(snap([flow(0, 10), flow(1, 30)], { truncated_ipv6: 2, pdm_bad_length: 1 })));
  assert.ok(lines.includes('pdmscope_packets_total 10'));
  assert.ok(lines.includes('pdmscope_pdm_packets_total 8'));
  assert.ok(lines.includes('pdmscope_malformed_packets_total 1'));
  assert.ok(lines.includes('pdmscope_kernel_drops_total 3'));
  assert.ok(lines.includes('pdmscope_anomalies_total{name="pdm_bad_length"} 1'));
  assert.ok(lines.includes('pdmscope_open_flows 2'));
  const l = 'initiator="[2001:db8::1]:40001",responder="[2001:db8::2]:443",proto="udp"';
  assert.ok(lines.includes(`pdmscope_server_delay_seconds{${l},quantile="0.5"} 0.00005`));
  assert.ok(lines.includes(`pdmscope_server_delay_seconds{${l},quantile="0.99"} ${(50_000 * 1.9) / 1e9}`));
  assert.ok(lines.includes(`pdmscope_server_delay_seconds_sum{${l}} ${(50_000 * 30) / 1e9}`));
  assert.ok(lines.includes(`pdmscope_server_delay_seconds_count{${l}} 30`));
  // No RTD samples: no series (a summary of nothing would be NaN quantiles).
  assert.ok(!lines.some((x) => x.startsWith('pdmscope_round_trip_delay_seconds{')));
  // Busiest flow first.
  assert.ok(lines.findIndex((x) => x.includes('40001')) < lines.findIndex((x) => x.includes('40000,') || x.includes(':40000"')));
});

test('label values are escaped: backslash, double quote, line feed', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = renderPrometheus(snap([flow(0, 5, { proto: 'x"y\\z\nw' })], { 'we"ird\\name\n': 1 }));
  const lines = assertParses(text);
  assert.ok(lines.includes('pdmscope_anomalies_total{name="we\\"ird\\\\name\\n"} 1'));
  assert.ok(lines.some((l) => l.includes('proto="x\\"y\\\\z\\nw"')));
});

test('per-flow series are bounded to the busiest flows; equal label sets appear once', () => {
  const many = Array.from({ length: 50 }, (_, i) => flow(i, i + 1));
  const lines = assertParses(renderPrometheus(snap(many), 10));
  assert.ok(lines.includes('pdmscope_exported_flows 10'));
  assert.equal(lines.filter((l) => l.startsWith('pdmscope_server_delay_seconds_count{')).length, 10);
  assert.ok(lines.some((l) => l.includes(':40049"')));
  assert.ok(!lines.some((l) => l.includes(':40039"')));
  const dup = [flow(0, 5), { ...flow(1, 9), initiator: { addr: '2001:db8::1', port: 40000 } }];
  const d = assertParses(renderPrometheus(snap(dup)));
  assert.equal(d.filter((l) => l.startsWith('pdmscope_server_delay_seconds_count{')).length, 1);
  assert.ok(d.includes('pdmscope_server_delay_seconds_count{initiator="[2001:db8::1]:40000",responder="[2001:db8::2]:443",proto="udp"} 9'));
  // Port-less flows (ESP outside) label the bare address.
  const esp = assertParses(renderPrometheus(snap([flow(0, 5, { proto: 'esp', initiator: { addr: '2001:db8::1', port: null }, responder: { addr: '2001:db8::2', port: null } })])));
  assert.ok(esp.some((l) => l.startsWith('pdmscope_server_delay_seconds_count{initiator="2001:db8::1",responder="2001:db8::2",proto="esp"}')));
});

test('listen addresses: loopback by default, literal addresses bound as given, host names refused', () => {
  assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464, loopback: true });
  assert.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464, loopback: true });
  assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464, loopback: true });
  assert.deepEqual(parseListenAddress('127.0.0.2:9464'), { host: '127.0.0.2', port: 9464, loopback: true });
  assert.deepEqual(parseListenAddress('192.0.2.7:9464'), { host: '192.0.2.7', port: 9464, loopback: false });
  assert.deepEqual(parseListenAddress('[::]:9464'), { host: '::', port: 9464, loopback: false });
  assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464, loopback: false });
  for (const bad of ['localhost:9464', 'LOCALHOST:9464', 'example.org:9464', 'metrics:80', '::1:9464', '127.0.0.1:99999', '127.0.0.1:', 'x', '[nope]:1']) {
    assert.throws(() => parseListenAddress(bad), ListenAddressError, bad);
  }
});

test('the server answers GET /metrics with the exposition content type, 404 elsewhere', async () => {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0, loopback: true }, () => renderPrometheus(snap([flow(0, 3)])));
  try {
    const r = await fetch(server.url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assertParses(await r.text());
    assert.equal((await fetch(server.url.replace('/metrics', '/x'))).status, 404);
    assert.equal((await fetch(server.url, { method: 'POST' })).status, 405);
  } finally {
    server.close();
  }
  // A port in use is a one-line error.
  const a = await startMetricsServer({ host: '127.0.0.1', port: 0, loopback: true }, () => '');
  try {
    await assert.rejects(startMetricsServer({ host: '127.0.0.1', port: a.port, loopback: true }, () => ''), /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  } finally {
    a.close();
  }
});

test('flows ended early by --max-flows are a counter next to the open flows gauge', () => {
  const lines = assertParses(renderPrometheus({ ...snap([flow(0, 3)], {}), flowsEndedEarly: 42 }));
  assert.ok(lines.includes('# TYPE pdmscope_flows_ended_early_total counter'));
  assert.ok(lines.includes('pdmscope_flows_ended_early_total 42'));
  assert.ok(!renderPrometheus(snap([flow(0, 3)], {})).includes('ended_early'), 'absent when not given');
});
