// The SQLite store (better-sqlite3 12.x; native-notes/better-sqlite3.md): one file holds every run of analyze,
// live and send, their flows with stats and mergeable sketches, and optionally their samples.
// WAL + synchronous=NORMAL so readers never block the writer; each run is written in ONE
// transaction (a crash leaves earlier runs intact and no half run), live capture flushes in
// short transactions of its own. All SQL built from user input binds parameters; sort keys
// come from a whitelist.

import { closeSync, existsSync, openSync, readSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { QuantileSketch, statsFromSketch } from '../metrics/sketch.js';
import {
  type DurationStats, EMPTY_STATS, type EspInfo, type Finding, type FlowReport, type FlowSketches, type InputReport,
  type PsnCounters, type PsnEvent, type Sample,
} from '../metrics/types.js';
import type { AnomalyCounts } from '../decode/anomalies.js';
import {
  APPLICATION_ID, DIRECTIONS, FLOW_COLUMNS, METRICS, MIGRATIONS, PSN_FIELDS, STAT_FIELDS,
  type Migration, type StoredMetric,
} from './store-schema.js';
import { SAMPLE_METRICS, SampleColumns } from './sample-columns.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
type Db = BetterSqlite3.Database;
type Stmt = BetterSqlite3.Statement;

/** A store failure the user can act on; its message is one line that names the file. */
export class StoreError extends Error {}

export type RunKind = 'analyze' | 'live' | 'send';

export interface RunMeta {
  kind: RunKind;
  started_at_us: number;
  /** Defaults to the time of writing for writeRun; set by finish() for live runs. */
  finished_at_us?: number | null;
  /** The command line that produced the run. */
  command: string;
  inputs: readonly InputReport[] | readonly Record<string, unknown>[];
  /** Identifies the inputs and options; a run with the same hash replaces the earlier one. null: never replaced. */
  content_hash: string | null;
  packets: Record<string, number>;
  anomalies: AnomalyCounts | Record<string, number>;
  esp_no_sa_by_spi?: Record<string, number>;
  tool_version: string;
}

export interface FlowToStore {
  report: FlowReport;
  sketches: FlowSketches;
}

/** A run's flows: an array, or the analyzer's FinishedFlows that builds each record as it is read. */
export type FlowsToStore = Iterable<FlowToStore> & { readonly length: number };

export interface WriteRunOptions {
  /** Keep an earlier run with the same content hash instead of replacing it. */
  append?: boolean;
  psnEvents?: Iterable<PsnEvent>;
}

export interface WriteRunResult {
  run_id: number;
  /** Ids of the earlier runs this one replaced (same content hash). */
  replaced_run_ids: number[];
  flows: number;
  samples: number;
  psn_events: number;
}

export interface RunRow {
  id: number;
  kind: RunKind;
  status: 'complete' | 'in_progress';
  started_at_us: number;
  finished_at_us: number | null;
  command: string;
  inputs: unknown[];
  content_hash: string | null;
  packets: Record<string, number>;
  anomalies: Record<string, number>;
  esp_no_sa_by_spi: Record<string, number>;
  tool_version: string;
  flow_count: number;
  sample_count: number;
}

/** A stored flow: the analyze/1 flow report plus its store ids. */
export interface StoredFlow extends FlowReport {
  id: number;
  run_id: number;
}

/** Flows of several runs with one key, combined by merging their sketches. */
export interface MergedFlow extends Omit<FlowReport, 'flow_index'> {
  run_ids: number[];
  flow_ids: number[];
}

export const SORT_KEYS: Record<string, { column: string; descending: boolean }> = (() => {
  const keys: Record<string, { column: string; descending: boolean }> = {
    id: { column: 'id', descending: false },
    first_ts: { column: 'first_ts_us', descending: false },
    last_ts: { column: 'last_ts_us', descending: true },
    packets: { column: '(packets_initiator_to_responder + packets_responder_to_initiator)', descending: true },
    pdm_packets: { column: '(pdm_packets_initiator_to_responder + pdm_packets_responder_to_initiator)', descending: true },
    lost: { column: '(psn_initiator_to_responder_lost + psn_responder_to_initiator_lost)', descending: true },
  };
  for (const m of METRICS) {
    for (const s of STAT_FIELDS) keys[`${m.replace(/_ns$/, '')}_${s}`] = { column: `${m}_${s}`, descending: true };
  }
  return keys;
})();
export type SortKey = keyof typeof SORT_KEYS;

export interface FlowQuery {
  runId?: number;
  /** Only the most recently stored run (highest id). Ignored when runId is given. */
  latest?: boolean;
  /** Matches either end. */
  addr?: string;
  /** Matches either end. */
  port?: number;
  /** A name ('udp') or an IP protocol number ('17'). */
  proto?: string;
  /** Flows whose median RTD (rtd_ns.p50) is at least this. */
  minRtdNs?: number;
  /** A key of SORT_KEYS; metrics sort worst first with missing values last. */
  sort?: string;
  limit?: number;
  /** Combine flows with the same key across the selected runs by merging their sketches. */
  merge?: boolean;
}

export interface StoredSample {
  ts_us: number;
  metric: Sample['metric'];
  value_ns: number | null;
  psn: number;
  frame: number;
}

export interface SqlResult {
  columns: string[];
  rows: unknown[][];
}

/** A statement's column names and its rows, read one at a time (nothing is buffered). */
export interface SqlRows {
  columns: string[];
  /** Its return() ends the statement early (the connection closes only when none is running). */
  rows: Generator<unknown[], void, undefined>;
}

export interface LiveTotals {
  packets?: Record<string, number>;
  anomalies?: Record<string, number>;
  esp_no_sa_by_spi?: Record<string, number>;
  inputs?: readonly InputReport[] | readonly Record<string, unknown>[];
}

export interface LiveBatch extends LiveTotals {
  flows?: readonly FlowToStore[];
  samples?: Iterable<Sample>;
  psnEvents?: Iterable<PsnEvent>;
}

export interface LiveRun {
  readonly runId: number;
  /** Inserts or updates flows by flow_index; its own transaction. */
  upsertFlows(flows: readonly FlowToStore[]): void;
  /** Samples of flows already upserted; its own transaction. */
  appendSamples(samples: Iterable<Sample>): number;
  appendPsnEvents(events: Iterable<PsnEvent>): number;
  /** Flows, samples, events and running totals in one short transaction. */
  flush(batch: LiveBatch): void;
  /** Marks the run complete with its final totals. */
  finish(summary: LiveTotals & { finished_at_us?: number }): void;
}

export interface OpenOptions {
  readonly?: boolean;
  /** Refuse to create a missing file (always true when readonly). */
  mustExist?: boolean;
  /**
   * With readonly, for a command that reads once and ends (query, report): create no file
   * next to the store and work in a directory it cannot write (readonlyTarget). When no writer
   * has the store open this reads the file as it was at opening and never sees later commits;
   * check assertUnchanged before trusting what was read. A reader that stays open uses plain
   * readonly instead.
   */
  oneShot?: boolean;
  /** How long to wait for another process's lock before failing (default 5000 ms). */
  busyTimeoutMs?: number;
  /** For migration tests only: the migrations to apply instead of the built-in ones. */
  migrations?: readonly Migration[];
}

/** Page size of a new store file. */
export const PAGE_SIZE = 16_384;
/** Rows per multi-VALUES statement for bulk tables (native-notes/better-sqlite3.md §4). */
const BULK_ROWS = 100;
const SAMPLE_COLUMNS = ['run_id', 'flow_id', 'ts_us', 'metric', 'value_ns', 'psn', 'frame', 'seq'];
/** Rows per samples INSERT. */
const SAMPLE_BULK_ROWS = 500;
const PSN_EVENT_COLUMNS = ['run_id', 'flow_id', 'ts_us', 'direction', 'kind', 'count', 'psn', 'frame'];

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim();
}

