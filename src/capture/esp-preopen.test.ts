// ESP opened ahead by the reader (EspFrameAnnotator) and replayed by PreOpenedEspOpener: the
// decoder must see exactly what a single opener gives, for every ESP fixture, whichever share of
// the packets the reader leaves to the decoding thread. The ring is simulated here (a copy of the
// annotation words per frame), so no worker and no libpcap are involved.

import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { EspSaOpener } from '../crypto/esp.js';
import { type EspSaRecord, loadEspSaFile, parseEspSaText } from '../crypto/sa-file.js';
import { Decoder } from '../decode/decode.js';
import { EspOpenResult, PreOpenedEspOpener, encodeEspOutcome, espOutcomeWords } from '../decode/esp-opener.js';
import { DecodedPacket } from '../decode/packet.js';
import { formatIpv6 } from '../wire/ipv6.js';
import { rng, udpPdmFrame } from '../../test/support/build.js';
import { EspFrameAnnotator, EspPreOpen, type FrameSink } from './esp-preopen.js';

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

// ---------------------------------------------------------------------------------------------
// Batched opening (EspFrameAnnotator.accept / flush): AES-GCM packets wait for one shared AES
// call, the frames after them wait too, and all reach the sink in capture order with exactly the
// annotation `annotate` gives.

interface SinkRecord { frame: number[]; capLen: number; wireLen: number; sec: number; usec: number; notes: number[] }

/**
 * Runs `frames` through accept/flush as the reader worker does: each frame handed over in one
 * reused buffer (overwritten after accept, as node_pcap's is), as words or as bytes.
 */
function acceptAll(annotator: EspFrameAnnotator, frames: readonly Uint8Array[], asWords: boolean,
  adaptAt: (i: number) => number, stopAfter = Infinity): { records: SinkRecord[]; completed: boolean } {
  const shared = new Uint8Array(65536 + 4);
  const sharedWords = new Int32Array(shared.buffer);
  const records: SinkRecord[] = [];
  const sink: FrameSink = (words, frame, capLen, wireLen, sec, usec, notes, noteWords) => {
    const bytes = words !== null ? new Uint8Array(words.buffer, words.byteOffset, capLen) : frame.subarray(0, capLen);
    records.push({ frame: Array.from(bytes), capLen, wireLen, sec, usec, notes: Array.from(notes.subarray(0, noteWords)) });
    return records.length < stopAfter;
  };
  for (const [i, f] of frames.entries()) {
    annotator.adapt(adaptAt(i));
    shared.set(f);
    if (!annotator.accept(shared, asWords ? sharedWords : null, f.length, f.length + 3, i, i * 7, sink)) return { records, completed: false };
    shared.fill(0xa5, 0, f.length); // node_pcap reuses its buffer for the next packet
  }
  return { records, completed: annotator.flush(sink) };
}

/** What `annotate`, one frame at a time with the same share decisions, records. */
function annotateAll(pre: EspPreOpen, linkType: number, frames: readonly Uint8Array[], adaptAt: (i: number) => number): number[][] {
  const annotator = new EspFrameAnnotator(pre.request, linkType);
  return frames.map((f, i) => {
    annotator.adapt(adaptAt(i));
    return Array.from(annotator.words.subarray(0, annotator.annotate(f, f.length)));
  });
}

/** Decodes sink records through the replaying opener, as the decoding thread does. */
function replayRecords(pre: EspPreOpen, linkType: number, records: readonly SinkRecord[]): string[] {
  const decoder = new Decoder({ esp: pre.opener });
  const p = new DecodedPacket();
  return records.map((r) => {
    const words = Int32Array.from(r.notes);
    pre.opener.replayNext(words, 0, words.length);
    decoder.decode(Uint8Array.from(r.frame), r.capLen, linkType, p);
    return snapshot(p);
  });
}

/** Word 0 of a keystream record (decode/esp-opener.ts). */
const KEYSTREAM_RECORD = 1 << 10;

/**
 * A batched annotation, except that where `annotate` leaves a packet without one and the batch
 * sent its AES-GCM keystream instead, the empty annotation (what the decoding thread adds to
 * a keystream record is its own GHASH, checked by the replay).
 */
