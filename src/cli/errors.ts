// User-facing failures: one line on stderr, a non-zero exit, never a stack trace.
// Exit codes (docs/architecture.md §5): 1 usage, 2 input/capture/IO error.

export const EXIT_USAGE = 1;
export const EXIT_INPUT = 2;

export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_INPUT) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Turns any thrown value into the one-line message the user sees. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // yargs spreads usage errors over lines ("Invalid values:\n  Argument: ..."): keep them all.
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0).join(' ');
}

/** Prints the one-line error (the stack too with PDMSCOPE_DEBUG) and returns the exit code. */
export function reportError(err: unknown): number {
  process.stderr.write(`pdmscope: ${oneLine(err)}\n`);
  if (!(err instanceof UserError) && process.env.PDMSCOPE_DEBUG) console.error(err);
  return err instanceof UserError ? err.exitCode : EXIT_INPUT;
}