function translateOpenError(path: string, err: unknown): StoreError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB') return new StoreError(`${path}: not an SQLite database`);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreError(`${path}: database is locked by another process; try again when it has finished`);
  }
  if (code === 'SQLITE_CANTOPEN') return new StoreError(`${path}: cannot open database (${describe(err)})`);
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY')) {
    return new StoreError(`${path}: database is read-only here (${describe(err)})`);
  }
  if (code.startsWith('SQLITE_CORRUPT')) return new StoreError(`${path}: database is corrupt (${describe(err)})`);
  return new StoreError(`${path}: ${describe(err)}`);
}

/**
 * URI file names (needed for `immutable`, see readonlyTarget) are off in better-sqlite3's SQLite
 * build (SQLITE_USE_URI=0) unless the SQLITE_USE_URI environment variable is "1" when its addon
 * loads (better-sqlite3 src/addon.cpp, read once per process). The addon loads at the first
 * `new Database`, so the variable is set around that first construction only, then restored; the
 * probe says whether it took (a program embedding pdmscope may have loaded the addon before).
 */
let uriNames: boolean | null = null;
function uriNamesEnabled(): boolean {
  if (uriNames !== null) return uriNames;
  const before = process.env.SQLITE_USE_URI;
  process.env.SQLITE_USE_URI = '1';
  try {
    // With URIs off this is a relative file name that fileMustExist never creates.
    new Database('file:pdmscope-uri-probe?mode=memory', { fileMustExist: true }).close();
    uriNames = true;
  } catch {
    uriNames = false;
  } finally {
    if (before === undefined) delete process.env.SQLITE_USE_URI;
    else process.env.SQLITE_USE_URI = before;
  }
  return uriNames;
}

/** A path as SQLite must be given it once URI names are on: `file:x.db` stays a file name. */
function sqliteName(path: string): string {
  return uriNamesEnabled() && path.startsWith('file:') ? `./${path}` : path;
}

