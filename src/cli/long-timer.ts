// Timers for durations a user types (`live --duration 720h`, `--flush-interval`, `send --interval`).
// Node's setTimeout/setInterval take at most 2^31-1 ms (about 24.8 days): a longer delay becomes
// 1 ms with a TimeoutOverflowWarning, so `live --duration 720h` stopped at once (issue 16). Here a
// wait is a deadline on the monotonic clock, reached by a chain of timers of at most MAX_TIMER_MS
// that each measure again what is left (a timer also fires a little early or late).

/** The longest delay one Node timer honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The clock and timers used; tests give their own. */
export interface TimerHost {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const NODE_TIMERS: TimerHost = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface LongTimer {
  /** Nothing more is called after this. */
  cancel(): void;
}

/**
 * Calls `fn` once, `ms` milliseconds from now, for any finite `ms`: never sooner (never at once
 * for a long one), however many Node timers that takes.
 */
export function afterMs(ms: number, fn: () => void, host: TimerHost = NODE_TIMERS): LongTimer {
  if (!Number.isFinite(ms)) throw new RangeError(`a timer needs a finite delay, not ${ms} ms`);
  let cancelled = false;
  let handle: unknown = null;
  const deadline = host.now() + Math.max(0, ms);
  const wake = (): void => {
    handle = null;
    if (cancelled) return;
    const leftMs = deadline - host.now();
    if (leftMs > 0) {
      handle = host.setTimeout(wake, Math.min(Math.ceil(leftMs), MAX_TIMER_MS));
      return;
    }
    fn();
  };
  handle = host.setTimeout(wake, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  return {
    cancel: () => {
      cancelled = true;
      if (handle !== null) host.clearTimeout(handle);
      handle = null;
    },
  };
}

/**
 * Calls `fn` every `ms` milliseconds (> 0, finite) until cancelled. Each call is due a whole
 * interval after the previous one was due, so intervals longer than one Node timer stay exact and
 * shorter ones do not drift.
 */
export function everyMs(ms: number, fn: () => void, host: TimerHost = NODE_TIMERS): LongTimer {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`a repeating timer needs a positive finite interval, not ${ms} ms`);
  let cancelled = false;
  let current: LongTimer | null = null;
  let dueMs = host.now();
  const next = (): void => {
    dueMs += ms;
    // Behind by a whole interval (a call that ran long): the next one a full interval from now,
    // as setInterval does, rather than a burst of calls to catch up.
    if (dueMs < host.now()) dueMs = host.now() + ms;
    current = afterMs(dueMs - host.now(), () => {
      if (cancelled) return;
      fn();
      if (!cancelled) next();
    }, host);
  };
  next();
  return {
    cancel: () => {
      cancelled = true;
      current?.cancel();
    },
  };
}
