#!/usr/bin/env node
// pdmscope command line. Data on stdout, progress and diagnostics on stderr; errors are one
// line with a non-zero exit (EXIT_USAGE for bad arguments, EXIT_INPUT for bad input or I/O).

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { COMMANDS } from './commands/index.js';
import { EXIT_USAGE, UserError, oneLine, reportError } from './errors.js';

export async function main(argv: string[]): Promise<number> {
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
      // yargs calls this for usage errors (msg) and for errors thrown by handlers (err).
      if (err) throw err;
      throw new UserError(msg, EXIT_USAGE);
    });
  for (const command of COMMANDS) cli.command(command);
  try {
    await cli.parseAsync();
  } catch (err) {
    exitCode = reportError(err);
  }
  return exitCode || (process.exitCode as number | undefined) || 0;
}

main(hideBin(process.argv)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.stderr.write(`pdmscope: ${oneLine(err)}\n`); process.exitCode = 2; },
);
