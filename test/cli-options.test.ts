// What a command line's options may say together (issue 16, defects 6, 7 and the --prometheus
// host rule of 10), for every command, as a user runs it: an option given twice or with its --no-
// form, an option whose partner is switched off, a negative, zero or too long duration is a
// one-line usage error naming the option, exit 1 (src/cli/options.ts). `--db x.db --no-db` was an
// internal error with exit 2; `--samples --no-db` was silently ignored; `--delay -5ms` was read as
// the flags -5, -m, -s; `live --duration 720h` stopped at once (a Node timer overflow).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startLive, sleep } from './support/live.js';
import { CLI } from './support/cli.js';
import { DEMO_PCAP } from './support/fixtures.js';
import { ROOT, testNeeding } from './support/prereq.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-options-'));
const DB = join(dir, 'store.db');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in `dir` (a wrong outcome must not write next to the repository), never for long. */
function run(args: readonly string[]): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000, maxBuffer: 64 << 20 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  const r = run(['analyze', DEMO_PCAP, '--db', DB, '--quiet', '--format', 'json']);
  assert.equal(r.status, 0, r.stderr);
});

/** [arguments, what the one line must say]. None of these needs root: they end before any capture. */
const USAGE_ERRORS: [string[], RegExp][] = [
  // The same option twice, or with its negation: every command, every kind of option.
  [['analyze', DEMO_PCAP, '--db', 'x.db', '--no-db'], /--db and --no-db contradict each other/],
  [['analyze', DEMO_PCAP, '--no-db', '--db', 'x.db'], /--db and --no-db contradict each other/],
  [['analyze', DEMO_PCAP, '--no-db', '--format', 'json', '--format', 'csv'], /--format is given more than once/],
  [['analyze', DEMO_PCAP, '--no-db', '--format=json', '--format', 'json'], /--format is given more than once/],
  [['analyze', DEMO_PCAP, '--no-db', '--all-flows', '--no-all-flows'], /--all-flows and --no-all-flows contradict/],
  [['analyze', DEMO_PCAP, '--no-db', '-q', '--quiet'], /--quiet is given more than once/],
  [['analyze', DEMO_PCAP, '--no-db', '--idleTimeout', '5s', '--idle-timeout', '6s'], /--idle-timeout is given more than once/],
  [['packets', DEMO_PCAP, '--format', 'json', '--format', 'csv'], /--format is given more than once/],
  [['packets', DEMO_PCAP, '--filter', 'ip6', '--filter', 'udp'], /--filter is given more than once/],
  [['packets', DEMO_PCAP, '--esp-null', '--no-esp-null'], /--esp-null and --no-esp-null contradict/],
  [['live', '-i', 'lo', '--db', 'x.db', '--no-db'], /--db and --no-db contradict/],
  [['live', '-i', 'lo', '-i', 'eth0', '--no-db'], /--interface is given more than once/],
  [['live', '-i', 'lo', '--no-db', '--prometheus', '9464', '--prometheus', '9465'], /--prometheus is given more than once/],
  [['query', 'runs', '--db', DB, '--db', 'b.db'], /--db is given more than once/],
  [['query', 'flows', '--db', DB, '--run', '1', '--run', '2'], /--run is given more than once/],
  [['query', 'samples', '--db', DB, '--flow', '1', '--flow', '2'], /--flow is given more than once/],
  [['report', '--db', DB, '--out', join(dir, 'a.html'), '-o', join(dir, 'b.html')], /--out is given more than once/],
  [['send', '--to', '::1', '--realtime', '--no-realtime'], /--realtime and --no-realtime contradict/],
  [['send', '--to', '::1', '-c', '1', '--count', '2'], /--count is given more than once/],
  [['send', '--to', '::1', '--db', 'x.db', '--no-db'], /--db and --no-db contradict/],
  [['reflect', '-i', 'lo', '--realtime', '--no-realtime'], /--realtime and --no-realtime contradict/],
  [['reflect', '-i', 'lo', '--realtime=50', '--realtime', '60'], /--realtime is given more than once/],
  // An option that acts only with another one switched on.
  [['analyze', DEMO_PCAP, '--no-db', '--samples'], /--samples cannot be used with --no-db/],
  [['analyze', DEMO_PCAP, '--no-db', '--append'], /--append cannot be used with --no-db/],
  [['live', '-i', 'lo', '--no-db', '--samples'], /--samples cannot be used with --no-db/],
  [['live', '-i', 'lo', '--no-db', '--prometheus-max-flows', '5'], /--prometheus-max-flows needs --prometheus/],
  // Durations: negative (as a separate word too), zero where it means nothing, too long, missing.
  [['analyze', DEMO_PCAP, '--no-db', '--idle-timeout', '-5s'], /--idle-timeout must be positive, not '-5s'/],
  [['analyze', DEMO_PCAP, '--no-db', '--idle-timeout=-5s'], /--idle-timeout must be positive, not '-5s'/],
  [['analyze', DEMO_PCAP, '--no-db', '--idle-timeout', '0'], /--idle-timeout must be positive, not '0'/],
  [['analyze', DEMO_PCAP, '--no-db', '--idle-timeout', '3000000000h'], /--idle-timeout '3000000000h' is too long: durations go up to 2400000000h/],
  [['analyze', DEMO_PCAP, '--no-db', '--idle-timeout', '9'.repeat(400)], /--idle-timeout '9+' is too long/],
  [['analyze', DEMO_PCAP, '--no-db', '--idle-timeout'], /Not enough arguments following: idle-timeout/],
  [['live', '-i', 'lo', '--no-db', '--duration', '-5s'], /--duration must be positive, not '-5s'/],
  [['live', '-i', 'lo', '--no-db', '--duration', '2400000001h'], /--duration '2400000001h' is too long: durations go up to 2400000000h/],
  [['live', '-i', 'lo', '--no-db', '--idle-timeout', '-5s'], /--idle-timeout must be positive/],
  [['live', '-i', 'lo', '--no-db', '--flush-interval', '-1s'], /--flush-interval must be positive/],
  [['send', '--to', '::1', '--interval', '-5ms'], /--interval must be positive, not '-5ms'/],
  [['send', '--to', '::1', '--wait', '-1s'], /--wait must be zero or positive, not '-1s'/],
  [['reflect', '-i', 'lo', '--delay', '-5ms'], /--delay must be 0\.\.10s, not '-5ms'/],
  [['reflect', '-i', 'lo', '--delay', '11s'], /--delay must be 0\.\.10s, not '11s'/],
  [['query', 'flows', '--db', DB, '--min-rtd', '-5ms'], /--min-rtd must be zero or positive, not '-5ms'/],
  // --prometheus takes literal addresses only, as the README says: localhost is a name too.
  [['live', '-i', 'lo', '--no-db', '--prometheus', 'localhost:9464'], /--prometheus: 'localhost' is a host name; give a literal address/],
];

