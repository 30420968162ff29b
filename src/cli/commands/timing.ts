// The timing `send` and `reflect` share: the --realtime option, then SCHED_FIFO (or its refusal
// note), warm-up and GC pacing (src/send/latency.ts), with the command's resources released when
// it cannot go on.

import {
  DEFAULT_RT_PRIORITY, RealtimeRefusedError, type TimingSetup, parseRealtimeOption, setUpTiming,
} from '../../send/latency.js';
import { warmUpExchange } from '../../send/warm-up.js';
import { EXIT_USAGE, UserError } from '../errors.js';

export const REALTIME_DESCRIBE = `SCHED_FIFO priority 1..99 for all threads (bare --realtime: ${DEFAULT_RT_PRIORITY}); ` +
  'on by default when permitted (root or CAP_SYS_NICE), with a note when refused; --no-realtime: the default scheduler';

/** --realtime as parsed, or a one-line usage error. */
export function realtimeArg(value: string | boolean | undefined): { priority: number; explicit: boolean } | null {
  try {
    return parseRealtimeOption(value);
  } catch (err) {
    throw new UserError((err as Error).message, EXIT_USAGE);
  }
}

/**
 * Sets up timing for a command about to send; an explicit `--realtime` the system refuses is a
 * one-line UserError after `release()` has closed what the command opened. The refusal note of
 * the default (best-effort) request goes to stderr unless `quiet`.
 */
export function setUpCommandTiming(realtime: Parameters<typeof setUpTiming>[0], quiet: boolean, release: () => void): TimingSetup {
  let timing: TimingSetup;
  try {
    timing = setUpTiming(realtime, () => warmUpExchange());
  } catch (err) {
    release();
    throw err instanceof RealtimeRefusedError ? new UserError(err.message) : err;
  }
  if (timing.note !== null && !quiet) process.stderr.write(`pdmscope: ${timing.note}\n`);
  return timing;
}
