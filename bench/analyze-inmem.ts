// Bench helper: decode + analyze a capture held in memory, several passes, best pass reported.
// Separates the analysis cost from libpcap and process start-up when tuning the hot path.
import { readCaptureFile } from '../src/capture/offline.js';
import { PacketRecorder } from '../src/capture/packet-recorder.js';
import { PACKET_RECORD_MAX_WORDS, packetRecordWords } from '../src/flow/packet-record.js';
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
// The packet-record split (analyze on large files): the reader thread decodes and encodes
// (capture/packet-recorder.ts), the analysing thread accounts the records.
const recordWords = new Int32Array(offsets.length * PACKET_RECORD_MAX_WORDS);
const encodeTimes: number[] = [];
const accountTimes: number[] = [];
for (let pass = 0; pass < passes; pass++) {
  const recorder = new PacketRecorder(linkType, true); // as analyze's default read: ESP-NULL heuristic, no keys
  const t0 = performance.now();
  let at = 0;
  for (let i = 0; i < offsets.length; i++) {
    all.copy(frame, 0, offsets[i]!, offsets[i]! + lengths[i]!);
    at += recorder.encode(frame, lengths[i]!, lengths[i]!, Math.floor(stamps[i]! / 1e6), stamps[i]! % 1e6, recordWords, at);
  }
  const t1 = performance.now();
  const analyzer = new Analyzer({ keepSketches: false });
  for (let i = 0, w = 0; i < offsets.length; i++, w += packetRecordWords(recordWords, w)) analyzer.addRecord(recordWords, w, i + 1);
  const t2 = performance.now();
  analyzer.end([]);
  encodeTimes.push(t1 - t0);
  accountTimes.push(t2 - t1);
  process.stderr.write(`records pass ${pass + 1}: decode+encode ${(t1 - t0).toFixed(0)} ms, account ${(t2 - t1).toFixed(0)} ms\n`);
}
const perPacket = (ms: number): string => `${(ms * 1e6 / offsets.length).toFixed(0)} ns/packet`;
console.log(`records: reader thread decode+encode ${perPacket(Math.min(...encodeTimes))}, analysing thread ${perPacket(Math.min(...accountTimes))}`);
const best = Math.min(...times);
console.log(`best decode+analyze: ${best.toFixed(0)} ms = ${(offsets.length / best / 1e3).toFixed(2)} M pkt/s (${(best * 1e6 / offsets.length).toFixed(0)} ns/packet)`);
