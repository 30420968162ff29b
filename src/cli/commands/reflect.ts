// `pdmscope reflect -i IFACE`: answers PDM probes (from `pdmscope send` or any RFC 8250 sender)
// with replies that carry PDM, until SIGINT/SIGTERM.

import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { formatIpv6, parseIpv6Address } from '../../wire/ipv6.js';
import { type LinkInfo, parseLink, parseMac, runCommand, NextHopError } from '../../send/nexthop.js';
import { MONOTONIC_CLOCK } from '../../send/pdm-endpoint.js';
import { LiveReceiver, PcapInjectSink } from '../../send/receiver.js';
import { AddressSet, type OwnAddresses, REFUSAL_NAMES, type RefusalCounts } from '../../send/probe-check.js';
import { PdmReflector, probeFilter } from '../../send/reflector.js';
import { CapSink, NEED_NET_RAW, type PacketSink, SinkError, hasCapNetRaw } from '../../send/sink.js';
import { REALTIME_DESCRIBE, realtimeArg, setUpCommandTiming } from './timing.js';
import { pdmDeltaNs } from '../../wire/pdm.js';
import { EXIT_INPUT, EXIT_USAGE, UserError, oneLine } from '../errors.js';
import { runThenExit, stdout } from '../output.js';
import { durationArgNs, durationOption } from '../options.js';

/** The most replies per second a reflector sends, whatever --max-rate says. */
export const REFLECT_MAX_RATE_PPS = 1000;

/** --delay: a bare number is ms; 0..10 s. */
const DELAY = {
  default: '0', defaultUnit: 'ms', zero: true, max: '10s',
  describe: 'hold each reply this long (e.g. 5ms; at most 10s); it shows up as server delay',
};

interface ReflectArgs {
  interface: string;
  port: number;
  delay: string;
  maxRate: number;
  sink: 'cap' | 'pcap';
  log: boolean;
  realtime?: string | boolean;
  quiet: boolean;
}

function bindPort(port: number): Promise<Socket> {
  // Holding the port keeps the kernel from answering probes with ICMPv6 port unreachable
  // (RFC 4443 §3.1); the datagrams it delivers are dropped, replies come from the capture path.
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp6' });
    s.on('message', () => {});
    s.once('error', (err) => reject(new UserError(`cannot bind UDP port ${port}: ${err.message}`)));
    s.bind({ address: '::', port }, () => resolve(s));
  });
}

/**
 * This host's IPv6 addresses, every interface of its network namespace (a spoofed source may
 * name any of them). Read again every 2 s on a timer, outside the packet path (a read takes
 * ~0.1 ms): an address added while running is known within 2 s.
 */
class HostAddresses implements OwnAddresses {
  private set = HostAddresses.read();
  private readonly timer = setInterval(() => { this.set = HostAddresses.read(); }, 2000).unref();
  has(buf: Uint8Array, off: number): boolean { return this.set.has(buf, off); }
  close(): void { clearInterval(this.timer); }
  private static read(): AddressSet {
    const addrs: Uint8Array[] = [];
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        if (a.family !== 'IPv6') continue;
        const bytes = parseIpv6Address(a.address); // drops a %zone
        if (bytes !== null) addrs.push(bytes);
      }
    }
    return new AddressSet(addrs);
  }
}

/** ", refused N (name n, …)" for the closing line; empty when nothing was refused. */
export function formatRefused(refused: RefusalCounts): string {
  const parts = REFUSAL_NAMES.filter((n) => refused[n] > 0).map((n) => `${n} ${refused[n]}`);
  if (parts.length === 0) return '';
  return `, refused ${REFUSAL_NAMES.reduce((sum, n) => sum + refused[n], 0)} (${parts.join(', ')})`;
}

