// A single-producer, single-consumer ring of captured frames in a SharedArrayBuffer, so that
// libpcap can read a file in a worker thread while the calling thread decodes and analyzes:
// node_pcap's per-packet C++→JS delivery then runs on the second core (native-notes/node_pcap.md §3.5
// allows the addon in exactly one thread).
//
// The ring is a row of chunks. The writer fills one chunk with records and publishes it whole;
// the reader takes whole chunks. Threads meet once per chunk (thousands of frames), never per
// frame. Chunk state word: 0 = free for the writer, n > 0 = n words of records to read,
// -1 = the writer has ended (nothing follows). A record is five int32 words — captured length,
// length on the wire, timestamp seconds and microseconds (as libpcap delivers them, uint32 bits),
// and the number of annotation words — then the frame bytes, padded to a whole word, then the
// annotation words (what the writer worked out about the frame, e.g. its ESP payload opened:
// esp-preopen.ts; 0 words for a plain read). A read in packet-record mode carries, instead, one
// flow/packet-record.ts record per packet (reserveWords/commitWords): the packet decoded.

/** Bytes of one chunk: larger than the largest record libpcap delivers (262144 + 16). */
export const RING_CHUNK_BYTES = 1 << 20;
/** Most annotation words one record may carry: with the largest frame it still fits a chunk. */
export const MAX_ANNOTATION_WORDS = ((RING_CHUNK_BYTES - 262144) >> 2) - 64;
export const RING_CHUNKS = 12;
const CHUNK_WORDS = RING_CHUNK_BYTES >> 2;
const RECORD_HEADER_WORDS = 5;

/** Control words. */
const W_STOP = 0;
const W_INFO_BYTES = 1;
const W_CHUNK0 = 8;
const INFO_OFFSET = 256;
const INFO_MAX_BYTES = 8192 - INFO_OFFSET;
const DATA_OFFSET = 8192;

/** Atomics.waitAsync exists in Node 20 (V8 11) but only in TypeScript's es2024 library. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: unknown };
}).waitAsync;

export const CHUNK_FREE = 0;
const NO_WORDS = new Int32Array(0);
export const CHUNK_END = -1;

export function createRingBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(DATA_OFFSET + RING_CHUNKS * RING_CHUNK_BYTES);
}

/** How long a blocked writer sleeps between looks at the stop flag. */
const WRITER_WAIT_MS = 200;

export class FrameRingWriter {
  private readonly ctrl: Int32Array;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private chunk = 0;
  /** Next free word inside the current chunk; -1 while no chunk is held. */
  private pos = -1;

  constructor(sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, DATA_OFFSET >> 2);
    this.words = new Int32Array(sab, DATA_OFFSET, RING_CHUNKS * CHUNK_WORDS);
    this.bytes = new Uint8Array(sab, DATA_OFFSET, RING_CHUNKS * RING_CHUNK_BYTES);
  }

  /**
   * Appends one frame (`frame[0..capLen)`) and `annotation[0..annotationWords)` (at most
   * MAX_ANNOTATION_WORDS); blocks while the ring is full. False when the reader
   * asked to stop: the frame is dropped and the caller should end its read.
   */
  push(frame: Uint8Array, capLen: number, wireLen: number, tsSec: number, tsUsec: number,
    annotation: Int32Array = NO_WORDS, annotationWords = 0): boolean {
    const to = this.reserve(capLen, wireLen, tsSec, tsUsec, annotation, annotationWords);
    if (to < 0) return false;
    this.bytes.set(capLen === frame.length ? frame : frame.subarray(0, capLen), to << 2);
    return true;
  }

  /**
   * The same as `push` for a frame given as whole int32 words (`frameWords` views a word-aligned
   * buffer whose first `capLen` bytes are the frame): a word loop instead of a typed-array view
   * per frame.
   */
  pushWords(frameWords: Int32Array, capLen: number, wireLen: number, tsSec: number, tsUsec: number,
    annotation: Int32Array = NO_WORDS, annotationWords = 0): boolean {
    const to = this.reserve(capLen, wireLen, tsSec, tsUsec, annotation, annotationWords);
    if (to < 0) return false;
    const w = this.words;
    const n = (capLen + 3) >> 2;
    for (let k = 0; k < n; k++) w[to + k] = frameWords[k]!;
    return true;
  }

  /**
   * Room for a record of at most `maxWords` words in another format (a read in packet-record
   * mode sends flow/packet-record.ts records instead of frames): the index in `words` to write
   * it at, then `commitWords` with its true length. -1 when the reader asked to stop.
   */
  reserveWords(maxWords: number): number {
    if (this.pos < 0 || this.pos + maxWords > CHUNK_WORDS) {
      if (this.pos > 0) this.publish();
      if (!this.acquire()) return -1;
    }
    return this.chunk * CHUNK_WORDS + this.pos;
  }

  /** Ends the record written at `reserveWords`'s index: it took `n` words. */
  commitWords(n: number): void {
    this.pos += n;
  }

  /** The ring's data words (for `reserveWords`). */
  get dataWords(): Int32Array {
    return this.words;
  }

  /**
   * Makes room for one record, writes its header and annotation, and returns the word where the
   * frame goes; -1 when the reader asked to stop.
   */
  private reserve(capLen: number, wireLen: number, tsSec: number, tsUsec: number,
    annotation: Int32Array, annotationWords: number): number {
    const n = (capLen + 3) >> 2;
    const need = RECORD_HEADER_WORDS + n + annotationWords;
    if (this.pos < 0 || this.pos + need > CHUNK_WORDS) {
      if (this.pos > 0) this.publish();
      if (!this.acquire()) return -1;
    }
    const base = this.chunk * CHUNK_WORDS + this.pos;
    const w = this.words;
    w[base] = capLen;
    w[base + 1] = wireLen;
    w[base + 2] = tsSec;
    w[base + 3] = tsUsec;
    w[base + 4] = annotationWords;
    const at = base + RECORD_HEADER_WORDS + n;
    for (let k = 0; k < annotationWords; k++) w[at + k] = annotation[k]!;
    this.pos += need;
    return base + RECORD_HEADER_WORDS;
  }

  /**
   * Publishes what is buffered, leaves `info` (JSON, at most ~8 KB) for the reader and marks the
   * end. Blocks until the reader has room for the end mark, or has stopped.
   */
  finish(info: unknown): void {
    if (this.pos > 0) this.publish();
    const text = new TextEncoder().encode(JSON.stringify(info));
    const n = Math.min(text.length, INFO_MAX_BYTES);
    new Uint8Array(this.ctrl.buffer, INFO_OFFSET, n).set(text.subarray(0, n));
    Atomics.store(this.ctrl, W_INFO_BYTES, n);
    if (this.pos < 0 && !this.acquire()) return;
    Atomics.store(this.ctrl, W_CHUNK0 + this.chunk, CHUNK_END);
    Atomics.notify(this.ctrl, W_CHUNK0 + this.chunk);
  }

  /** Chunks published and not yet taken by the reader: how far the reader is behind. */
  chunksWaiting(): number {
    let n = 0;
    for (let i = 0; i < RING_CHUNKS; i++) if (Atomics.load(this.ctrl, W_CHUNK0 + i) > 0) n++;
    return n;
  }

  private publish(): void {
    const idx = W_CHUNK0 + this.chunk;
    Atomics.store(this.ctrl, idx, this.pos);
    Atomics.notify(this.ctrl, idx);
    this.chunk = this.chunk + 1 === RING_CHUNKS ? 0 : this.chunk + 1;
    this.pos = -1;
  }

  /** Waits until the current chunk is free. */
  private acquire(): boolean {
    const idx = W_CHUNK0 + this.chunk;
    for (;;) {
      if (Atomics.load(this.ctrl, W_STOP) !== 0) return false;
      const state = Atomics.load(this.ctrl, idx);
      if (state === CHUNK_FREE) break;
      Atomics.wait(this.ctrl, idx, state, WRITER_WAIT_MS);
    }
    this.pos = 0;
    return true;
  }
}

