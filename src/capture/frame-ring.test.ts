// The frame ring's record layout in one thread: frames and their annotation words come out as
// they went in, across chunk boundaries, and the writer sees how many chunks wait for the reader.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';

import {
  FrameRingReader, FrameRingWriter, RECORD_ANNOTATION_WORDS, RECORD_WORDS_BEFORE_FRAME, RING_CHUNKS, createRingBuffer,
} from './frame-ring.js';

test('records carry frame bytes and annotation words; chunksWaiting counts published chunks', async () => {
  const sab = createRingBuffer();
  const writer = new FrameRingWriter(sab);
  const reader = new FrameRingReader(sab);
  const frames: { bytes: Uint8Array; note: Int32Array }[] = [];
  // ~100 KB records: a chunk (1 MiB) fills after ~10, so several chunks are published.
  for (let i = 0; i < 40; i++) {
    const bytes = new Uint8Array(100_000 + i).map((_, k) => (k * 7 + i) & 0xff);
    const note = Int32Array.from({ length: i % 4 === 0 ? 0 : i * 3 }, (_, k) => (k << 8) ^ -i);
    frames.push({ bytes, note });
    assert.equal(writer.push(bytes, bytes.length, bytes.length + 1, 1000 + i, i, note, note.length), true);
  }
  const waiting = writer.chunksWaiting();
  assert.ok(waiting >= 3 && waiting < RING_CHUNKS, `${waiting} chunks waiting`);
  writer.finish({ done: true });
  let n = 0;
  const ended = await reader.drain((w, start, end) => {
    let i = start;
    while (i < end) {
      const f = frames[n]!;
      const capLen = w[i]!;
      assert.equal(capLen, f.bytes.length);
      assert.equal(w[i + 1], capLen + 1);
      assert.equal(w[i + 2], 1000 + n);
      const words = (capLen + 3) >> 2;
      const from = i + RECORD_WORDS_BEFORE_FRAME;
      const bytes = new Uint8Array(w.buffer, w.byteOffset + from * 4, capLen);
      assert.deepEqual(bytes, f.bytes, `frame ${n}`);
      const count = w[i + RECORD_ANNOTATION_WORDS]!;
      assert.deepEqual(w.slice(from + words, from + words + count), f.note, `annotation ${n}`);
      i = from + words + count;
      n++;
    }
    return true;
  }, () => false);
  assert.equal(ended, true);
  assert.equal(n, 40);
  assert.deepEqual(reader.info(), { done: true });
  assert.equal(writer.chunksWaiting(), 0);
});

test('a writer thread that dies without its end mark ends the drain (false), it does not end the process', () => {
  // In a child process of its own: the test runner's own handles would keep this one alive. The
  // writer publishes nothing and exits; the reader sits in Atomics.waitAsync, which alone does
  // not keep Node's event loop alive, so without the drain's keep-alive the child exits silently.
  const ring = new URL('./frame-ring.js', import.meta.url).href;
  const script = `
    import { Worker } from 'node:worker_threads';
    import { FrameRingReader, createRingBuffer } from '${ring}';
    const reader = new FrameRingReader(createRingBuffer());
    const worker = new Worker('setTimeout(() => process.exit(0), 300)', { eval: true });
    let gone = false;
    worker.once('exit', () => { gone = true; });
    let chunks = 0;
    const ended = await reader.drain(() => { chunks++; return true; }, () => gone);
    console.log(JSON.stringify({ ended, chunks, info: reader.info() }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.deepEqual(JSON.parse(out.trim() || 'null'), { ended: false, chunks: 0, info: null });
});
