// `pdmscope query`: read-only questions to the SQLite store. The database is opened read-only
// and never created; user input reaches SQL only as bound parameters (sort keys are whitelisted).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { EXIT_INPUT, EXIT_USAGE, UserError } from '../errors.js';
import { parseDurationNs as parseArgDurationNs } from '../units.js';
import type { SqlJob } from './query-sql-child.js';
import { formatIpv6, parseIpv6Address } from '../../wire/ipv6.js';
import { SORT_KEYS, StoreError, openStore, type MergedFlow, type Store, type StoredFlow } from '../../sink/store.js';
import { DIRECTIONS, METRICS, PSN_FIELDS, STAT_FIELDS } from '../../sink/store-schema.js';
import {
  formatDurationNs, formatTimestampUs, parseDurationNs, renderTable, toCsv, toJson,
} from '../../sink/store-format.js';
import type { DurationStats } from '../../metrics/types.js';

type Format = 'table' | 'json' | 'csv';

interface CommonArgs { db: string; format: Format }

function common<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('db', { type: 'string', default: './pdmscope.db', describe: 'SQLite store to read', requiresArg: true })
    .option('format', { choices: ['table', 'json', 'csv'] as const, default: 'table' as Format, describe: 'output format' }) as Argv<T & CommonArgs>;
}

function assertExists(dbPath: string): void {
  // better-sqlite3 would create a missing file; query never does.
  if (!existsSync(dbPath)) throw new UserError(`${dbPath}: no such database (run pdmscope analyze first, or pass --db)`);
}

/** Output of the command running in withStore, held until the store is known unchanged. */
let held: string[] | null = null;

function withStore(dbPath: string, fn: (store: Store) => void): void {
  assertExists(dbPath);
  let store: Store;
  try {
    store = openStore(dbPath, { readonly: true, oneShot: true });
  } catch (err) {
    if (err instanceof StoreError) throw new UserError(err.message);
    throw err;
  }
  held = [];
  try {
    fn(store);
    // A store read without locks (no writer had it open) must not have changed meanwhile.
    store.assertUnchanged();
    process.stdout.write(held.join(''));
  } catch (err) {
    if (err instanceof StoreError) {
      try { store.assertUnchanged(); } catch (changed) { throw new UserError((changed as Error).message); }
      throw new UserError(err.message);
    }
    throw err;
  } finally {
    held = null;
    store.close();
  }
}

function write(text: string): void {
  if (held !== null) held.push(text);
  else process.stdout.write(text);
}

// ---- runs -----------------------------------------------------------------------------------

const runsCommand: CommandModule<object, CommonArgs> = {
  command: 'runs',
  describe: 'list the stored runs',
  builder: (y) => common(y).example('$0 query runs --db capture.db', 'list runs'),
  handler: (args) => {
    withStore(args.db, (store) => {
      const runs = store.listRuns();
      if (args.format === 'json') { write(toJson({ schema: 'pdmscope.query.runs/1', runs })); return; }
      const headers = ['id', 'kind', 'status', 'started_at_us', 'finished_at_us', 'command', 'flow_count', 'sample_count', 'packets_total', 'content_hash', 'tool_version'];
      const rows = runs.map((r) => [r.id, r.kind, r.status, r.started_at_us, r.finished_at_us, r.command, r.flow_count, r.sample_count, r.packets.total ?? null, r.content_hash, r.tool_version]);
      if (args.format === 'csv') { write(toCsv(headers, rows)); return; }
      write(renderTable(
        ['id', 'kind', 'status', 'started', 'flows', 'samples', 'packets', 'command'],
        runs.map((r) => [String(r.id), r.kind, r.status, formatTimestampUs(r.started_at_us), String(r.flow_count), String(r.sample_count), String(r.packets.total ?? '-'), r.command]),
        new Set([0, 4, 5, 6]),
      ));
    });
  },
};

// ---- flows ----------------------------------------------------------------------------------

interface FlowsArgs extends CommonArgs {
  run?: number; latest?: boolean; addr?: string; port?: number; proto?: string;
  'min-rtd'?: string; sort: string; limit?: number; merge?: boolean;
}

