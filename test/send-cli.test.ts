// `pdmscope send` / `reflect` argument checks: one-line errors and exit codes, before anything
// touches the network. The privilege check runs as an unprivileged user when root can drop to one.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { CLI as MAIN } from './support/cli.js';
import { ROOT, testNeeding } from './support/prereq.js';

const CLI = [MAIN];

function pdmscope(args: string[], uid?: number): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 20_000, ...(uid === undefined ? {} : { uid, gid: uid }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cases: [string[], RegExp][] = [
  [['send', '--to', 'ff02::1', '-c', '1'], /ff02::1 is a multicast address; .*--allow-multicast/],
  [['send', '--to', 'fd00::1', '--rate', '5000'], /--rate must be above 0 and at most 1000 packets\/s/],
  [['send', '--to', 'fd00::1', '--interval', '1ms'], /--interval 1ms exceeds the rate limit of 10 probes\/s; raise --rate/],
  [['send', '--to', 'fd00::1', '--interval', '1ms', '--rate', '2000'], /--rate must be above 0 and at most 1000/],
  [['send', '--to', '10.0.0.1'], /--to '10\.0\.0\.1' is not an IPv6 address/],
  [['send', '--to', 'fd00::1', '--size', '4'], /--size must be 12\.\.65000 bytes/],
  [['send', '--to', 'fd00::1', '--port', '0'], /--port must be 1\.\.65535/],
  [['send', '--to', 'fd00::1', '--interval', 'soon'], /invalid --interval 'soon'/],
  [['reflect', '-i', 'lo', '--delay=-1ms'], /--delay must be 0\.\.10s/],
  [['reflect', '-i', 'lo', '--delay', '11s'], /--delay must be 0\.\.10s/],
  [['reflect', '-i', 'lo', '--max-rate', '100000'], /--max-rate must be above 0 and at most 1000/],
  [['reflect', '-i', 'lo', '--realtime', '100'], /--realtime takes a SCHED_FIFO priority 1\.\.99, not '100'/],
  [['send', '--to', 'fd00::1', '--realtime=fast'], /--realtime takes a SCHED_FIFO priority 1\.\.99, not 'fast'/],
];

for (const [args, message] of cases) {
  test(`pdmscope ${args.join(' ')}: a one-line usage error`, () => {
    const r = pdmscope(args);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^pdmscope: /);
    assert.match(lines[0]!, message);
  });
}

testNeeding('without CAP_NET_RAW: a one-line error that says what is needed', [ROOT], () => {
  // uid 65534 (nobody) has no capabilities; the check runs before any socket is opened.
  execFileSync('id', ['nobody'], { stdio: 'ignore' });
  for (const args of [['send', '--to', '::1', '-c', '1'], ['reflect', '-i', 'lo']]) {
    const r = pdmscope(args, 65534);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^pdmscope: pdmscope (send|reflect) needs CAP_NET_RAW to capture and inject frames: run as root, or grant it with/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
