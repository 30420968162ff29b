// A progress line on stderr, only when stderr is a terminal. Offline reads run in one
// macrotask, so it is drawn synchronously from the packet loop, at most five times a second.

import { writeSync } from 'node:fs';

export class Progress {
  private readonly files: readonly string[];
  private lastDrawMs = 0;
  private drawn = false;

  constructor(files: readonly string[]) {
    this.files = files;
  }

  update(fileIndex: number, packets: number): void {
    const now = Date.now();
    if (now - this.lastDrawMs < 200) return;
    this.lastDrawMs = now;
    const name = this.files[fileIndex] ?? '';
    const label = this.files.length > 1 ? `[${fileIndex + 1}/${this.files.length}] ` : '';
    writeSync(2, `\r${label}${name}: ${packets.toLocaleString('en-US')} packets\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) writeSync(2, '\r\x1b[K');
  }
}
