// A capture-file reader thread started before it is needed. A worker takes ~100 ms here to boot
// and load its modules (native-notes/node_pcap.md #13); started first thing by the CLI, that
// overlaps the main thread's own start-up (yargs and the command's modules, ~0.2 s) instead of
// following it. The idle worker does not load node_pcap until it is given a read (a
// ReaderWorkerData message), so the main thread stays free to load the addon itself, and it is
// unref'd, so an unused one never keeps the process alive.
//
// Light on purpose: the CLI imports this before anything else.

import { Worker } from 'node:worker_threads';

/** Below this size a worker's start-up (tens of ms) costs more than it saves. */
export const WORKER_MIN_BYTES = 8 * 1024 * 1024;

/** PDMSCOPE_READER: `thread` or `worker` forces where libpcap reads files; anything else is auto. */
export function readerModeFromEnv(): 'auto' | 'thread' | 'worker' {
  const env = process.env['PDMSCOPE_READER'];
  return env === 'thread' || env === 'worker' ? env : 'auto';
}

export const READER_WORKER_URL = new URL('./reader-worker.js', import.meta.url);

let idle: Worker | null = null;

/** Starts an idle reader worker unless one is waiting already. */
export function prewarmReaderWorker(): void {
  if (idle !== null) return;
  const worker = new Worker(READER_WORKER_URL, { workerData: null });
  worker.unref();
  // Until it is taken, a failure only means the read starts a worker of its own.
  worker.on('error', () => {});
  worker.once('exit', () => { if (idle === worker) idle = null; });
  idle = worker;
}

/** The idle worker, now owned by the caller (ref'd again), or null when there is none. */
export function takePrewarmedReaderWorker(): Worker | null {
  const worker = idle;
  idle = null;
  worker?.ref();
  return worker;
}