async function runReflect(args: ReflectArgs): Promise<number> {
  if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) throw new UserError('--port must be 1..65535', EXIT_USAGE);
  const delayNs = durationArgNs(args.delay, 'delay', DELAY);
  if (!(args.maxRate > 0) || args.maxRate > REFLECT_MAX_RATE_PPS) throw new UserError(`--max-rate must be above 0 and at most ${REFLECT_MAX_RATE_PPS}`, EXIT_USAGE);
  const realtime = realtimeArg(args.realtime);
  if (hasCapNetRaw() === false) throw new UserError(`pdmscope reflect ${NEED_NET_RAW}`);
  let link: LinkInfo;
  try {
    link = parseLink(await runCommand('ip', ['-j', 'link', 'show', 'dev', args.interface]));
  } catch (err) {
    if (err instanceof NextHopError) throw new UserError(`interface ${args.interface}: ${err.message}`);
    throw err;
  }
  const socket = await bindPort(args.port);
  const clock = MONOTONIC_CLOCK;
  let reflector: PdmReflector | null = null;
  let receiver: LiveReceiver;
  let sink: PacketSink;
  try {
    receiver = LiveReceiver.open(args.interface, probeFilter(link.linkType !== 'none'), clock, (f) => reflector?.handleFrame(f));
  } catch (err) {
    socket.close();
    throw err instanceof SinkError ? new UserError(err.message) : err;
  }
  try {
    sink = args.sink === 'pcap' ? PcapInjectSink.open(args.interface, clock) : CapSink.open(args.interface);
  } catch (err) {
    receiver.close();
    socket.close();
    throw err instanceof SinkError ? new UserError(err.message) : err;
  }
  const timing = setUpCommandTiming(realtime, args.quiet, () => { receiver.close(); sink.close(); socket.close(); });
  const ownAddresses = new HostAddresses();
  const r = new PdmReflector({
    port: args.port, delayNs: BigInt(Math.round(delayNs)), clock, sink, mtu: link.mtu, maxRepliesPerSecond: args.maxRate, gc: timing.gc,
    ownAddresses, serveLoopback: link.linkType === 'loopback',
  });
  reflector = r;
  if (args.log) {
    r.onReply = (x) => {
      const sd = x.pdm.deltaLastRecv === 0 && x.pdm.scaleDtlr === 0 ? '—' : (pdmDeltaNs(x.pdm.deltaLastRecv, x.pdm.scaleDtlr) / 1e6).toFixed(3);
      stdout.line(`reply to ${formatIpv6(x.peer)} port ${x.peerPort}: psn=${x.pdm.psnThisPkt} psn_last_recv=${x.pdm.psnLastRecv} server_delay=${sd} ms delivery_lag=${(x.deliveryLagNs / 1e3).toFixed(1)} µs late=${(x.lateNs / 1e3).toFixed(1)} µs`);
      stdout.flush();
    };
  }
  const ownMac = link.address === null ? null : parseMac(link.address);
  if (receiver.linkType === 1 && ownMac !== null) await r.calibrate(ownMac);
  if (!args.quiet) {
    process.stderr.write(`pdmscope: reflecting PDM probes on ${args.interface} UDP port ${args.port} ` +
      `(delay ${(delayNs / 1e6).toFixed(3)} ms, sink ${args.sink}, scheduling ${timing.scheduling}); Ctrl-C to stop\n`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  r.stop();
  ownAddresses.close();
  receiver.close();
  sink.close();
  socket.close();
  const st = r.stats;
  if (!args.quiet) {
    process.stderr.write(`pdmscope: ${st.probes} probes, ${st.replies} replies, ${st.flows} flows, ` +
      `receive clock ${r.captureClock.calibrated ? `calibrated from ${r.captureClock.matched} own frames` : 'not calibrated (delivery times used)'}` +
      (st.rate_limited > 0 ? `, ${st.rate_limited} over the rate limit` : '') +
      formatRefused(st.refused) +
      `, ${st.late} late by over 0.5 ms (max ${(st.max_late_ns / 1e6).toFixed(3)} ms)` +
      `, ${st.stamped_off} stamped over 50 µs from their encoded time (max ${(st.max_stamp_lag_ns / 1e3).toFixed(1)} µs)` +
      (st.retimed > 0 ? `, ${st.retimed} re-encoded (held up at the deadline)` : '') +
      (st.send_errors > 0 ? `, ${st.send_errors} send errors (last: ${st.last_error})` : '') + '\n');
  }
  if (receiver.callbackError !== null) {
    process.stderr.write(`pdmscope: internal error while handling a packet: ${oneLine(receiver.callbackError)}\n`);
    return EXIT_INPUT;
  }
  return st.send_errors > 0 && st.replies === 0 ? EXIT_INPUT : 0;
}

export const reflectCommand: CommandModule<object, ReflectArgs> = {
  command: 'reflect',
  describe: 'answer UDP probes carrying PDM with replies carrying PDM (the other end of `pdmscope send`)',
  builder: (y: Argv<object>) =>
    y
      .option('interface', { alias: 'i', type: 'string', demandOption: true, describe: 'interface to listen and answer on' })
      .option('port', { type: 'number', default: 7777, describe: 'UDP port to answer on' })
      .option('delay', durationOption('delay', DELAY))
      .option('max-rate', { type: 'number', default: REFLECT_MAX_RATE_PPS, describe: `most replies in any one second (at most ${REFLECT_MAX_RATE_PPS})` })
      .option('sink', { choices: ['cap', 'pcap'] as const, default: 'pcap' as const, describe: 'inject with node_pcap (survives the interface going down) or with cap (an interface going down aborts the process)' })
      .option('log', { type: 'boolean', default: false, describe: 'print a line per reply on stdout' })
      .option('realtime', { type: 'string', describe: REALTIME_DESCRIBE })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no status lines on stderr' })
      .example('$0 reflect -i eth0', 'answer probes on UDP port 7777')
      .example('$0 reflect -i eth0 --delay 5ms --log', 'add 5 ms of server delay and log each reply')
      .example('$0 reflect -i eth0 --realtime 70', 'run at SCHED_FIFO priority 70 instead of 40')
      .epilogue('Needs CAP_NET_RAW (root). Probes without a PDM option or to other ports are ignored. Never answered, and counted: ' +
        'packets from a reflector\'s port (its own), from ports below 1024, from multicast, unspecified, loopback or this host\'s own ' +
        'addresses, to multicast or to addresses not this host\'s, with a bad or zero UDP checksum, a length that disagrees ' +
        'with the packet, or a Routing header with segments left.') as unknown as Argv<ReflectArgs>,
  handler: async (args) => {
    // node_pcap's live handle keeps the event loop alive after close(): exit explicitly.
    await runThenExit(() => runReflect(args));
  },
};
