import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { PcapFileWriter, PcapWriter, type PcapWriterOptions } from './pcap-writer.js';
import { prescanBytes } from './prescan.js';

const FRAME = Uint8Array.from({ length: 61 }, (_, i) => i);
const TS = 1_700_000_000_123_456_789n;

test('classic pcap, µs, little-endian: file header and record header bytes', () => {
  // pcap-savefile(5): magic(4) major(2) minor(2) thiszone(4) sigfigs(4) snaplen(4) linktype(4)
  // record: ts_sec(4) ts_usec(4) caplen(4) len(4) data
  const w = new PcapWriter({ format: 'pcap', linkType: 1, snapLen: 65535 });
  w.writePacket(FRAME, TS, { wireLength: 100 });
  const b = w.toBuffer();
  assert.equal(b.length, 24 + 16 + 61);
  assert.deepEqual([...b.subarray(0, 4)], [0xd4, 0xc3, 0xb2, 0xa1]);
  assert.equal(b.readUInt16LE(4), 2);
  assert.equal(b.readUInt16LE(6), 4);
  assert.equal(b.readUInt32LE(16), 65535);
  assert.equal(b.readUInt32LE(20), 1);
  assert.equal(b.readUInt32LE(24), 1_700_000_000);
  assert.equal(b.readUInt32LE(28), 123_456); // µs, truncated
  assert.equal(b.readUInt32LE(32), 61);
  assert.equal(b.readUInt32LE(36), 100);
  assert.deepEqual(b.subarray(40), Buffer.from(FRAME));
});

test('classic pcap, ns, big-endian: magic a1b23c4d in network order, ns fraction', () => {
  const b = new PcapWriter({ format: 'pcap', linkType: 101, nanosecond: true, bigEndian: true });
  b.writePacket(FRAME, TS);
  const buf = b.toBuffer();
  assert.deepEqual([...buf.subarray(0, 4)], [0xa1, 0xb2, 0x3c, 0x4d]);
  assert.equal(buf.readUInt32BE(20), 101);
  assert.equal(buf.readUInt32BE(24), 1_700_000_000);
  assert.equal(buf.readUInt32BE(28), 123_456_789);
});

test('pcapng: SHB, IDB with if_tsresol=9, EPB with padding and 64-bit ns timestamp', () => {
  const w = new PcapWriter({ format: 'pcapng', linkType: 1, nanosecond: true });
  w.writePacket(FRAME, TS);
  const b = w.toBuffer();
  // SHB: type 0a0d0d0a, length 28, byte-order magic 1a2b3c4d, version 1.0, section length -1
  assert.equal(b.readUInt32LE(0), 0x0a0d0d0a);
  assert.equal(b.readUInt32LE(4), 28);
  assert.equal(b.readUInt32LE(8), 0x1a2b3c4d);
  assert.equal(b.readUInt32LE(24), 28);
  // IDB: type 1, length 32, linktype(2) reserved(2) snaplen(4), option 9 len 1 value 9, end of options
  assert.equal(b.readUInt32LE(28), 1);
  assert.equal(b.readUInt32LE(32), 32);
  assert.equal(b.readUInt16LE(36), 1);
  assert.equal(b.readUInt16LE(44), 9);
  assert.equal(b.readUInt16LE(46), 1);
  assert.equal(b[48], 9);
  assert.equal(b.readUInt32LE(56), 32);
  // EPB: type 6, length 32+64, interface 0, ts high, ts low, caplen 61, len 61, data + 3 pad
  const e = 60;
  assert.equal(b.readUInt32LE(e), 6);
  assert.equal(b.readUInt32LE(e + 4), 96);
  assert.equal((BigInt(b.readUInt32LE(e + 12)) << 32n) | BigInt(b.readUInt32LE(e + 16)), TS);
  assert.equal(b.readUInt32LE(e + 20), 61);
  assert.deepEqual(b.subarray(e + 28, e + 28 + 61), Buffer.from(FRAME));
  assert.deepEqual([...b.subarray(e + 89, e + 92)], [0, 0, 0]);
  assert.equal(b.readUInt32LE(e + 92), 96);
  assert.equal(b.length, e + 96);
});

test('pcapng µs interfaces carry no if_tsresol and divide the timestamp by 1000', () => {
  const w = new PcapWriter({ format: 'pcapng', linkType: 1, bigEndian: true });
  w.writePacket(FRAME, TS);
  const b = w.toBuffer();
  assert.equal(b.readUInt32BE(8), 0x1a2b3c4d);
  assert.equal(b.readUInt32BE(32), 20);
  const e = 48;
  assert.equal((BigInt(b.readUInt32BE(e + 12)) << 32n) | BigInt(b.readUInt32BE(e + 16)), TS / 1000n);
});

test('addInterface: pcapng only; packets must name an added interface', () => {
  const w = new PcapWriter({ format: 'pcapng', linkType: 1 });
  assert.equal(w.addInterface(101), 1);
  assert.throws(() => w.writePacket(FRAME, TS, { interfaceId: 2 }), /interface 2/);
  assert.throws(() => new PcapWriter({ format: 'pcap', linkType: 1 }).addInterface(1), /one link type/);
});

test('every format variant round-trips through the prescan', () => {
  const variants: PcapWriterOptions[] = [];
  for (const format of ['pcap', 'pcapng'] as const) {
    for (const nanosecond of [false, true]) {
      for (const bigEndian of [false, true]) variants.push({ format, linkType: 229, nanosecond, bigEndian });
    }
  }
  for (const v of variants) {
    const w = new PcapWriter(v);
    for (let i = 0; i < 37; i++) w.writePacket(FRAME.subarray(0, 20 + i), TS + BigInt(i));
    const r = prescanBytes(w.toBuffer(), 'x');
    assert.equal(r.problem, null, JSON.stringify(v));
    assert.equal(r.complete, true);
    assert.equal(r.format, v.format);
    assert.equal(r.bigEndian, v.bigEndian);
    assert.equal(r.packets, 37);
    assert.deepEqual(r.linkTypes, [229]);
    assert.equal(r.tsUnitsPerSecond, v.nanosecond === true ? 1e9 : 1e6);
  }
});

test('the streaming file writer writes the same bytes as the in-memory writer, across chunk flushes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-writer-'));
  try {
    for (const format of ['pcap', 'pcapng'] as const) {
      const opts: PcapWriterOptions = { format, linkType: 1, nanosecond: true };
      const mem = new PcapWriter(opts);
      const path = join(dir, `w.${format}`);
      const file = new PcapFileWriter(path, opts);
      const big = new Uint8Array(1500).fill(7);
      // ~12 MB: more than one 8 MiB chunk.
      for (let i = 0; i < 8000; i++) {
        mem.writePacket(big, TS + BigInt(i));
        file.writePacket(big, TS + BigInt(i));
      }
      file.close();
      file.close(); // idempotent
      assert.equal(file.packets, 8000);
      const written = readFileSync(path);
      assert.equal(written.length, file.bytesWritten);
      assert.ok(written.equals(mem.toBuffer()));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
