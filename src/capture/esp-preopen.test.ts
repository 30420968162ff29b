// ESP opened ahead by the reader (EspFrameAnnotator) and replayed by PreOpenedEspOpener: the
// decoder must see exactly what a single opener gives, for every ESP fixture, whichever share of
// the packets the reader leaves to the decoding thread. The ring is simulated here (a copy of the
// annotation words per frame), so no worker and no libpcap are involved.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { EspSaOpener } from '../crypto/esp.js';
import { type EspSaRecord, loadEspSaFile } from '../crypto/sa-file.js';
import { Decoder } from '../decode/decode.js';
import { EspOpenResult, PreOpenedEspOpener, encodeEspOutcome, espOutcomeWords } from '../decode/esp-opener.js';
import { DecodedPacket } from '../decode/packet.js';
import { formatIpv6 } from '../wire/ipv6.js';
import { EspFrameAnnotator, EspPreOpen } from './esp-preopen.js';

// dist/src/capture → the repository root.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'fixtures', 'esp');

function readPcap(name: string): { linkType: number; frames: Buffer[] } {
  const b = readFileSync(join(FIXTURES, name));
  assert.equal(b.readUInt32LE(0), 0xa1b2c3d4);
  const frames: Buffer[] = [];
  for (let off = 24; off + 16 <= b.length;) {
    const capLen = b.readUInt32LE(off + 8);
    frames.push(b.subarray(off + 16, off + 16 + capLen));
    off += 16 + capLen;
  }
  return { linkType: b.readUInt32LE(20), frames };
}

/** Everything the decoder filled in, buffers shown as the addresses they hold. */
function snapshot(p: DecodedPacket): string {
  return JSON.stringify(p, (key, value: unknown) => {
    if (key === 'outerBuf') return formatIpv6(p.outerBuf, p.outerSrcOff) + ' > ' + formatIpv6(p.outerBuf, p.outerDstOff);
    if (key === 'addrBuf') return formatIpv6(p.addrBuf, p.srcOff) + ' > ' + formatIpv6(p.addrBuf, p.dstOff);
    if (ArrayBuffer.isView(value)) return Array.from(value as Uint8Array);
    return value;
  });
}

interface Case { pcap: string; sa: string | null; nullHeuristic: boolean }
const CASES: Case[] = [
  { pcap: 'matrix.pcap', sa: 'matrix.esp_sa', nullHeuristic: true },
  { pcap: 'matrix.pcap', sa: 'matrix-wrong-keys.esp_sa', nullHeuristic: true },
  { pcap: 'matrix.pcap', sa: null, nullHeuristic: true },
  { pcap: 'esn.pcap', sa: 'esn.esp_sa', nullHeuristic: true },
  { pcap: 'null_heuristic.pcap', sa: null, nullHeuristic: true },
  { pcap: 'null_heuristic.pcap', sa: null, nullHeuristic: false },
  { pcap: 'rekey_inside.pcap', sa: 'rekey.esp_sa', nullHeuristic: true },
  { pcap: 'rekey_outside.pcap', sa: 'rekey.esp_sa', nullHeuristic: true },
  { pcap: 'truncated.pcap', sa: 'matrix.esp_sa', nullHeuristic: true },
];

function recordsOf(c: Case): EspSaRecord[] {
  return c.sa === null ? [] : loadEspSaFile(join(FIXTURES, c.sa));
}

/** Decodes every frame through annotator → copied words → replay, as a worker read does. */
function decodePreOpened(c: Case, leaveEvery: number | 'adaptive'): { snaps: string[]; recorded: number } {
  const { linkType, frames } = readPcap(c.pcap);
  const pre = new EspPreOpen(recordsOf(c), { nullHeuristic: c.nullHeuristic, leaveEvery });
  const annotator = new EspFrameAnnotator(pre.request, linkType);
  const decoder = new Decoder({ esp: pre.opener });
  const p = new DecodedPacket();
  const snaps: string[] = [];
  let recorded = 0;
  for (const [i, f] of frames.entries()) {
    // Adaptive: the share swings mid-capture, as a ring filling and emptying makes it.
    annotator.adapt(i % 7 < 3 ? 0 : 6);
    const n = annotator.annotate(f, f.length);
    if (n > 0) recorded++;
    // The ring: frame and annotation copied, the annotation placed at an arbitrary offset.
    const ring = new Int32Array(n + 7);
    ring.set(annotator.words.subarray(0, n), 7);
    ring.fill(-1, 0, 7);
    pre.opener.replayNext(ring, 7, n);
    decoder.decode(Buffer.from(f), f.length, linkType, p);
    snaps.push(snapshot(p));
  }
  return { snaps, recorded };
}

function decodeDirect(c: Case): string[] {
  const { linkType, frames } = readPcap(c.pcap);
  const decoder = new Decoder({ esp: new EspSaOpener(recordsOf(c), { nullHeuristic: c.nullHeuristic }) });
  const p = new DecodedPacket();
  return frames.map((f) => { decoder.decode(f, f.length, linkType, p); return snapshot(p); });
}

for (const c of CASES) {
  test(`${c.pcap} with ${c.sa ?? 'no SA'}${c.nullHeuristic ? '' : ', no heuristic'}: replayed outcomes decode exactly like one opener`, () => {
    const direct = decodeDirect(c);
    for (const leaveEvery of [0, 1, 2, 3, 'adaptive'] as const) {
      const { snaps } = decodePreOpened(c, leaveEvery);
      assert.equal(snaps.length, direct.length);
      for (let i = 0; i < direct.length; i++) assert.equal(snaps[i], direct[i], `frame ${i + 1}, leaveEvery ${leaveEvery}`);
    }
  });
}

