// Prometheus text exposition format 0.0.4 for `pdmscope live --prometheus HOST:PORT`.
//
// Counters for the packet totals, anomalies (label `name`) and kernel drops; gauges for open
// and exported flows; and per flow the RFC 8250 delays as summaries (p50/p90/p99 from the
// flow's quantile sketch, _sum and _count). Per-flow series are bounded: only the top
// `maxFlows` flows by PDM packets are exported (default 1000), because every flow is a new
// label set and an unbounded number of them would blow up Prometheus's series count.

import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import type { DurationStats, Endpoint, FlowReport } from '../metrics/types.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const DEFAULT_MAX_EXPORTED_FLOWS = 1000;

export interface PrometheusSnapshot {
  packets: { total: number; ipv6: number; with_pdm: number; malformed: number };
  anomalies: Record<string, number>;
  kernelDropped: number;
  interfaceDropped: number;
  openFlows: number;
  /** Flows ended because the flow table was full (--max-flows); absent: not exported. */
  flowsEndedEarly?: number;
  /** Flows to export per-flow series for (the top maxFlows by PDM packets are kept). */
  flows: readonly FlowReport[];
}

/** Label values: backslash, double quote and line feed are escaped (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed are escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Go's ParseFloat accepts these spellings: NaN, +Inf, -Inf, and JS's exponent form. */
export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function endpointLabel(e: Endpoint): string {
  return e.port === null ? e.addr : `[${e.addr}]:${e.port}`;
}

function labels(pairs: readonly (readonly [string, string])[]): string {
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

const QUANTILES: readonly (readonly [string, keyof DurationStats])[] = [['0.5', 'p50'], ['0.9', 'p90'], ['0.99', 'p99']];

const FLOW_METRICS: readonly { name: string; field: 'server_delay_ns' | 'total_ns' | 'rtd_ns'; help: string }[] = [
  { name: 'pdmscope_server_delay_seconds', field: 'server_delay_ns', help: "Server delay per flow: the responder's DeltaTimeLastReceived (RFC 8250 section 2.2)." },
  { name: 'pdmscope_total_delay_seconds', field: 'total_ns', help: "Total delay per flow: the initiator's DeltaTimeLastSent (RFC 8250 section 2.2)." },
  { name: 'pdmscope_round_trip_delay_seconds', field: 'rtd_ns', help: 'Round-trip delay per flow: total minus the matched server delay (RFC 8250 section 4.1).' },
];

function pdmPackets(f: FlowReport): number {
  return f.pdm_packets.initiator_to_responder + f.pdm_packets.responder_to_initiator;
}

/** The exposition text. Flow order: most PDM packets first. */
export function renderPrometheus(s: PrometheusSnapshot, maxFlows = DEFAULT_MAX_EXPORTED_FLOWS): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'summary', help: string): void => {
    out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  };
  const one = (name: string, type: 'counter' | 'gauge', help: string, value: number): void => {
    family(name, type, help);
    out.push(`${name} ${formatSampleValue(value)}`);
  };
  one('pdmscope_packets_total', 'counter', 'Packets captured and decoded.', s.packets.total);
  one('pdmscope_ipv6_packets_total', 'counter', 'IPv6 packets.', s.packets.ipv6);
  one('pdmscope_pdm_packets_total', 'counter', 'Packets with a valid PDM destination option (RFC 8250).', s.packets.with_pdm);
  one('pdmscope_malformed_packets_total', 'counter', 'Packets that could not be fully decoded.', s.packets.malformed);
  family('pdmscope_anomalies_total', 'counter', 'Decoding anomalies by name (see the README for the catalogue).');
  for (const name of Object.keys(s.anomalies).sort()) {
    out.push(`pdmscope_anomalies_total${labels([['name', name]])} ${formatSampleValue(s.anomalies[name]!)}`);
  }
  one('pdmscope_kernel_drops_total', 'counter', 'Packets the kernel dropped for lack of capture buffer space (pcap_stats ps_drop).', s.kernelDropped);
  one('pdmscope_interface_drops_total', 'counter', 'Packets dropped by the interface or driver, where reported (pcap_stats ps_ifdrop).', s.interfaceDropped);
  one('pdmscope_open_flows', 'gauge', 'Flows currently open in the flow table.', s.openFlows);
  if (s.flowsEndedEarly !== undefined) {
    one('pdmscope_flows_ended_early_total', 'counter', 'Flows ended early because the flow table was full (--max-flows): the least recently seen first.', s.flowsEndedEarly);
  }

  // The bound: the top maxFlows flows by PDM packets. Two flows with equal labels (the same
  // addresses, ports and protocol, e.g. ESP read outside and inside) would make the exposition
  // invalid, so only the first (busiest) of them is exported.
  const ranked = [...s.flows].filter((f) => pdmPackets(f) > 0).sort((a, b) => pdmPackets(b) - pdmPackets(a) || a.flow_index - b.flow_index);
  const seen = new Set<string>();
  const chosen: { f: FlowReport; labelPairs: [string, string][] }[] = [];
  for (const f of ranked) {
    if (chosen.length >= maxFlows) break;
    const labelPairs: [string, string][] = [['initiator', endpointLabel(f.initiator)], ['responder', endpointLabel(f.responder)], ['proto', f.proto]];
    const key = labels(labelPairs);
    if (seen.has(key)) continue;
    seen.add(key);
    chosen.push({ f, labelPairs });
  }
  one('pdmscope_exported_flows', 'gauge', `Flows with per-flow series in this scrape (at most ${maxFlows}, the busiest by PDM packets).`, chosen.length);
  family('pdmscope_flow_pdm_packets_total', 'counter', 'PDM packets per exported flow, both directions.');
  for (const { f, labelPairs } of chosen) out.push(`pdmscope_flow_pdm_packets_total${labels(labelPairs)} ${pdmPackets(f)}`);
  for (const m of FLOW_METRICS) {
    family(m.name, 'summary', m.help);
    for (const { f, labelPairs } of chosen) {
      const st = f[m.field];
      if (st.count === 0) continue;
      for (const [q, field] of QUANTILES) {
        const v = st[field];
        out.push(`${m.name}${labels([...labelPairs, ['quantile', q]])} ${formatSampleValue(v === null ? NaN : v / 1e9)}`);
      }
      out.push(`${m.name}_sum${labels(labelPairs)} ${formatSampleValue(((st.mean ?? 0) * st.count) / 1e9)}`);
      out.push(`${m.name}_count${labels(labelPairs)} ${st.count}`);
    }
  }
  return out.join('\n') + '\n';
}

