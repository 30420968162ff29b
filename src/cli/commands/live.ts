// `pdmscope live -i IFACE`: capture through libpcap and analyze continuously with the Analyzer
// of `analyze`; flows go to one growing 'live' run in SQLite every flush interval.
//
// Stopping (native-notes/node_pcap.md #9, §3.4): node_pcap's close() cannot free the handle of an idle interface
// until one more packet arrives, so every stop path flushes everything synchronously and then
// calls process.exit(); an interface that disappears delivers nothing and raises nothing, so a
// watchdog (session.ts) notices it.

import { writeSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { LiveCaptureError, interfaceMtu } from '../../capture/live.js';
import { LiveSession } from '../../live/session.js';
import { StatusLine } from '../../live/status.js';
import { ANALYZE_SCHEMA, type AnalyzeDocument } from '../../metrics/types.js';
import {
  DEFAULT_MAX_EXPORTED_FLOWS, type ListenAddress, ListenAddressError, type MetricsServer, parseListenAddress, renderPrometheus, startMetricsServer,
} from '../../sink/prometheus.js';
import { type LiveRun, type Store, StoreError, openStore } from '../../sink/store.js';
import { EXIT_INPUT, EXIT_USAGE, UserError, oneLine } from '../errors.js';
import { renderAnalyzeTable } from '../flow-format.js';
import { stdout } from '../output.js';
import { afterMs, everyMs, type LongTimer } from '../long-timer.js';
import { durationArgNs, durationOption, optionNeeds } from '../options.js';
import { TOOL_VERSION } from '../version.js';
import { FILTER_HELP, type CommonInputArgs, espOptions, inputOptions, openerFromArgs } from './common.js';
import { maxFlowsFromArgs, maxFlowsOption, type MaxFlowsArgs } from './max-flows.js';

type LiveFormat = 'table' | 'ndjson';

/**
 * Snap length and ring size. libpcap's immediate mode uses TPACKET_V2: one ring slot per packet,
 * sized for the snap length (not the packet, and not capped at the MTU: measured on veth and
 * lo), so 65535 in a 32 MiB ring leaves ~500 slots and drops bursts. PDM and the headers before
 * it fit easily in 2048 bytes (truncated packets are still analyzed); ESP decryption needs whole
 * packets: with --esp-sa the snap length is the interface's MTU plus room for a link header
 * (ESP_LINK_ROOM), so a 1500-byte link keeps ~20,000 slots in the same 32 MiB. libpcap rounds
 * each slot up to a power-of-two block, so a 64 KiB snap length (lo) takes 128 KiB a slot: the
 * ring stays at 32 MiB (64 MiB of blocks, ~500 slots) unless --buffer-size says otherwise,
 * instead of the 256 MiB (512 MiB of blocks) --esp-sa used to take, idle or not (issue 16).
 */
const DEFAULT_SNAPLEN = 2048;
const DEFAULT_RING_MIB = 32;
const ESP_MAX_SNAPLEN = 65535;
/** Ethernet + two VLAN tags (22), Linux cooked v1/v2 (16/20): the largest link header before IPv6. */
const ESP_LINK_ROOM = 32;

/** The snap length that keeps whole packets on `iface`: its MTU plus a link header, 65535 when unknown (`any`). */
function espSnapLen(iface: string): number {
  const mtu = interfaceMtu(iface);
  return mtu === null ? ESP_MAX_SNAPLEN : Math.max(DEFAULT_SNAPLEN, Math.min(ESP_MAX_SNAPLEN, mtu + ESP_LINK_ROOM));
}

interface LiveArgs extends CommonInputArgs, MaxFlowsArgs {
  interface: string;
  db: string | false;
  samples: boolean;
  duration?: string;
  flushInterval: string;
  idleTimeout: string;
  format: LiveFormat;
  prometheus?: string;
  prometheusMaxFlows?: number;
  snaplen?: number;
  bufferSize?: number;
  quiet: boolean;
}

function durationMs(text: string, name: string): number {
  return durationArgNs(text, name) / 1e6;
}

/** --prometheus's address (a literal one: parseListenAddress refuses host names), or a usage error. */
function listenArg(text: string): ListenAddress {
  try { return parseListenAddress(text); } catch (err) { throw new UserError((err as Error).message, EXIT_USAGE); }
}

function note(text: string): void {
  try { writeSync(2, `pdmscope: ${text}\n`); } catch { /* stderr gone */ }
}

export const liveCommand: CommandModule<object, LiveArgs> = {
  command: 'live',
  describe: 'capture on an interface and analyze PDM continuously; flows go to SQLite every few seconds',
  builder: (y: Argv<object>) =>
    maxFlowsOption(espOptions(inputOptions(y)))
      .option('interface', { alias: 'i', type: 'string', demandOption: true, describe: 'interface to capture on (lo, eth0, any, …)' })
      .option('db', { type: 'string', default: './pdmscope.db', describe: 'SQLite store: one run of kind live that grows each flush (--no-db: do not store)' })
      .option('samples', { type: 'boolean', default: false, describe: 'also store every delay sample and PSN event' })
      .option('duration', durationOption('duration', { describe: 'stop after this long (e.g. 60s, 5m, 720h); default: until SIGINT/SIGTERM' }))
      .option('flush-interval', durationOption('flush-interval', { default: '5s', describe: 'how often flows go to the store, NDJSON and Prometheus' }))
      .option('idle-timeout', durationOption('idle-timeout', { default: '120s', describe: 'a flow idle this long ends; its next packet starts a new flow' }))
      .option('format', { choices: ['table', 'ndjson'] as const, default: 'table' as LiveFormat, describe: 'table: the flow table at the end; ndjson: changed flows (analyze/1 flow objects) on stdout at every flush' })
      .option('prometheus', { type: 'string', describe: 'serve GET /metrics on ADDRESS:PORT, a literal address (127.0.0.1:9464, [::1]:9464; PORT alone: 127.0.0.1)' })
      // No default here: given, it needs --prometheus (the check below); the handler applies the default.
      .option('prometheus-max-flows', { type: 'number', defaultDescription: String(DEFAULT_MAX_EXPORTED_FLOWS), describe: 'per-flow series for at most this many flows (the busiest by PDM packets)' })
      .option('snaplen', { type: 'number', describe: `bytes kept per packet (default ${DEFAULT_SNAPLEN}, or with --esp-sa the interface MTU + ${ESP_LINK_ROOM}, at most ${ESP_MAX_SNAPLEN}: decryption needs whole packets)` })
      .option('buffer-size', { type: 'number', describe: `kernel capture ring in MiB (default ${DEFAULT_RING_MIB}); it holds one slot of about --snaplen bytes per packet` })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no status line or notes on stderr' })
      .check(optionNeeds('samples', 'db', 'samples are kept in the database only'))
      .check(optionNeeds('prometheus-max-flows', 'prometheus', 'it limits what the Prometheus endpoint exports'))
      .example('$0 live -i eth0', 'status line, flows stored in ./pdmscope.db every 5 s, flow table on Ctrl-C')
      .example('$0 live -i eth0 --format ndjson --no-db | jq .server_delay_ns.p50', 'stream flow updates')
      .example('$0 live -i eth0 --filter "ip6 protochain 17" --prometheus 127.0.0.1:9464', 'UDP only, metrics for Prometheus')
      .example('$0 query flows --latest', '(in another terminal) the live run as it grows')
      .epilogue(`${FILTER_HELP} Capturing needs root or CAP_NET_RAW + CAP_NET_ADMIN. Stop with Ctrl-C (SIGINT) or SIGTERM: ` +
        'the last flows are written and the process exits within 2 seconds. Exit status 2 when the interface disappears ' +
        'during the capture (the flows seen until then are stored). In immediate mode libpcap gives every packet a ring ' +
        'slot of about --snaplen bytes, whatever its size: --snaplen 65535 with a 32 MiB ring holds only ~500 packets.') as unknown as Argv<LiveArgs>,
  handler: async (args) => {
    const flushMs = durationMs(args.flushInterval, 'flush-interval');
    const idleTimeoutUs = durationMs(args.idleTimeout, 'idle-timeout') * 1000;
    const stopAfterMs = args.duration === undefined ? null : durationMs(args.duration, 'duration');
    const maxOpenFlows = maxFlowsFromArgs(args);
    const prometheusMaxFlows = args.prometheusMaxFlows ?? DEFAULT_MAX_EXPORTED_FLOWS;
    if (!Number.isInteger(prometheusMaxFlows) || prometheusMaxFlows < 0) {
      throw new UserError('--prometheus-max-flows must be a whole number ≥ 0', EXIT_USAGE);
    }
    const withKeys = args.espSa !== undefined;
    const snapLen = args.snaplen ?? (withKeys ? espSnapLen(args.interface) : DEFAULT_SNAPLEN);
    const ringMiB = args.bufferSize ?? DEFAULT_RING_MIB;
    if (!Number.isInteger(snapLen) || snapLen < 64 || snapLen > 262144) {
      throw new UserError('--snaplen must be a whole number from 64 to 262144', EXIT_USAGE);
    }
    if (!(ringMiB >= 1 && ringMiB <= 4096)) throw new UserError('--buffer-size must be 1 to 4096 (MiB)', EXIT_USAGE);
    const listen = args.prometheus === undefined ? null : listenArg(args.prometheus);
    const esp = openerFromArgs(args);
    const startedMs = Date.now();

    let store: Store | null = null;
    if (args.db !== false) {
      try { store = openStore(args.db); } catch (err) {
        throw new UserError(err instanceof StoreError ? err.message : `${args.db}: ${(err as Error).message}`);
      }
    }
    const table = args.format === 'table';
    let run: LiveRun | null = null;
    let session: LiveSession;
    // Events that stop the capture may fire while it is being set up: remembered, acted on below.
    let stop: (why: StopReason) => void = () => {};
    try {
      session = new LiveSession({
        iface: args.interface, filter: args.filter, snapLen, bufferSizeBytes: Math.round(ringMiB * 1024 * 1024),
        analyzer: { idleTimeoutUs, esp, maxFlows: maxOpenFlows },
        keepSamples: store !== null && args.samples,
        run: null,
        keepReports: table,
        ...(args.format === 'ndjson' ? {
          onFlowUpdates: (reports) => { for (const r of reports) stdout.line(JSON.stringify(r)); stdout.flush(); },
        } : {}),
        onInterfaceGone: () => stop({ kind: 'interface-gone' }),
        onError: (err) => stop({ kind: 'error', message: `analysis stopped: ${oneLine(err)}` }),
      });
    } catch (err) {
      store?.close();
      if (err instanceof LiveCaptureError) throw new UserError(err.message);
      throw err;
    }
    if (store !== null) {
      try {
        run = store.beginLiveRun({
          kind: 'live', started_at_us: startedMs * 1000, command: ['pdmscope', ...process.argv.slice(2)].join(' '),
          inputs: session.inputs(), content_hash: null, packets: { total: 0, ipv6: 0, with_pdm: 0, malformed: 0 },
          anomalies: {}, tool_version: TOOL_VERSION,
        });
      } catch (err) {
        session.capture.close();
        store.close();
        throw new UserError(err instanceof StoreError ? err.message : `${args.db}: ${(err as Error).message}`);
      }
      session.attachRun(run);
    }

    let metrics: MetricsServer | null = null;
    if (listen !== null) {
      const maxFlows = prometheusMaxFlows;
      try {
        metrics = await startMetricsServer(listen, () => {
          const st = session.status();
          return renderPrometheus({
            packets: session.analyzer.counters.summary(), anomalies: session.analyzer.counters.sortedAnomalies(),
            kernelDropped: st.kernel.dropped, interfaceDropped: st.kernel.ifDropped, openFlows: st.openFlows,
            flowsEndedEarly: session.analyzer.flowsEndedEarly,
            flows: session.openFlowReports,
          }, maxFlows);
        });
      } catch (err) {
        session.capture.close();
        store?.close();
        const msg = err instanceof ListenAddressError ? err.message : oneLine(err);
        note(msg);
        process.exit(EXIT_USAGE); // the capture handle may hold the event loop (native-notes/node_pcap.md #9)
      }
      if (!args.quiet) {
        note(`Prometheus metrics at ${metrics.url}${listen.loopback ? '' : ' (reachable beyond this host, no authentication)'}`);
      }
    }

    const status = !args.quiet && process.stderr.isTTY ? new StatusLine(2) : null;
    if (!args.quiet) {
      note(`capturing on ${args.interface}${args.filter ? ` (filter: ${args.filter})` : ''}` +
        `${run !== null ? `; flows every ${args.flushInterval} to run ${run.runId} in ${args.db}` : ''}; Ctrl-C to stop`);
    }
    // Long timers: --duration and --flush-interval may exceed one Node timer (long-timer.ts).
    const timers: LongTimer[] = [];
    let stopping = false;
    stop = (why: StopReason): void => {
      if (stopping) return;
      stopping = true;
      for (const t of timers) t.cancel();
      status?.end();
      let code = why.kind === 'interface-gone' || why.kind === 'error' ? EXIT_INPUT : 0;
      let doc: AnalyzeDocument | null = null;
      try {
        doc = session.finish().doc;
      } catch (err) {
        note(`final flush failed: ${err instanceof StoreError ? err.message : oneLine(err)}`);
        code = EXIT_INPUT;
      }
      if (why.kind === 'interface-gone') note(`interface '${args.interface}' disappeared during the capture${run !== null ? `; flows until then are in run ${run.runId} of ${args.db}` : ''}`);
      if (why.kind === 'error') note(why.message);
      if (table && doc !== null) {
        const st = session.status();
        const flows = [...session.allReports.values()]
          .sort((a, b) => pdm(b) - pdm(a) || a.flow_index - b.flow_index);
        stdout.write(renderAnalyzeTable({
          schema: ANALYZE_SCHEMA,
          inputs: [{ path: args.interface, packets: st.packets, link_types: [session.capture.linkType], format: 'pcap',
            complete: why.kind !== 'interface-gone', error: why.kind === 'interface-gone' ? 'interface disappeared' : null }],
          packets: doc.packets, anomalies: doc.anomalies, esp_no_sa_by_spi: doc.esp_no_sa_by_spi,
          ...(doc.flow_table === undefined ? {} : { flow_table: doc.flow_table }), flows,
        }));
      }
      stdout.flush();
      metrics?.close();
      try { store?.close(); } catch { /* already reported */ }
      if (!args.quiet) {
        const st = session.status();
        note(`${st.packets} packets (${st.pdmPackets} with PDM), ${st.kernel.dropped} kernel drops` +
          `${run !== null ? `; stored as run ${run.runId} in ${args.db}` : ''}`);
      }
      // The libpcap handle of an idle interface holds the event loop (native-notes/node_pcap.md #9).
      process.exit(code);
    };

    timers.push(everyMs(flushMs, () => {
      try {
        session.flush();
      } catch (err) {
        stop({ kind: 'error', message: `flush failed: ${err instanceof StoreError ? err.message : oneLine(err)}` });
      }
    }));
    if (status !== null) timers.push(everyMs(1000, () => status.update(args.interface, session.status())));
    if (stopAfterMs !== null) timers.push(afterMs(stopAfterMs, () => stop({ kind: 'duration' })));
    const onSignal = (): void => {
      if (stopping) process.exit(130); // a second Ctrl-C while the final flush runs
      stop({ kind: 'signal' });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (session.isInterfaceGone) stop({ kind: 'interface-gone' });
    // Runs until stop() exits the process.
    await new Promise<never>(() => {});
  },
};

type StopReason = { kind: 'signal' } | { kind: 'duration' } | { kind: 'interface-gone' } | { kind: 'error'; message: string };

function pdm(f: { pdm_packets: { initiator_to_responder: number; responder_to_initiator: number } }): number {
  return f.pdm_packets.initiator_to_responder + f.pdm_packets.responder_to_initiator;
}