/** Called per chunk with the records in `words[start, end)`; return false to stop reading. */
export type ChunkHandler = (words: Int32Array, start: number, end: number) => boolean;

export class FrameRingReader {
  private readonly ctrl: Int32Array;
  readonly words: Int32Array;
  private chunk = 0;

  constructor(sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, DATA_OFFSET >> 2);
    this.words = new Int32Array(sab, DATA_OFFSET, RING_CHUNKS * CHUNK_WORDS);
  }

  /**
   * Hands each published chunk to `onChunk` until the writer's end mark, `onChunk` returning
   * false, or `writerGone()` turning true while the ring is empty (a writer that died without
   * its end mark). Waits without blocking the event loop. Resolves true at the end mark.
   */
  async drain(onChunk: ChunkHandler, writerGone: () => boolean): Promise<boolean> {
    // A pending Atomics.waitAsync does not keep Node's event loop alive: without this timer a
    // writer thread that died without its end mark would let the process exit mid-read, silently.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      return await this.drainChunks(onChunk, writerGone);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async drainChunks(onChunk: ChunkHandler, writerGone: () => boolean): Promise<boolean> {
    for (;;) {
      const idx = W_CHUNK0 + this.chunk;
      const state = Atomics.load(this.ctrl, idx);
      if (state === CHUNK_END) return true;
      if (state === CHUNK_FREE) {
        if (writerGone()) return Atomics.load(this.ctrl, idx) === CHUNK_END;
        const waited = waitAsync(this.ctrl, idx, CHUNK_FREE, 100);
        if (waited.async) await waited.value;
        continue;
      }
      const start = this.chunk * CHUNK_WORDS;
      const goOn = onChunk(this.words, start, start + state);
      Atomics.store(this.ctrl, idx, CHUNK_FREE);
      Atomics.notify(this.ctrl, idx);
      this.chunk = this.chunk + 1 === RING_CHUNKS ? 0 : this.chunk + 1;
      if (!goOn) return false;
    }
  }

  /** Asks the writer to stop and frees every chunk so it is not left waiting. */
  stop(): void {
    Atomics.store(this.ctrl, W_STOP, 1);
    for (let i = 0; i < RING_CHUNKS; i++) Atomics.notify(this.ctrl, W_CHUNK0 + i);
  }

  /** The writer's `finish` info, or null when it ended without one. */
  info(): unknown {
    const n = Atomics.load(this.ctrl, W_INFO_BYTES);
    if (n <= 0) return null;
    try {
      return JSON.parse(new TextDecoder().decode(new Uint8Array(this.ctrl.buffer, INFO_OFFSET, n).slice()));
    } catch {
      return null;
    }
  }
}

export const RECORD_WORDS_BEFORE_FRAME = RECORD_HEADER_WORDS;
/** Index, inside a record, of the word holding the number of annotation words after the frame. */
export const RECORD_ANNOTATION_WORDS = 4;
