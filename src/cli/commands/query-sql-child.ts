// The child process of `pdmscope query sql` (query.ts starts it): runs one statement on the
// store opened read-only and streams the rows to stdout as they come, so memory stays flat
// whatever the number of rows. A process of its own because nothing else can stop a runaway
// statement: better-sqlite3 12 exposes neither sqlite3_interrupt nor a progress handler (its
// SQLite is built with SQLITE_OMIT_PROGRESS_CALLBACK), and a worker thread inside sqlite3_step
// ignores Worker.terminate() and even keeps process.exit() from returning (measured with
// `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c`).
// The parent kills this process when --timeout expires.
//
// argv[2]: JSON {db, sql, format}. Errors: one line on fd 3 (a pipe the parent reads), exit 2.

import { writeSync } from 'node:fs';
import { EXIT_INPUT, oneLine } from '../errors.js';
import { LineWriter } from '../output.js';
import { StoreError, openStore } from '../../sink/store.js';
import { cellText, csvRecord, toCsv, toJson } from '../../sink/store-format.js';

export interface SqlJob { db: string; sql: string; format: 'table' | 'json' | 'csv' }

/** Rows whose widths set the table's columns; later rows are padded to them (wider cells stick out). */
const TABLE_WIDTH_ROWS = 1000;

function tableLine(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
}

function streamTable(out: LineWriter, columns: readonly string[], rows: Iterable<unknown[]>): void {
  const cellsOf = (r: readonly unknown[]): string[] => r.map((v) => (v === null ? 'NULL' : cellText(v)));
  const first: string[][] = [];
  const it = rows[Symbol.iterator]();
  let next = it.next();
  for (; next.done !== true && first.length < TABLE_WIDTH_ROWS; next = it.next()) first.push(cellsOf(next.value));
  const widths = columns.map((h, i) => Math.max(h.length, ...first.map((r) => r[i]!.length)));
  out.line(tableLine(columns, widths));
  for (const r of first) out.line(tableLine(r, widths));
  for (; next.done !== true && !out.closed; next = it.next()) out.line(tableLine(cellsOf(next.value), widths));
}

function streamCsv(out: LineWriter, columns: readonly string[], rows: Iterable<unknown[]>): void {
  out.write(toCsv(columns, []));
  for (const r of rows) {
    out.write(`${csvRecord(r)}\r\n`);
    if (out.closed) return;
  }
}

/** The same text as toJson({schema, columns, rows}) of query.ts before it streamed. */
function streamJson(out: LineWriter, columns: readonly string[], rows: Iterable<unknown[]>): void {
  const head = toJson({ schema: 'pdmscope.query.sql/1', columns, rows: [] });
  out.write(head.slice(0, head.lastIndexOf('[]')));
  let n = 0;
  for (const r of rows) {
    const text = toJson(Object.fromEntries(columns.map((c, i) => [c, r[i]]))).trimEnd().split('\n').join('\n    ');
    out.write(`${n++ === 0 ? '[\n' : ',\n'}    ${text}`);
    if (out.closed) return;
  }
  out.write(n === 0 ? '[]\n}\n' : '\n  ]\n}\n');
}

function runSqlJob(job: SqlJob, out: LineWriter): void {
  const store = openStore(job.db, { readonly: true, oneShot: true });
  try {
    const { columns, rows } = store.iterateSql(job.sql);
    try {
      if (job.format === 'json') streamJson(out, columns, rows);
      else if (job.format === 'csv') streamCsv(out, columns, rows);
      else streamTable(out, columns, rows);
      out.flush();
    } finally {
      rows.return(); // a reader that went away (| head) leaves the statement running
    }
    // Read without locks (store.ts readonlyTarget): rows from a file a writer changed meanwhile
    // may mix two states, so say so rather than end as if all was well.
    store.assertUnchanged();
  } finally {
    store.close();
  }
}

const out = new LineWriter(1);
try {
  runSqlJob(JSON.parse(process.argv[2] ?? '') as SqlJob, out);
} catch (err) {
  out.flush();
  const message = err instanceof StoreError ? err.message : `sql: ${oneLine(err)}`;
  try { writeSync(3, `${message}\n`); } catch { /* the parent has gone */ }
  process.exitCode = EXIT_INPUT;
}