function sameAsAnnotate(batched: number[], unbatched: number[]): number[] {
  return unbatched.length === 0 && batched[0] === KEYSTREAM_RECORD ? [] : batched;
}

const ADAPT_SWINGING = (i: number): number => (i % 11 < 5 ? 0 : 6);

for (const c of CASES) {
  test(`${c.pcap} with ${c.sa ?? 'no SA'}${c.nullHeuristic ? '' : ', no heuristic'}: batched annotations equal one-at-a-time ones, in order`, () => {
    const { linkType, frames } = readPcap(c.pcap);
    const direct = decodeDirect(c);
    for (const leaveEvery of [0, 2, 'adaptive'] as const) {
      for (const batchPackets of [1, 2, 3, 256]) {
        const pre = new EspPreOpen(recordsOf(c), { nullHeuristic: c.nullHeuristic, leaveEvery });
        const expected = annotateAll(pre, linkType, frames, ADAPT_SWINGING);
        const annotator = new EspFrameAnnotator(pre.request, linkType, { batchPackets });
        const { records, completed } = acceptAll(annotator, frames, batchPackets % 2 === 0, ADAPT_SWINGING);
        const what = `leaveEvery ${leaveEvery}, batch ${batchPackets}`;
        assert.ok(completed, what);
        assert.equal(records.length, frames.length, what);
        for (const [i, r] of records.entries()) {
          assert.deepEqual(r.frame, Array.from(frames[i]!), `${what}: frame ${i + 1} bytes`);
          assert.deepEqual([r.capLen, r.wireLen, r.sec, r.usec], [frames[i]!.length, frames[i]!.length + 3, i, i * 7], `${what}: frame ${i + 1} record`);
          assert.deepEqual(sameAsAnnotate(r.notes, expected[i]!), expected[i], `${what}: frame ${i + 1} annotation`);
        }
        assert.deepEqual(replayRecords(pre, linkType, records), direct, what);
        // The keystream records are checked by the replay: a wrong keystream fails the tag.
        const keystreams = records.filter((r) => r.notes[0] === KEYSTREAM_RECORD).length;
        if (leaveEvery === 0) assert.equal(keystreams, 0, what);
        if (c.sa === 'matrix.esp_sa' && leaveEvery === 2) assert.ok(keystreams > 0, `${what}: AES-GCM packets left to the decoding thread get their keystream`);
      }
    }
  });
}

// Synthetic AES-GCM traffic (node:crypto seals, RFC 4106): two SAs with 16- and 8-octet ICVs,
// small and jumbo packets, bad tags among good ones, an unknown SPI and plain UDP in between.
const GCM_KEY_A = '000102030405060708090a0b0c0d0e0fdeadbeef';
const GCM_KEY_B = '0f0e0d0c0b0a09080706050403020100101112131415161718191a1b1c1d1e1fcafef00d';
const GCM_SA_TEXT = [
  `"IPv6","2001:db8::1","2001:db8::2","0x00007001","AES-GCM with 16 octet ICV [RFC4106]","0x${GCM_KEY_A}","NULL",""`,
  `"IPv6","2001:db8::2","2001:db8::1","0x00007002","AES-GCM with 8 octet ICV [RFC4106]","0x${GCM_KEY_B}","NULL",""`,
].join('\n');