/** What identifies a file's contents for assertUnchanged: a checkpoint changes mtime and ctime. */
function fileStamp(path: string): string | null {
  let st: BigIntStats | undefined;
  try { st = statSync(path, { bigint: true, throwIfNoEntry: false }); } catch { return null; }
  return st === undefined ? null : `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** True when the file's header says WAL (file format versions 2 at offsets 18 and 19). */
function walHeader(path: string): boolean {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return false; }
  try {
    const head = Buffer.alloc(100);
    return readSync(fd, head, 0, 100, 0) === 100 && head.toString('latin1', 0, 16) === 'SQLite format 3\0' && head[18] === 2 && head[19] === 2;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * The name to open a store read-only by, without side effects. SQLite reads a WAL database
 * through its -wal and -shm files and creates them when they are missing, even on a read-only
 * connection: that leaves files next to the store, and fails (SQLITE_READONLY_DIRECTORY) in a
 * directory the reader cannot write. No -wal file means no connection has the store open (the
 * last one to close checkpoints and deletes it) and the main file holds every commit, so it is
 * read `immutable` (no locks, no -wal/-shm, www.sqlite.org/uri.html). A -wal file means a writer
 * such as `live` is running (or crashed): the ordinary read-only connection uses the existing
 * -wal and -shm (a read-only -shm is enough since SQLite 3.22, www.sqlite.org/wal.html,
 * "Read-Only Databases"), sees the latest commit and creates nothing. Immutable is only safe
 * while nobody writes, so the file's stamp is kept: a writer that starts meanwhile changes the
 * main file only when it checkpoints, which assertUnchanged detects. (A -wal file left without
 * its -shm still needs a directory the reader can write.)
 */
function readonlyTarget(path: string): { name: string; stamp: string | null } {
  const name = sqliteName(path);
  let real: string;
  try { real = realpathSync(path); } catch { return { name, stamp: null }; }
  // SQLite names the -wal after the file a symbolic link points to, so the checks do too.
  if (!uriNamesEnabled() || existsSync(`${real}-wal`) || existsSync(`${real}-journal`) || !walHeader(real)) return { name, stamp: null };
  const stamp = fileStamp(real);
  const uri = `file:${real.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?immutable=1`;
  return { name: uri, stamp };
}

export function openStore(path: string, options: OpenOptions = {}): Store {
  const readonly = options.readonly === true;
  const target = readonly && options.oneShot === true ? readonlyTarget(path) : { name: sqliteName(path), stamp: null };
  let db: Db;
  try {
    db = new Database(target.name, {
      readonly,
      fileMustExist: readonly || options.mustExist === true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_CANTOPEN') return failMissing(path, err);
    throw translateOpenError(path, err);
  }
  try {
    prepareConnection(db, path, readonly, options.migrations ?? MIGRATIONS);
  } catch (err) {
    db.close();
    throw err instanceof StoreError ? err : translateOpenError(path, err);
  }
  return new Store(db, path, readonly, target.stamp);
}

function failMissing(path: string, err: unknown): never {
  throw new StoreError(`${path}: no such database (${describe(err)})`);
}

function prepareConnection(db: Db, path: string, readonly: boolean, migrations: readonly Migration[]): void {
  // The first read of the header detects a non-database file (SQLITE_NOTADB) and a lock.
  const version = db.pragma('user_version', { simple: true }) as number;
  const appId = db.pragma('application_id', { simple: true }) as number;
  const known = migrations.length;
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new StoreError(`${path}: an SQLite database of another application (application_id 0x${(appId >>> 0).toString(16)})`);
  }
  if (version > known) {
    throw new StoreError(`${path}: schema version ${version} is newer than this pdmscope knows (${known}); upgrade pdmscope`);
  }
  if (version === 0) {
    const tables = db.prepare(`SELECT count(*) FROM sqlite_schema WHERE type = 'table'`).pluck().get() as number;
    if (tables > 0) throw new StoreError(`${path}: an SQLite database but not a pdmscope store`);
    if (readonly) throw new StoreError(`${path}: not a pdmscope store (empty database)`);
  }
  if (readonly) {
    if (version < known) {
      throw new StoreError(`${path}: schema version ${version} is older than ${known}; open it once with a writing command to upgrade`);
    }
    db.pragma('query_only = ON');
    return;
  }
  if (version === 0) {
    // Fixed when the first page is written (a store made with another size keeps it): 16 KiB
    // pages cut the B-tree work of bulk sample inserts by ~15-20% over 4 KiB (measured: 1.8M
    // rows, 1.9 → 1.6 s CPU) and suit the scans of an analysis store.
    db.pragma(`page_size = ${PAGE_SIZE}`);
  }
  // WAL: readers and the writer do not block each other (native-notes/better-sqlite3.md §3); NORMAL: durable at
  // checkpoints, never corrupt, and no fsync per transaction.
  const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
  if (mode.toLowerCase() !== 'wal' && path !== ':memory:') {
    throw new StoreError(`${path}: cannot switch to WAL journal mode (got ${mode})`);
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  for (let v = version; v < known; v++) {
    const step = migrations[v]!;
    db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const now = db.pragma('user_version', { simple: true }) as number;
      if (now !== v) return;
      step(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

function statsParams(stats: DurationStats | undefined): unknown[] {
  const s = stats ?? EMPTY_STATS;
  return STAT_FIELDS.map((f) => (f === 'count' ? s.count : finiteOrNull(s[f])));
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function blob(bytes: Uint8Array | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function flowParams(runId: number, flow: FlowToStore): unknown[] {
  const r = flow.report;
  return [
    runId, r.flow_index, r.proto, r.proto_num,
    r.initiator.addr, r.initiator.port, r.responder.addr, r.responder.port,
    r.esp?.placement ?? null, r.esp === null || r.esp === undefined ? null : JSON.stringify(r.esp.spis),
    r.icmp_echo_id ?? null, r.first_ts_us, r.last_ts_us,
    ...DIRECTIONS.map((d) => r.packets[d]),
    ...DIRECTIONS.map((d) => r.pdm_packets[d]),
    ...METRICS.flatMap((m) => statsParams(r[m])),
    ...DIRECTIONS.flatMap((d) => PSN_FIELDS.map((p) => r.psn[d][p])),
    r.pdm_sessions, JSON.stringify(r.findings ?? []), r.reverse === undefined ? null : JSON.stringify(r.reverse),
    ...METRICS.map((m) => blob(flow.sketches[m])),
  ];
}

type Row = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : (v as number);
}

/**
 * Builds a decoder from raw result rows (arrays, stmt.raw(true)) to flow reports. Column
 * positions are resolved once per statement: better-sqlite3's row objects with ~60 keys cost
 * far more (dictionary-mode objects, a key string per access) when reading 100k flows.
 */
function flowDecoder(columns: readonly string[]): (values: readonly unknown[]) => StoredFlow {
  const at = (name: string): number => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`store: column ${name} missing from the flow query`);
    return i;
  };
  const c = {
    id: at('id'), run_id: at('run_id'), flow_index: at('flow_index'), proto: at('proto'), proto_num: at('proto_num'),
    initiator_addr: at('initiator_addr'), initiator_port: at('initiator_port'),
    responder_addr: at('responder_addr'), responder_port: at('responder_port'),
    esp_placement: at('esp_placement'), esp_spis: at('esp_spis'), icmp_echo_id: at('icmp_echo_id'),
    first_ts_us: at('first_ts_us'), last_ts_us: at('last_ts_us'),
    pdm_sessions: at('pdm_sessions'), findings: at('findings'), reverse: at('reverse'),
  };
  const packets = DIRECTIONS.map((d) => at(`packets_${d}`));
  const pdmPackets = DIRECTIONS.map((d) => at(`pdm_packets_${d}`));
  const stats = METRICS.map((m) => STAT_FIELDS.map((f) => at(`${m}_${f}`)));
  const psn = DIRECTIONS.map((d) => PSN_FIELDS.map((p) => at(`psn_${d}_${p}`)));
  const real = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number));
  const statsOf = (row: readonly unknown[], k: number): DurationStats => {
    const [count, min, mean, max, p50, p90, p99] = stats[k]!;
    if (!num(row[count!])) return { ...EMPTY_STATS };
    return { count: num(row[count!]), min: real(row[min!]), mean: real(row[mean!]), max: real(row[max!]), p50: real(row[p50!]), p90: real(row[p90!]), p99: real(row[p99!]) };
  };
  const psnOf = (row: readonly unknown[], k: number): PsnCounters => {
    const [lost, reordered, duplicates, restarts] = psn[k]!;
    return { lost: num(row[lost!]), reordered: num(row[reordered!]), duplicates: num(row[duplicates!]), restarts: num(row[restarts!]) };
  };
  return (row) => {
    const placement = row[c.esp_placement] as EspInfo['placement'] | null;
    const flow: StoredFlow = {
      id: num(row[c.id]),
      run_id: num(row[c.run_id]),
      flow_index: num(row[c.flow_index]),
      proto: row[c.proto] as string,
      proto_num: num(row[c.proto_num]),
      initiator: { addr: row[c.initiator_addr] as string, port: (row[c.initiator_port] as number | null) ?? null },
      responder: { addr: row[c.responder_addr] as string, port: (row[c.responder_port] as number | null) ?? null },
      esp: placement === null ? null : { placement, spis: parseJson<number[]>(row[c.esp_spis], []) },
      packets: { initiator_to_responder: num(row[packets[0]!]), responder_to_initiator: num(row[packets[1]!]) },
      pdm_packets: { initiator_to_responder: num(row[pdmPackets[0]!]), responder_to_initiator: num(row[pdmPackets[1]!]) },
      first_ts_us: num(row[c.first_ts_us]),
      last_ts_us: num(row[c.last_ts_us]),
      server_delay_ns: statsOf(row, 0),
      total_ns: statsOf(row, 1),
      rtd_ns: statsOf(row, 2),
      reverse: row[c.reverse] === null
        ? { server_delay_ns: { ...EMPTY_STATS }, total_ns: { ...EMPTY_STATS }, rtd_ns: { ...EMPTY_STATS } }
        : parseJson<FlowReport['reverse']>(row[c.reverse], { server_delay_ns: { ...EMPTY_STATS }, total_ns: { ...EMPTY_STATS }, rtd_ns: { ...EMPTY_STATS } }),
      psn: { initiator_to_responder: psnOf(row, 0), responder_to_initiator: psnOf(row, 1) },
      pdm_sessions: num(row[c.pdm_sessions]),
      findings: parseJson<Finding[]>(row[c.findings], []),
    };
    const echo = row[c.icmp_echo_id];
    if (echo !== null && echo !== undefined) flow.icmp_echo_id = num(echo);
    return flow;
  };
}

/** Runs a flow SELECT in raw mode and decodes each row; `each` also gets the raw values and column index. */
function selectFlows(stmt: Stmt, params: readonly unknown[]): { flows: StoredFlow[]; rows: unknown[][]; columns: string[] } {
  stmt.raw(true);
  const columns = stmt.columns().map((col) => col.name);
  const decode = flowDecoder(columns);
  const rows = stmt.all(params) as unknown[][];
  return { flows: rows.map(decode), rows, columns };
}

function parseJson<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string') return fallback;
  try { return JSON.parse(text) as T; } catch { return fallback; }
}

/** Bulk inserter: a fixed multi-VALUES statement of `rows` rows plus a one-row statement for the tail. */
class BulkInsert {
  private readonly many: Stmt;
  private readonly one: Stmt;
  private readonly width: number;
  private readonly rows: number;
  /** Values of the rows being gathered, row after row in column order; see slot(). */
  readonly buffer: unknown[];
  private filled = 0;
  inserted = 0;

  constructor(db: Db, table: string, columns: readonly string[], rows = BULK_ROWS) {
    this.width = columns.length;
    this.rows = rows;
    const row = `(${columns.map(() => '?').join(', ')})`;
    const head = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `;
    this.many = db.prepare(head + Array.from({ length: rows }, () => row).join(', '));
    this.one = db.prepare(head + row);
    this.buffer = new Array<unknown>(this.width * rows);
  }

  /** Call with the row's values in column order. */
  push(values: readonly unknown[]): void {
    const base = this.slot();
    for (let i = 0; i < this.width; i++) this.buffer[base + i] = values[i];
    this.commit();
  }

  /** Where the next row's values go in `buffer`; write all of them, then commit(). */
  slot(): number {
    return this.filled * this.width;
  }

  commit(): void {
    if (++this.filled === this.rows) {
      this.many.run(this.buffer);
      this.filled = 0;
      this.inserted += this.rows;
    }
  }

  finish(): number {
    for (let r = 0; r < this.filled; r++) this.one.run(this.buffer.slice(r * this.width, (r + 1) * this.width));
    this.inserted += this.filled;
    this.filled = 0;
    const n = this.inserted;
    this.inserted = 0;
    return n;
  }
}

