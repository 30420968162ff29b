// `--max-flows N` of analyze and live: the flow table's bound (metrics/analyzer.ts DEFAULT_MAX_FLOWS).

import type { Argv } from 'yargs';
import { DEFAULT_MAX_FLOWS } from '../../metrics/analyzer.js';
import { EXIT_USAGE, UserError } from '../errors.js';

export interface MaxFlowsArgs {
  maxFlows: number;
}

export function maxFlowsOption<T>(y: Argv<T>): Argv<T & MaxFlowsArgs> {
  return y.option('max-flows', {
    type: 'number', default: DEFAULT_MAX_FLOWS, requiresArg: true,
    describe: 'flows open at once; when full, the least recently seen flow ends early (as if idle)',
  }) as unknown as Argv<T & MaxFlowsArgs>;
}

/** The bound, or a usage error naming the option. */
export function maxFlowsFromArgs(args: MaxFlowsArgs): number {
  const n = args.maxFlows;
  if (!(Number.isSafeInteger(n) && n >= 1)) throw new UserError(`--max-flows must be a whole number ≥ 1, got ${String(n)}`, EXIT_USAGE);
  return n;
}