export interface ListenAddress {
  host: string;
  port: number;
  loopback: boolean;
}

export class ListenAddressError extends Error {}

function isLoopbackLiteral(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host) || host.toLowerCase() === '::ffff:127.0.0.1';
  return false;
}

/**
 * `PORT`, `:PORT`, `127.0.0.1:PORT`, `[::1]:PORT`: loopback. Any other listener needs a literal
 * address (`192.0.2.7:9464`, `[::]:9464`, `0.0.0.0:9464`), which is bound exactly as given. Host
 * names, `localhost` too, are refused: the system resolves them, and a typo or a resolver answer
 * (localhost may be another address) must not expose the endpoint.
 */
export function parseListenAddress(text: string): ListenAddress {
  const t = text.trim();
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (bracket !== null) {
    host = bracket[1]!;
    portText = bracket[2]!;
    if (isIP(host) !== 6) throw new ListenAddressError(`--prometheus: '${host}' is not an IPv6 address`);
  } else if (/^:?\d+$/.test(t)) {
    host = '127.0.0.1';
    portText = t.replace(/^:/, '');
  } else {
    const i = t.lastIndexOf(':');
    if (i <= 0) throw new ListenAddressError(`--prometheus: expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464, got '${text}'`);
    host = t.slice(0, i);
    portText = t.slice(i + 1);
    if (host.includes(':')) throw new ListenAddressError(`--prometheus: write IPv6 addresses in brackets, e.g. [::1]:9464`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new ListenAddressError(`--prometheus: bad port '${portText}'`);
  if (isIP(host) === 0) {
    throw new ListenAddressError(`--prometheus: '${host}' is a host name; give a literal address, e.g. ` +
      `127.0.0.1:${port} or [::1]:${port} for loopback, 192.0.2.7:${port} or [::]:${port} to bind beyond it`);
  }
  return { host, port, loopback: isLoopbackLiteral(host) };
}

export interface MetricsServer {
  /** The bound address and port (port 0 resolves to the one the kernel chose). */
  readonly url: string;
  readonly port: number;
  close(): void;
}

/**
 * What one client may hold. A scrape is one small GET answered at once, so a client that has not
 * sent its request headers after `headersTimeoutMs`, or a connection idle that long, is closed;
 * beyond `maxConnections` open connections a new one is closed as soon as it is accepted. Without
 * these, idle or half-open connections stayed forever and each held a socket and its buffers.
 */
export interface MetricsServerLimits {
  maxConnections: number;
  headersTimeoutMs: number;
}

export const DEFAULT_METRICS_SERVER_LIMITS: MetricsServerLimits = { maxConnections: 64, headersTimeoutMs: 10_000 };

/** Serves GET /metrics; the snapshot is taken per scrape. */
export function startMetricsServer(listen: ListenAddress, render: () => string, limits: Partial<MetricsServerLimits> = {}): Promise<MetricsServer> {
  const { maxConnections, headersTimeoutMs } = { ...DEFAULT_METRICS_SERVER_LIMITS, ...limits };
  // Node checks the header and request timeouts every connectionsCheckingInterval (30 s by
  // default, so a 10 s limit could take 40 s): check at a tenth of the limit instead.
  const server: Server = createServer({ connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 10))) }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.headersTimeout = headersTimeoutMs; // from the connection's start to the end of its request headers
  server.requestTimeout = headersTimeoutMs; // the whole request (a scrape has no body)
  // Socket inactivity, which also covers a connection that never sends a byte, and a kept-alive
  // connection between scrapes (Prometheus scrapes every 15 s or more, it reconnects at no cost).
  server.timeout = headersTimeoutMs;
  server.keepAliveTimeout = Math.min(5000, headersTimeoutMs);
  server.maxConnections = maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ListenAddressError(`--prometheus: cannot listen on ${listen.host}:${listen.port}: ${err.code ?? err.message}`));
    });
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => {
      const a = server.address();
      const port = typeof a === 'object' && a !== null ? a.port : listen.port;
      const shown = isIP(listen.host) === 6 ? `[${listen.host}]` : listen.host;
      server.unref(); // the capture, not the metrics endpoint, keeps the process alive
      resolve({ url: `http://${shown}:${port}/metrics`, port, close: () => { server.close(); server.closeAllConnections(); } });
    });
  });
}
