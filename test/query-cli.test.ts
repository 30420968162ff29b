// `pdmscope query` end to end in a child process: stdout, stderr and exit codes. The file runs
// itself as the CLI (QUERY_CLI_CHILD=1) with the same yargs set-up as src/cli/cli.ts, so the
// test does not depend on the command being registered in src/cli/commands/index.ts yet.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { queryCommand } from '../src/cli/commands/query.js';
import { EXIT_USAGE, UserError, oneLine } from '../src/cli/errors.js';
import { openStore } from '../src/sink/store.js';
import { testFlow, testRunMeta } from './support/store.js';
import { formatDurationNs, parseDurationNs, toCsv } from '../src/sink/store-format.js';

async function cliMain(argv: string[]): Promise<number> {
  const cli = yargs(argv).scriptName('pdmscope').locale('en').wrap(100).strict().demandCommand(1).help().exitProcess(false)
    .fail((msg, err) => { if (err) throw err; throw new UserError(msg, EXIT_USAGE); })
    .command(queryCommand);
  try {
    await cli.parseAsync();
    return 0;
  } catch (err) {
    process.stderr.write(`pdmscope: ${oneLine(err)}\n`);
    return err instanceof UserError ? err.exitCode : 2;
  }
}

if (process.env.QUERY_CLI_CHILD === '1') {
  process.exitCode = await cliMain(hideBin(process.argv));
} else {
  const SELF = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-query-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'store.db');

  const run = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [SELF, ...args], { env: { ...process.env, QUERY_CLI_CHILD: '1', LANG: 'C' }, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  {
    const store = openStore(db);
    store.writeRun(testRunMeta({ content_hash: 'one' }), [
      testFlow(0, { rtd_ns: [1e6, 2e6, 3e6], server_delay_ns: [250_000], total_ns: [4e6] }),
      testFlow(1, { rtd_ns: [20e6, 30e6] }, { responder: { addr: '2001:db8::77', port: 53 } }),
    ], [{ flow_index: 0, ts_us: 1_700_000_000_000_123, metric: 'rtd', value_ns: 1.5e6, psn: 4, frame: 9 }]);
    store.writeRun(testRunMeta({ content_hash: 'two' }), [testFlow(0, { rtd_ns: [40e6] })]);
    store.close();
  }

  test('query runs: table and json', () => {
    const table = run('query', 'runs', '--db', db);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^id\s+kind\s+status/);
    assert.match(table.stdout, /analyze\s+complete\s+2023-11-14T22:13:20\.000000Z/);
    const json = JSON.parse(run('query', 'runs', '--db', db, '--format', 'json').stdout) as { schema: string; runs: { id: number; flow_count: number }[] };
    assert.equal(json.schema, 'pdmscope.query.runs/1');
    assert.deepEqual(json.runs.map((r) => [r.id, r.flow_count]), [[1, 2], [2, 1]]);
  });

  test('query flows: filters, sort, readable durations, json with analyze field names, csv', () => {
    const table = run('query', 'flows', '--db', db, '--run', '1', '--sort', 'rtd_p99');
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /\[2001:db8::77\]:53/); // worst RTD first
    assert.match(lines[2]!, /250µs/);
    assert.match(lines[2]!, /2\.00ms/);
    const json = JSON.parse(run('query', 'flows', '--db', db, '--latest', '--format', 'json').stdout) as { flows: Record<string, unknown>[] };
    assert.equal(json.flows.length, 1);
    const f = json.flows[0]!;
    for (const key of ['proto', 'proto_num', 'initiator', 'responder', 'esp', 'packets', 'pdm_packets', 'first_ts_us', 'last_ts_us', 'server_delay_ns', 'total_ns', 'rtd_ns', 'reverse', 'psn', 'pdm_sessions', 'findings', 'id', 'run_id']) {
      assert.ok(key in f, key);
    }
    assert.deepEqual(f.rtd_ns, { count: 1, min: 40e6, mean: 40e6, max: 40e6, p50: 40e6, p90: 40e6, p99: 40e6 });
    const csv = run('query', 'flows', '--db', db, '--min-rtd', '5ms', '--format', 'csv').stdout.split('\r\n');
    assert.match(csv[0]!, /^id,run_id,flow_index,proto,proto_num,initiator_addr,initiator_port,responder_addr/);
    assert.ok(csv[0]!.includes('rtd_ns_p99'));
    assert.equal(csv.filter((l) => l.length > 0).length, 3); // header + flows with median RTD ≥ 5 ms (runs 1 and 2)
    // Address given in another spelling still matches (canonicalised).
    const byAddr = JSON.parse(run('query', 'flows', '--db', db, '--addr', '2001:DB8:0:0::77', '--format', 'json').stdout) as { flows: unknown[] };
    assert.equal(byAddr.flows.length, 1);
  });

  test('query flows --merge combines runs by merged sketches', () => {
    const out = JSON.parse(run('query', 'flows', '--db', db, '--merge', '--format', 'json', '--port', '40000').stdout) as { merged: boolean; flows: { run_ids: number[]; rtd_ns: { count: number; max: number } }[] };
    assert.equal(out.merged, true);
    assert.equal(out.flows.length, 1);
    assert.deepEqual(out.flows[0]!.run_ids, [1, 2]);
    assert.equal(out.flows[0]!.rtd_ns.count, 4);
    assert.equal(out.flows[0]!.rtd_ns.max, 40e6);
  });

  test('query samples and query sql', () => {
    const s = run('query', 'samples', '--db', db, '--flow', '1', '--metric', 'rtd', '--format', 'csv');
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, 'ts_us,metric,value_ns,psn,frame\r\n1700000000000123,rtd,1500000,4,9\r\n');
    const t = run('query', 'samples', '--db', db, '--flow', '1');
    assert.match(t.stdout, /1\.50ms/);
    const missing = run('query', 'samples', '--db', db, '--flow', '999');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^pdmscope: no flow with id 999/);
    const sql = run('query', 'sql', 'SELECT proto, count(*) AS n FROM flows GROUP BY proto', '--db', db, '--format', 'json');
    assert.deepEqual(JSON.parse(sql.stdout).rows, [{ proto: 'udp', n: 3 }]);
  });

  test('query sql refuses writes with a one-line error and the data stays', () => {
    for (const stmt of ['DELETE FROM flows', 'DROP TABLE runs', "UPDATE runs SET command = 'x'", 'SELECT 1; DELETE FROM flows']) {
      const r = run('query', 'sql', stmt, '--db', db);
      assert.equal(r.code, 2, stmt);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^pdmscope: sql: /);
    }
    const count = run('query', 'sql', 'SELECT count(*) AS n FROM flows', '--db', db, '--format', 'csv');
    assert.equal(count.stdout, 'n\r\n3\r\n');
  });

  test('SQL injection in --addr and --proto is harmless', () => {
    for (const evil of ["x' OR '1'='1", "'; DROP TABLE flows; --"]) {
      const r = run('query', 'flows', '--db', db, '--addr', evil, '--format', 'json');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).flows, []);
      const p = run('query', 'flows', '--db', db, '--proto', evil, '--format', 'json');
      assert.deepEqual(JSON.parse(p.stdout).flows, []);
    }
    const bad = run('query', 'flows', '--db', db, '--sort', 'id; DROP TABLE flows');
    assert.equal(bad.code, EXIT_USAGE);
    assert.match(bad.stderr, /unknown key/);
    assert.equal(JSON.parse(run('query', 'flows', '--db', db, '--format', 'json').stdout).flows.length, 3);
  });

  test('a missing database is a one-line error and is not created; bad files and arguments too', () => {
    const missingPath = join(dir, 'nope.db');
    const r = run('query', 'runs', '--db', missingPath);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pdmscope: .*nope\.db: no such database/);
    assert.ok(!existsSync(missingPath));
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'x'.repeat(4096));
    const j = run('query', 'flows', '--db', junk);
    assert.equal(j.code, 2);
    assert.equal(j.stderr, `pdmscope: ${junk}: not an SQLite database\n`);
    const d = run('query', 'flows', '--db', db, '--min-rtd', '5 parsecs');
    assert.equal(d.code, EXIT_USAGE);
    assert.match(d.stderr, /--min-rtd/);
    const both = run('query', 'flows', '--db', db, '--run', '1', '--latest');
    assert.equal(both.code, EXIT_USAGE);
    const none = run('query', '--db', db);
    assert.equal(none.code, EXIT_USAGE);
  });

  test('duration parsing and formatting, CSV quoting', () => {
    assert.equal(parseDurationNs('5ms'), 5e6);
    assert.equal(parseDurationNs('250us'), 250e3);
    assert.equal(parseDurationNs('250µs'), 250e3);
    assert.equal(parseDurationNs('1.5s'), 1.5e9);
    assert.equal(parseDurationNs('100ns'), 100);
    assert.equal(parseDurationNs('42'), 42);
    for (const bad of ['', 'ms', '5 m', '5mss', '1e', 'NaN', '--5ms']) assert.equal(parseDurationNs(bad), null, bad);
    assert.equal(formatDurationNs(850), '850ns');
    assert.equal(formatDurationNs(12_345), '12.3µs');
    assert.equal(formatDurationNs(4_560_000), '4.56ms');
    assert.equal(formatDurationNs(75e9), '75.0s');
    assert.equal(formatDurationNs(-2_500_000), '-2.50ms');
    assert.equal(formatDurationNs(null), '-');
    assert.equal(toCsv(['a', 'b'], [['x,y', 'say "hi"'], [null, 3]]), 'a,b\r\n"x,y","say ""hi"""\r\n,3\r\n');
  });
}
