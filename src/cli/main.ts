#!/usr/bin/env node
// The pdmscope executable. ESM compiles a module's whole static import graph before running any
// of it, so this entry imports almost nothing: it starts the capture-file reader thread when the
// command will read a large file (its boot then overlaps the CLI's own start-up; for `analyze` it
// even starts reading), then loads the CLI (cli.ts) and its command.

import { statSync } from 'node:fs';
import { createRingBuffer } from '../capture/frame-ring.js';
import { isFatalProblem, prescanCapture } from '../capture/prescan.js';
import { prewarmReaderWorker, readerModeFromEnv, startSpeculativeRead, stopReaderThreads, WORKER_MIN_BYTES } from '../capture/reader-prewarm.js';
import { commandWord } from './commands/index.js';

/** Commands that read capture files through readCaptureFile. */
const FILE_READING_COMMANDS = new Set(['analyze', 'packets']);

/** The first word after the command naming an existing regular file, and its size; null when none. */
function firstFileNamed(argv: readonly string[], command: string): { path: string; bytes: number } | null {
  for (const a of argv.slice(argv.indexOf(command) + 1)) {
    try {
      const st = statSync(a, { throwIfNoEntry: false });
      if (st !== undefined && st.isFile()) return { path: a, bytes: st.size };
    } catch {
      // not a path
    }
  }
  return null;
}

/** Options of `analyze` that change how its files are read (filter, ESP): no speculative read with these. */
const READ_SHAPING_OPTION = /^--(no-)?(filter|esp)/;

function startReaderWorker(argv: readonly string[]): void {
  const command = commandWord(argv);
  if (command === undefined || !FILE_READING_COMMANDS.has(command)) return;
  const mode = readerModeFromEnv();
  if (mode === 'thread') return;
  // Option values are among these words too; a large file named by one (rare) only costs an idle
  // thread that the process does not wait for, or a read that is stopped unused.
  const first = firstFileNamed(argv, command);
  if (first === null || (mode === 'auto' && first.bytes < WORKER_MIN_BYTES)) {
    if (mode === 'worker') prewarmReaderWorker();
    return;
  }
  // analyze's first file without a filter or ESP keys: the worker starts reading it now, as the
  // command will ask it to (reader-prewarm.ts claims the read only if it asks for exactly this).
  const head = command === 'analyze' && !argv.some((a) => READ_SHAPING_OPTION.test(a) || a === '--help' || a === '-h')
    ? prescanCapture(first.path, { headerOnly: true }) : null;
  if (head === null || isFatalProblem(head.problem) || head.linkType === null) {
    prewarmReaderWorker();
    return;
  }
  startSpeculativeRead({
    sab: createRingBuffer(), path: first.path, filter: '', linkType: head.linkType, packetRecords: true,
    // What `analyze` asks for by default: the ESP-NULL heuristic, no keys (commands/common.ts).
    esp: { records: [], nullHeuristic: true, leaveEvery: 'adaptive' },
  });
}

startReaderWorker(process.argv.slice(2));
try {
  await import('./cli.js');
} catch (err) {
  // The CLI did not even load (a broken build or install). The reader thread started above must
  // not be inside libpcap when the process ends, or node aborts (cli.ts main() says why).
  const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  process.stderr.write(`pdmscope: cannot load the command line (${why}); rebuild with npm run setup\n`);
  await stopReaderThreads();
  process.exitCode = 2;
}
