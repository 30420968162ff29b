// Buffered, synchronous output. Offline reads drain a whole file in one macrotask
// (native-notes/node_pcap.md §3.3), so asynchronous writes would pile the entire output up in memory; writing through
// fs.writeSync in 64 KiB chunks keeps memory flat. A closed pipe (`| head`) ends quietly.

import { writeSync } from 'node:fs';
import { reportError } from './errors.js';

const CHUNK_CHARS = 1 << 16;

export class LineWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingChars = 0;
  /** True once the reader has gone away (EPIPE, or ECONNRESET on a socket); further writes are dropped. */
  closed = false;

  constructor(fd = 1) {
    this.fd = fd;
  }

  write(text: string): void {
    if (this.closed) return;
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= CHUNK_CHARS) this.flush();
  }

  line(text: string): void {
    this.write(text + '\n');
  }

  flush(): void {
    if (this.pendingChars === 0 || this.closed) return;
    const data = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingChars = 0;
    let off = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.fd, data, off, data.length - off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue; // a non-blocking pipe that is full: try again
        // A pipe's reader gone is EPIPE; stdout may also be a socket (a parent that spawned us with
        // Node's 'pipe' stdio gets a socket pair), whose closed peer can show as ECONNRESET.
        if (code === 'EPIPE' || code === 'ECONNRESET') { this.closed = true; return; }
        throw err;
      }
    }
  }
}

export const stdout = new LineWriter(1);

/**
 * Runs a command that must end the process itself (node_pcap's live handle outlives close(),
 * native-notes/node_pcap.md #9): flushes stdout and exits with its code, or with the error's after one line.
 */
export async function runThenExit(run: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await run();
  } catch (err) {
    stdout.flush();
    process.exit(reportError(err));
  }
  stdout.flush();
  process.exit(code);
}
