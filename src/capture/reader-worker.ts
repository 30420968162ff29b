// Worker-thread entry of the file reader (offline.ts): libpcap delivers the file's packets here
// and they go into the shared frame ring for the thread that started us, each with its ESP
// payload already opened when the read asked for it (esp-preopen.ts). Nothing in this thread
// throws past its own catch: the outcome, good or bad, travels in the ring's finish info.

import { parentPort, workerData } from 'node:worker_threads';

import { FrameRingWriter } from './frame-ring.js';
import { HEADER_CAPLEN, HEADER_SEC, HEADER_USEC, HEADER_WIRELEN } from './native.js';
import { drainWithLibpcap, type DrainResult, type ReaderWorkerData } from './offline.js';

/** How often the ESP share is reconsidered (a ring chunk holds thousands of small frames). */
const ADAPT_EVERY_FRAMES = 1024;
const NO_WORDS = new Int32Array(0);
// Started early by the CLI (reader-prewarm.ts), a worker has no workerData: it waits, modules
// loaded and node_pcap not yet, for the read to arrive as a message. Meanwhile it loads the ESP
// opener, which analyze asks for by default (the ESP-NULL heuristic), and the packet recorder
// (analyze's reads without keys).
const espPreopenLoad = workerData === null ? import('./esp-preopen.js') : null;
espPreopenLoad?.catch(() => {}); // a failure surfaces where it is awaited, only if it is needed
const recorderLoad = workerData === null ? import('./packet-recorder.js') : null;
recorderLoad?.catch(() => {});
const job = (workerData as ReaderWorkerData | null) ??
  await new Promise<ReaderWorkerData>((resolve) => { parentPort!.once('message', resolve); });
const { sab, path, filter, esp, linkType, packetRecords } = job;
const ring = new FrameRingWriter(sab);

let result: DrainResult;
try {
  result = packetRecords ? await readPacketRecords() : await readFrames();
} catch (err) {
  result = { linkTypeName: null, openError: `${path}: libpcap cannot read it: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]! };
}
ring.finish(result);

/** Decodes each frame here and sends its packet record (packet-recorder.ts). */
async function readPacketRecords(): Promise<DrainResult> {
  const recorder = new (await (recorderLoad ?? import('./packet-recorder.js'))).PacketRecorder(linkType, esp === null ? null : esp.nullHeuristic);
  /** The decoder never throws on packet bytes; should it still, the read ends with its message. */
  let decodeError: string | null = null;
  const result = await drainWithLibpcap(path, filter, (buf, w) => {
    try {
      return recorder.push(ring, buf, Math.min(w[HEADER_CAPLEN]!, buf.length), w[HEADER_WIRELEN]!, w[HEADER_SEC]!, w[HEADER_USEC]!);
    } catch (err) {
      decodeError = `${path}: decoding in the reader thread failed: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]!;
      return false;
    }
  });
  return decodeError === null ? result : { linkTypeName: result.linkTypeName, openError: decodeError };
}

/** Sends the frames, with their ESP opened here when the read asks for it (esp-preopen.ts). */
async function readFrames(): Promise<DrainResult> {
  let result: DrainResult;
  // Loaded only when asked for: a plain read stays free of the decoder and node:crypto set-up.
  const annotator = esp === null ? null : new (await (espPreopenLoad ?? import('./esp-preopen.js'))).EspFrameAnnotator(esp, linkType);
  /** node_pcap's packet buffer as words (allocated once per session, aligned): copied by word. */
  let frameWords: Int32Array | null = null;
  let sinceAdapt = 0;
  /** The decoder and openers never throw on packet bytes; should one still, the read ends with
   * its message rather than through node_pcap's Nan::FatalException (offline.ts). */
  let annotateError: string | null = null;
  /** Into the ring; a frame given as aligned words is copied by word. */
  const push = (words: Int32Array | null, frame: Uint8Array, capLen: number, wireLen: number,
    sec: number, usec: number, notes: Int32Array, noteWords: number): boolean => words !== null
    ? ring.pushWords(words, capLen, wireLen, sec, usec, notes, noteWords)
    : ring.push(frame, capLen, wireLen, sec, usec, notes, noteWords);
  const failed = (err: unknown): string =>
    `${path}: opening ESP in the reader thread failed: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]!;
  let stopped = false;
  result = await drainWithLibpcap(path, filter, (buf, w) => {
    const capLen = Math.min(w[HEADER_CAPLEN]!, buf.length);
    const wireLen = w[HEADER_WIRELEN]!;
    const sec = w[HEADER_SEC]!;
    const usec = w[HEADER_USEC]!;
    if (frameWords === null || frameWords.buffer !== buf.buffer) {
      frameWords = buf.byteOffset % 4 === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2) : null;
    }
    if (annotator === null) return push(frameWords, buf, capLen, wireLen, sec, usec, NO_WORDS, 0);
    if (++sinceAdapt === ADAPT_EVERY_FRAMES) {
      sinceAdapt = 0;
      annotator.adapt(ring.chunksWaiting());
    }
    try {
      // AES-GCM packets are opened in batches: frames may wait in the annotator until flush.
      if (annotator.accept(buf, frameWords, capLen, wireLen, sec, usec, push)) return true;
      stopped = true;
      return false;
    } catch (err) {
      annotateError = failed(err);
      return false;
    }
  });
  if (annotator !== null && !stopped && annotateError === null) {
    try {
      annotator.flush(push);
    } catch (err) {
      annotateError = failed(err);
    }
  }
  if (annotateError !== null) result = { linkTypeName: result.linkTypeName, openError: annotateError };
  return result;
}
