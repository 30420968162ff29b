// Worker-thread entry of the file reader (offline.ts): libpcap delivers the file's packets here
// and they go into the shared frame ring for the thread that started us, each with its ESP
// payload already opened when the read asked for it (esp-preopen.ts). Nothing in this thread
// throws past its own catch: the outcome, good or bad, travels in the ring's finish info.

import { workerData } from 'node:worker_threads';
import { endianness } from 'node:os';

import { FrameRingWriter } from './frame-ring.js';
import { drainWithLibpcap, type DrainResult, type ReaderWorkerData } from './offline.js';

const HOST_LE = endianness() === 'LE';
/** How often the ESP share is reconsidered (a ring chunk holds thousands of small frames). */
const ADAPT_EVERY_FRAMES = 1024;
const { sab, path, filter, esp, linkType } = workerData as ReaderWorkerData;
const ring = new FrameRingWriter(sab);

let result: DrainResult;
try {
  // Loaded only when asked for: a plain read stays free of the decoder and node:crypto set-up.
  const annotator = esp === null ? null : new (await import('./esp-preopen.js')).EspFrameAnnotator(esp, linkType);
  let frameWords: Int32Array | null = null;
  let sinceAdapt = 0;
  /** The decoder and openers never throw on packet bytes; should one still, the read ends with
   * its message rather than through node_pcap's Nan::FatalException (offline.ts). */
  let annotateError: string | null = null;
  const annotate = (buf: Buffer, capLen: number): number => {
    try {
      return annotator!.annotate(buf, capLen);
    } catch (err) {
      annotateError = `${path}: opening ESP in the reader thread failed: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]!;
      return -1;
    }
  };
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
    if (annotator === null) return ring.pushWords(frameWords, capLen, hw[3]! >>> 0, hw[0]!, hw[1]!);
    if (++sinceAdapt === ADAPT_EVERY_FRAMES) {
      sinceAdapt = 0;
      annotator.adapt(ring.chunksWaiting());
    }
    const n = annotate(buf, capLen);
    return n >= 0 && ring.pushWords(frameWords, capLen, hw[3]! >>> 0, hw[0]!, hw[1]!, annotator.words, n);
  });
  if (annotateError !== null) result = { linkTypeName: result.linkTypeName, openError: annotateError };

  /** The general path: any alignment, either byte order. */
  function pushBytes(buf: Buffer, h: Buffer): boolean {
    const sec = HOST_LE ? h.readUInt32LE(0) : h.readUInt32BE(0);
    const usec = HOST_LE ? h.readUInt32LE(4) : h.readUInt32BE(4);
    const capLen = Math.min(HOST_LE ? h.readUInt32LE(8) : h.readUInt32BE(8), buf.length);
    const wireLen = HOST_LE ? h.readUInt32LE(12) : h.readUInt32BE(12);
    if (annotator === null) return ring.push(buf, capLen, wireLen, sec, usec);
    const n = annotate(buf, capLen);
    return n >= 0 && ring.push(buf, capLen, wireLen, sec, usec, annotator.words, n);
  }
} catch (err) {
  result = { linkTypeName: null, openError: `${path}: libpcap cannot read it: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]! };
}
ring.finish(result);
