// Bench helper: read a capture through the capture adapter, optionally decoding each frame.
// Prints on stdout the time from asking for the file (header check, libpcap open, the reader
// thread's start when there is one) to the last packet delivered and decoded, so the bench can
// give the rate of reading itself next to the process's start-to-exit time (native-notes/node_pcap.md
// §3.7 measures libpcap's throughput the same way).
import { readCaptureFile } from '../src/capture/offline.js';
import { Decoder } from '../src/decode/decode.js';
import { DecodedPacket } from '../src/decode/packet.js';

const [path, mode] = process.argv.slice(2);
const decoder = new Decoder({ esp: null });
const packet = new DecodedPacket();
let pdm = 0;
let linkType = 1;
const startedMs = performance.now();
const summary = await readCaptureFile(path!, {}, (frame, capLen) => {
  if (mode === '--decode') {
    decoder.decode(frame, capLen, linkType, packet);
    pdm += packet.pdmCount;
  }
}, (lt) => { linkType = lt; });
const readMs = performance.now() - startedMs;
process.stderr.write(`${summary.delivered} packets, ${pdm} PDM\n`);
process.stdout.write(`${JSON.stringify({ packets: summary.delivered, read_ms: readMs, process_start_ms: startedMs })}\n`);
