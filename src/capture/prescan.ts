// Structural walk of a capture file: format, link types, timestamp resolution, the number of
// packet records, and where and how the file is damaged. Reads 4 MiB at a time and parses only
// record/block headers, so a 1 GB file takes a fraction of a second from the page cache.
//
// It exists because libpcap, through node_pcap, swallows errors (native-notes/node_pcap.md #4): a truncated
// file ends early without a word and a pcapng whose interfaces have different link types
// delivers nothing. The checks below mirror what libpcap 1.10 rejects (sf-pcap.c, sf-pcapng.c).
//
// Formats: https://www.tcpdump.org/manpages/pcap-savefile.5.txt and
// draft-ietf-opsawg-pcapng (SHB §4.1, IDB §4.2, EPB §4.3, SPB §4.4, OPB appendix A).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import { hex32 } from '../wire/bytes.js';
import {
  PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_EPB_TYPE, PCAPNG_IDB_TYPE,
  PCAPNG_OPB_TYPE, PCAPNG_OPT_IF_TSRESOL, PCAPNG_SHB_TYPE, PCAPNG_SPB_TYPE,
} from './pcap-writer.js';

/** Kuznetzov's modified pcap (24-byte record headers); libpcap reads it. */
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
/** libpcap's MAXIMUM_SNAPLEN: a larger record caplen is rejected as damage. */
export const MAX_RECORD_CAPLEN = 262144;
/** libpcap's ceiling for a pcapng block (INITIAL_MAX_BLOCKSIZE, 16 MiB). */
export const MAX_PCAPNG_BLOCK = 16 * 1024 * 1024;
const CHUNK_BYTES = 4 * 1024 * 1024;

export type CaptureFileFormat = 'pcap' | 'pcapng';

export type CaptureProblemKind =
  | 'unreadable'          // open/read failed (missing file, directory, permission)
  | 'empty'               // 0 bytes
  | 'not_capture'         // unknown magic
  | 'bad_header'          // file header / SHB unusable (version, length)
  | 'truncated'           // the file ends inside a header, record or block
  | 'bad_record'          // caplen absurd, block length inconsistent
  | 'mixed_link_types'    // pcapng interfaces with different link types (libpcap: 0 packets)
  | 'mixed_snaplen'       // pcapng interfaces with different snapshot lengths (libpcap stops)
  | 'unknown_interface';  // a packet block names an interface without an IDB

export interface CaptureProblem {
  kind: CaptureProblemKind;
  /** One line: `path: what is wrong`. */
  message: string;
  /** Byte offset of the record or block where the problem sits (0 for file-level problems). */
  offset: number;
  /** 1-based number of the packet record involved (0 when not a packet record). */
  record: number;
}

export interface CaptureInterface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second: 1e6 (µs), 1e9 (ns), or another if_tsresol. */
  tsUnitsPerSecond: number;
}

export interface PrescanResult {
  path: string;
  fileBytes: number;
  format: CaptureFileFormat | null;
  bigEndian: boolean;
  /** Distinct LINKTYPE_* numbers in order of appearance. */
  linkTypes: number[];
  /** The first interface's link type; null when the file names none. */
  linkType: number | null;
  interfaces: CaptureInterface[];
  /** Finest timestamp resolution among the interfaces (units per second), 1e6 by default. */
  tsUnitsPerSecond: number;
  /** Complete packet records (pcap records; pcapng EPB, SPB, OPB). */
  packets: number;
  /** Packet records libpcap delivers before it stops at the problem (== packets when none). */
  packetsBeforeProblem: number;
  /** No problem found: the walk reached the end of the file exactly. */
  complete: boolean;
  /**
   * False when only the file header was read (`headerOnly` on a pcap file): `packets` is then
   * unknown (-1) and the reader checks the records as libpcap delivers them.
   */
  recordsWalked: boolean;
  /** Bytes of a pcap record header (16; 24 in the modified format); 0 for pcapng. */
  recordHeaderBytes: number;
  problem: CaptureProblem | null;
}

