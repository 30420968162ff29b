// pdmscope command line (main.ts starts it). Data on stdout, progress and diagnostics on stderr;
// errors are one line with a non-zero exit (EXIT_USAGE for bad arguments, EXIT_INPUT for bad input or I/O).

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { stopReaderThreads } from '../capture/reader-prewarm.js';
import { commandsFor } from './commands/index.js';
import { EXIT_USAGE, UserError, oneLine, reportError } from './errors.js';
import { checkOptionsGivenOnce, type DeclaredOptions } from './options.js';

export async function main(argv: string[]): Promise<number> {
  try {
    return await runCli(argv);
  } finally {
    // The one way out of the CLI: no reader thread main.ts started may still be inside libpcap
    // when the process ends, or node aborts (reader-prewarm.ts stopReaderThreads).
    await stopReaderThreads();
  }
}

async function runCli(argv: string[]): Promise<number> {
  let exitCode = 0;
  const cli = yargs(argv)
    .scriptName('pdmscope')
    .locale('en')
    .wrap(100)
    .strict()
    .demandCommand(1, 'name a command: pdmscope <command> --help')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs calls this for usage errors (msg, with its own YError or the parser's Error for
      // some: "Not enough arguments following", an option's coerce) and for errors thrown by
      // handlers (err). Usage errors exit 1 whichever way they come.
      if (err instanceof UserError) throw err;
      if (err && msg !== null && msg !== undefined) throw new UserError(msg, EXIT_USAGE);
      if (err) throw err;
      throw new UserError(msg, EXIT_USAGE);
    })
    // Every command: an option given twice, or with its --no- form, is a usage error (options.ts).
    .check((_args, options) => {
      checkOptionsGivenOnce(argv, options as unknown as DeclaredOptions);
      return true;
    }, true);
  for (const command of await commandsFor(argv)) cli.command(command);
  skipHelpCaching(cli);
  try {
    await cli.parseAsync();
  } catch (err) {
    exitCode = reportError(err);
  }
  return exitCode || (process.exitCode as number | undefined) || 0;
}

/**
 * yargs renders the whole help text of a command each time it runs one, in case the handler
 * fails later (usage.js cacheHelpMessage); measuring every string's width is ~30 ms of every
 * run. pdmscope never shows help after a handler error (fail() above rethrows it for a one-line
 * message), so that render is dropped. See native-notes/yargs.md.
 */
function skipHelpCaching(cli: unknown): void {
  const internal = (cli as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } })
    .getInternalMethods?.().getUsageInstance?.();
  if (internal !== undefined && typeof internal.cacheHelpMessage === 'function') internal.cacheHelpMessage = () => {};
}

main(hideBin(process.argv)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.stderr.write(`pdmscope: ${oneLine(err)}\n`); process.exitCode = 2; },
);