/** Flattened column names: the analyze/1 JSON paths joined with '_' (the SQL column names). */
function flowCsvHeaders(merged: boolean): string[] {
  return [
    ...(merged ? ['run_ids', 'flow_ids'] : ['id', 'run_id', 'flow_index']),
    'proto', 'proto_num', 'initiator_addr', 'initiator_port', 'responder_addr', 'responder_port',
    'esp_placement', 'esp_spis', 'icmp_echo_id', 'first_ts_us', 'last_ts_us',
    ...DIRECTIONS.map((d) => `packets_${d}`), ...DIRECTIONS.map((d) => `pdm_packets_${d}`),
    ...METRICS.flatMap((m) => STAT_FIELDS.map((s) => `${m}_${s}`)),
    ...DIRECTIONS.flatMap((d) => PSN_FIELDS.map((p) => `psn_${d}_${p}`)),
    'pdm_sessions', 'findings',
  ];
}

function flowCsvRow(f: StoredFlow | MergedFlow): unknown[] {
  const ids = 'run_ids' in f ? [f.run_ids.join(' '), f.flow_ids.join(' ')] : [f.id, f.run_id, f.flow_index];
  return [
    ...ids, f.proto, f.proto_num, f.initiator.addr, f.initiator.port, f.responder.addr, f.responder.port,
    f.esp?.placement ?? null, f.esp ? f.esp.spis.join(' ') : null, f.icmp_echo_id ?? null, f.first_ts_us, f.last_ts_us,
    ...DIRECTIONS.map((d) => f.packets[d]), ...DIRECTIONS.map((d) => f.pdm_packets[d]),
    ...METRICS.flatMap((m) => STAT_FIELDS.map((s) => (f[m] as DurationStats)[s])),
    ...DIRECTIONS.flatMap((d) => PSN_FIELDS.map((p) => f.psn[d][p])),
    f.pdm_sessions, f.findings.length === 0 ? '' : JSON.stringify(f.findings),
  ];
}

function endpoint(e: { addr: string; port: number | null }): string {
  return e.port === null ? e.addr : `[${e.addr}]:${e.port}`;
}

function flowTable(flows: readonly (StoredFlow | MergedFlow)[]): string {
  const headers = ['id', 'run', 'proto', 'initiator', 'responder', 'pkts', 'srv p50', 'total p50', 'rtd n', 'rtd p50', 'rtd p90', 'rtd p99', 'rtd max', 'lost'];
  const rows = flows.map((f) => [
    'run_ids' in f ? f.flow_ids.join(',') : String(f.id),
    'run_ids' in f ? f.run_ids.join(',') : String(f.run_id),
    f.esp ? `${f.proto}/esp-${f.esp.placement}` : f.proto,
    endpoint(f.initiator), endpoint(f.responder),
    String(f.packets.initiator_to_responder + f.packets.responder_to_initiator),
    formatDurationNs(f.server_delay_ns.p50), formatDurationNs(f.total_ns.p50),
    String(f.rtd_ns.count), formatDurationNs(f.rtd_ns.p50), formatDurationNs(f.rtd_ns.p90),
    formatDurationNs(f.rtd_ns.p99), formatDurationNs(f.rtd_ns.max),
    String(f.psn.initiator_to_responder.lost + f.psn.responder_to_initiator.lost),
  ]);
  return renderTable(headers, rows, new Set([5, 6, 7, 8, 9, 10, 11, 12, 13]));
}

function canonicalAddr(text: string): string {
  const bytes = parseIpv6Address(text.trim().replace(/^\[|\]$/g, ''));
  // Not an IPv6 address: match it verbatim (it simply finds nothing).
  return bytes === null ? text : formatIpv6(bytes);
}