/** Problems that make a file unusable as a whole: readers refuse it. */
export function isFatalProblem(p: CaptureProblem | null): boolean {
  if (p === null) return false;
  return p.kind === 'unreadable' || p.kind === 'empty' || p.kind === 'not_capture' || p.kind === 'bad_header'
    || p.kind === 'mixed_link_types' || p.kind === 'mixed_snaplen' || (p.kind === 'truncated' && p.offset === 0);
}

/** Positional reads through one reusable window. */
interface ByteSource {
  readonly size: number;
  /** Makes [off, off+n) readable in `buf` at `off - base`; false if the file is shorter. */
  ensure(off: number, n: number): boolean;
  buf: Uint8Array;
  base: number;
}

class FileSource implements ByteSource {
  readonly size: number;
  buf: Uint8Array;
  base = 0;
  private valid = 0;
  private readonly fd: number;

  constructor(fd: number, size: number, chunkBytes = CHUNK_BYTES) {
    this.fd = fd;
    this.size = size;
    this.buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(size, 64)));
  }

  ensure(off: number, n: number): boolean {
    if (off + n > this.size) return false;
    if (off >= this.base && off + n <= this.base + this.valid) return true;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    this.base = off;
    this.valid = 0;
    const want = Math.min(this.buf.length, this.size - off);
    while (this.valid < want) {
      const got = readSync(this.fd, this.buf, this.valid, want - this.valid, off + this.valid);
      if (got === 0) break;
      this.valid += got;
    }
    return this.valid >= n;
  }
}

class MemorySource implements ByteSource {
  readonly size: number;
  buf: Uint8Array;
  base = 0;
  constructor(bytes: Uint8Array) {
    this.buf = bytes;
    this.size = bytes.length;
  }
  ensure(off: number, n: number): boolean {
    return off + n <= this.size;
  }
}

/** libpcap's pcap_adjust_snapshot: 0 or more than the maximum means the maximum. */
function adjustSnapLen(snapLen: number): number {
  return snapLen === 0 || snapLen > MAX_RECORD_CAPLEN ? MAX_RECORD_CAPLEN : snapLen;
}

class Walk {
  readonly r: PrescanResult;
  private readonly src: ByteSource;
  private readonly headerOnly: boolean;
  private le = true;

  constructor(path: string, src: ByteSource, headerOnly = false) {
    this.src = src;
    this.headerOnly = headerOnly;
    this.r = {
      path, fileBytes: src.size, format: null, bigEndian: false, linkTypes: [], linkType: null,
      interfaces: [], tsUnitsPerSecond: 1e6, packets: 0, packetsBeforeProblem: 0, complete: false, problem: null,
      recordsWalked: true, recordHeaderBytes: 0,
    };
  }

  private u16(off: number): number {
    const b = this.src.buf;
    const i = off - this.src.base;
    return this.le ? b[i]! | (b[i + 1]! << 8) : (b[i]! << 8) | b[i + 1]!;
  }

  private u32(off: number): number {
    const b = this.src.buf;
    const i = off - this.src.base;
    return this.le
      ? (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0
      : ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  }

  private fail(kind: CaptureProblemKind, detail: string, offset: number, record: number): PrescanResult {
    if (this.r.problem === null) {
      this.r.problem = { kind, message: `${this.r.path}: ${detail}`, offset, record };
      if (kind !== 'mixed_link_types' && kind !== 'mixed_snaplen') this.r.packetsBeforeProblem = this.r.packets;
    }
    this.r.complete = false;
    return this.r;
  }

  private truncated(what: string, offset: number, record: number, needs: number): PrescanResult {
    const remain = this.src.size - offset;
    return this.fail('truncated',
      `truncated capture: ${what} at byte ${offset} needs ${needs} bytes, only ${remain} remain`, offset, record);
  }

  run(): PrescanResult {
    const size = this.src.size;
    if (size === 0) return this.fail('empty', 'empty file (0 bytes), not a pcap or pcapng capture', 0, 0);
    if (!this.src.ensure(0, 4)) {
      return this.fail('not_capture', `not a pcap or pcapng file (only ${size} byte${size === 1 ? '' : 's'})`, 0, 0);
    }
    this.le = false;
    const magicBE = this.u32(0);
    this.le = true;
    const magicLE = this.u32(0);
    if (magicBE === PCAPNG_SHB_TYPE) return this.pcapng();
    for (const [magic, le] of [[magicLE, true], [magicBE, false]] as const) {
      if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS || magic === PCAP_MAGIC_MODIFIED) {
        this.le = le;
        return this.pcap(magic);
      }
    }
    return this.fail('not_capture', `not a pcap or pcapng file (magic ${hex32(magicBE)})`, 0, 0);
  }

