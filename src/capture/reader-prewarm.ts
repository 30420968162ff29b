// A capture-file reader thread started before it is needed. A worker takes ~100 ms here to boot
// and load its modules (native-notes/node_pcap.md #13); started first thing by the CLI, that
// overlaps the main thread's own start-up (yargs and the command's modules, ~0.2 s) instead of
// following it. The idle worker does not load node_pcap until it is given a read (a
// ReaderWorkerData message), so the main thread stays free to load the addon itself, and it is
// unref'd, so an unused one never keeps the process alive.
//
// For `analyze` on a large file the worker may even start the read itself (a speculative read,
// `startSpeculativeRead`): the file's packets then go into the ring while the main thread is
// still loading yargs and the command. The read is used only if the command asks for exactly
// that read (claimSpeculativeRead); otherwise it is stopped and waited for before any other read
// begins, so node_pcap is never held by two threads (native-notes/node_pcap.md §3.5).
//
// Light on purpose: the CLI imports this before anything else.

import { Worker } from 'node:worker_threads';

import type { ReaderWorkerData } from './offline.js';
import { FrameRingReader } from './frame-ring.js';

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

/** A read the idle worker was given before anyone asked for it, and the promise of its thread's end. */
interface SpeculativeRead {
  worker: Worker;
  data: ReaderWorkerData;
  exited: Promise<void>;
}

let speculative: SpeculativeRead | null = null;

/**
 * Gives the idle worker (started now if there is none) the packet-record read `data` at once.
 * Its records wait in the ring (the writer blocks when it is full) until claimSpeculativeRead.
 */
export function startSpeculativeRead(data: ReaderWorkerData): void {
  if (speculative !== null) return;
  prewarmReaderWorker();
  const worker = idle!;
  idle = null;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage(data);
  speculative = { worker, data, exited };
}

/** True while a speculative read started and no read has claimed or cancelled it. */
export function speculativeReadPending(): boolean {
  return speculative !== null;
}

/**
 * The speculative read when it is exactly `wanted` (path, filter, link type, packet records, ESP
 * without keys and the same ESP-NULL choice): the caller then owns its worker (ref'd again) and
 * reads its ring. Otherwise (or `wanted` null: a read in this thread) the speculative read is
 * stopped and its thread waited for, and null is returned.
 */
export async function claimSpeculativeRead(wanted: Omit<ReaderWorkerData, 'sab'> | null):
  Promise<{ worker: Worker; sab: SharedArrayBuffer; exited: Promise<void> } | null> {
  const s = speculative;
  if (s === null) return null;
  speculative = null;
  s.worker.ref(); // unref'd while unclaimed: the wait below must keep the process alive
  if (wanted !== null && sameRead(s.data, wanted)) return { worker: s.worker, sab: s.data.sab, exited: s.exited };
  new FrameRingReader(s.data.sab).stop();
  await s.exited;
  return null;
}

/**
 * Ends the reader threads this module started that no read took, and waits for them: called on
 * the CLI's way out (cli.ts), whatever ends the command (a usage error, --help, --version, a
 * failed handler). A worker still inside libpcap's dispatch when the process exits is torn down
 * in the middle of node_pcap's packet callback, and node aborts (exit 134 with a native stack of
 * PcapSession::PacketReady; issue 16). The speculative read is stopped through its ring and its
 * thread waited for; the idle worker has not loaded node_pcap and is simply terminated.
 */
export async function stopReaderThreads(): Promise<void> {
  await claimSpeculativeRead(null);
  const unused = takePrewarmedReaderWorker();
  if (unused !== null) await unused.terminate();
}

function sameRead(a: Omit<ReaderWorkerData, 'sab'>, b: Omit<ReaderWorkerData, 'sab'>): boolean {
  return a.path === b.path && a.filter === b.filter && a.linkType === b.linkType &&
    a.packetRecords && b.packetRecords && keylessEsp(a.esp) !== null && keylessEsp(a.esp) === keylessEsp(b.esp);
}

/** What a read without ESP keys does with ESP ('none', or the ESP-NULL choice); null with keys. */
function keylessEsp(esp: ReaderWorkerData['esp']): string | null {
  if (esp === null) return 'none';
  return esp.records.length === 0 ? `null heuristic ${esp.nullHeuristic}` : null;
}
