import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { PcapWriter, type PcapWriterOptions } from './pcap-writer.js';
import { isFatalProblem, prescanBytes, prescanCapture } from './prescan.js';

const FRAME = new Uint8Array(142).fill(0xab);

function capture(opts: PcapWriterOptions, n: number, frame: Uint8Array = FRAME): Buffer {
  const w = new PcapWriter(opts);
  for (let i = 0; i < n; i++) w.writePacket(frame, 1_700_000_000_000_000_000n + BigInt(i) * 1000n);
  return w.toBuffer();
}

/** Byte offsets where each record starts and the end of the file. */
function recordStarts(buf: Buffer, opts: PcapWriterOptions, n: number, recordBytes: number): number[] {
  const first = opts.format === 'pcap' ? 24 : buf.length - n * recordBytes;
  return Array.from({ length: n + 1 }, (_, i) => first + i * recordBytes);
}

test('the message for a truncated record names record, byte offset, size and what remains', () => {
  // 1000 records of 142 bytes (158 with header); head -c 70000 cuts record 443.
  const buf = capture({ format: 'pcap', linkType: 1 }, 1000);
  const r = prescanBytes(buf.subarray(0, 70000), 'fixtures/x.pcap');
  assert.equal(r.problem?.message, 'fixtures/x.pcap: truncated capture: record 443 at byte 69860 needs 158 bytes, only 140 remain');
  assert.equal(r.problem?.kind, 'truncated');
  assert.equal(r.packets, 442);
  assert.equal(r.packetsBeforeProblem, 442);
  assert.equal(r.complete, false);
  assert.equal(isFatalProblem(r.problem), false);
});

test('truncation at every byte offset: pcap and pcapng, both byte orders', () => {
  for (const opts of [
    { format: 'pcap', linkType: 1 }, { format: 'pcap', linkType: 1, bigEndian: true, nanosecond: true },
    { format: 'pcapng', linkType: 1 }, { format: 'pcapng', linkType: 1, bigEndian: true, nanosecond: true },
  ] satisfies PcapWriterOptions[]) {
    const n = 6;
    const buf = capture(opts, n);
    const recordBytes = opts.format === 'pcap' ? 16 + 142 : 32 + 144;
    const starts = recordStarts(buf, opts, n, recordBytes);
    assert.equal(starts[n], buf.length);
    for (let len = 0; len <= buf.length; len++) {
      const r = prescanBytes(buf.subarray(0, len), 'cut');
      const whole = starts.filter((s) => s > starts[0]! && s <= len).length;
      if (len === 0) {
        assert.equal(r.problem?.kind, 'empty');
      } else if (opts.format === 'pcapng' && len === 28) {
        assert.equal(r.problem, null); // a section header alone: nothing wrong, nothing in it
        assert.equal(r.linkType, null);
      } else if (opts.format === 'pcapng' && len > 28 && len < starts[0]!) {
        assert.equal(r.problem?.kind, 'truncated', `len ${len}`);
        assert.equal(r.problem?.offset, 28);
      } else if (len < starts[0]!) {
        assert.ok(isFatalProblem(r.problem), `len ${len}: ${r.problem?.message}`);
      } else if (starts.includes(len)) {
        assert.equal(r.problem, null, `len ${len}`);
        assert.equal(r.packets, whole);
        assert.equal(r.complete, true);
      } else {
        assert.equal(r.problem?.kind, 'truncated', `len ${len}`);
        assert.equal(r.packets, whole, `len ${len}`);
        // A pcapng block cut inside its 12-byte header is not known to be a packet yet.
        const knownPacket = opts.format === 'pcap' || len - starts[whole]! >= 12;
        assert.equal(r.problem?.record, knownPacket ? whole + 1 : 0, `len ${len}`);
        assert.equal(r.problem?.offset, starts[whole]);
        assert.equal(isFatalProblem(r.problem), false);
      }
    }
  }
});

test('empty, text, short and header-only files', () => {
  assert.equal(prescanBytes(new Uint8Array(0), 'e.pcap').problem?.message, 'e.pcap: empty file (0 bytes), not a pcap or pcapng capture');
  const text = prescanBytes(Buffer.from('hello world\n'), 'x.txt');
  assert.equal(text.problem?.message, 'x.txt: not a pcap or pcapng file (magic 0x68656c6c)');
  assert.equal(text.problem?.kind, 'not_capture');
  assert.equal(prescanBytes(Buffer.from('ab'), 's').problem?.message, 's: not a pcap or pcapng file (only 2 bytes)');
  // A pcap file header and nothing else is a complete capture of 0 packets.
  const header = prescanBytes(capture({ format: 'pcap', linkType: 1 }, 0), 'h.pcap');
  assert.equal(header.problem, null);
  assert.equal(header.complete, true);
  assert.equal(header.packets, 0);
  assert.deepEqual(header.linkTypes, [1]);
  // pcapng: SHB + IDB, no packets.
  const ng = prescanBytes(capture({ format: 'pcapng', linkType: 276 }, 0), 'h.pcapng');
  assert.equal(ng.complete, true);
  assert.equal(ng.linkType, 276);
  // SHB alone (28 bytes): complete, no interface, no link type.
  const shbOnly = prescanBytes(capture({ format: 'pcapng', linkType: 1 }, 0).subarray(0, 28), 'shb');
  assert.equal(shbOnly.complete, true);
  assert.equal(shbOnly.linkType, null);
  assert.equal(shbOnly.packets, 0);
});

