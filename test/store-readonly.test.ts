// Read-only commands (`query`, `report`) read the store without side effects: no -wal/-shm file
// appears next to it, they work in a directory the reader cannot write, and while a writer has
// the store open they see its latest commit. A store read without locks that changes meanwhile is
// reported, never read as if nothing happened.
//
// "A reader who cannot write the directory": as root (which bypasses permissions) the commands
// run as nobody through setpriv; as another user the directory's mode is enough.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openStore } from '../src/sink/store.js';
import { testFlow, testRunMeta } from './support/store.js';
import { CLI, REPO, type CliResult } from './support/cli.js';
import { testNeeding, type Prereq } from './support/prereq.js';

const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

const UNPRIVILEGED_READER: Prereq = {
  name: IS_ROOT ? 'setpriv (to read as nobody)' : 'a non-root user',
  available: () => !IS_ROOT || spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'true']).status === 0,
};

/** The CLI as a user who cannot write the store's directory (see the top of the file). */
function asReader(args: string[]): CliResult {
  const [cmd, argv] = IS_ROOT
    ? ['setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
  const r = spawnSync(cmd as string, argv as string[], { cwd: REPO, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function asSelf(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const root = mkdtempSync(join(tmpdir(), 'pdmscope-ro-'));
chmodSync(root, 0o755); // nobody must reach the stores below
after(() => {
  for (const d of readdirSync(root)) chmodSync(join(root, d), 0o755);
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A closed WAL store with one run (two flows, one sample) in a directory of its own. */
function closedStore(): { dir: string; db: string } {
  const dir = join(root, `s${n++}`);
  const db = join(dir, 'store.db');
  spawnSync('mkdir', ['-m', '755', dir]);
  const store = openStore(db);
  store.writeRun(testRunMeta({ content_hash: 'one' }), [testFlow(0, { rtd_ns: [1e6, 2e6] }), testFlow(1, { rtd_ns: [3e6] })],
    [{ flow_index: 0, ts_us: 1_700_000_000_000_123, metric: 'rtd', value_ns: 1.5e6, psn: 4, frame: 9 }]);
  store.close();
  assert.deepEqual(readdirSync(dir), ['store.db']); // the last connection removed -wal and -shm
  return { dir, db };
}

/** Every read-only command once, checked for its answer. */
function readEverything(run: (args: string[]) => CliResult, db: string, outDir: string): void {
  const runs = run(['query', 'runs', '--db', db, '--format', 'json']);
  assert.equal(runs.status, 0, runs.stderr);
  assert.deepEqual((JSON.parse(runs.stdout) as { runs: { flow_count: number }[] }).runs.map((r) => r.flow_count), [2]);
  const flows = run(['query', 'flows', '--db', db, '--latest', '--format', 'csv']);
  assert.equal(flows.status, 0, flows.stderr);
  assert.equal(flows.stdout.trim().split('\r\n').length, 3);
  const samples = run(['query', 'samples', '--db', db, '--flow', '1', '--format', 'csv']);
  assert.equal(samples.status, 0, samples.stderr);
  assert.match(samples.stdout, /1500000,4,9/);
  const sql = run(['query', 'sql', 'SELECT count(*) AS n FROM flows', '--db', db, '--format', 'csv']);
  assert.equal(sql.status, 0, sql.stderr);
  assert.equal(sql.stdout, 'n\r\n2\r\n');
  const report = run(['report', '--db', db, '--out', join(outDir, 'report.html')]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(report.stderr, /wrote .*report\.html \(run 1, 2 flows/);
}

test('query and report leave no file next to a store that nobody has open', () => {
  const { dir, db } = closedStore();
  const out = mkdtempSync(join(root, 'out-'));
  readEverything(asSelf, db, out);
  assert.deepEqual(readdirSync(dir), ['store.db']);
});

testNeeding('query and report read a store in a directory they cannot write, and create nothing there', [UNPRIVILEGED_READER], () => {
  const { dir, db } = closedStore();
  const out = mkdtempSync(join(root, 'out-'));
  chmodSync(out, 0o777);
  chmodSync(dir, 0o555);
  try {
    readEverything(asReader, db, out);
    assert.deepEqual(readdirSync(dir), ['store.db']);
  } finally {
    chmodSync(dir, 0o755);
  }
});

testNeeding('while a writer has the store open, a reader who cannot write the directory sees its latest commit', [UNPRIVILEGED_READER], async () => {
  const { dir, db } = closedStore();
  // The writer: another process that stores a second run and keeps the store open (its commit
  // stays in the -wal file, not yet in the main file) until its stdin closes.
  const writer = spawn(process.execPath, ['--input-type=module', '-e', `
    const { openStore } = await import(${JSON.stringify(join(REPO, 'dist/src/sink/store.js'))});
    const { testFlow, testRunMeta } = await import(${JSON.stringify(join(REPO, 'dist/test/support/store.js'))});
    const store = openStore(${JSON.stringify(db)});
    store.writeRun(testRunMeta({ content_hash: 'two' }), [testFlow(0, { rtd_ns: [7e6] })]);
    process.stdout.write('ready\\n');
    process.stdin.resume();
    process.stdin.on('end', () => { store.close(); });
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      writer.stdout!.on('data', (d: Buffer) => { if (String(d).includes('ready')) resolve(); });
      writer.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['store.db', 'store.db-shm', 'store.db-wal']);
    chmodSync(dir, 0o555);
    const runs = asReader(['query', 'runs', '--db', db, '--format', 'json']);
    assert.equal(runs.status, 0, runs.stderr);
    assert.deepEqual((JSON.parse(runs.stdout) as { runs: { content_hash: string }[] }).runs.map((r) => r.content_hash), ['one', 'two']);
    const sql = asReader(['query', 'sql', 'SELECT count(*) AS n FROM flows', '--db', db, '--format', 'csv']);
    assert.equal(sql.status, 0, sql.stderr);
    assert.equal(sql.stdout, 'n\r\n3\r\n');
    assert.deepEqual(readdirSync(dir).sort(), files);
  } finally {
    chmodSync(dir, 0o755);
    writer.stdin!.end();
    await new Promise((resolve) => { if (writer.exitCode !== null) resolve(null); else writer.once('exit', resolve); });
  }
  assert.deepEqual(readdirSync(dir), ['store.db']);
});

test('a store read without locks that a writer changes meanwhile is reported, not trusted', () => {
  const { db } = closedStore();
  const reader = openStore(db, { readonly: true, oneShot: true });
  try {
    assert.equal(reader.readonlySql('SELECT count(*) FROM runs').rows[0]![0], 1);
    reader.assertUnchanged(); // nothing happened yet
    // A writer opens the store while the reader has it open (the reader holds no lock that
    // stops it), stores a run and closes: its last checkpoint rewrites the main file.
    const writer = openStore(db);
    writer.writeRun(testRunMeta({ content_hash: 'two' }), [testFlow(0, { rtd_ns: [7e6] })]);
    writer.close();
    assert.throws(() => reader.assertUnchanged(), (err: Error) => {
      assert.equal(err.message, `${db}: the database changed while it was read (a writer started); run the command again`);
      return true;
    });
  } finally {
    reader.close();
  }
});

test('query sql says so when a writer changed the store while it streamed rows from it', async () => {
  const { db } = closedStore();
  const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c';
  const child = spawn(process.execPath, [CLI, 'query', 'sql', endless, '--db', db, '--format', 'csv', '--timeout', '30s'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += String(d); });
  const status = new Promise<number | null>((resolve) => child.once('close', resolve));
  // The first rows mean the store is open; then a writer stores a run and closes (its
  // checkpoint rewrites the main file), and our end of the pipe closes, which ends the query.
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const writer = openStore(db);
  writer.writeRun(testRunMeta({ content_hash: 'two' }), [testFlow(0, { rtd_ns: [7e6] })]);
  writer.close();
  child.stdout!.destroy();
  assert.equal(await status, 2);
  assert.equal(stderr, `pdmscope: ${db}: the database changed while it was read (a writer started); run the command again\n`);
});