const flowsCommand: CommandModule<object, FlowsArgs> = {
  command: 'flows',
  describe: 'list stored flows with their delay statistics',
  builder: (y) => common(y)
    .option('run', { type: 'number', describe: 'only this run id', requiresArg: true })
    .option('latest', { type: 'boolean', describe: 'only the most recently stored run' })
    .option('addr', { type: 'string', describe: 'an address at either end', requiresArg: true })
    .option('port', { type: 'number', describe: 'a port at either end', requiresArg: true })
    .option('proto', { type: 'string', describe: 'protocol name or number (udp, tcp, 17)', requiresArg: true })
    .option('min-rtd', { type: 'string', describe: 'only flows whose median RTD is at least this (5ms, 250us, 1.5s)', requiresArg: true })
    .option('sort', { type: 'string', default: 'id', describe: `sort key: ${Object.keys(SORT_KEYS).join(', ')}`, requiresArg: true })
    .option('limit', { type: 'number', describe: 'at most N flows', requiresArg: true })
    .option('merge', { type: 'boolean', describe: 'combine the same flow key across runs (merged sketches)' })
    .conflicts('run', 'latest')
    .example('$0 query flows --latest --sort rtd_p99 --limit 10', 'the ten flows with the worst RTD p99 of the last run')
    .example('$0 query flows --addr 2001:db8::2 --port 443 --merge', 'one line per flow key across all runs')
    .example('$0 query flows --min-rtd 5ms --format csv', 'flows with a median RTD of 5 ms or more, as CSV'),
  handler: (args) => {
    let minRtdNs: number | undefined;
    if (args['min-rtd'] !== undefined) {
      const parsed = parseDurationNs(args['min-rtd']);
      if (parsed === null) throw new UserError(`--min-rtd: '${args['min-rtd']}' is not a duration (examples: 5ms, 250us, 1.5s, 100ns)`, EXIT_USAGE);
      if (parsed < 0) throw new UserError(`--min-rtd must be zero or positive, not '${args['min-rtd']}'`, EXIT_USAGE);
      minRtdNs = parsed;
    }
    if (SORT_KEYS[args.sort] === undefined) throw new UserError(`--sort: unknown key '${args.sort}'; one of: ${Object.keys(SORT_KEYS).join(', ')}`, EXIT_USAGE);
    for (const [name, v] of [['run', args.run], ['port', args.port], ['limit', args.limit]] as const) {
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) throw new UserError(`--${name}: expected a non-negative integer`, EXIT_USAGE);
    }
    if (args.limit === 0) throw new UserError('--limit: expected a positive integer', EXIT_USAGE);
    withStore(args.db, (store) => {
      const flows = store.queryFlows({
        runId: args.run, latest: args.latest, addr: args.addr === undefined ? undefined : canonicalAddr(args.addr),
        port: args.port, proto: args.proto, minRtdNs, sort: args.sort, limit: args.limit, merge: args.merge === true,
      });
      if (args.format === 'json') {
        write(toJson({ schema: 'pdmscope.query.flows/1', merged: args.merge === true, flows }));
      } else if (args.format === 'csv') {
        write(toCsv(flowCsvHeaders(args.merge === true), flows.map(flowCsvRow)));
      } else {
        write(flowTable(flows));
      }
    });
  },
};

// ---- samples --------------------------------------------------------------------------------

interface SamplesArgs extends CommonArgs { flow: number; metric?: string; limit?: number }

const SAMPLE_METRICS = ['server_delay', 'total', 'rtd', 'reverse_server_delay', 'reverse_total', 'reverse_rtd'] as const;

const samplesCommand: CommandModule<object, SamplesArgs> = {
  command: 'samples',
  describe: "a flow's delay samples in time order (stored with analyze --samples or live)",
  builder: (y) => common(y)
    .option('flow', { type: 'number', demandOption: true, describe: 'flow id (from query flows)', requiresArg: true })
    .option('metric', { choices: SAMPLE_METRICS, describe: 'only this metric' })
    .option('limit', { type: 'number', describe: 'at most N samples', requiresArg: true })
    .example('$0 query samples --flow 12 --metric rtd --format csv', "flow 12's RTD samples as CSV") as Argv<SamplesArgs>,
  handler: (args) => {
    if (!(Number.isSafeInteger(args.flow) && args.flow >= 0)) throw new UserError('--flow: expected a flow id', EXIT_USAGE);
    if (args.limit !== undefined && !(Number.isSafeInteger(args.limit) && args.limit > 0)) throw new UserError('--limit: expected a positive integer', EXIT_USAGE);
    withStore(args.db, (store) => {
      if (store.getFlow(args.flow) === null) throw new UserError(`no flow with id ${args.flow} in ${args.db}`);
      const samples = store.querySamples({ flowId: args.flow, metric: args.metric, limit: args.limit });
      if (args.format === 'json') { write(toJson({ schema: 'pdmscope.query.samples/1', flow_id: args.flow, samples })); return; }
      const headers = ['ts_us', 'metric', 'value_ns', 'psn', 'frame'];
      if (args.format === 'csv') { write(toCsv(headers, samples.map((s) => [s.ts_us, s.metric, s.value_ns, s.psn, s.frame]))); return; }
      write(renderTable(['time', 'metric', 'value', 'psn', 'frame'],
        samples.map((s) => [formatTimestampUs(s.ts_us), s.metric, formatDurationNs(s.value_ns), String(s.psn), String(s.frame)]),
        new Set([2, 3, 4])));
    });
  },
};

