// A child process that injects synthetic PDM traffic (traffic.ts) on an interface through
// libpcap (pcap_inject), for live tests and the capture benchmark. It runs in its own process
// because only one JS context per process may load node_pcap (native-notes/node_pcap.md §3.5) and so that the
// capturing process is measured alone.
//
//   node dist/test/support/inject-main.js '{"iface":"lo","prefix":"fd00:5d:1","flows":4,"exchanges":100}'
//
// Optional: "ratePps" (0 or absent: as fast as possible), "ethernet" (default true).
// Prints one JSON line {"sent":N,"failed":N,"seconds":S} and exits.

import { constructSession, setPcapWarningSink } from '../../src/capture/native.js';
import { type TrafficSpec, trafficFrames } from './traffic.js';

interface InjectRequest extends TrafficSpec {
  iface: string;
  ratePps?: number;
}

/** Frames pass this filter only if they are at most 1 byte long: the handle receives nothing. */
const MATCH_NOTHING = 'less 1';

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '{}') as InjectRequest;
  setPcapWarningSink(null);
  const built = constructSession(() => {}, true, req.iface, MATCH_NOTHING, 1 << 20, 128, 0, false);
  if (built.error !== null) {
    process.stderr.write(`inject: ${req.iface}: ${String((built.error as Error).message ?? built.error).split('\n')[0]}\n`);
    process.exit(2);
  }
  const session = built.session.session;
  const rate = req.ratePps ?? 0;
  let sent = 0;
  let failed = 0;
  let buf: Buffer | null = null;
  const started = process.hrtime.bigint();
  const frames = trafficFrames(req);
  for (let r = frames.next(); !r.done; r = frames.next()) {
    const f = r.value;
    if (buf === null || buf.buffer !== f.buffer) buf = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
    try {
      session.inject(buf);
      sent++;
    } catch {
      failed++;
    }
    if (rate > 0 && (sent & 63) === 0) {
      // Paced: wait until the schedule catches up (checked every 64 packets).
      for (;;) {
        const due = Number(process.hrtime.bigint() - started) / 1e9 * rate;
        if (sent + failed <= due) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify({ sent, failed, seconds })}\n`);
  // node_pcap keeps its poll handle open after close() (native-notes/node_pcap.md #9): exit explicitly.
  process.exit(0);
}

// node --test runs every .js file under dist/test as a test file, this one too, without a
// request: there is nothing to inject then.
if (process.argv[2] !== undefined) void main();