test('conflicting, repeated and out-of-range options: one line naming the option, exit 1, for every command', () => {
  for (const [args, message] of USAGE_ERRORS) {
    const r = run(args);
    const what = args.join(' ');
    assert.equal(r.signal, null, `${what}: did not end (${r.signal})`);
    assert.equal(r.status, 1, `${what}: exit ${r.status}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /^pdmscope: /, what);
    assert.match(r.stderr, message, what);
    assert.equal(r.stdout, '', what);
  }
  assert.equal(existsSync(join(dir, 'x.db')), false, 'nothing stored');
  assert.equal(existsSync(join(dir, 'pdmscope.db')), false, 'nothing stored');
});

test('what stays allowed: each option once, negations of options that are off anyway, durations in range', () => {
  for (const args of [
    ['analyze', DEMO_PCAP, '--no-db', '--no-samples', '--no-append', '--idle-timeout', '1.5s', '--format', 'json'],
    ['analyze', DEMO_PCAP, '--db', join(dir, 'ok.db'), '--samples', '--append', '--idle-timeout=10000000s', '-q', '--format', 'csv'],
    ['analyze', DEMO_PCAP, '--no-db', '--filter', 'ip6 protochain 17', '--all-flows'],
    ['packets', DEMO_PCAP, '--no-esp-null', '--format', 'ndjson', '-q'],
    ['query', 'flows', '--db', DB, '--min-rtd', '0', '--run', '1'],
  ]) {
    const r = run(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stdout.length > 0, args.join(' '));
  }
});

testNeeding('live --duration 720h runs on (Node timers hold at most ~24.8 days); SIGINT still stops it', [ROOT], async () => {
  const live = startLive(['-i', 'lo', '--no-db', '--format', 'ndjson', '--duration', '720h', '--flush-interval', '720h']);
  try {
    await live.waitFor(/capturing on lo/);
    await sleep(1500);
    assert.equal(live.child.exitCode, null, `stopped early: ${live.stderr()}`);
    assert.doesNotMatch(live.stderr(), /TimeoutOverflowWarning/);
    live.child.kill('SIGINT');
    const { code } = await live.exited();
    assert.equal(code, 0, live.stderr());
  } finally {
    live.child.kill('SIGKILL');
  }
});

testNeeding('send --no-db: nothing stored, no internal error (it tried to open a store named false)', [ROOT], () => {
  const r = run(['send', '--to', '::1', '-c', '1', '--wait', '0', '--no-db', '--no-realtime', '-q']);
  assert.doesNotMatch(r.stderr, /Expected first argument|false:/);
  // No reflector listens: one line saying so, exit 2, and the summary on stdout.
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stdout, /1 probes sent/);
  assert.equal(existsSync(join(dir, 'false')), false);
});