  private pcap(magic: number): PrescanResult {
    const r = this.r;
    r.format = 'pcap';
    r.bigEndian = !this.le;
    if (!this.src.ensure(0, 24)) return this.truncated('file header', 0, 0, 24);
    const major = this.u16(4);
    if (major !== 2) return this.fail('bad_header', `unsupported pcap version ${major}.${this.u16(6)}`, 0, 0);
    const snapLen = this.u32(16);
    // The upper bits of the link-type field carry FCS information (pcap-savefile(5)).
    const linkType = this.u32(20) & 0xffff;
    const tsUnits = magic === PCAP_MAGIC_NS ? 1e9 : 1e6;
    r.interfaces.push({ linkType, snapLen, tsUnitsPerSecond: tsUnits });
    r.linkTypes.push(linkType);
    r.linkType = linkType;
    r.tsUnitsPerSecond = tsUnits;
    const hdrLen = magic === PCAP_MAGIC_MODIFIED ? 24 : 16;
    r.recordHeaderBytes = hdrLen;
    if (this.headerOnly) {
      r.recordsWalked = false;
      r.packets = -1;
      r.packetsBeforeProblem = -1;
      return r;
    }
    const size = this.src.size;
    let off = 24;
    let packets = 0;
    while (off < size) {
      if (!this.src.ensure(off, hdrLen)) {
        r.packets = packets;
        return this.truncated(`record ${packets + 1} header`, off, packets + 1, hdrLen);
      }
      const capLen = this.u32(off + 8);
      if (capLen > MAX_RECORD_CAPLEN) {
        r.packets = packets;
        return this.fail('bad_record',
          `damaged capture: record ${packets + 1} at byte ${off} claims ${capLen} captured bytes (more than ${MAX_RECORD_CAPLEN})`,
          off, packets + 1);
      }
      const next = off + hdrLen + capLen;
      if (next > size) {
        r.packets = packets;
        return this.truncated(`record ${packets + 1}`, off, packets + 1, hdrLen + capLen);
      }
      packets++;
      off = next;
    }
    r.packets = packets;
    r.packetsBeforeProblem = packets;
    r.complete = true;
    return r;
  }

