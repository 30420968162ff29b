// The node_pcap offline adapter, libpcap in a worker thread (frame-ring.ts): the shared reader
// cases, then what only the worker has — ring wrap-around, a stop while the writer is blocked,
// ESP opened in the worker, the choice of reader. Only that last test loads node_pcap in this
// thread; after it no worker can (native-notes/node_pcap.md §3.5), so it stays last.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { EspPreOpen } from '../src/capture/esp-preopen.js';
import { readCaptureFile, type ReaderMode } from '../src/capture/offline.js';
import { prewarmReaderWorker, takePrewarmedReaderWorker } from '../src/capture/reader-prewarm.js';
import { EspSaOpener } from '../src/crypto/esp.js';
import { loadEspSaFile } from '../src/crypto/sa-file.js';
import { Decoder } from '../src/decode/decode.js';
import { DecodedPacket } from '../src/decode/packet.js';
import { fixture } from './support/cli.js';
import { file, offlineReaderCases, pdmCapture, read, wrappingCapture } from './support/offline-cases.js';

offlineReaderCases('worker');

/** The records of a little-endian µs pcap, parsed here: an oracle independent of libpcap. */
function recordsOf(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let off = 24; off < bytes.length;) {
    const sec = bytes.readUInt32LE(off);
    const usec = bytes.readUInt32LE(off + 4);
    const capLen = bytes.readUInt32LE(off + 8);
    const wireLen = bytes.readUInt32LE(off + 12);
    const frame = bytes.subarray(off + 16, off + 16 + capLen);
    out.push(`${capLen} ${wireLen} ${sec * 1e6 + usec} ${createHash('sha1').update(frame).digest('hex')}`);
    off += 16 + capLen;
  }
  return out;
}

/** Reads the wrap-around capture in a worker and checks every record against recordsOf. */
async function readWrappingCaptureInWorker(name: string): Promise<string> {
  const { bytes, frames } = wrappingCapture();
  const path = file(name, bytes);
  const seen: string[] = [];
  const s = await readCaptureFile(path, { reader: 'worker' }, (frame, capLen, wireLen, tsUs) => {
    seen.push(`${capLen} ${wireLen} ${tsUs} ${createHash('sha1').update(frame.subarray(0, capLen)).digest('hex')}`);
  });
  assert.equal(s.reader, 'worker');
  assert.equal(s.complete, true, s.error ?? '');
  assert.equal(s.delivered, frames);
  assert.deepEqual(seen, recordsOf(bytes));
  return path;
}

test('worker: every frame arrives intact and in order across ring wrap-arounds (1 B to 256 KiB)', async () => {
  await readWrappingCaptureInWorker('wrap.pcap');
});

test('worker: a callback that throws while the writer waits for room stops the read; the next read works', async () => {
  const path = file('wrap-throw.pcap', wrappingCapture().bytes);
  let calls = 0;
  await assert.rejects(readCaptureFile(path, { reader: 'worker' }, () => {
    calls++;
    if (calls === 30) throw new Error('stop here');
  }), /stop here/);
  assert.equal(calls, 30);
  const { s } = await read(path, 'worker');
  assert.equal(s.complete, true);
  assert.equal(s.reader, 'worker');
});

test('worker: ESP is opened in the worker and replayed here: same decode, no opening in this thread', async () => {
  const records = loadEspSaFile(fixture('esp', 'matrix.esp_sa'));
  const summarize = (p: DecodedPacket): string =>
    `${p.anomaly} ${p.espSpi} ${p.espOpened} ${p.espTunnel} ${p.srcPort} ${p.dstPort} ${p.primary?.psnThisPkt} ${p.primary?.layer}`;
  for (const leaveEvery of [0, 2]) {
    const pre = new EspPreOpen(records, { nullHeuristic: true, leaveEvery });
    let openedHere = 0;
    const real = pre.opener.delegate;
    const counting = { open: (...a: Parameters<EspSaOpener['open']>) => { openedHere++; real.open(...a); } };
    Object.defineProperty(pre.opener, 'delegate', { value: counting });
    const replayed = new Decoder({ esp: pre.opener });
    const direct = new Decoder({ esp: new EspSaOpener(records) });
    const a = new DecodedPacket();
    const b = new DecodedPacket();
    let frames = 0;
    let lt = 0;
    const s = await readCaptureFile(fixture('esp', 'matrix.pcap'), { reader: 'worker', esp: pre }, (frame, capLen) => {
      replayed.decode(frame, capLen, lt, a);
      direct.decode(frame, capLen, lt, b);
      assert.equal(summarize(a), summarize(b), `frame ${frames + 1}`);
      frames++;
    }, (linkType) => { lt = linkType; });
    assert.equal(s.reader, 'worker');
    assert.equal(s.complete, true);
    assert.equal(frames, 116);
    if (leaveEvery === 0) assert.equal(openedHere, 0, 'every ESP packet opened in the worker');
    else assert.ok(openedHere > 20 && openedHere < 80, `${openedHere} of 116 opened here`);
  }
});

test('worker: a reader worker started early takes the next read, as a fresh one would', async () => {
  prewarmReaderWorker();
  // Let it boot and sit idle first: the read must reach a worker already waiting for it.
  await new Promise((r) => setTimeout(r, 300));
  const path = await readWrappingCaptureInWorker('prewarm.pcap');
  assert.equal(takePrewarmedReaderWorker(), null, 'the read used the waiting worker');
  // The next read starts its own worker.
  const again = await read(path, 'worker');
  assert.equal(again.s.reader, 'worker');
  assert.equal(again.s.complete, true);
});

test('worker: an idle early reader worker does not keep the process alive', () => {
  const url = new URL('../src/capture/reader-prewarm.js', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import { prewarmReaderWorker } from ${JSON.stringify(url)}; prewarmReaderWorker(); setTimeout(() => {}, 200);`],
  { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined, 'the process ended by itself');
  assert.equal(r.status, 0, r.stderr);
});

test('worker: auto reads small files here and large ones in the worker; PDMSCOPE_READER overrides auto', async () => {
  const big = file('auto-big.pcap', wrappingCapture().bytes);
  assert.equal((await read(big, 'auto')).s.reader, 'worker');
  process.env['PDMSCOPE_READER'] = 'worker';
  const small = file('auto-small.pcap', pdmCapture({ format: 'pcap', linkType: 1 }, 3));
  try {
    assert.equal((await read(small, 'auto')).s.reader, 'worker');
  } finally {
    delete process.env['PDMSCOPE_READER'];
  }
  // Once this thread has loaded node_pcap, no worker can (native-notes/node_pcap.md §3.5): every read stays here.
  const here = await read(small, 'auto');
  assert.equal(here.s.reader, 'thread');
  assert.equal(here.s.complete, true);
  const requested: ReaderMode = 'worker';
  const after = await read(big, requested);
  assert.equal(after.s.reader, 'thread');
  assert.equal(after.s.complete, true);
});