// ---- sql ------------------------------------------------------------------------------------

interface SqlArgs extends CommonArgs { statement: string; timeout: string }

const DEFAULT_SQL_TIMEOUT = '10s';
/** Node timers fire at once beyond 2^31-1 ms (~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

function sqlTimeoutMs(text: string): number {
  const ms = parseArgDurationNs(text, 's', '--timeout') / 1e6;
  if (!(ms > 0)) throw new UserError(`--timeout: expected a positive duration (e.g. 10s, 2m, 1h), got '${text}'`, EXIT_USAGE);
  if (ms > MAX_TIMER_MS) throw new UserError(`--timeout: '${text}' is too long; at most 596h`, EXIT_USAGE);
  return ms;
}

const CHILD = fileURLToPath(new URL('./query-sql-child.js', import.meta.url));
const KEEP_CHARS = 4096;

/**
 * Runs the statement in a child process (query-sql-child.ts says why) that writes the rows
 * straight to this process's stdout, and kills it when the time limit expires.
 */
function runSqlChild(job: SqlJob, timeoutMs: number, timeoutText: string): Promise<void> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'pipe', 'pipe'] });
  const collect = (stream: NodeJS.ReadableStream | null | undefined): { text: string } => {
    const box = { text: '' };
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => { if (box.text.length < KEEP_CHARS) box.text += chunk; });
    return box;
  };
  const stderr = collect(child.stderr);
  const message = collect(child.stdio[3] as NodeJS.ReadableStream | null);
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  // A signal that ends this process ends the query too (Ctrl-C reaches both anyway).
  const signals = ['SIGTERM', 'SIGHUP', 'SIGINT'] as const;
  const onSignal = (sig: NodeJS.Signals): void => {
    child.kill('SIGKILL');
    for (const s of signals) process.removeListener(s, onSignal);
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.on(s, onSignal);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      for (const s of signals) process.removeListener(s, onSignal);
      if (err === null) resolve(); else reject(err);
    };
    child.once('error', (err) => done(new UserError(`query sql: cannot start the query process (${err.message})`)));
    child.once('close', (code, signal) => {
      if (timedOut) {
        done(new UserError(`query sql: stopped after ${timeoutText.trim()}, the --timeout limit (give a longer one, e.g. --timeout 2m, for a bigger query)`));
        return;
      }
      if (code === 0) { done(null); return; }
      const firstLine = (t: string): string => t.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
      const why = firstLine(message.text) || `query sql: the query process failed (${signal ?? `exit ${code}`}${firstLine(stderr.text) ? `: ${firstLine(stderr.text)}` : ''})`;
      done(new UserError(why, EXIT_INPUT));
    });
  });
}

const sqlCommand: CommandModule<object, SqlArgs> = {
  command: 'sql <statement>',
  describe: 'run one read-only SQL query (tables: runs, flows, samples, psn_events)',
  builder: (y) => common(y)
    .positional('statement', { type: 'string', demandOption: true, describe: 'a SELECT (or other read-only) statement' })
    .option('timeout', { type: 'string', default: DEFAULT_SQL_TIMEOUT, describe: 'stop the query after this long, writing its output included (500ms, 30s, 2m, 1h)', requiresArg: true })
    .example('$0 query sql "SELECT proto, count(*) FROM flows GROUP BY proto"', 'flows per protocol')
    .example('$0 query sql "SELECT * FROM samples" --format csv --timeout 5m > samples.csv', 'a big export: rows stream out') as Argv<SqlArgs>,
  handler: async (args) => {
    const timeoutMs = sqlTimeoutMs(args.timeout);
    assertExists(args.db);
    await runSqlChild({ db: args.db, sql: args.statement, format: args.format }, timeoutMs, args.timeout);
  },
};

export const queryCommand: CommandModule<object, object> = {
  command: 'query',
  describe: 'read-only questions to the SQLite store: runs, flows, samples, SQL',
  builder: (y) => y
    .command(runsCommand)
    .command(flowsCommand)
    .command(samplesCommand)
    .command(sqlCommand)
    .demandCommand(1, 'name a query: runs, flows, samples or sql')
    .example('$0 query runs', 'list stored runs')
    .example('$0 query flows --latest --sort rtd_p99 --limit 10', 'worst RTD p99 flows of the last run'),
  handler: () => {},
};

export default queryCommand;
