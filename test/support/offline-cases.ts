// The offline reader's cases, run once per reader (capture-offline.test.ts reads in this thread,
// capture-offline-worker.test.ts in the worker: node_pcap cannot be loaded by both in one
// process, native-notes/node_pcap.md §3.5). Files from the pure-TS writer: every format variant, every awkward
// file, and the contained defects (throwing callback, bad filter, missing file).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { PdmFrameTemplate } from './fixture-frames.js';
import { CaptureFileError, readCaptureFile, type ReaderMode, type ReadSummary } from '../../src/capture/offline.js';
import { PcapWriter, type PcapWriterOptions } from '../../src/capture/pcap-writer.js';
import { prescanCapture } from '../../src/capture/prescan.js';

export const dir = mkdtempSync(join(tmpdir(), 'pdmscope-offline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

export const T0_NS = 1_700_000_000_000_000_000n;
export const template = new PdmFrameTemplate('ethernet', 64);

/** n PDM frames, PSN i, timestamp T0 + i ms + 123 ns (the 123 ns survive only in ns files). */
export function pdmCapture(opts: PcapWriterOptions, n: number): Buffer {
  const w = new PcapWriter(opts);
  for (let i = 0; i < n; i++) {
    const f = template.fill({ psnThisPkt: i, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0, scaleDtlr: 0, scaleDtls: 0, srcPort: 40000, dstPort: 443 });
    w.writePacket(f, T0_NS + BigInt(i) * 1_000_000n + 123n, { wireLength: f.length + (i % 3) });
  }
  return w.toBuffer();
}

export function file(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

export interface Seen { psns: number[]; capLens: number[]; wireLens: number[]; tsUs: number[] }

export async function read(path: string, reader: ReaderMode, filter?: string): Promise<{ s: ReadSummary; seen: Seen }> {
  const seen: Seen = { psns: [], capLens: [], wireLens: [], tsUs: [] };
  const s = await readCaptureFile(path, filter === undefined ? { reader } : { filter, reader }, (frame, capLen, wireLen, tsUs) => {
    seen.psns.push(frame.readUInt16BE(template.psnOffset));
    seen.capLens.push(capLen);
    seen.wireLens.push(wireLen);
    seen.tsUs.push(tsUs);
  });
  return { s, seen };
}

/** Every reader case, for `reader`. */
export function offlineReaderCases(reader: ReaderMode): void {
  test(`${reader}: every writer variant round-trips through node_pcap: bytes, lengths, µs timestamps`, async () => {
    for (const format of ['pcap', 'pcapng'] as const) {
      for (const nanosecond of [false, true]) {
        for (const bigEndian of [false, true]) {
          const opts = { format, linkType: 1, nanosecond, bigEndian };
          const path = file(`v-${format}-${nanosecond}-${bigEndian}`, pdmCapture(opts, 50));
          let opened = -1;
          const seen: number[] = [];
          const s = await readCaptureFile(path, { reader }, (frame, capLen, wireLen, tsUs) => {
            assert.equal(capLen, 142);
            assert.ok(frame.length >= capLen);
            assert.equal(frame.readUInt16BE(12), 0x86dd);
            assert.equal(wireLen, 142 + (seen.length % 3));
            // libpcap opens every file at µs precision: +123 ns is truncated away.
            assert.equal(tsUs, 1_700_000_000_000_000 + seen.length * 1000);
            seen.push(frame.readUInt16BE(template.psnOffset));
          }, (lt) => { opened = lt; });
          assert.equal(opened, 1);
          assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i), JSON.stringify(opts));
          assert.deepEqual(s, {
            path, format, linkType: 1, linkTypes: [1], tsUnitsPerSecond: nanosecond ? 1e9 : 1e6,
            delivered: 50, expected: 50, complete: true, error: null, reader,
          });
        }
      }
    }
  });

  test(`${reader}: link types: the summary gives the file\'s LINKTYPE_* number (DLT_RAW 12/14 stay as written)`, async () => {
    for (const lt of [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]) {
      const w = new PcapWriter({ format: 'pcap', linkType: lt });
      w.writePacket(new Uint8Array(60), T0_NS);
      const { s } = await read(file(`lt-${lt}.pcap`, w.toBuffer()), reader);
      assert.equal(s.linkType, lt);
      assert.equal(s.complete, true, s.error ?? '');
    }
  });

  test(`${reader}: frames larger than node_pcap\'s default 65535-byte buffer arrive whole`, async () => {
    const w = new PcapWriter({ format: 'pcap', linkType: 1 });
    const big = new Uint8Array(100_000);
    big[99_999] = 0x5a;
    w.writePacket(big, T0_NS);
    let last = -1;
    const s = await readCaptureFile(file(`big-${reader}.pcap`, w.toBuffer()), { reader }, (frame, capLen) => { last = frame[capLen - 1]!; assert.equal(capLen, 100_000); });
    assert.equal(last, 0x5a);
    assert.equal(s.delivered, 1);
  });

  test(`${reader}: truncated files: libpcap delivers the whole records, the summary says incomplete and where`, async () => {
    const opts: PcapWriterOptions[] = [{ format: 'pcap', linkType: 1 }, { format: 'pcapng', linkType: 1, bigEndian: true }];
    for (const o of opts) {
      const whole = pdmCapture(o, 10);
      // A worker read costs a thread start-up (~0.1 s here): fewer cuts, still every kind of place.
      for (let len = 30; len < whole.length; len += reader === 'worker' ? 23 : 7) {
        const path = file(`cut-${o.format}-${len}`, whole.subarray(0, len));
        const scan = prescanCapture(path);
        const { s, seen } = await read(path, reader);
        assert.equal(s.delivered, scan.packetsBeforeProblem, `${o.format} len ${len}: ${s.error}`);
        assert.deepEqual(seen.psns, Array.from({ length: s.delivered }, (_, i) => i));
        assert.equal(s.expected, scan.packets);
        if (scan.problem === null) {
          assert.equal(s.complete, true);
        } else {
          assert.equal(s.complete, false);
          assert.equal(s.error, scan.problem.message);
        }
      }
    }
  });

  test(`${reader}: head -c 70000 of a 1000-packet pcap: 442 packets, incomplete, the message says where`, async () => {
    const src = file('thousand.pcap', pdmCapture({ format: 'pcap', linkType: 1 }, 1000));
    const cut = join(dir, 'head.pcap');
    execFileSync('sh', ['-c', `head -c 70000 '${src}' > '${cut}'`]);
    const { s } = await read(cut, reader);
    assert.equal(s.delivered, 442);
    assert.equal(s.expected, 442);
    assert.equal(s.complete, false);
    assert.equal(s.error, `${cut}: truncated capture: record 443 at byte 69860 needs 158 bytes, only 140 remain`);
  });

  test(`${reader}: damaged caplen: records before it, then incomplete`, async () => {
    const buf = pdmCapture({ format: 'pcap', linkType: 1 }, 5);
    buf.writeUInt32LE(0x00ffffff, 24 + 3 * 158 + 8);
    const { s } = await read(file('caplen.pcap', buf), reader);
    assert.equal(s.delivered, 3);
    assert.equal(s.complete, false);
    assert.match(s.error!, /record 4 at byte 498 claims 16777215 captured bytes/);
  });

  test(`${reader}: refused files: empty, text, missing, directory, mixed link types (libpcap alone: 0 packets, silent)`, async () => {
    const refuse = async (path: string, message: RegExp): Promise<void> => {
      let called = false;
      await assert.rejects(readCaptureFile(path, { reader }, () => { called = true; }), (e: unknown) => {
        assert.ok(e instanceof CaptureFileError);
        assert.match(e.message, message);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
      assert.equal(called, false);
    };
    await refuse(file('empty.pcap', ''), /empty\.pcap: empty file \(0 bytes\)/);
    await refuse(file('x.txt', 'hello\n'), /x\.txt: not a pcap or pcapng file \(magic 0x68656c6c\)$/);
    await refuse(join(dir, 'missing.pcap'), /missing\.pcap: no such file$/);
    await refuse(dir, /is a directory/);
    const w = new PcapWriter({ format: 'pcapng', linkType: 1 });
    w.addInterface(101);
    for (let i = 0; i < 6; i++) w.writePacket(template.frame, T0_NS, { interfaceId: i % 2 });
    await refuse(file('mixed.pcapng', w.toBuffer()), /interfaces with different link types \(1, 101\)/);
  });

  test(`${reader}: header-only files are complete captures of 0 packets`, async () => {
    for (const format of ['pcap', 'pcapng'] as const) {
      const { s } = await read(file(`h.${format}`, pdmCapture({ format, linkType: 1 }, 0)), reader);
      assert.deepEqual([s.delivered, s.expected, s.complete, s.error, s.linkType], [0, 0, true, null, 1]);
    }
    // A section header with no interface: libpcap cannot open it; nothing is lost either.
    const { s } = await read(file('shb.pcapng', pdmCapture({ format: 'pcapng', linkType: 1 }, 0).subarray(0, 28)), reader);
    assert.deepEqual([s.delivered, s.complete, s.linkType], [0, true, null]);
  });

  test(`${reader}: a throwing callback rejects the read, stops it, and leaves the process and the next read intact`, async () => {
    const path = file('throw.pcap', pdmCapture({ format: 'pcap', linkType: 1 }, 20));
    let calls = 0;
    await assert.rejects(readCaptureFile(path, { reader }, () => { calls++; if (calls === 5) throw new RangeError('consumer bug'); }), /consumer bug/);
    assert.equal(calls, 5);
    const { s } = await read(path, reader);
    assert.equal(s.delivered, 20);
  });

  test(`${reader}: a bad filter is a one-line CaptureFileError`, async () => {
    const path = file('f.pcap', pdmCapture({ format: 'pcap', linkType: 1 }, 3));
    await assert.rejects(readCaptureFile(path, { filter: 'ip6 and nonsense(', reader }, () => {}), (e: unknown) => {
      assert.ok(e instanceof CaptureFileError);
      assert.match(e.message, /f\.pcap: bad filter 'ip6 and nonsense\(': /);
      return true;
    });
  });

  test(`${reader}: concurrent reads of different files do not mix`, async () => {
    const a = file('ca.pcap', pdmCapture({ format: 'pcap', linkType: 1 }, 30));
    const b = file('cb.pcapng', pdmCapture({ format: 'pcapng', linkType: 1 }, 40));
    const [ra, rb] = await Promise.all([read(a, reader), read(b, reader)]);
    assert.equal(ra.seen.psns.length, 30);
    assert.equal(rb.seen.psns.length, 40);
    assert.equal(ra.s.complete && rb.s.complete, true);
  });
}
/** A capture that fills the worker's frame ring several times over: frames of 1 B to 256 KiB. */
export function wrappingCapture(): { bytes: Buffer; frames: number } {
  const w = new PcapWriter({ format: 'pcap', linkType: 1 });
  const sizes = [1, 2, 3, 60, 142, 1500, 9000, 65535, 65536, 100_001, 262_144, 200_000];
  let frames = 0;
  for (let round = 0; round < 24; round++) {
    for (const size of sizes) {
      const f = new Uint8Array(size);
      for (let i = 0; i < size; i += 97) f[i] = (i + frames * 31) & 0xff;
      f[size - 1] = frames & 0xff;
      w.writePacket(f, T0_NS + BigInt(frames) * 1_000_000_000n, { wireLength: size + 4 });
      frames++;
    }
  }
  return { bytes: w.toBuffer(), frames };
}
