// Bench helper: decode + analyze a capture held in memory, several passes, best pass reported.
// Separates the analysis cost from libpcap and process start-up when tuning the hot path.
import { readCaptureFile } from '../src/capture/offline.js';
import { Analyzer } from '../src/metrics/analyzer.js';

const [path, passesArg] = process.argv.slice(2);
const passes = Number(passesArg ?? 5);
const chunks: Buffer[] = [];
const offsets: number[] = [];
const lengths: number[] = [];
const stamps: number[] = [];
let linkType = 1;
let size = 0;
await readCaptureFile(path!, { reader: 'thread' }, (frame, capLen, _wire, tsUs) => {
  chunks.push(Buffer.from(frame.subarray(0, capLen)));
  offsets.push(size);
  lengths.push(capLen);
  stamps.push(tsUs);
  size += capLen;
}, (lt) => { linkType = lt; });
const all = Buffer.concat(chunks);
chunks.length = 0;
const frame = Buffer.alloc(262144);
const times: number[] = [];
for (let pass = 0; pass < passes; pass++) {
  const t0 = performance.now();
  const analyzer = new Analyzer({ keepSketches: false });
  for (let i = 0; i < offsets.length; i++) {
    all.copy(frame, 0, offsets[i]!, offsets[i]! + lengths[i]!);
    analyzer.addFrame(frame, lengths[i]!, lengths[i]!, stamps[i]!, linkType, i + 1);
  }
  const t1 = performance.now();
  // As analyze does: the flows in output order, each report built and dropped in turn.
  const { flows } = analyzer.end([]);
  let built = 0;
  for (const r of flows.reports()) built += r.flow_index >= 0 ? 1 : 0;
  const t2 = performance.now();
  times.push(t1 - t0);
  process.stderr.write(`pass ${pass + 1}: decode+analyze ${(t1 - t0).toFixed(0)} ms, end + reports ${(t2 - t1).toFixed(0)} ms, ${built} flows\n`);
}
const best = Math.min(...times);
console.log(`best decode+analyze: ${best.toFixed(0)} ms = ${(offsets.length / best / 1e3).toFixed(2)} M pkt/s (${(best * 1e6 / offsets.length).toFixed(0)} ns/packet)`);
