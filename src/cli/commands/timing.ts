// The timing set-up `send` and `reflect` share: SCHED_FIFO (or its refusal note), warm-up, GC
// pacing (src/send/latency.ts), with the command's resources released when it cannot go on.

import { RealtimeRefusedError, type TimingSetup, setUpTiming } from '../../send/latency.js';
import { warmUpExchange } from '../../send/warm-up.js';
import { UserError } from '../errors.js';

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