export interface SampleOrder {
  /** Sample indices (into the SampleColumns) in insert order. */
  order: Uint32Array;
  /**
   * Group g = rank * SAMPLE_METRICS.length + metric code holds order[groupStart[g]] up to
   * order[groupStart[g + 1]]: the samples of flow flowIdByRank[rank] and metric SAMPLE_METRICS[code].
   */
  groupStart: Uint32Array;
  /** The flow ids of the batch, ascending. */
  flowIdByRank: number[];
}

/**
 * The order in which to insert a batch of samples: by flow id, metric (byte order of the name)
 * and time, ties in arrival order, which is the samples table's key order. A counting sort on
 * (flow, metric) keeps arrival order within each group, and arrival order is time order within
 * one capture file; only a group that is not (several files, live batches) is sorted by time.
 */
export function sampleInsertOrder(columns: SampleColumns, flowIds: ReadonlyMap<number, number>): SampleOrder {
  const n = columns.length;
  const flowIndex = columns.flowIndex;
  // A dense flow_index → slot table where indices are small (they count flows), else a Map.
  let maxIndex = 0;
  for (let i = 0; i < n; i++) if (flowIndex[i]! > maxIndex) maxIndex = flowIndex[i]!;
  const dense = maxIndex < 4 * flowIds.size + 65_536 ? new Int32Array(maxIndex + 1).fill(-1) : null;
  const sparse = dense === null ? new Map<number, number>() : null;
  const slotFlowId: number[] = [];
  const slotOfSample = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const index = flowIndex[i]!;
    let slot = dense !== null ? dense[index]! : (sparse!.get(index) ?? -1);
    if (slot < 0) {
      slot = slotFlowId.length;
      slotFlowId.push(flowIdOf(flowIds, index, 'a sample'));
      if (dense !== null) dense[index] = slot; else sparse!.set(index, slot);
    }
    slotOfSample[i] = slot;
  }
  // Rank of each slot's flow id, so that groups come out in flow id order.
  const bySlotId = Array.from(slotFlowId.keys()).sort((a, b) => slotFlowId[a]! - slotFlowId[b]!);
  const rankOfSlot = new Uint32Array(slotFlowId.length);
  bySlotId.forEach((slot, rank) => { rankOfSlot[slot] = rank; });
  const metrics = SAMPLE_METRICS.length;
  const groups = slotFlowId.length * metrics;
  const start = new Uint32Array(groups + 1);
  const key = slotOfSample; // reused in place: slot → group key
  const code = columns.metricCode;
  for (let i = 0; i < n; i++) {
    const k = rankOfSlot[key[i]!]! * metrics + code[i]!;
    key[i] = k;
    start[k + 1]!++;
  }
  for (let k = 0; k < groups; k++) start[k + 1]! += start[k]!;
  const order = new Uint32Array(n);
  const next = start.slice(0, groups);
  for (let i = 0; i < n; i++) order[next[key[i]!]!++] = i;
  const ts = columns.tsUs;
  for (let k = 0; k < groups; k++) {
    const from = start[k]!, to = start[k + 1]!;
    let sorted = true;
    for (let j = from + 1; j < to && sorted; j++) if (ts[order[j]!]! < ts[order[j - 1]!]!) sorted = false;
    if (!sorted) order.subarray(from, to).sort((a, b) => ts[a]! - ts[b]! || a - b);
  }
  return { order, groupStart: start, flowIdByRank: bySlotId.map((slot) => slotFlowId[slot]!) };
}

