// Finished flow records of `analyze` kept in an unlinked temporary file instead of the heap, so
// that a capture of millions of flows holds at most about 2 × --max-flows flows in memory (the
// analyze output is ordered by PDM packets, so every ended flow waits for the end of the input).
//
// A record is its report as JSON, then its three serialized sketches:
//   u32 LE JSON bytes, then per sketch u32 LE (0: none, else bytes + 1), JSON, sketch bytes.
// The file is unlinked as soon as it is open: nothing is left behind, whatever ends the process.

import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowRecord, FlowSpill } from '../metrics/analyzer.js';

const HEADER_BYTES = 16;
const WRITE_BUFFER_BYTES = 1 << 20;
/** Bytes read at once: neighbouring records are often read in turn (one-packet flows, id order). */
const READ_WINDOW_BYTES = 1 << 16;

export class FlowSpillError extends Error {}

export class FileFlowSpill implements FlowSpill {
  private fd: number;
  private readonly dir: string;
  /** Bytes written to the file; the write buffer holds the bytes after them. */
  private flushedBytes = 0;
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private readonly header = Buffer.allocUnsafe(HEADER_BYTES);
  private buffered = 0;
  /** File offset of each record; a record ends where the next begins (or at `end`). */
  private readonly offsets: number[] = [];
  private end = 0;
  /** The bytes of the file from `windowAt` last read. */
  private window = Buffer.allocUnsafe(READ_WINDOW_BYTES);
  private windowAt = 0;
  private windowBytes = 0;

  /** Opens an anonymous file in `dir` (default: the OS temporary directory, $TMPDIR). */
  constructor(dir = tmpdir()) {
    this.dir = dir;
    let sub: string;
    try {
      sub = mkdtempSync(join(dir, 'pdmscope-flows-'));
    } catch (err) {
      throw new FlowSpillError(`cannot create a temporary file for ended flows in ${dir} (set TMPDIR): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const path = join(sub, 'flows');
    this.fd = openSync(path, 'w+', 0o600);
    unlinkSync(path);
    rmdirSync(sub);
  }

  get length(): number {
    return this.offsets.length;
  }

  put(record: FlowRecord): void {
    const json = Buffer.from(JSON.stringify(record.report), 'utf8');
    const { server_delay_ns: a, total_ns: b, rtd_ns: c } = record.sketches;
    const size = HEADER_BYTES + json.length + (a?.length ?? 0) + (b?.length ?? 0) + (c?.length ?? 0);
    const header = this.header;
    header.writeUInt32LE(json.length, 0);
    header.writeUInt32LE(a === null ? 0 : a.length + 1, 4);
    header.writeUInt32LE(b === null ? 0 : b.length + 1, 8);
    header.writeUInt32LE(c === null ? 0 : c.length + 1, 12);
    this.offsets.push(this.end);
    this.end += size;
    this.append(header);
    this.append(json);
    if (a !== null) this.append(a);
    if (b !== null) this.append(b);
    if (c !== null) this.append(c);
  }

  get(index: number): FlowRecord {
    const at = this.offsets[index];
    if (at === undefined) throw new RangeError(`flow spill: no record ${index} of ${this.offsets.length}`);
    if (this.fd < 0) throw new RangeError('flow spill: read after close');
    if (this.buffered > 0) this.flush();
    const size = (this.offsets[index + 1] ?? this.end) - at;
    if (at < this.windowAt || at + size > this.windowAt + this.windowBytes) this.readWindow(at, size, index);
    const bytes = this.window.subarray(at - this.windowAt, at - this.windowAt + size);
    const jsonBytes = bytes.readUInt32LE(0);
    let o = HEADER_BYTES + jsonBytes;
    const sketch = (field: number): Uint8Array | null => {
      const n = bytes.readUInt32LE(field);
      if (n === 0) return null;
      const out = new Uint8Array(bytes.subarray(o, o + n - 1));
      o += n - 1;
      return out;
    };
    const report = JSON.parse(bytes.toString('utf8', HEADER_BYTES, HEADER_BYTES + jsonBytes)) as FlowRecord['report'];
    return { report, sketches: { server_delay_ns: sketch(4), total_ns: sketch(8), rtd_ns: sketch(12) } };
  }

  /** Reads the file from `at` into the window: the record of `size` bytes there and what follows, as far as the window goes. */
  private readWindow(at: number, size: number, index: number): void {
    const want = Math.min(Math.max(size, READ_WINDOW_BYTES), this.end - at);
    if (want > this.window.length) this.window = Buffer.allocUnsafe(want);
    this.windowBytes = 0;
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, this.window, got, want - got, at + got);
      if (n === 0) throw new FlowSpillError(`temporary flow file in ${this.dir}: ended early at record ${index}`);
      got += n;
    }
    this.windowAt = at;
    this.windowBytes = want;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private append(bytes: Uint8Array): void {
    if (this.buffered + bytes.length > this.buffer.length) this.flush();
    if (bytes.length > this.buffer.length) {
      this.write(bytes);
      return;
    }
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.length;
  }

  private flush(): void {
    const n = this.buffered;
    this.buffered = 0;
    this.write(this.buffer.subarray(0, n));
  }

  private write(bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.flushedBytes + done);
    } catch (err) {
      throw new FlowSpillError(`cannot write the temporary file for ended flows in ${this.dir} (set TMPDIR): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this.flushedBytes += bytes.length;
  }
}