/** IPv6 / ESP (AES-GCM) / inner = a UDP+PDM packet's IPv6 payload, padded per RFC 4303 §2.4. */
function gcmFrame(fromA: boolean, seq: number, payloadBytes: number, badTag: boolean): Uint8Array {
  const inner = udpPdmFrame({
    src: fromA ? '2001:db8::1' : '2001:db8::2', dst: fromA ? '2001:db8::2' : '2001:db8::1',
    srcPort: fromA ? 40000 : 443, dstPort: fromA ? 443 : 40000, ethernet: false,
    pdm: { psnThisPkt: seq, psnLastRecv: 0, deltaLastRecv: 0, scaleDtlr: 0, deltaLastSent: 0, scaleDtls: 0 },
    payload: new Uint8Array(payloadBytes).map((_, k) => (k * 13 + seq) & 0xff),
  });
  const ip = inner.subarray(0, 40);
  const body = inner.subarray(40);
  const padLen = (4 - ((body.length + 2) % 4)) % 4;
  const plain = new Uint8Array(body.length + padLen + 2);
  plain.set(body);
  for (let k = 0; k < padLen; k++) plain[body.length + k] = k + 1;
  plain[plain.length - 2] = padLen;
  plain[plain.length - 1] = ip[6]!; // the inner next header (Destination Options)
  const keyHex = fromA ? GCM_KEY_A : GCM_KEY_B;
  const key = Buffer.from(keyHex.slice(0, -8), 'hex');
  const salt = Buffer.from(keyHex.slice(-8), 'hex');
  const tagLen = fromA ? 16 : 8;
  const head = Buffer.alloc(16);
  head.writeUInt32BE(fromA ? 0x7001 : 0x7002, 0);
  head.writeUInt32BE(seq, 4);
  head.writeUInt32BE(seq * 3, 12); // the 8-byte IV
  const c = createCipheriv(`aes-${key.length * 8}-gcm` as 'aes-128-gcm', key, Buffer.concat([salt, head.subarray(8)]), { authTagLength: tagLen });
  c.setAAD(head.subarray(0, 8));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  const tag = c.getAuthTag();
  if (badTag) tag[seq % tagLen]! ^= 0x01;
  const esp = Buffer.concat([head, ct, tag]);
  const frame = new Uint8Array(40 + esp.length);
  frame.set(ip);
  frame[6] = 50; // ESP
  frame[4] = esp.length >> 8;
  frame[5] = esp.length & 0xff;
  frame.set(esp, 40);
  return frame;
}

function syntheticGcmTraffic(): Uint8Array[] {
  const rand = rng(0x6c3);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 700; i++) {
    const kind = rand();
    if (kind < 0.05) {
      frames.push(udpPdmFrame({ src: '2001:db8::9', dst: '2001:db8::8', srcPort: 1, dstPort: 2, ethernet: false, pdm: null }));
    } else if (kind < 0.08) {
      const f = gcmFrame(true, i, 20, false);
      f[40 + 3] = 0x99; // an SPI with no SA
      frames.push(f);
    } else {
      const jumbo = rand() < 0.04;
      frames.push(gcmFrame(rand() < 0.5, i, jumbo ? 3000 + i : Math.floor(rand() * 120), rand() < 0.1));
    }
  }
  return frames;
}

test('synthetic AES-GCM traffic: batches of 1 to 512 with mixed SAs, bad tags mid-batch and jumbo frames replay like one opener', () => {
  const frames = syntheticGcmTraffic();
  const records = parseEspSaText(GCM_SA_TEXT, 'gcm');
  const direct = new Decoder({ esp: new EspSaOpener(records, { nullHeuristic: true }) });
  const p = new DecodedPacket();
  const expectedSnaps = frames.map((f) => { direct.decode(f, f.length, 101, p); return snapshot(p); });
  const statuses = new Set(expectedSnaps.map((s) => (JSON.parse(s) as { espStatus?: string }).espStatus));
  assert.ok(frames.some((f) => f.length > 2048), 'jumbo frames present');
  for (const batchPackets of [1, 5, 64, 512]) {
    for (const leaveEvery of [0, 3] as const) {
      const pre = new EspPreOpen(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: true, leaveEvery });
      const expected = annotateAll(pre, 101, frames, () => 2);
      const { records: got, completed } = acceptAll(new EspFrameAnnotator(pre.request, 101, { batchPackets }), frames, batchPackets !== 5, () => 2);
      const what = `batch ${batchPackets}, leaveEvery ${leaveEvery}`;
      assert.ok(completed, what);
      assert.deepEqual(got.map((r, i) => sameAsAnnotate(r.notes, expected[i]!)), expected, what);
      const keystreams = got.filter((r) => r.notes[0] === KEYSTREAM_RECORD).length;
      assert.ok(leaveEvery === 0 ? keystreams === 0 : keystreams > 100, `${what}: ${keystreams} keystream records`);
      assert.deepEqual(got.map((r) => r.frame), frames.map((f) => Array.from(f)), what);
      assert.deepEqual(replayRecords(pre, 101, got), expectedSnaps, what);
    }
  }
  assert.ok(statuses.size >= 1);
});