function flowIdOf(ids: ReadonlyMap<number, number>, flowIndex: number, what: string): number {
  const id = ids.get(flowIndex);
  if (id === undefined) throw new Error(`store: ${what} refers to flow_index ${flowIndex}, which is not among the run's flows`);
  return id;
}

export class Store {
  readonly path: string;
  readonly readonly: boolean;
  private readonly db: Db;
  private reader: Db | null = null;
  private readonly statements = new Map<string, Stmt>();
  /** The file's stamp when it was opened immutable (readonlyTarget), else null. */
  private readonly stamp: string | null;

  constructor(db: Db, path: string, readonly: boolean, stamp: string | null = null) {
    this.db = db;
    this.path = path;
    this.readonly = readonly;
    this.stamp = stamp;
  }

  /**
   * For a store read without locks (readonlyTarget): throws when the file changed since it was
   * opened, because what was read may then mix two states. Callers check before they output.
   */
  assertUnchanged(): void {
    if (this.stamp !== null && fileStamp(this.path) !== this.stamp) {
      throw new StoreError(`${this.path}: the database changed while it was read (a writer started); run the command again`);
    }
  }

  private stmt(sql: string): Stmt {
    let s = this.statements.get(sql);
    if (s === undefined) { s = this.db.prepare(sql); this.statements.set(sql, s); }
    return s;
  }

  private assertWritable(): void {
    if (this.readonly) throw new StoreError(`${this.path}: opened read-only`);
  }

  private translate(err: unknown): Error {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return translateOpenError(this.path, err);
    return err instanceof Error ? err : new Error(String(err));
  }

  close(): void {
    this.reader?.close();
    this.reader = null;
    if (this.db.open) this.db.close();
  }

