// A pure-TS capture writer for tests, fixtures and the benchmark generator.
//
// Classic pcap: 24-byte file header, 16-byte record headers; magic a1b2c3d4 (µs) or a1b23c4d
// (ns), written in either byte order (https://www.tcpdump.org/manpages/pcap-savefile.5.txt).
// pcapng: SHB, IDBs (per-interface link type, snaplen, if_tsresol), EPBs
// (draft-ietf-opsawg-pcapng §4.1, §4.2, §4.3). Bytes are staged in large chunks: the in-memory
// writer keeps them, the file writer hands each full chunk to one writeSync.

import { closeSync, openSync, writeSync } from 'node:fs';

export type CaptureFormat = 'pcap' | 'pcapng';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_IDB_TYPE = 0x00000001;
export const PCAPNG_OPB_TYPE = 0x00000002;
export const PCAPNG_SPB_TYPE = 0x00000003;
export const PCAPNG_EPB_TYPE = 0x00000006;
/** IDB option if_tsresol (pcapng §4.2): one byte, 6 = µs (the default), 9 = ns. */
export const PCAPNG_OPT_IF_TSRESOL = 9;
export const DEFAULT_SNAPLEN = 262144;

export interface PcapWriterOptions {
  format: CaptureFormat;
  /** LINKTYPE_* number of the first (pcap: only) interface. */
  linkType: number;
  /** pcap: ns magic a1b23c4d; pcapng: if_tsresol=9 on the first interface. */
  nanosecond?: boolean;
  bigEndian?: boolean;
  /** Snapshot length written in the file header / first IDB (default 262144). */
  snapLen?: number;
}

export interface InterfaceOptions {
  nanosecond?: boolean;
  snapLen?: number;
}

export interface WritePacketOptions {
  /** Original length on the wire (default: the frame length). */
  wireLength?: number;
  /** pcapng interface index (default 0). */
  interfaceId?: number;
}

const NS_PER_S = 1_000_000_000n;
const CHUNK_BYTES = 8 * 1024 * 1024;

/** The shared encoder: stages blocks in a chunk and passes full chunks to `flush`. */
class CaptureEncoder {
  readonly format: CaptureFormat;
  readonly littleEndian: boolean;
  private readonly nanosecondPcap: boolean;
  private readonly interfaceNs: boolean[] = [];
  private chunk: Buffer;
  private view: DataView;
  private used = 0;
  private readonly flush: (chunk: Buffer, length: number) => void;
  /** Bytes written so far, flushed or not. */
  totalBytes = 0;
  packets = 0;

  constructor(opts: PcapWriterOptions, flush: (chunk: Buffer, length: number) => void) {
    this.format = opts.format;
    this.littleEndian = opts.bigEndian !== true;
    this.nanosecondPcap = opts.nanosecond === true;
    this.flush = flush;
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.view = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
    const snapLen = opts.snapLen ?? DEFAULT_SNAPLEN;
    if (this.format === 'pcap') {
      this.reserve(24);
      this.u32(this.nanosecondPcap ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
      this.u16(2);
      this.u16(4);
      this.u32(0); // thiszone
      this.u32(0); // sigfigs
      this.u32(snapLen);
      this.u32(opts.linkType);
    } else {
      // SHB with no options: type, length 28, byte-order magic, version 1.0, section length -1.
      this.reserve(28);
      this.u32(PCAPNG_SHB_TYPE);
      this.u32(28);
      this.u32(PCAPNG_BYTE_ORDER_MAGIC);
      this.u16(1);
      this.u16(0);
      this.u32(0xffffffff);
      this.u32(0xffffffff);
      this.u32(28);
      this.addInterface(opts.linkType, { nanosecond: opts.nanosecond === true, snapLen });
    }
  }

  addInterface(linkType: number, opts: InterfaceOptions = {}): number {
    if (this.format !== 'pcapng') throw new Error('a classic pcap file has exactly one link type; use pcapng for more interfaces');
    const ns = opts.nanosecond === true;
    const total = 20 + (ns ? 8 + 4 : 0);
    this.reserve(total);
    this.u32(PCAPNG_IDB_TYPE);
    this.u32(total);
    this.u16(linkType);
    this.u16(0);
    this.u32(opts.snapLen ?? DEFAULT_SNAPLEN);
    if (ns) {
      this.u16(PCAPNG_OPT_IF_TSRESOL);
      this.u16(1);
      this.u32(0); // value byte 9 written below, then 3 pad bytes
      this.chunk[this.used - 4] = 9;
      this.u16(0); // opt_endofopt
      this.u16(0);
    }
    this.u32(total);
    this.interfaceNs.push(ns);
    return this.interfaceNs.length - 1;
  }

  /** Writes one record; the timestamp is scaled down to the file's or interface's resolution. */
  writePacket(frame: Uint8Array, tsNs: bigint, opts?: WritePacketOptions): void {
    const wireLength = opts?.wireLength ?? frame.length;
    if (this.format === 'pcap') {
      const sec = Number(tsNs / NS_PER_S);
      const ns = Number(tsNs % NS_PER_S);
      this.reserve(16 + frame.length);
      this.u32(sec);
      this.u32(this.nanosecondPcap ? ns : Math.floor(ns / 1000));
      this.u32(frame.length);
      this.u32(wireLength);
      this.bytes(frame);
    } else {
      const ifId = opts?.interfaceId ?? 0;
      const ns = this.interfaceNs[ifId];
      if (ns === undefined) throw new Error(`pcapng interface ${ifId} has not been added`);
      const units = ns ? tsNs : tsNs / 1000n;
      const padded = (frame.length + 3) & ~3;
      const total = 32 + padded;
      this.reserve(total);
      this.u32(PCAPNG_EPB_TYPE);
      this.u32(total);
      this.u32(ifId);
      this.u32(Number(units >> 32n));
      this.u32(Number(units & 0xffffffffn));
      this.u32(frame.length);
      this.u32(wireLength);
      this.bytes(frame);
      for (let i = frame.length; i < padded; i++) this.chunk[this.used++] = 0;
      this.u32(total);
    }
    this.packets++;
  }

  /** Appends bytes as they are (for deliberately odd files: unknown blocks, garbage). */
  writeRaw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes(bytes);
  }