test('the fixtures exercise every outcome the replay carries', () => {
  const statuses = new Set<string>();
  for (const c of CASES) {
    const { linkType, frames } = readPcap(c.pcap);
    const seen = new EspOpenResult();
    const real = new EspSaOpener(recordsOf(c), { nullHeuristic: c.nullHeuristic });
    const spy = { open: (...a: Parameters<EspSaOpener['open']>) => { real.open(...a); statuses.add(`${seen.status}/${seen.method}/${seen.buf === a[0] ? 'frame' : 'copy'}`); } };
    const decoder = new Decoder({ esp: { open: (b, o, e, ab, s, d, out) => { spy.open(b, o, e, ab, s, d, seen); Object.assign(out, seen); } } });
    for (const f of frames) decoder.decode(f, f.length, linkType, new DecodedPacket());
  }
  for (const s of ['ok/sa/copy', 'ok/sa/frame', 'ok/null_heuristic/frame', 'auth_failed/sa/copy', 'no_sa/sa/copy', 'truncated/sa/copy']) {
    assert.ok([...statuses].some((x) => x === s || (s.endsWith('/copy') && x.startsWith(s.slice(0, -5)))), `${s} not exercised: ${[...statuses].join(' ')}`);
  }
});

test('ESN packets are always opened by the reader; stateless ones are shared as asked', () => {
  const esn = decodePreOpened(CASES[3]!, 2);
  assert.equal(esn.recorded, 12, 'every ESN packet recorded');
  const matrix = decodePreOpened(CASES[0]!, 2);
  const espFrames = readPcap('matrix.pcap').frames.length;
  assert.ok(matrix.recorded > 0 && matrix.recorded < espFrames, `${matrix.recorded} of ${espFrames}`);
  assert.equal(decodePreOpened(CASES[0]!, 0).recorded, espFrames);
  assert.equal(decodePreOpened(CASES[0]!, 1).recorded, 0);
});

test('encodeEspOutcome round-trips odd lengths, non-ASCII details and every status', () => {
  const frame = new Uint8Array(64).map((_, i) => i);
  for (const status of ['ok', 'no_sa', 'auth_failed', 'bad_trailer', 'truncated', 'tfc_dummy'] as const) {
    for (const len of [0, 1, 3, 4, 5, 17]) {
      for (const inFrame of [false, true]) {
        const r = new EspOpenResult();
        r.status = status;
        r.method = inFrame ? 'null_heuristic' : 'sa';
        r.nextHeader = 0xfe;
        r.buf = inFrame ? frame : new Uint8Array(len + 2).map((_, i) => 255 - i);
        r.off = inFrame ? 8 : 1;
        r.end = r.off + len;
        r.detail = 'x'.repeat(len) + (len % 2 === 0 ? 'é😀' : '');
        const words = new Int32Array(espOutcomeWords(r));
        const n = encodeEspOutcome(r, frame, words);
        assert.ok(n <= words.length);
        const replay = new PreOpenedEspOpener({ open: () => assert.fail('delegate used') });
        replay.replayNext(words, 0, n);
        const out = new EspOpenResult();
        replay.open(frame, 0, 64, frame, 0, 0, out);
        assert.equal(out.status, status);
        assert.equal(out.method, r.method);
        assert.equal(out.nextHeader, 0xfe);
        assert.equal(out.detail, r.detail);
        if (status === 'ok') {
          assert.deepEqual(Array.from(out.buf.subarray(out.off, out.end)), Array.from(r.buf.subarray(r.off, r.end)));
          if (inFrame) assert.equal(out.buf, frame);
        }
        // Replayed once: the next open of the same frame goes to the delegate.
        let delegated = 0;
        const again = new PreOpenedEspOpener({ open: () => { delegated++; } });
        again.replayNext(words, 0, n);
        again.open(frame, 0, 64, frame, 0, 0, out);
        again.open(frame, 0, 64, frame, 0, 0, out);
        assert.equal(delegated, 1);
      }
    }
  }
});

test('adaptive sharing: an eighth more left to the decoding thread while it waits, an eighth less while the ring backs up', () => {
  const c = CASES[0]!;
  const pre = new EspPreOpen(recordsOf(c), { nullHeuristic: true });
  assert.equal(pre.request.leaveEvery, 'adaptive');
  const annotator = new EspFrameAnnotator(pre.request, readPcap(c.pcap).linkType);
  assert.equal(annotator.leftShare, 0.5);
  annotator.adapt(3);
  assert.equal(annotator.leftShare, 3 / 8);
  annotator.adapt(2);
  assert.equal(annotator.leftShare, 3 / 8, 'unchanged between the marks');
  for (let i = 0; i < 10; i++) annotator.adapt(5);
  assert.equal(annotator.leftShare, 0, 'never below nothing');
  for (let i = 0; i < 10; i++) annotator.adapt(0);
  assert.equal(annotator.leftShare, 1, 'at most every shareable packet');
  const fixed = new EspFrameAnnotator(new EspPreOpen(recordsOf(c), { nullHeuristic: true, leaveEvery: 3 }).request, 101);
  fixed.adapt(10);
  assert.equal(fixed.leftShare, 1 / 3, 'a fixed share stays fixed');
});
