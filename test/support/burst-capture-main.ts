// The capturing side of `runLiveBurst` (live-burst.ts), in its own process: a LiveSession (the
// `pdmscope live` loop without a store) on an interface with a filter. Prints {"ready":true}
// once capturing; reads the number of packets sent on stdin; waits until every one of them is
// either delivered or counted as a kernel drop (or 2 s pass without progress); prints the
// result as one JSON line and exits (node_pcap cannot release an idle handle, native-notes/node_pcap.md #9).
//
//   node dist/test/support/burst-capture-main.js '{"iface":"lo","filter":"ip6 net fd00:5d:1::/48","snapLen":512}'

import { LiveSession } from '../../src/live/session.js';

interface Request {
  iface: string;
  filter: string;
  snapLen?: number;
  bufferSizeBytes?: number;
}

export interface BurstCaptureResult {
  captured: number;
  pdm_packets: number;
  kernel_received: number;
  kernel_dropped: number;
  interface_dropped: number;
}

// node --test runs every .js file under dist/test as a test file, this one too, without a
// request: there is nothing to capture then.
if (process.argv[2] === undefined) process.exit(0);
const req = JSON.parse(process.argv[2]) as Request;
let session: LiveSession;
try {
  session = new LiveSession({
    iface: req.iface, filter: req.filter, analyzer: {}, keepSamples: false, run: null,
    ...(req.snapLen !== undefined ? { snapLen: req.snapLen } : {}),
    ...(req.bufferSizeBytes !== undefined ? { bufferSizeBytes: req.bufferSizeBytes } : {}),
    watchdogMs: 0,
    onError: (err) => { process.stderr.write(`burst capture: ${String(err)}\n`); process.exit(2); },
  });
} catch (err) {
  process.stderr.write(`burst capture: ${(err as Error).message}\n`);
  process.exit(2);
}
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  input += chunk;
  if (!input.includes('\n')) return;
  const sent = Number(input.trim());
  let last = -1;
  let lastChangeMs = Date.now();
  const poll = setInterval(() => {
    const k = session.kernelStats();
    const seen = session.packets + k.dropped;
    if (seen !== last) { last = seen; lastChangeMs = Date.now(); }
    if (seen >= sent || Date.now() - lastChangeMs > 2000) {
      clearInterval(poll);
      const s = session.status();
      const result: BurstCaptureResult = {
        captured: s.packets, pdm_packets: s.pdmPackets, kernel_received: k.received, kernel_dropped: k.dropped,
        interface_dropped: k.ifDropped,
      };
      process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
    }
  }, 20);
});
