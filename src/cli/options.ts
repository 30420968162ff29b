// What a command line's options may say together, checked in one place for every command (cli.ts
// and the command builders use these). yargs alone turns a repeated option into an array that
// fails later as an internal error (`--db x.db --no-db` gave "x.db,false: Expected first argument
// to be a string"), lets the last of `--x --no-x` win silently, ignores an option whose partner is
// switched off (`--samples --no-db`), and reads `--delay -5ms` as the flags -5, -m and -s. Here:
// - every option is given at most once: a second value, or `--x` with `--no-x`, is a usage error
//   naming the option (no "last one wins": a command line that says two things is a mistake);
// - an option that only acts with another one switched on is refused without it (optionNeeds);
// - durations are options of their own kind (durationOption): the value is always the next word,
//   so `-5ms` reaches the parser, which refuses negative, zero (where that means nothing) and
//   too long durations in words.

import type { Options } from 'yargs';
import { EXIT_USAGE, UserError } from './errors.js';
import { parseDurationNs } from './units.js';

/** The parts of yargs' getOptions() the checks read. */
export interface DeclaredOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  boolean: string[];
  array: string[];
  count?: string[];
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Every name an option answers to (aliases, camelCase spellings) → its long kebab-case name. */
function optionNames(options: DeclaredOptions): Map<string, string> {
  const names = new Map<string, string>();
  const longest = (group: string[]): string => group.reduce((a, b) => (kebab(b).length > kebab(a).length ? b : a));
  for (const [key, aliases] of Object.entries(options.alias)) {
    const group = [key, ...aliases];
    const canonical = kebab(longest(group));
    for (const n of group) if (!names.has(kebab(n))) names.set(kebab(n), canonical);
  }
  for (const key of Object.keys(options.key)) if (!names.has(kebab(key))) names.set(kebab(key), kebab(key));
  return names;
}

/** A word that is an option's value rather than an option: not dashed, or a negative number/duration. */
function looksLikeValue(word: string): boolean {
  return !word.startsWith('-') || /^-\.?\d/.test(word);
}

/**
 * Refuses an option given twice (`--format json --format csv`, `-q --quiet`) or with its negation
 * (`--db x.db --no-db`, `--realtime --no-realtime`): one line naming the option, exit 1. `words`
 * are the command line as typed; `options` the running command's (yargs getOptions()). Options
 * declared as arrays may repeat; words after `--` are not options.
 */
export function checkOptionsGivenOnce(words: readonly string[], options: DeclaredOptions): void {
  const names = optionNames(options);
  const booleans = new Set([...options.boolean, ...(options.count ?? [])].map((n) => names.get(kebab(n)) ?? kebab(n)));
  const repeatable = new Set([...options.array, ...(options.count ?? [])].map((n) => names.get(kebab(n)) ?? kebab(n)));
  const seen = new Map<string, { negated: boolean }>();
  const note = (option: string, negated: boolean): void => {
    if (repeatable.has(option)) return;
    const before = seen.get(option);
    if (before === undefined) {
      seen.set(option, { negated });
      return;
    }
    if (before.negated !== negated) {
      throw new UserError(`--${option} and --no-${option} contradict each other: give one of them`, EXIT_USAGE);
    }
    throw new UserError(`--${option} is given more than once: give it once`, EXIT_USAGE);
  };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') break;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = kebab(word.slice(2, eq < 0 ? undefined : eq));
      let option = names.get(name);
      let negated = false;
      if (option === undefined && name.startsWith('no-')) {
        option = names.get(name.slice(3));
        negated = option !== undefined;
      }
      if (option === undefined) continue; // not this command's: yargs' strict mode names it
      note(option, negated);
      // `--opt value`: the value is not an option (yargs takes a dashed word only as a number, or
      // for options that require their value, which durationOption declares).
      if (eq < 0 && !negated && !booleans.has(option) && i + 1 < words.length && looksLikeValue(words[i + 1]!)) i++;
    } else if (word.startsWith('-') && word.length > 1 && !looksLikeValue(word)) {
      // -q, -qc 5, -c5, -i eth0: letters until one takes a value (the rest of the word, or the next word)
      const letters = word.slice(1).split('=')[0]!;
      for (let j = 0; j < letters.length; j++) {
        const option = names.get(letters[j]!);
        if (option === undefined) break;
        note(option, false);
        if (!booleans.has(option)) {
          if (j === letters.length - 1 && !word.includes('=') && i + 1 < words.length && looksLikeValue(words[i + 1]!)) i++;
          break;
        }
      }
    }
  }
}

/**
 * A yargs check (`.check(optionNeeds('samples', 'db', why))`): `option` only acts when `needed` is
 * switched on (`--samples` stores samples in the database: nothing to do with `--no-db`); given
 * without it, a usage error says so rather than the option being ignored. An option counts as
 * given when its value is neither undefined nor false, so it must have no default other than false.
 */
export function optionNeeds(option: string, needed: string, why: string): (argv: Record<string, unknown>) => true {
  return (argv) => {
    const given = argv[option];
    if (given === undefined || given === false) return true;
    const partner = argv[needed];
    if (partner === false) throw new UserError(`--${option} cannot be used with --no-${needed}: ${why}`, EXIT_USAGE);
    if (partner === undefined) throw new UserError(`--${option} needs --${needed}: ${why}`, EXIT_USAGE);
    return true;
  };
}

export interface DurationSpec {
  describe: string;
  /** The option's default, as the user would write it. */
  default?: string;
  /** The unit of a bare number (`5` → 5 s by default). */
  defaultUnit?: string;
  /** True when 0 means something (no delay, no wait); otherwise the duration must be positive. */
  zero?: boolean;
  /** The longest value the option allows (`10s`), below the general limit of parseDurationNs. */
  max?: string;
}

/** The duration `text` of option `name` in ns, checked as durationOption checks it: a usage error otherwise. */
export function durationArgNs(text: string, name: string, spec: Pick<DurationSpec, 'defaultUnit' | 'zero' | 'max'> = {}): number {
  const ns = parseDurationNs(text, spec.defaultUnit ?? 's', `--${name}`);
  const tooShort = spec.zero === true ? ns < 0 : !(ns > 0);
  const tooLong = spec.max !== undefined && ns > parseDurationNs(spec.max);
  if (tooShort || tooLong) {
    const range = spec.max === undefined ? (spec.zero === true ? 'zero or positive' : 'positive')
      : spec.zero === true ? `0..${spec.max}` : `above 0 and at most ${spec.max}`;
    throw new UserError(`--${name} must be ${range}, not '${text}'`, EXIT_USAGE);
  }
  return ns;
}

/**
 * The yargs declaration of a duration option (`.option('idle-timeout', durationOption(...))`:
 * `5ms`, `250us`, `1.5s`, `2m`, `720h`). Its value is always the next word, so `--delay -5ms` is
 * read as the value -5ms and refused as negative instead of as the flags -5, -m and -s; the value
 * is checked (durationArgNs) while yargs parses, before the command runs. The option stays the
 * text the user gave; handlers read it with durationArgNs.
 */
export function durationOption(name: string, spec: DurationSpec): Options {
  return {
    type: 'string', requiresArg: true, describe: spec.describe,
    ...(spec.default !== undefined ? { default: spec.default } : {}),
    coerce: (value: unknown) => {
      // A repeated option (an array) is named by checkOptionsGivenOnce.
      if (typeof value === 'string') durationArgNs(value, name, spec);
      return value;
    },
  };
}
