// Worker-thread entry of the file reader (offline.ts): libpcap delivers the file's packets here
// and they go into the shared frame ring for the thread that started us. Nothing in this thread
// throws past its own catch: the outcome, good or bad, travels in the ring's finish info.

import { workerData } from 'node:worker_threads';
import { endianness } from 'node:os';

import { FrameRingWriter } from './frame-ring.js';
import { drainWithLibpcap, type DrainResult, type ReaderWorkerData } from './offline.js';

const HOST_LE = endianness() === 'LE';
const { sab, path, filter } = workerData as ReaderWorkerData;
const ring = new FrameRingWriter(sab);

let result: DrainResult;
try {
  let frameWords: Int32Array | null = null;
  let headerWords: Int32Array | null = null;
  result = await drainWithLibpcap(path, filter, (buf, h) => {
    if (frameWords === null || frameWords.buffer !== buf.buffer) {
      // node_pcap allocates both buffers once per session (Buffer.alloc: own, aligned memory).
      if (buf.byteOffset % 4 !== 0 || h.byteOffset % 4 !== 0 || !HOST_LE) return pushBytes(buf, h);
      frameWords = new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
      headerWords = new Int32Array(h.buffer, h.byteOffset, 4);
    }
    const hw = headerWords!;
    const capLen = hw[2]! >>> 0;
    if (capLen > frameWords.length << 2) return pushBytes(buf, h);
    return ring.pushWords(frameWords, capLen, hw[3]! >>> 0, hw[0]!, hw[1]!);
  });
} catch (err) {
  result = { linkTypeName: null, openError: `${path}: libpcap cannot read it: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]! };
}

/** The general path: any alignment, either byte order. */
function pushBytes(buf: Buffer, h: Buffer): boolean {
  const sec = HOST_LE ? h.readUInt32LE(0) : h.readUInt32BE(0);
  const usec = HOST_LE ? h.readUInt32LE(4) : h.readUInt32BE(4);
  const capLen = HOST_LE ? h.readUInt32LE(8) : h.readUInt32BE(8);
  const wireLen = HOST_LE ? h.readUInt32LE(12) : h.readUInt32BE(12);
  return ring.push(buf, capLen <= buf.length ? capLen : buf.length, wireLen, sec, usec);
}
ring.finish(result);
