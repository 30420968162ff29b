// Keeping the sender and the reflector on time on a busy host: real-time scheduling, and
// garbage collection at moments of our choosing instead of at a deadline.
//
// Measured on the development host (native-notes/cap.md §6): with two CPU hogs on two cores, a
// timer of 3 ms fired p90 4.2 ms / max 28 ms late under the default scheduler, p90 0.19 ms /
// max 2 ms late at SCHED_FIFO; replies of `reflect --delay 5ms` left up to 40 ms late. A young
// generation collection that starts during the busy wait before a deadline, or a full one
// (6 ms here), makes the reply late the same way.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * SCHED_FIFO priority by default: above every ordinary task, below the kernel's threaded
 * interrupt handlers (50) so that the network interrupts we wait for still preempt us.
 */
export const DEFAULT_RT_PRIORITY = 40;

/** SCHED_FIFO is policy 1 (sched(7)). */
const SCHED_FIFO = 1;

/**
 * Puts every thread of this process at SCHED_FIFO `priority` (1..99) with `chrt -a -f -p`, as
 * `chrt -f` would for ptp4l or cyclictest. Threads started later inherit it (pthreads'
 * default PTHREAD_INHERIT_SCHED). Returns null, or a one-line reason it was refused.
 */
export function enterRealtime(priority: number): string | null {
  const r = spawnSync('chrt', ['-a', '-f', '-p', String(priority), String(process.pid)], { encoding: 'utf8', timeout: 5000 });
  if (r.error !== undefined) {
    return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'chrt (util-linux) is not installed' : `chrt: ${r.error.message}`;
  }
  if (r.status !== 0) {
    const why = (r.stderr ?? '').trim().split('\n').pop() ?? '';
    return why.length > 0 ? why : `chrt exited with ${r.status}`;
  }
  const policy = schedPolicy(process.pid);
  if (policy !== null && policy.policy !== SCHED_FIFO) return `chrt ran but the policy is still ${policy.policy}`;
  return null;
}

/** Scheduling policy and real-time priority of a task from /proc (proc(5): fields 41, 40); null if unreadable. */
export function schedPolicy(pid: number): { policy: number; rtPriority: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces and parentheses) start at field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rtPriority = Number(rest[40 - 3]);
    const policy = Number(rest[41 - 3]);
    if (!Number.isInteger(policy) || !Number.isInteger(rtPriority)) return null;
    return { policy, rtPriority };
  } catch {
    return null;
  }
}

/**
 * Parses --realtime: undefined (not given: on when permitted), false (--no-realtime), '' or
 * 'true' (on, default priority), or a priority 1..99. Returns the priority and whether the
 * user asked for it explicitly, null when off; throws a message for anything else.
 */
export function parseRealtimeOption(value: string | boolean | undefined): { priority: number; explicit: boolean } | null {
  if (value === undefined) return { priority: DEFAULT_RT_PRIORITY, explicit: false };
  if (value === false || value === 'false' || value === 'off' || value === 'no') return null;
  if (value === true || value === '' || value === 'true' || value === 'on') return { priority: DEFAULT_RT_PRIORITY, explicit: true };
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 99) throw new Error(`--realtime takes a SCHED_FIFO priority 1..99, not '${String(value)}'`);
  return { priority: n, explicit: true };
}

export type GcFunction = (options?: { type?: 'minor' | 'major' }) => void;

/**
 * The V8 `gc` function, as --expose-gc would give it; null if V8 refuses. Setting the flag at
 * run time is enough for a fresh context to see `gc` (node:v8 setFlagsFromString).
 */
export function exposeGc(): GcFunction | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('typeof gc === "function" ? gc : null') as GcFunction | null;
    return typeof gc === 'function' ? gc : null;
  } catch {
    return null;
  }
}

/** No collection is started when something is due sooner than this (a minor one took 0.3 to 0.6 ms here). */
export const GC_QUIET_NS = 3_000_000n;
/** At most one paced young generation collection per this interval. */
const MINOR_GAP_NS = 20_000_000n;

/**
 * Collects the young generation when the caller says nothing is due for a while, so that V8
 * rarely needs to collect on its own while a timed send is waiting: per-packet garbage (decoded
 * packets, frames, strings) fills it at a few kB per packet.
 */
export class GcPacer {
  private readonly gc: GcFunction | null;
  private lastMinorNs: bigint | null = null;
  /** Collections started, for reports. */
  minor = 0;

  constructor(gc: GcFunction | null) {
    this.gc = gc;
  }

  get enabled(): boolean { return this.gc !== null; }

  /** A full collection, before the work starts (startup garbage would be promoted otherwise). */
  full(): void {
    this.gc?.({ type: 'major' });
  }

  /**
   * Called after a timed send. `nextDueNs` is the next deadline (null: none known); nothing is
   * collected when it is closer than GC_QUIET_NS.
   */
  idle(nowNs: bigint, nextDueNs: bigint | null): void {
    if (this.gc === null) return;
    if (nextDueNs !== null && nextDueNs - nowNs < GC_QUIET_NS) return;
    if (this.lastMinorNs !== null && nowNs - this.lastMinorNs < MINOR_GAP_NS) return;
    this.lastMinorNs = nowNs;
    this.minor++;
    this.gc({ type: 'minor' });
  }
}

export class RealtimeRefusedError extends Error {}

export interface TimingSetup {
  /** 'SCHED_FIFO 40', or 'default' when not real-time. */
  readonly scheduling: string;
  /** One line for stderr when real-time scheduling was wanted by default but refused. */
  readonly note: string | null;
  readonly gc: GcPacer;
}

/**
 * Prepares a process that sends on time: compiles the packet paths (warm-up.ts), enters
 * SCHED_FIFO as `realtime` says (parseRealtimeOption), exposes the garbage collector and
 * collects the startup garbage. Throws RealtimeRefusedError when real-time scheduling was asked
 * for explicitly and refused; when it was only the default, returns a note instead.
 */
export function setUpTiming(realtime: { priority: number; explicit: boolean } | null, warmUp: () => unknown): TimingSetup {
  warmUp();
  let scheduling = 'default';
  let note: string | null = null;
  if (realtime !== null) {
    const refused = enterRealtime(realtime.priority);
    if (refused === null) scheduling = `SCHED_FIFO ${realtime.priority}`;
    else if (realtime.explicit) throw new RealtimeRefusedError(`--realtime: SCHED_FIFO ${realtime.priority} refused (${refused}); needs root or CAP_SYS_NICE and a real-time budget`);
    else note = `running without real-time scheduling (${refused}); on a loaded host packets may leave late. --no-realtime silences this`;
  }
  const gc = new GcPacer(exposeGc());
  gc.full();
  return { scheduling, note, gc };
}
