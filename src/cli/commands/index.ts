// Every command the CLI knows; one module per command, loaded only when it is needed.
//
// Each command module pulls in its whole pipeline (decoder, analyzer, SQLite, sender...), and
// ESM start-up is mostly compiling modules: loading all seven costs ~60 ms that `analyze`
// never uses. So the command named on the command line is loaded alone; anything else (no
// command, --help, --version, a typo yargs should correct) loads them all.
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandModule<any, any>;

const LOADERS: Record<string, () => Promise<AnyCommand>> = {
  analyze: async () => (await import('./analyze.js')).analyzeCommand,
  packets: async () => (await import('./packets.js')).packetsCommand,
  query: async () => (await import('./query.js')).queryCommand,
  live: async () => (await import('./live.js')).liveCommand,
  report: async () => (await import('./report.js')).reportCommand,
  send: async () => (await import('./send.js')).sendCommand,
  reflect: async () => (await import('./reflect.js')).reflectCommand,
};

/** Every command name, in the order `--help` lists them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(LOADERS);

/**
 * The command these arguments name, or undefined: their first word that is not an option
 * (pdmscope has no global option that takes a value, so that word is the command).
 */
export function commandWord(argv: readonly string[]): string | undefined {
  const first = argv.find((a) => !a.startsWith('-'));
  return first !== undefined && Object.hasOwn(LOADERS, first) ? first : undefined;
}

/** The commands yargs needs for these arguments: only the named one, else all of them. */
export async function commandsFor(argv: readonly string[]): Promise<AnyCommand[]> {
  const named = commandWord(argv);
  const only = named !== undefined ? [named] : COMMAND_NAMES;
  return Promise.all(only.map((name) => LOADERS[name]!()));
}
