#!/usr/bin/env node
// The pdmscope executable. ESM compiles a module's whole static import graph before running any
// of it, so this entry imports almost nothing: it starts the capture-file reader thread when the
// command will read a large file (its boot then overlaps the CLI's own start-up), then loads the
// CLI (cli.ts) and its command.

import { statSync } from 'node:fs';
import { prewarmReaderWorker, readerModeFromEnv, WORKER_MIN_BYTES } from '../capture/reader-prewarm.js';
import { commandWord } from './commands/index.js';

/** Commands that read capture files through readCaptureFile. */
const FILE_READING_COMMANDS = new Set(['analyze', 'packets']);

function wantsReaderWorker(argv: readonly string[]): boolean {
  const command = commandWord(argv);
  if (command === undefined || !FILE_READING_COMMANDS.has(command)) return false;
  const mode = readerModeFromEnv();
  if (mode === 'thread') return false;
  if (mode === 'worker') return true;
  // Option values are among these words too; a large file named by one (rare) only costs an idle
  // thread that the process does not wait for.
  return argv.some((a) => {
    try {
      const st = statSync(a, { throwIfNoEntry: false });
      return st !== undefined && st.isFile() && st.size >= WORKER_MIN_BYTES;
    } catch {
      return false;
    }
  });
}

if (wantsReaderWorker(process.argv.slice(2))) prewarmReaderWorker();
await import('./cli.js');