test('synthetic AES-GCM traffic holds good packets, bad tags and no-SA packets', () => {
  const frames = syntheticGcmTraffic();
  const opener = new EspSaOpener(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: false });
  const counts = new Map<string, number>();
  const r = new EspOpenResult();
  for (const f of frames) {
    if (f[6] !== 50) continue;
    opener.open(f, 40, f.length, f, 8, 24, r);
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  }
  assert.ok((counts.get('ok') ?? 0) > 400, JSON.stringify([...counts]));
  assert.ok((counts.get('auth_failed') ?? 0) > 30, JSON.stringify([...counts]));
  assert.ok((counts.get('no_sa') ?? 0) > 5, JSON.stringify([...counts]));
});

test('a sink that stops mid-batch gets nothing more; the annotator starts clean afterwards', () => {
  const frames = syntheticGcmTraffic().slice(0, 100);
  const pre = new EspPreOpen(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: true, leaveEvery: 0 });
  const annotator = new EspFrameAnnotator(pre.request, 101, { batchPackets: 40 });
  const stopped = acceptAll(annotator, frames, true, () => 2, 25);
  assert.equal(stopped.completed, false);
  assert.equal(stopped.records.length, 25, 'the sink said stop at its 25th record');
  // Nothing is left over: a new run through the same annotator delivers every frame, once.
  const expected = annotateAll(pre, 101, frames, () => 2);
  const again = acceptAll(annotator, frames, false, () => 2);
  assert.ok(again.completed);
  assert.deepEqual(again.records.map((r) => r.notes), expected);
  assert.equal(annotator.flush(() => assert.fail('nothing staged')), true);
});

test('a keystream record replays through openWithKeystream, or through open for a delegate without it', () => {
  const frames = syntheticGcmTraffic().slice(0, 200);
  const pre = new EspPreOpen(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: true, leaveEvery: 1 });
  const { records } = acceptAll(new EspFrameAnnotator(pre.request, 101, { batchPackets: 16 }), frames, true, () => 2);
  assert.ok(records.filter((r) => r.notes[0] === KEYSTREAM_RECORD).length > 100);
  const direct = new EspSaOpener(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: true });
  let opened = 0;
  const plain = new PreOpenedEspOpener({ open: (...a: Parameters<EspSaOpener['open']>) => { opened++; direct.open(...a); } });
  const decoder = new Decoder({ esp: plain });
  const p = new DecodedPacket();
  const expected = new Decoder({ esp: new EspSaOpener(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: true }) });
  const q = new DecodedPacket();
  for (const r of records) {
    const words = Int32Array.from(r.notes);
    plain.replayNext(words, 0, words.length);
    decoder.decode(Uint8Array.from(r.frame), r.capLen, 101, p);
    expected.decode(Uint8Array.from(r.frame), r.capLen, 101, q);
    assert.equal(snapshot(p), snapshot(q));
  }
  assert.ok(opened > 100);
  // A keystream that does not fit the packet (wrong length) is not trusted: the packet is opened.
  const sa = new EspSaOpener(parseEspSaText(GCM_SA_TEXT, 'gcm'), { nullHeuristic: true });
  const f = gcmFrame(true, 5, 30, false);
  const want = new EspOpenResult();
  sa.open(f, 40, f.length, f, 8, 24, want);
  assert.equal(want.status, 'ok');
  const got = new EspOpenResult();
  sa.openWithKeystream(f, 40, f.length, f, 8, 24, new Uint8Array(64), 0, 64, got);
  assert.deepEqual([got.status, got.detail], [want.status, want.detail]);
  sa.openWithKeystream(f, 40, f.length, f, 8, 24, new Uint8Array(16), 8, 96, got);
  assert.deepEqual([got.status, got.detail], [want.status, want.detail]);
  // The right length but the wrong bytes: the tag check catches it.
  const ksLength = (1 + Math.ceil((f.length - 40 - 16 - 16) / 16)) * 16;
  sa.openWithKeystream(f, 40, f.length, f, 8, 24, new Uint8Array(ksLength), 0, ksLength, got);
  assert.equal(got.status, 'auth_failed');
});
