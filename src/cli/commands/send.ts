// `pdmscope send -i IFACE --to ADDR`: PDM probes to a reflector, like ping: a line per reply,
// a summary at the end (text, or --format json: schema pdmscope.send/1), optionally a run of
// kind 'send' in the SQLite store.

import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { Argv, CommandModule } from 'yargs';
import { type DurationStats, EMPTY_STATS, type FlowReport, type PsnCounters, type Sample } from '../../metrics/types.js';
import { StoreError, openStore } from '../../sink/store.js';
import { formatIpv6, parseIpv6Address } from '../../wire/ipv6.js';
import { FrameTooLargeError, pdmUdpIpv6Length } from '../../send/frame-builder.js';
import { NextHopError, isMulticast, resolveNextHop, type NextHop } from '../../send/nexthop.js';
import { PROBE_HEADER_LEN } from '../../send/payload.js';
import { MONOTONIC_CLOCK } from '../../send/pdm-endpoint.js';
import { LiveReceiver, PcapInjectSink } from '../../send/receiver.js';
import { PdmSender, type ReplyRecord, type SendSummary, captureFilter } from '../../send/sender.js';
import { REALTIME_DESCRIBE, realtimeArg, setUpCommandTiming } from './timing.js';
import { CapSink, NEED_NET_RAW, type PacketSink, SinkError, hasCapNetRaw } from '../../send/sink.js';
import { EXIT_INPUT, EXIT_USAGE, UserError } from '../errors.js';
import { runThenExit, stdout } from '../output.js';
import { afterMs } from '../long-timer.js';
import { durationArgNs, durationOption } from '../options.js';
import { TOOL_VERSION } from '../version.js';

/** Probes per second without --rate, and the most --rate allows. */
export const DEFAULT_RATE_PPS = 10;
export const MAX_RATE_PPS = 1000;
/** How early the sender wakes before a probe is due; the rest is a busy wait. */
const SPIN_MARGIN_NS = 2e6;

type SinkKind = 'cap' | 'pcap';

interface SendArgs {
  interface?: string;
  to: string;
  port: number;
  count: number;
  interval: string;
  size: number;
  rate: number;
  wait: string;
  allowMulticast: boolean;
  sink: SinkKind;
  format: 'text' | 'json';
  /** false with --no-db: not stored, as without --db */
  db?: string | false;
  realtime?: string | boolean;
  quiet: boolean;
}

function ms(ns: number | null): string {
  return ns === null ? '—' : (ns / 1e6).toFixed(3);
}

export function replyLine(target: string, r: ReplyRecord): string {
  return `reply from ${target}: seq=${r.seq} psn=${r.psn_this_pkt} server_delay=${ms(r.server_delay_ns)} ms ` +
    `total=${ms(r.total_ns)} ms rtd=${ms(r.rtd_ns)} ms`;
}

export function summaryText(s: SendSummary): string {
  const lines = [
    `--- ${s.target.addr} port ${s.target.port} pdmscope send statistics ---`,
    `${s.probes_sent} probes sent, ${s.replies_received} replies received, ` +
      `${s.loss_pct === null ? '—' : s.loss_pct.toFixed(1)}% loss` +
      (s.duplicate_replies + s.unmatched_replies > 0 ? `, ${s.duplicate_replies} duplicate, ${s.unmatched_replies} unmatched` : '') +
      (s.unpaired_replies > 0 ? `, ${s.unpaired_replies} answered after a later probe (no server delay)` : ''),
  ];
  const header = ['metric (ms)', 'count', 'min', 'mean', 'p50', 'p90', 'p99', 'max'];
  const rows: string[][] = [header];
  const add = (name: string, d: DurationStats): void => {
    rows.push([name, String(d.count), ms(d.min), ms(d.mean), ms(d.p50), ms(d.p90), ms(d.p99), ms(d.max)]);
  };
  if (s.stamped_off_probes > 0) {
    lines.push(`${s.stamped_off_probes} probes stamped by the kernel over 50 µs from their encoded send time (their DeltaTLR is off by that)`);
  }
  add('server_delay', s.server_delay_ns);
  add('total', s.total_ns);
  add('rtd', s.rtd_ns);
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  return lines.join('\n');
}