test('a pcap file header with a bad version is refused', () => {
  const buf = capture({ format: 'pcap', linkType: 1 }, 1);
  buf.writeUInt16LE(3, 4);
  const r = prescanBytes(buf, 'v');
  assert.equal(r.problem?.kind, 'bad_header');
  assert.ok(isFatalProblem(r.problem));
});

test('a record whose caplen is absurdly large is damage, not a truncation', () => {
  const buf = capture({ format: 'pcap', linkType: 1 }, 5);
  buf.writeUInt32LE(0x7fffffff, 24 + 2 * 158 + 8);
  const r = prescanBytes(buf, 'big.pcap');
  assert.equal(r.problem?.kind, 'bad_record');
  assert.equal(r.problem?.message, 'big.pcap: damaged capture: record 3 at byte 340 claims 2147483647 captured bytes (more than 262144)');
  assert.equal(r.packets, 2);
  const ng = capture({ format: 'pcapng', linkType: 1 }, 5);
  ng.writeUInt32LE(300000, 48 + 176 + 20);
  assert.equal(prescanBytes(ng, 'big.pcapng').problem?.kind, 'bad_record');
  const ng2 = capture({ format: 'pcapng', linkType: 1 }, 5);
  ng2.writeUInt32LE(200, 48 + 20); // caplen beyond its own block
  assert.match(prescanBytes(ng2, 'b').problem!.message, /claims 200 captured bytes in a 176-byte block/);
  const ng3 = capture({ format: 'pcapng', linkType: 1 }, 5);
  ng3.writeUInt32LE(180, 48 + 176 + 4); // leading and trailing lengths disagree
  assert.equal(prescanBytes(ng3, 'b').problem?.kind, 'bad_record');
});

test('pcapng with interfaces of different link types: refused, packets before the second IDB counted', () => {
  const w = new PcapWriter({ format: 'pcapng', linkType: 1 });
  w.addInterface(101);
  for (let i = 0; i < 4; i++) w.writePacket(FRAME, 0n, { interfaceId: i % 2 });
  const r = prescanBytes(w.toBuffer(), 'm.pcapng');
  assert.equal(r.problem?.kind, 'mixed_link_types');
  assert.match(r.problem!.message, /^m\.pcapng: interfaces with different link types \(1, 101\)/);
  assert.deepEqual(r.linkTypes, [1, 101]);
  assert.equal(r.packets, 4);
  assert.equal(r.packetsBeforeProblem, 0); // what libpcap delivers: nothing
  assert.ok(isFatalProblem(r.problem));
  const late = new PcapWriter({ format: 'pcapng', linkType: 1 });
  late.writePacket(FRAME, 0n);
  late.addInterface(113);
  late.writePacket(FRAME, 0n, { interfaceId: 1 });
  assert.equal(prescanBytes(late.toBuffer(), 'l').packetsBeforeProblem, 1);
});

test('pcapng with interfaces of different snapshot lengths: libpcap stops there', () => {
  const w = new PcapWriter({ format: 'pcapng', linkType: 1, snapLen: 1000 });
  w.writePacket(FRAME, 0n);
  w.addInterface(1, { snapLen: 2000 });
  w.writePacket(FRAME, 0n, { interfaceId: 1 });
  const r = prescanBytes(w.toBuffer(), 's');
  assert.equal(r.problem?.kind, 'mixed_snaplen');
  assert.equal(r.packetsBeforeProblem, 1);
  // 0 and anything above 262144 both mean 262144 to libpcap: not different.
  const same = new PcapWriter({ format: 'pcapng', linkType: 1, snapLen: 0 });
  same.addInterface(1, { snapLen: 262144 });
  assert.equal(prescanBytes(same.toBuffer(), 's').problem, null);
});

test('pcapng: unknown blocks skipped; SPB and OPB counted; undefined interface flagged', () => {
  const w = new PcapWriter({ format: 'pcapng', linkType: 1 });
  const isb = Buffer.alloc(24); // Interface Statistics Block (type 5) of 24 bytes
  isb.writeUInt32LE(5, 0); isb.writeUInt32LE(24, 4); isb.writeUInt32LE(24, 20);
  const custom = Buffer.alloc(16); // custom block 0x00000bad
  custom.writeUInt32LE(0xbad, 0); custom.writeUInt32LE(16, 4); custom.writeUInt32LE(16, 12);
  const spb = Buffer.alloc(16 + 60); // Simple Packet Block: original length 60
  spb.writeUInt32LE(3, 0); spb.writeUInt32LE(76, 4); spb.writeUInt32LE(60, 8); spb.writeUInt32LE(76, 72);
  const opb = Buffer.alloc(32 + 60); // Obsolete Packet Block: if(2) drops(2) ts(8) caplen len
  opb.writeUInt32LE(2, 0); opb.writeUInt32LE(92, 4); opb.writeUInt32LE(60, 20); opb.writeUInt32LE(60, 24); opb.writeUInt32LE(92, 88);
  w.writeRaw(isb); w.writePacket(FRAME, 0n); w.writeRaw(custom); w.writeRaw(spb); w.writeRaw(opb);
  const r = prescanBytes(w.toBuffer(), 'u');
  assert.equal(r.problem, null);
  assert.equal(r.packets, 3);
  w.writePacket(FRAME, 0n);
  const buf = w.toBuffer();
  buf.writeUInt32LE(7, buf.length - 176 + 8); // last EPB names interface 7
  const bad = prescanBytes(buf, 'u');
  assert.equal(bad.problem?.kind, 'unknown_interface');
  assert.equal(bad.packets, 3);
});

