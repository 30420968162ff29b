// Bench helper: read a capture through the capture adapter, optionally decoding each frame.
import { readCaptureFile } from '../src/capture/offline.js';
import { Decoder } from '../src/decode/decode.js';
import { DecodedPacket } from '../src/decode/packet.js';

const [path, mode] = process.argv.slice(2);
const decoder = new Decoder({ esp: null });
const packet = new DecodedPacket();
let pdm = 0;
let linkType = 1;
const summary = await readCaptureFile(path!, {}, (frame, capLen) => {
  if (mode === '--decode') {
    decoder.decode(frame, capLen, linkType, packet);
    pdm += packet.pdmCount;
  }
}, (lt) => { linkType = lt; });
process.stderr.write(`${summary.delivered} packets, ${pdm} PDM\n`);