  private insertRun(meta: RunMeta, status: 'complete' | 'in_progress'): number {
    const finished = status === 'complete' ? (meta.finished_at_us ?? Date.now() * 1000) : null;
    const info = this.stmt(`INSERT INTO runs (kind, status, started_at_us, finished_at_us, command, inputs, content_hash,
        packets, anomalies, esp_no_sa_by_spi, tool_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      meta.kind, status, meta.started_at_us, finished, meta.command, JSON.stringify(meta.inputs), meta.content_hash,
      JSON.stringify(meta.packets), JSON.stringify(meta.anomalies), JSON.stringify(meta.esp_no_sa_by_spi ?? {}),
      meta.tool_version,
    );
    return Number(info.lastInsertRowid);
  }

  private deleteRun(runId: number): void {
    this.stmt('DELETE FROM samples WHERE flow_id IN (SELECT id FROM flows WHERE run_id = ?)').run(runId);
    this.stmt('DELETE FROM psn_events WHERE flow_id IN (SELECT id FROM flows WHERE run_id = ?)').run(runId);
    this.stmt('DELETE FROM flows WHERE run_id = ?').run(runId);
    this.stmt('DELETE FROM runs WHERE id = ?').run(runId);
  }

  /**
   * Stores a whole run in ONE transaction: either all of it is visible or none. A run with the
   * content hash of earlier runs replaces them unless `append` is set.
   */
  writeRun(meta: RunMeta, flows: FlowsToStore, samples?: Iterable<Sample>, options: WriteRunOptions = {}): WriteRunResult {
    this.assertWritable();
    const insertFlow = this.stmt(`INSERT INTO flows (${FLOW_COLUMNS.join(', ')}) VALUES (${FLOW_COLUMNS.map(() => '?').join(', ')})`);
    const write = this.db.transaction((): WriteRunResult => {
      const replaced: number[] = [];
      if (meta.content_hash !== null && options.append !== true) {
        const ids = this.stmt('SELECT id FROM runs WHERE content_hash = ? ORDER BY id').pluck().all(meta.content_hash) as number[];
        for (const id of ids) { this.deleteRun(id); replaced.push(id); }
      }
      const runId = this.insertRun(meta, 'complete');
      const ids = new Map<number, number>();
      for (const flow of flows) {
        const info = insertFlow.run(flowParams(runId, flow));
        ids.set(flow.report.flow_index, Number(info.lastInsertRowid));
      }
      const sampleCount = samples === undefined ? 0 : this.insertSamples(runId, ids, samples, null);
      const eventCount = options.psnEvents === undefined ? 0 : this.insertPsnEvents(runId, ids, options.psnEvents);
      return { run_id: runId, replaced_run_ids: replaced, flows: flows.length, samples: sampleCount, psn_events: eventCount };
    });
    let result: WriteRunResult;
    try {
      // IMMEDIATE: take the write lock up front, so a busy database fails before any work.
      result = write.immediate();
    } catch (err) {
      throw this.translate(err);
    }
    this.checkpoint();
    return result;
  }

  /**
   * Inserts a batch in the key order of the samples table (flow_id, metric, ts_us, seq): a
   * run's flow ids are new and larger than any stored, so its rows append at the right edge of
   * the B-tree instead of landing on random pages. `seq` breaks ties of equal timestamps in
   * arrival order: for a whole run (seqBase null) it counts 0, 1, ... among the samples of one
   * flow, metric and ts_us, so nearly every row stores 0 (a zero-byte integer in SQLite's record
   * format); live runs arrive in batches and number every sample from `seqBase` on instead.
   */
  private insertSamples(runId: number, ids: ReadonlyMap<number, number>, samples: Iterable<Sample>, seqBase: number | null): number {
    const columns = SampleColumns.from(samples);
    if (columns.length === 0) return 0;
    const { order, groupStart, flowIdByRank } = sampleInsertOrder(columns, ids);
    const bulk = this.bulk('samples', SAMPLE_COLUMNS, SAMPLE_BULK_ROWS);
    const buffer = bulk.buffer;
    const { tsUs, valueNs, psn, frame } = columns;
    const metrics = SAMPLE_METRICS.length;
    for (let rank = 0; rank < flowIdByRank.length; rank++) {
      const flowId = flowIdByRank[rank]!;
      for (let code = 0; code < metrics; code++) {
        const group = rank * metrics + code;
        const to = groupStart[group + 1]!;
        const metric = SAMPLE_METRICS[code]!;
        let previousTs = NaN;
        let tie = 0;
        for (let j = groupStart[group]!; j < to; j++) {
          const i = order[j]!;
          const ts = tsUs[i]!;
          tie = ts === previousTs ? tie + 1 : 0;
          previousTs = ts;
          const at = bulk.slot();
          buffer[at] = runId; buffer[at + 1] = flowId; buffer[at + 2] = ts; buffer[at + 3] = metric;
          buffer[at + 4] = valueNs[i]; buffer[at + 5] = psn[i]; buffer[at + 6] = frame[i];
          buffer[at + 7] = seqBase === null ? tie : seqBase + i;
          bulk.commit();
        }
      }
    }
    return bulk.finish();
  }

  private insertPsnEvents(runId: number, ids: ReadonlyMap<number, number>, events: Iterable<PsnEvent>): number {
    const bulk = this.bulk('psn_events', PSN_EVENT_COLUMNS);
    for (const e of events) {
      bulk.push([runId, flowIdOf(ids, e.flow_index, 'a PSN event'), e.ts_us, e.direction, e.kind, e.count, e.psn, e.frame]);
    }
    return bulk.finish();
  }

  private readonly bulks = new Map<string, BulkInsert>();
  private bulk(table: string, columns: readonly string[], rows = BULK_ROWS): BulkInsert {
    let b = this.bulks.get(table);
    if (b === undefined) { b = new BulkInsert(this.db, table, columns, rows); this.bulks.set(table, b); }
    return b;
  }

  /** Folds the WAL back into the database file so it does not grow without bound. */
  checkpoint(): void {
    try { this.db.pragma('wal_checkpoint(TRUNCATE)'); } catch { /* a reader holds the WAL: the next checkpoint catches up */ }
  }

  /** Starts a live run that is visible at once (status in_progress) and grows with each flush. */
  beginLiveRun(meta: RunMeta): LiveRun {
    this.assertWritable();
    let runId: number;
    try {
      runId = this.db.transaction(() => this.insertRun({ ...meta, finished_at_us: null }, 'in_progress')).immediate();
    } catch (err) {
      throw this.translate(err);
    }
    const ids = new Map<number, number>();
    const cols = FLOW_COLUMNS;
    const upsert = this.db.prepare(`INSERT INTO flows (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
      ON CONFLICT (run_id, flow_index) DO UPDATE SET ${cols.filter((c) => c !== 'run_id' && c !== 'flow_index').map((c) => `${c} = excluded.${c}`).join(', ')}
      RETURNING id`).pluck();
    const totals = this.db.prepare(`UPDATE runs SET packets = coalesce(?, packets), anomalies = coalesce(?, anomalies),
      esp_no_sa_by_spi = coalesce(?, esp_no_sa_by_spi), inputs = coalesce(?, inputs) WHERE id = ?`);
    const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
    const applyTotals = (t: LiveTotals): void => {
      totals.run(json(t.packets), json(t.anomalies), json(t.esp_no_sa_by_spi), json(t.inputs), runId);
    };
    const doUpsert = (flows: readonly FlowToStore[]): void => {
      for (const f of flows) ids.set(f.report.flow_index, num(upsert.get(flowParams(runId, f))));
    };
    const run = <T>(fn: () => T): T => {
      try { return this.db.transaction(fn).immediate(); } catch (err) { throw this.translate(err); }
    };
    // Samples of a live run arrive in batches; seq keeps counting across them.
    let seqBase = 0;
    const appendSamples = (samples: Iterable<Sample>): number => {
      const n = this.insertSamples(runId, ids, samples, seqBase);
      seqBase += n;
      return n;
    };
    let finished = false;
    const live: LiveRun = {
      runId,
      upsertFlows: (flows) => run(() => doUpsert(flows)),
      appendSamples: (samples) => run(() => appendSamples(samples)),
      appendPsnEvents: (events) => run(() => this.insertPsnEvents(runId, ids, events)),
      flush: (batch) => run(() => {
        if (batch.flows) doUpsert(batch.flows);
        if (batch.samples) appendSamples(batch.samples);
        if (batch.psnEvents) this.insertPsnEvents(runId, ids, batch.psnEvents);
        applyTotals(batch);
      }),
      finish: (summary) => {
        if (finished) return;
        run(() => {
          applyTotals(summary);
          this.stmt(`UPDATE runs SET status = 'complete', finished_at_us = ? WHERE id = ?`).run(summary.finished_at_us ?? Date.now() * 1000, runId);
        });
        finished = true;
        this.checkpoint();
      },
    };
    return live;
  }

  listRuns(): RunRow[] {
    const rows = this.stmt(`SELECT r.*,
        (SELECT count(*) FROM flows f WHERE f.run_id = r.id) AS flow_count,
        (SELECT count(*) FROM samples s WHERE s.flow_id IN (SELECT id FROM flows f WHERE f.run_id = r.id)) AS sample_count
      FROM runs r ORDER BY r.id`).all() as Row[];
    return rows.map((r) => ({
      id: num(r.id),
      kind: r.kind as RunKind,
      status: r.status as RunRow['status'],
      started_at_us: num(r.started_at_us),
      finished_at_us: r.finished_at_us === null ? null : num(r.finished_at_us),
      command: r.command as string,
      inputs: parseJson<unknown[]>(r.inputs, []),
      content_hash: (r.content_hash as string | null) ?? null,
      packets: parseJson<Record<string, number>>(r.packets, {}),
      anomalies: parseJson<Record<string, number>>(r.anomalies, {}),
      esp_no_sa_by_spi: parseJson<Record<string, number>>(r.esp_no_sa_by_spi, {}),
      tool_version: r.tool_version as string,
      flow_count: num(r.flow_count),
      sample_count: num(r.sample_count),
    }));
  }

  queryFlows(query: FlowQuery & { merge: true }): MergedFlow[];
  queryFlows(query?: FlowQuery & { merge?: false }): StoredFlow[];
  queryFlows(query?: FlowQuery): StoredFlow[] | MergedFlow[];
  queryFlows(query: FlowQuery = {}): StoredFlow[] | MergedFlow[] {
    const sortKey = query.sort ?? 'id';
    const sort = SORT_KEYS[sortKey];
    if (sort === undefined) throw new StoreError(`unknown sort key '${sortKey}'; one of: ${Object.keys(SORT_KEYS).join(', ')}`);
    if (query.limit !== undefined && !(Number.isSafeInteger(query.limit) && query.limit > 0)) {
      throw new StoreError(`limit must be a positive integer, got ${query.limit}`);
    }
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.runId !== undefined) { where.push('run_id = ?'); params.push(query.runId); }
    else if (query.latest) where.push('run_id = (SELECT max(id) FROM runs)');
    if (query.addr !== undefined) { where.push('(initiator_addr = ? OR responder_addr = ?)'); params.push(query.addr, query.addr); }
    if (query.port !== undefined) { where.push('(initiator_port = ? OR responder_port = ?)'); params.push(query.port, query.port); }
    if (query.proto !== undefined) {
      if (/^\d+$/.test(query.proto)) { where.push('proto_num = ?'); params.push(Number(query.proto)); }
      else { where.push('proto = ?'); params.push(query.proto.toLowerCase()); }
    }
    const whereSql = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    if (query.merge === true) return this.mergedFlows(whereSql, params, query, sort);
    const filters = [...where];
    if (query.minRtdNs !== undefined) { filters.push('rtd_ns_p50 >= ?'); params.push(query.minRtdNs); }
    const filterSql = filters.length === 0 ? '' : `WHERE ${filters.join(' AND ')}`;
    const order = `ORDER BY ${sort.column} ${sort.descending ? 'DESC NULLS LAST' : 'ASC NULLS LAST'}, id`;
    const limitSql = query.limit === undefined ? '' : 'LIMIT ?';
    if (query.limit !== undefined) params.push(query.limit);
    const columns = ['id', ...FLOW_COLUMNS.filter((c) => !c.endsWith('_sketch'))].join(', ');
    return selectFlows(this.db.prepare(`SELECT ${columns} FROM flows ${filterSql} ${order} ${limitSql}`), params).flows;
  }

  /** The stored sketches of one flow (null where the metric had no samples). */
  flowSketches(flowId: number): Record<StoredMetric, QuantileSketch | null> | null {
    const row = this.stmt(`SELECT ${METRICS.map((m) => `${m}_sketch`).join(', ')} FROM flows WHERE id = ?`).get(flowId) as Row | undefined;
    if (row === undefined) return null;
    const out = {} as Record<StoredMetric, QuantileSketch | null>;
    for (const m of METRICS) out[m] = this.decodeSketch(row[`${m}_sketch`], flowId);
    return out;
  }

  private decodeSketch(value: unknown, flowId: number): QuantileSketch | null {
    if (value === null || value === undefined) return null;
    try {
      return QuantileSketch.deserialize(value as Uint8Array);
    } catch (err) {
      throw new StoreError(`${this.path}: flow ${flowId} has a damaged sketch (${describe(err)})`);
    }
  }

  private mergedFlows(whereSql: string, params: unknown[], query: FlowQuery, sort: { column: string; descending: boolean }): MergedFlow[] {
    const selected = selectFlows(this.db.prepare(`SELECT * FROM flows ${whereSql} ORDER BY id`), params);
    const sketchAt = METRICS.map((m) => selected.columns.indexOf(`${m}_sketch`));
    // Sketches are decoded only for keys seen in more than one run: a singleton keeps its stored stats.
    interface Group { flow: MergedFlow; blobs: readonly unknown[] | null; sketches: Record<StoredMetric, QuantileSketch | null> | null; reverses: FlowReport['reverse'][] }
    const groups = new Map<string, Group>();
    const decodeAll = (row: readonly unknown[], flowId: number): Record<StoredMetric, QuantileSketch | null> => {
      const out = {} as Record<StoredMetric, QuantileSketch | null>;
      METRICS.forEach((m, k) => { out[m] = this.decodeSketch(row[sketchAt[k]!], flowId); });
      return out;
    };
    for (const [i, f] of selected.flows.entries()) {
      const row = selected.rows[i]!;
      const key = JSON.stringify([f.proto_num, f.initiator.addr, f.initiator.port, f.responder.addr, f.responder.port, f.esp?.placement ?? null, f.icmp_echo_id ?? null]);
      const g = groups.get(key);
      if (g === undefined) {
        const { id, run_id, flow_index: _index, ...rest } = f;
        groups.set(key, { flow: { ...rest, run_ids: [run_id], flow_ids: [id] }, blobs: row, sketches: null, reverses: [f.reverse] });
        continue;
      }
      const m = g.flow;
      if (g.sketches === null) { g.sketches = decodeAll(g.blobs!, m.flow_ids[0]!); g.blobs = null; }
      const sketches = decodeAll(row, f.id);
      if (!m.run_ids.includes(f.run_id)) m.run_ids.push(f.run_id);
      m.flow_ids.push(f.id);
      for (const d of DIRECTIONS) {
        m.packets[d] += f.packets[d];
        m.pdm_packets[d] += f.pdm_packets[d];
        for (const p of PSN_FIELDS) m.psn[d][p] += f.psn[d][p];
      }
      m.first_ts_us = Math.min(m.first_ts_us, f.first_ts_us);
      m.last_ts_us = Math.max(m.last_ts_us, f.last_ts_us);
      m.pdm_sessions += f.pdm_sessions;
      if (m.esp !== null && f.esp !== null) for (const spi of f.esp.spis) if (!m.esp.spis.includes(spi)) m.esp.spis.push(spi);
      for (const finding of f.findings) {
        const same = m.findings.find((x) => x.code === finding.code);
        if (same === undefined) m.findings.push({ ...finding }); else same.count += finding.count;
      }
      for (const metric of METRICS) {
        const s = sketches[metric];
        if (s === null) continue;
        const into = g.sketches[metric];
        if (into === null) g.sketches[metric] = s; else into.merge(s);
      }
      g.reverses.push(f.reverse);
    }
    let merged: MergedFlow[] = [];
    for (const g of groups.values()) {
      if (g.sketches === null) {
        // One flow: its stored stats are its sketch's stats; still check the sketches decode.
        decodeAll(g.blobs!, g.flow.flow_ids[0]!);
      } else {
        for (const metric of METRICS) g.flow[metric] = statsFromSketch(g.sketches[metric]);
        g.flow.reverse = mergeReverse(g.reverses);
      }
      merged.push(g.flow);
    }
    if (query.minRtdNs !== undefined) {
      const min = query.minRtdNs;
      merged = merged.filter((f) => f.rtd_ns.p50 !== null && f.rtd_ns.p50 >= min);
    }
    const value = mergedSortValue(sort.column);
    merged.sort((a, b) => {
      const va = value(a), vb = value(b);
      if (va === vb) return a.flow_ids[0]! - b.flow_ids[0]!;
      if (va === null) return 1;
      if (vb === null) return -1;
      return sort.descending ? vb - va : va - vb;
    });
    return query.limit === undefined ? merged : merged.slice(0, query.limit);
  }

  /** A flow's samples in time order, optionally of one metric ('rtd', 'server_delay', ...). */
  querySamples(query: { flowId: number; metric?: string; limit?: number }): StoredSample[] {
    const params: unknown[] = [query.flowId];
    let sql = 'SELECT ts_us, metric, value_ns, psn, frame FROM samples WHERE flow_id = ?';
    if (query.metric !== undefined) { sql += ' AND metric = ?'; params.push(query.metric); }
    // Equal timestamps: metrics in name order, then arrival order (seq), as the key stores them.
    sql += ' ORDER BY ts_us, metric, seq';
    if (query.limit !== undefined) { sql += ' LIMIT ?'; params.push(query.limit); }
    return this.db.prepare(sql).all(params) as StoredSample[];
  }

  /** A flow by id, or null. */
  getFlow(flowId: number): StoredFlow | null {
    const columns = ['id', ...FLOW_COLUMNS.filter((c) => !c.endsWith('_sketch'))].join(', ');
    return selectFlows(this.db.prepare(`SELECT ${columns} FROM flows WHERE id = ?`), [flowId]).flows[0] ?? null;
  }

  /**
   * Runs one user-supplied statement on a read-only connection. Statements that could write
   * (stmt.readonly false) or return no rows are refused before they run; the connection is
   * opened read-only with query_only as a second guard.
   */
  readonlySql(sql: string): SqlResult {
    const stmt = this.readonlyStatement(sql);
    try {
      const columns = stmt.columns().map((c) => c.name);
      const rows = stmt.all() as unknown[][];
      return { columns, rows };
    } catch (err) {
      throw new StoreError(`sql: ${describe(err)}`);
    }
  }

  /** readonlySql's rows one at a time, for output that streams (`query sql`). */
  iterateSql(sql: string): SqlRows {
    const stmt = this.readonlyStatement(sql);
    let columns: string[];
    try { columns = stmt.columns().map((c) => c.name); } catch (err) { throw new StoreError(`sql: ${describe(err)}`); }
    function* rows(): Generator<unknown[], void, undefined> {
      const it = stmt.iterate() as IterableIterator<unknown[]>;
      try {
        for (;;) {
          let next: IteratorResult<unknown[]>;
          try { next = it.next(); } catch (err) { throw new StoreError(`sql: ${describe(err)}`); }
          if (next.done === true) return;
          yield next.value;
        }
      } finally {
        it.return?.();
      }
    }
    return { columns, rows: rows() };
  }

  private readonlyStatement(sql: string): Stmt {
    if (this.reader === null) {
      if (this.readonly) this.reader = this.db;
      else {
        try {
          this.reader = new Database(sqliteName(this.path), { readonly: true, fileMustExist: true });
          this.reader.pragma('query_only = ON');
        } catch (err) {
          throw translateOpenError(this.path, err);
        }
      }
    }
    let stmt: Stmt;
    try {
      stmt = this.reader.prepare(sql);
    } catch (err) {
      throw new StoreError(`sql: ${describe(err)}`);
    }
    if (!stmt.readonly) throw new StoreError('sql: only read-only statements are allowed (this one would write)');
    if (!stmt.reader) throw new StoreError('sql: the statement returns no rows (only queries are allowed)');
    stmt.raw(true);
    return stmt;
  }
}

function mergedSortValue(column: string): (f: MergedFlow) => number | null {
  const plain = /^(server_delay_ns|total_ns|rtd_ns)_(count|min|mean|max|p50|p90|p99)$/.exec(column);
  if (plain) {
    const metric = plain[1] as StoredMetric;
    const field = plain[2] as keyof DurationStats;
    return (f) => f[metric][field];
  }
  switch (column) {
    case 'id': return (f) => f.flow_ids[0]!;
    case 'first_ts_us': return (f) => f.first_ts_us;
    case 'last_ts_us': return (f) => f.last_ts_us;
    case '(packets_initiator_to_responder + packets_responder_to_initiator)':
      return (f) => f.packets.initiator_to_responder + f.packets.responder_to_initiator;
    case '(pdm_packets_initiator_to_responder + pdm_packets_responder_to_initiator)':
      return (f) => f.pdm_packets.initiator_to_responder + f.pdm_packets.responder_to_initiator;
    case '(psn_initiator_to_responder_lost + psn_responder_to_initiator_lost)':
      return (f) => f.psn.initiator_to_responder.lost + f.psn.responder_to_initiator.lost;
    default: throw new Error(`store: no merged sort for ${column}`);
  }
}

/**
 * Mirror metrics are stored as stats only (no sketch): count, min, max and mean merge exactly;
 * percentiles of several flows cannot be derived from percentiles, so they become null.
 */
function mergeReverse(list: FlowReport['reverse'][]): FlowReport['reverse'] {
  const one = (metric: StoredMetric): DurationStats => {
    let count = 0, sum = 0, min = Infinity, max = -Infinity;
    for (const r of list) {
      const s = r[metric];
      if (!s || s.count === 0 || s.mean === null || s.min === null || s.max === null) continue;
      count += s.count; sum += s.mean * s.count;
      min = Math.min(min, s.min); max = Math.max(max, s.max);
    }
    if (count === 0) return { ...EMPTY_STATS };
    return { count, min, mean: sum / count, max, p50: null, p90: null, p99: null };
  };
  return { server_delay_ns: one('server_delay_ns'), total_ns: one('total_ns'), rtd_ns: one('rtd_ns') };
}