test('pcapng: a second section (possibly other byte order) resets the interfaces', () => {
  const a = capture({ format: 'pcapng', linkType: 1 }, 2);
  const b = capture({ format: 'pcapng', linkType: 1, bigEndian: true }, 3);
  const r = prescanBytes(Buffer.concat([a, b]), 'two');
  assert.equal(r.problem, null);
  assert.equal(r.packets, 5);
  assert.equal(r.interfaces.length, 2);
  // Packets in section 2 before its own IDB name an undefined interface.
  const bNoIdb = Buffer.concat([b.subarray(0, 28), b.subarray(48)]);
  assert.equal(prescanBytes(Buffer.concat([a, bNoIdb]), 'two').problem?.kind, 'unknown_interface');
});

test('if_tsresol: power-of-two resolutions are decoded', () => {
  const buf = capture({ format: 'pcapng', linkType: 1, nanosecond: true }, 1);
  buf[48] = 0x80 | 20; // 2^-20 s
  assert.equal(prescanBytes(buf, 't').interfaces[0]!.tsUnitsPerSecond, 2 ** 20);
});

test('modified (Kuznetzov) pcap magic uses 24-byte record headers', () => {
  const buf = Buffer.alloc(24 + 2 * (24 + 10));
  buf.writeUInt32LE(0xa1b2cd34, 0); buf.writeUInt16LE(2, 4); buf.writeUInt16LE(4, 6); buf.writeUInt32LE(1, 20);
  buf.writeUInt32LE(10, 24 + 8); buf.writeUInt32LE(10, 24 + 34 + 8);
  const r = prescanBytes(buf, 'k');
  assert.equal(r.problem, null);
  assert.equal(r.packets, 2);
});

test('seeded random bytes never throw, with and without a valid header in front', () => {
  let seed = 0x9e3779b9;
  const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed; };
  const heads = [Buffer.alloc(0), capture({ format: 'pcap', linkType: 1 }, 0), capture({ format: 'pcapng', linkType: 1 }, 0)];
  for (let i = 0; i < 3000; i++) {
    const body = Buffer.alloc(rand() % 400);
    for (let j = 0; j < body.length; j++) body[j] = rand() & 0xff;
    // Small lengths in the right places make walks go further than pure noise would.
    if (body.length >= 8 && i % 2 === 0) body.writeUInt32LE((rand() % 64) * 4, 4);
    const r = prescanBytes(Buffer.concat([heads[i % 3]!, body]), 'r');
    assert.ok(r.complete === (r.problem === null));
    if (r.problem !== null) assert.ok(!r.problem.message.includes('\n'));
  }
});

test('file reads through 4 MiB windows agree with the in-memory walk, whole and cut', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-prescan-'));
  try {
    for (const format of ['pcap', 'pcapng'] as const) {
      const w = new PcapWriter({ format, linkType: 1 });
      let seed = 7;
      for (let i = 0; i < 12000; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        w.writePacket(new Uint8Array(60 + (seed % 1400)), BigInt(i));
      }
      // One record of libpcap's maximum size: larger than nothing else, but read across windows.
      w.writePacket(new Uint8Array(262144), 0n);
      const buf = w.toBuffer();
      assert.ok(buf.length > 9 * 1024 * 1024);
      for (const len of [buf.length, buf.length - 1, 4 * 1024 * 1024 + 3, 8 * 1024 * 1024 + 101]) {
        const path = join(dir, `f-${format}-${len}`);
        writeFileSync(path, buf.subarray(0, len));
        const fromFile = prescanCapture(path);
        const fromMem = prescanBytes(buf.subarray(0, len), path);
        assert.deepEqual(fromFile, fromMem);
        if (len === buf.length) assert.equal(fromFile.packets, 12001);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing files and directories are unreadable, in one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-prescan-'));
  try {
    const missing = prescanCapture(join(dir, 'nope.pcap'));
    assert.equal(missing.problem?.message, `${join(dir, 'nope.pcap')}: no such file`);
    assert.ok(isFatalProblem(missing.problem));
    mkdirSync(join(dir, 'd.pcap'));
    assert.equal(prescanCapture(join(dir, 'd.pcap')).problem?.message, `${join(dir, 'd.pcap')}: is a directory, not a capture file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
