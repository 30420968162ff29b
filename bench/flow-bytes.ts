// Bench helper: heap bytes per open flow, for sizing --max-flows (README "Flow table bound").
// Reads a capture into one Analyzer with no bound, then measures the heap with every flow open
// (node --expose-gc dist/bench/flow-bytes.js FILE).
import { readCaptureFile } from '../src/capture/offline.js';
import { Analyzer } from '../src/metrics/analyzer.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const [path, allFlows] = process.argv.slice(2);
gc();
const before = process.memoryUsage().heapUsed;
const analyzer = new Analyzer({ maxFlows: 1e9, idleTimeoutUs: 1e15, allFlows: allFlows === '--all-flows', keepSketches: false });
let n = 0;
await readCaptureFile(path!, { reader: 'thread' }, (frame, capLen, wireLen, tsUs) => {
  analyzer.addFrame(frame, capLen, wireLen, tsUs, 1, ++n);
}, () => {});
gc();
const after = process.memoryUsage().heapUsed;
const flows = analyzer.openFlows;
console.log(`${path}: ${n} packets, ${flows} open flows, ${((after - before) / flows).toFixed(0)} heap bytes per open flow`);
