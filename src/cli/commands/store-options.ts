// --db / --no-db / --samples / --append, and storing an analyze run.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Argv } from 'yargs';
import { UserError } from '../errors.js';
import { optionNeeds } from '../options.js';
import { TOOL_VERSION } from '../version.js';
import type { AnalysisResult } from './analyze.js';

export interface StoreArgs {
  /** false with --no-db */
  db: string | false;
  samples: boolean;
  append: boolean;
}

export function storeOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('db', { type: 'string', default: './pdmscope.db', describe: 'SQLite store for the run (--no-db: do not store)' })
    .option('samples', { type: 'boolean', default: false, describe: 'also store every delay sample and PSN event' })
    .option('append', { type: 'boolean', default: false, describe: 'keep an earlier run of the same files instead of replacing it' })
    .check(optionNeeds('samples', 'db', 'samples are kept in the database only'))
    .check(optionNeeds('append', 'db', 'it keeps earlier runs in the database'));
}

/**
 * Identity of a run: the files' contents (size + SHA-256 of the first and last MiB, fast on
 * gigabyte captures) and the options that change results.
 */
export function contentHash(files: readonly string[], options: Record<string, unknown>): string {
  const h = createHash('sha256');
  const MIB = 1 << 20;
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      const size = fstatSync(fd).size;
      h.update(`${size}\0`);
      const head = Buffer.alloc(Math.min(size, 2 * MIB));
      readSync(fd, head, 0, head.length, 0);
      h.update(head);
      if (size > 2 * MIB) {
        const tail = Buffer.alloc(MIB);
        readSync(fd, tail, 0, MIB, size - MIB);
        h.update(tail);
      }
    } finally {
      closeSync(fd);
    }
  }
  h.update(JSON.stringify(options));
  return h.digest('hex');
}

export async function storeAnalyzeRun(args: StoreArgs & { filter?: string; espSa?: string; espNull: boolean; allFlows: boolean; idleTimeout: string },
  files: readonly string[], result: AnalysisResult, startedMs: number): Promise<number> {
  if (args.db === false) throw new Error('storeAnalyzeRun without a database');
  // Loaded here, not at start-up: better-sqlite3 costs ~20 ms that `--no-db` runs never need.
  const { StoreError, openStore } = await import('../../sink/store.js');
  let store;
  try {
    store = openStore(args.db);
  } catch (err) {
    throw new UserError(err instanceof StoreError ? err.message : `${args.db}: ${(err as Error).message}`);
  }
  try {
    const hash = contentHash(files, { filter: args.filter ?? null, espSa: args.espSa ?? null, espNull: args.espNull, allFlows: args.allFlows, idleTimeout: args.idleTimeout });
    const r = store.writeRun({
      kind: 'analyze',
      started_at_us: startedMs * 1000,
      command: ['pdmscope', ...process.argv.slice(2)].join(' '),
      inputs: result.head.inputs,
      content_hash: hash,
      packets: result.head.packets,
      anomalies: result.head.anomalies,
      esp_no_sa_by_spi: result.head.esp_no_sa_by_spi,
      tool_version: TOOL_VERSION,
    }, result.flows, args.samples ? result.samples ?? [] : undefined, { append: args.append, ...(args.samples && result.psnEvents ? { psnEvents: result.psnEvents } : {}) });
    return r.run_id;
  } catch (err) {
    throw new UserError(err instanceof StoreError ? err.message : `${args.db}: ${(err as Error).message}`);
  } finally {
    store.close();
  }
}