/** Parses and checks the arguments that do not need the network. */
export function checkSendArgs(args: SendArgs): { dst: Uint8Array; intervalNs: number; waitNs: number } {
  const dst = parseIpv6Address(args.to);
  if (dst === null) throw new UserError(`--to '${args.to}' is not an IPv6 address`, EXIT_USAGE);
  if (isMulticast(dst) && !args.allowMulticast) {
    throw new UserError(`${args.to} is a multicast address; every listener would answer. Add --allow-multicast if that is intended`, EXIT_USAGE);
  }
  if (dst.every((b) => b === 0)) throw new UserError('--to :: is the unspecified address', EXIT_USAGE);
  if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) throw new UserError('--port must be 1..65535', EXIT_USAGE);
  if (!Number.isInteger(args.count) || args.count < 0) throw new UserError('--count must be a whole number ≥ 0 (0: until Ctrl-C)', EXIT_USAGE);
  if (!Number.isInteger(args.size) || args.size < PROBE_HEADER_LEN || args.size > 65000) {
    throw new UserError(`--size must be ${PROBE_HEADER_LEN}..65000 bytes of UDP payload`, EXIT_USAGE);
  }
  if (!(args.rate > 0) || args.rate > MAX_RATE_PPS) throw new UserError(`--rate must be above 0 and at most ${MAX_RATE_PPS} packets/s`, EXIT_USAGE);
  const intervalNs = durationArgNs(args.interval, 'interval');
  const minIntervalNs = 1e9 / args.rate;
  if (intervalNs < minIntervalNs - 1) {
    throw new UserError(`--interval ${args.interval} exceeds the rate limit of ${args.rate} probes/s; ` +
      `raise --rate (at most ${MAX_RATE_PPS}) or lengthen --interval`, EXIT_USAGE);
  }
  const waitNs = durationArgNs(args.wait, 'wait', { zero: true });
  return { dst, intervalNs, waitNs };
}

function bindLocalPort(hop: NextHop): Promise<Socket> {
  // An ordinary socket owns the source port: replies reach a listener instead of drawing an
  // ICMPv6 port unreachable from this host, and no other program takes the port meanwhile.
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp6', ipv6Only: true });
    s.on('message', () => {}); // the PDM option is read from the capture, not from here
    s.once('error', (err) => reject(new UserError(`cannot bind a UDP port on ${formatIpv6(hop.src)}: ${err.message}`)));
    const src = formatIpv6(hop.src);
    s.bind({ address: src.startsWith('fe80:') ? `${src}%${hop.dev}` : src, port: 0 }, () => resolve(s));
  });
}

function psnCounters(lost: number): PsnCounters {
  return { lost, reordered: 0, duplicates: 0, restarts: 0 };
}

/** Replies missing from the reflector's PSN sequence (serial arithmetic mod 2^16). */
function replyPsnGaps(replies: readonly ReplyRecord[]): number {
  let gaps = 0;
  for (let i = 1; i < replies.length; i++) {
    const d = (replies[i]!.psn_this_pkt - replies[i - 1]!.psn_this_pkt) & 0xffff;
    if (d > 1 && d < 0x8000) gaps += d - 1;
  }
  return gaps;
}

function storeSendRun(path: string, summary: SendSummary, sender: PdmSender, command: string): number {
  const lostReplies = replyPsnGaps(summary.replies);
  const unanswered = summary.probes_sent - summary.replies_received;
  const report: FlowReport = {
    flow_index: 0, proto: 'udp', proto_num: 17,
    initiator: { addr: summary.source.addr, port: summary.source.port },
    responder: { addr: summary.target.addr, port: summary.target.port },
    esp: null,
    packets: { initiator_to_responder: summary.probes_sent, responder_to_initiator: summary.replies_received + summary.duplicate_replies },
    pdm_packets: { initiator_to_responder: summary.probes_sent, responder_to_initiator: summary.replies_received + summary.duplicate_replies },
    first_ts_us: summary.started_at_us,
    last_ts_us: Date.now() * 1000,
    server_delay_ns: summary.server_delay_ns, total_ns: summary.total_ns, rtd_ns: summary.rtd_ns,
    reverse: { server_delay_ns: EMPTY_STATS, total_ns: EMPTY_STATS, rtd_ns: EMPTY_STATS },
    // A probe without a reply was lost on the way out or its reply on the way back; a gap in
    // the reflector's PSNs (followed by a later reply) pins it to the way back.
    psn: {
      initiator_to_responder: psnCounters(Math.max(0, unanswered - lostReplies)),
      responder_to_initiator: psnCounters(Math.min(lostReplies, unanswered)),
    },
    pdm_sessions: 1,
    findings: [],
  };
  const samples: Sample[] = [];
  for (const r of summary.replies) {
    const base = { flow_index: 0, ts_us: r.rx_ts_us, psn: r.psn_this_pkt, frame: r.seq };
    if (r.server_delay_ns !== null) samples.push({ ...base, metric: 'server_delay', value_ns: r.server_delay_ns });
    samples.push({ ...base, metric: 'total', value_ns: r.total_ns });
    if (r.rtd_ns !== null) samples.push({ ...base, metric: 'rtd', value_ns: r.rtd_ns });
  }
  let store;
  try {
    store = openStore(path);
  } catch (err) {
    throw new UserError(err instanceof StoreError ? err.message : `${path}: ${(err as Error).message}`);
  }
  try {
    const res = store.writeRun({
      kind: 'send', started_at_us: summary.started_at_us, command,
      inputs: [{ target: summary.target, source: summary.source, dev: summary.dev, sink: summary.sink }],
      content_hash: null,
      packets: { probes_sent: summary.probes_sent, replies_received: summary.replies_received, total: summary.probes_sent + summary.replies_received },
      anomalies: {}, tool_version: TOOL_VERSION,
    }, [{
      report,
      sketches: {
        server_delay_ns: sender.serverDelay.sketchBytes(),
        total_ns: sender.total.sketchBytes(),
        rtd_ns: sender.rtd.sketchBytes(),
      },
    }], samples);
    return res.run_id;
  } catch (err) {
    throw new UserError(err instanceof StoreError ? err.message : `${path}: ${(err as Error).message}`);
  } finally {
    store.close();
  }
}