  private pcapng(): PrescanResult {
    const r = this.r;
    r.format = 'pcapng';
    const size = this.src.size;
    let off = 0;
    let packets = 0;
    let sectionInterfaces: CaptureInterface[] = [];
    let sawShb = false;
    let sectionLe = true;
    while (off < size) {
      if (!this.src.ensure(off, 12)) {
        r.packets = packets;
        return this.truncated('block header', off, 0, 12);
      }
      this.le = false;
      const typeBE = this.u32(off);
      if (typeBE === PCAPNG_SHB_TYPE) {
        // The byte-order magic decides how this section, including the SHB length, is read.
        const bom = this.u32(off + 8);
        if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.le = false;
        else if (bom === 0x4d3c2b1a) this.le = true;
        else {
          r.packets = packets;
          return this.fail(off === 0 ? 'not_capture' : 'bad_record',
            `${off === 0 ? 'not a pcapng file' : 'damaged capture'}: section header at byte ${off} has byte-order magic ${hex32(bom)}`, off, 0);
        }
        if (!sawShb) r.bigEndian = !this.le;
        sectionLe = this.le;
        sawShb = true;
        sectionInterfaces = [];
      } else {
        this.le = sectionLe;
        if (!sawShb) return this.fail('not_capture', `not a pcap or pcapng file (magic ${hex32(typeBE)})`, 0, 0);
      }
      const type = this.u32(off);
      const total = this.u32(off + 4);
      if (total < 12 || total % 4 !== 0 || total > MAX_PCAPNG_BLOCK) {
        r.packets = packets;
        return this.fail(off === 0 ? 'bad_header' : 'bad_record',
          `damaged capture: block at byte ${off} (type ${hex32(type)}) has length ${total}`, off, 0);
      }
      const isPacket = type === PCAPNG_EPB_TYPE || type === PCAPNG_SPB_TYPE || type === PCAPNG_OPB_TYPE;
      if (off + total > size) {
        r.packets = packets;
        const what = isPacket ? `record ${packets + 1}` : type === PCAPNG_SHB_TYPE && off === 0 ? 'section header' : `block (type ${hex32(type)})`;
        return this.truncated(what, off, isPacket ? packets + 1 : 0, total);
      }
      if (!this.src.ensure(off + total - 4, 4) || this.u32(off + total - 4) !== total) {
        r.packets = packets;
        return this.fail('bad_record', `damaged capture: block at byte ${off} (type ${hex32(type)}) has a trailing length that does not match ${total}`, off, 0);
      }
      if (type === PCAPNG_SHB_TYPE) {
        if (!this.src.ensure(off, 16) || total < 28) {
          return this.fail('bad_header', `damaged capture: section header at byte ${off} is ${total} bytes`, off, 0);
        }
        const major = this.u16(off + 12);
        if (major !== 1) return this.fail('bad_header', `unsupported pcapng version ${major}.${this.u16(off + 14)}`, off, 0);
      } else if (type === PCAPNG_IDB_TYPE) {
        if (total < 20 || !this.src.ensure(off, total)) {
          return this.fail('bad_record', `damaged capture: interface block at byte ${off} is ${total} bytes`, off, 0);
        }
        const iface: CaptureInterface = { linkType: this.u16(off + 8), snapLen: adjustSnapLen(this.u32(off + 12)), tsUnitsPerSecond: 1e6 };
        this.idbOptions(off + 16, off + total - 4, iface);
        const first = r.interfaces[0];
        sectionInterfaces.push(iface);
        r.interfaces.push(iface);
        if (!r.linkTypes.includes(iface.linkType)) r.linkTypes.push(iface.linkType);
        if (r.linkType === null) r.linkType = iface.linkType;
        if (iface.tsUnitsPerSecond > r.tsUnitsPerSecond) r.tsUnitsPerSecond = iface.tsUnitsPerSecond;
        if (first !== undefined && r.problem === null) {
          // libpcap 1.10 stops at this IDB: packets before it are delivered, none after.
          if (iface.linkType !== first.linkType) {
            r.packetsBeforeProblem = packets;
            this.fail('mixed_link_types',
              `interfaces with different link types (${r.linkTypes.join(', ')}): libpcap reads only one link type per file; split it first (e.g. tshark -r IN -Y 'frame.interface_id == 0' -w OUT)`,
              off, 0);
          } else if (iface.snapLen !== first.snapLen) {
            r.packetsBeforeProblem = packets;
            this.fail('mixed_snaplen',
              `interfaces with different snapshot lengths (${first.snapLen} and ${iface.snapLen}) at byte ${off}: libpcap stops reading there`,
              off, 0);
          }
        }
      } else if (isPacket) {
        let ifId = 0;
        let capLen: number;
        let hdr: number;
        if (type === PCAPNG_SPB_TYPE) {
          hdr = 12;
          this.src.ensure(off, 12);
          const iface = sectionInterfaces[0];
          const origLen = this.u32(off + 8);
          capLen = Math.min(origLen, total - 16, iface !== undefined && iface.snapLen > 0 ? iface.snapLen : origLen);
        } else {
          hdr = 28;
          if (total < 32 || !this.src.ensure(off, 28)) {
            return this.fail('bad_record', `damaged capture: record ${packets + 1} at byte ${off} is ${total} bytes`, off, packets + 1);
          }
          ifId = type === PCAPNG_OPB_TYPE ? this.u16(off + 8) : this.u32(off + 8);
          capLen = this.u32(off + 20);
        }
        if (ifId >= sectionInterfaces.length) {
          r.packets = packets;
          return this.fail('unknown_interface',
            `damaged capture: record ${packets + 1} at byte ${off} names interface ${ifId}, but the section describes ${sectionInterfaces.length}`,
            off, packets + 1);
        }
        if (capLen > MAX_RECORD_CAPLEN) {
          r.packets = packets;
          return this.fail('bad_record',
            `damaged capture: record ${packets + 1} at byte ${off} claims ${capLen} captured bytes (more than ${MAX_RECORD_CAPLEN})`,
            off, packets + 1);
        }
        if (hdr + capLen + 4 > total) {
          r.packets = packets;
          return this.fail('bad_record',
            `damaged capture: record ${packets + 1} at byte ${off} claims ${capLen} captured bytes in a ${total}-byte block`,
            off, packets + 1);
        }
        packets++;
      }
      off += total;
    }
    r.packets = packets;
    if (r.problem !== null) return r;
    r.packetsBeforeProblem = packets;
    r.complete = true;
    return r;
  }