  finish(): void {
    if (this.used > 0) this.flush(this.chunk, this.used);
    this.used = 0;
  }

  private reserve(n: number): void {
    this.totalBytes += n;
    if (this.used + n <= this.chunk.length) return;
    if (this.used > 0) this.flush(this.chunk, this.used);
    this.used = 0;
    if (n > this.chunk.length) {
      this.chunk = Buffer.allocUnsafe(n);
      this.view = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
    }
  }

  private u16(v: number): void {
    this.view.setUint16(this.used, v, this.littleEndian);
    this.used += 2;
  }

  private u32(v: number): void {
    this.view.setUint32(this.used, v >>> 0, this.littleEndian);
    this.used += 4;
  }

  private bytes(b: Uint8Array): void {
    this.chunk.set(b, this.used);
    this.used += b.length;
  }
}

/** What both writers offer; they differ only in where full chunks go. */
abstract class CaptureWriterBase {
  protected readonly encoder: CaptureEncoder;

  constructor(opts: PcapWriterOptions, flush: (chunk: Buffer, length: number) => void) {
    this.encoder = new CaptureEncoder(opts, flush);
  }

  /** pcapng only: adds an IDB and returns its interface id. */
  addInterface(linkType: number, opts?: InterfaceOptions): number {
    return this.encoder.addInterface(linkType, opts);
  }

  writePacket(frame: Uint8Array, tsNs: bigint, opts?: WritePacketOptions): void {
    this.encoder.writePacket(frame, tsNs, opts);
  }

  writeRaw(bytes: Uint8Array): void {
    this.encoder.writeRaw(bytes);
  }

  get packets(): number {
    return this.encoder.packets;
  }
}

/** Builds a whole capture in memory. */
export class PcapWriter extends CaptureWriterBase {
  private readonly parts: Buffer[] = [];

  constructor(opts: PcapWriterOptions) {
    // `parts` is not initialised before super() returns, but the encoder flushes only later.
    super(opts, (chunk, length) => {
      this.parts.push(Buffer.from(chunk.subarray(0, length)));
    });
  }

  /** The capture so far; the writer stays usable. */
  toBuffer(): Buffer {
    this.encoder.finish();
    const whole = Buffer.concat(this.parts);
    this.parts.length = 0;
    this.parts.push(whole);
    return whole;
  }
}

/** Streams a capture to a file in 8 MiB writes (the benchmark writes millions of packets). */
export class PcapFileWriter extends CaptureWriterBase {
  private readonly fd: number;
  private closed = false;

  constructor(path: string, opts: PcapWriterOptions) {
    const fd = openSync(path, 'w');
    super(opts, (chunk, length) => {
      let off = 0;
      while (off < length) off += writeSync(fd, chunk, off, length - off);
    });
    this.fd = fd;
  }

  get bytesWritten(): number {
    return this.encoder.totalBytes;
  }

  /** Flushes and closes the file descriptor. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.encoder.finish();
    } finally {
      closeSync(this.fd);
    }
  }
}