async function runSend(args: SendArgs): Promise<number> {
  const { dst, intervalNs, waitNs } = checkSendArgs(args);
  const realtime = realtimeArg(args.realtime);
  if (hasCapNetRaw() === false) throw new UserError(`pdmscope send ${NEED_NET_RAW}`);
  let hop: NextHop;
  try {
    hop = await resolveNextHop(formatIpv6(dst), args.interface === undefined ? {} : { dev: args.interface });
  } catch (err) {
    if (err instanceof NextHopError) throw new UserError(err.message);
    throw err;
  }
  const ipLen = pdmUdpIpv6Length(args.size);
  if (ipLen > hop.mtu) throw new UserError(`--size ${args.size}: ${new FrameTooLargeError(ipLen, hop.mtu, args.size).message} on ${hop.dev}`, EXIT_USAGE);

  const socket = await bindLocalPort(hop);
  const srcPort = socket.address().port;
  const clock = MONOTONIC_CLOCK;
  let sender: PdmSender | null = null;
  let receiver: LiveReceiver | null = null;
  let sink: PacketSink | null = null;
  try {
    receiver = LiveReceiver.open(hop.dev, captureFilter(formatIpv6(hop.src), formatIpv6(dst), hop.link.kind === 'ethernet'), clock, (f) => sender?.handleFrame(f));
    sink = args.sink === 'pcap' ? PcapInjectSink.open(hop.dev, clock) : CapSink.open(hop.dev);
  } catch (err) {
    receiver?.close();
    socket.close();
    if (err instanceof SinkError) throw new UserError(err.message);
    throw err;
  }
  const expectLink = hop.link.kind === 'ethernet' ? 'ETHERNET' : 'RAW';
  if (sink.linkType !== expectLink) {
    throw new UserError(`${hop.dev} has link type ${sink.linkType}; pdmscope can only inject on Ethernet, loopback or raw-IP links`);
  }
  const timing = setUpCommandTiming(realtime, args.quiet, () => { receiver.close(); sink.close(); socket.close(); });
  const target = formatIpv6(dst);
  const s = new PdmSender({
    hop, dstPort: args.port, srcPort, payloadSize: args.size, clock, sink, sessionId: randomInt(0, 2 ** 32 - 1),
  });
  sender = s;
  if (hop.link.kind === 'ethernet') {
    try {
      await s.calibrate(hop.link.srcMac);
    } catch (err) {
      receiver.close();
      sink.close();
      socket.close();
      throw err instanceof SinkError ? new UserError(err.message) : err;
    }
  }
  if (args.format === 'text') {
    stdout.line(`PDMSCOPE ${target} port ${args.port} from ${formatIpv6(hop.src)} port ${srcPort} via ${hop.dev}: ${args.size} bytes of UDP payload`);
    stdout.flush();
    s.onReply = (r) => { stdout.line(replyLine(target, r)); stdout.flush(); };
  }

  let stopped = false;
  let wake: (() => void) | null = null;
  const stop = (): void => { stopped = true; wake?.(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // An --interval may be longer than one Node timer takes (long-timer.ts).
  const nap = (msec: number): Promise<void> => new Promise((r) => {
    const t = afterMs(Math.max(0, msec), () => { wake = null; r(); });
    wake = () => { t.cancel(); wake = null; r(); };
  });

  let failure: string | null = null;
  const spinMarginNs = Math.min(SPIN_MARGIN_NS, intervalNs / 2);
  const t0 = clock.nowNs() + BigInt(Math.round(spinMarginNs));
  try {
    for (let k = 0; !stopped && (args.count === 0 || k < args.count); k++) {
      // Wake a little early and busy-wait the rest inside sendProbe: timers fire late by up to
      // a millisecond or two, and the probe's PDM is encoded for its planned instant.
      const dueNs = t0 + BigInt(Math.round(k * intervalNs));
      const aheadNs = Number(dueNs - clock.nowNs()) - spinMarginNs;
      if (aheadNs > 0) await nap(aheadNs / 1e6);
      if (stopped) break;
      s.sendProbe(dueNs);
      if (receiver.callbackError !== null) throw receiver.callbackError;
      // Between probes, when the next is not due soon: collect now rather than while waiting.
      timing.gc.idle(clock.nowNs(), dueNs + BigInt(Math.round(intervalNs)) - BigInt(Math.round(spinMarginNs)));
    }
    const deadline = clock.nowNs() + BigInt(Math.round(waitNs));
    while (!stopped && !s.allAnswered && clock.nowNs() < deadline) await nap(5);
  } catch (err) {
    failure = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  }
  receiver.close();
  sink.close();
  socket.close();
  const summary = s.summary(args.sink, timing.scheduling);
  if (args.format === 'json') stdout.line(JSON.stringify(summary, null, 2));
  else { stdout.line(''); stdout.line(summaryText(summary)); }
  stdout.flush();
  if (typeof args.db === 'string') {
    const runId = storeSendRun(args.db, summary, s, ['pdmscope', ...process.argv.slice(2)].join(' '));
    if (!args.quiet) process.stderr.write(`pdmscope: stored as run ${runId} in ${args.db}\n`);
  }
  if (failure !== null) {
    process.stderr.write(`pdmscope: ${failure}\n`);
    return EXIT_INPUT;
  }
  if (summary.replies_received === 0 && summary.probes_sent > 0) {
    if (!args.quiet) process.stderr.write(`pdmscope: no replies from ${target} port ${args.port} (is \`pdmscope reflect\` running there?)\n`);
    return EXIT_INPUT;
  }
  return 0;
}

export const sendCommand: CommandModule<object, SendArgs> = {
  command: 'send',
  describe: 'send UDP probes carrying PDM to a reflector and report server delay, total and round-trip delay per reply',
  builder: (y: Argv<object>) =>
    y
      .option('interface', { alias: 'i', type: 'string', describe: 'interface to send on (default: the one the route to --to uses)' })
      .option('to', { type: 'string', demandOption: true, describe: 'IPv6 address of the reflector' })
      .option('port', { type: 'number', default: 7777, describe: 'UDP port of the reflector' })
      .option('count', { alias: 'c', type: 'number', default: 0, describe: 'probes to send (0: until Ctrl-C)' })
      .option('interval', durationOption('interval', { default: '100ms', describe: 'time between probes' }))
      .option('size', { alias: 's', type: 'number', default: 64, describe: `UDP payload bytes per probe (at least ${PROBE_HEADER_LEN})` })
      .option('rate', { type: 'number', default: DEFAULT_RATE_PPS, describe: `most probes per second (at most ${MAX_RATE_PPS})` })
      .option('wait', durationOption('wait', { default: '1s', zero: true, describe: 'after the last probe, how long to wait for replies' }))
      .option('allow-multicast', { type: 'boolean', default: false, describe: 'allow a multicast --to (every listener answers)' })
      .option('sink', { choices: ['cap', 'pcap'] as const, default: 'pcap' as SinkKind, describe: 'inject with node_pcap (pcap_inject; survives the interface going down) or with cap (pcap_sendpacket; an interface going down aborts the process)' })
      .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'text: a line per reply and a summary; json: one pdmscope.send/1 document' })
      .option('db', { type: 'string', describe: "store the session as a run of kind 'send' in this SQLite file (without it, or with --no-db: not stored)" })
      .option('realtime', { type: 'string', describe: REALTIME_DESCRIBE })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no notes on stderr' })
      .example('$0 send -i eth0 --to 2001:db8::2 -c 10', 'ten probes, 100 ms apart, to a reflector on port 7777')
      .example('$0 send --to fd00::2 -c 1000 --interval 2ms --rate 500 --format json', 'a faster run; the summary as JSON')
      .epilogue('Needs CAP_NET_RAW (root). Probes carry PDM in a Destination Options header; to capture them use the ' +
        'BPF filter `ip6 protochain 17`, not `udp`, which misses UDP behind extension headers.') as unknown as Argv<SendArgs>,
  handler: async (args) => {
    // node_pcap's live handle keeps the event loop alive after close(): exit explicitly.
    await runThenExit(() => runSend(args));
  },
};