  /** Walks IDB options for if_tsresol (pcapng §4.2): high bit 0 → 10^-n s, 1 → 2^-n s. */
  private idbOptions(start: number, end: number, iface: CaptureInterface): void {
    let o = start;
    while (o + 4 <= end) {
      const code = this.u16(o);
      const len = this.u16(o + 2);
      if (code === 0) return;
      if (o + 4 + len > end) return;
      if (code === PCAPNG_OPT_IF_TSRESOL && len >= 1) {
        const v = this.src.buf[o + 4 - this.src.base]!;
        const exp = v & 0x7f;
        iface.tsUnitsPerSecond = (v & 0x80) !== 0 ? 2 ** exp : 10 ** exp;
      }
      o += 4 + ((len + 3) & ~3);
    }
  }
}

/**
 * Walks the capture file at `path`. Never throws: I/O problems come back as `unreadable`.
 * `headerOnly` stops a pcap file after its header (a pcapng is always walked: its interfaces
 * can disagree anywhere in the file).
 */
export function prescanCapture(path: string, options: { headerOnly?: boolean } = {}): PrescanResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return unreadable(path, err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return unreadable(path, Object.assign(new Error('is a directory'), { code: 'EISDIR' }));
    const headerOnly = options.headerOnly === true;
    return new Walk(path, new FileSource(fd, st.size, headerOnly ? 64 * 1024 : CHUNK_BYTES), headerOnly).run();
  } catch (err) {
    return unreadable(path, err);
  } finally {
    closeSync(fd);
  }
}

/** Walks a capture held in memory; `name` prefixes the messages. */
export function prescanBytes(bytes: Uint8Array, name: string): PrescanResult {
  return new Walk(name, new MemorySource(bytes)).run();
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a capture file',
  EPERM: 'permission denied',
};

function unreadable(path: string, err: unknown): PrescanResult {
  const code = (err as { code?: string } | null)?.code;
  const text = (code !== undefined ? ERRNO_TEXT[code] : undefined) ?? (err instanceof Error ? err.message : String(err));
  return {
    path, fileBytes: 0, format: null, bigEndian: false, linkTypes: [], linkType: null, interfaces: [],
    tsUnitsPerSecond: 1e6, packets: 0, packetsBeforeProblem: 0, complete: false, recordsWalked: true, recordHeaderBytes: 0,
    problem: { kind: 'unreadable', message: `${path}: ${text}`, offset: 0, record: 0 },
  };
}
