// Tests that need root, network namespaces, tshark or chromium skip with a printed reason on a
// developer machine; in CI (CI=true) a missing prerequisite fails the test instead.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

export const IN_CI = process.env.CI === 'true';

export interface Prereq {
  readonly name: string;
  available(): boolean;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const memo = new Map<string, boolean>();
function once(name: string, check: () => boolean): Prereq {
  return { name, available: () => { if (!memo.has(name)) memo.set(name, check()); return memo.get(name)!; } };
}

export const ROOT = once('root', () => process.getuid?.() === 0);
export const TSHARK = once('tshark', () => hasCommand('tshark'));
export const TCPDUMP = once('tcpdump', () => hasCommand('tcpdump'));
export const SCAPY = once('python3 with scapy', () => {
  try { execFileSync('/usr/bin/python3', ['-c', 'import scapy.all'], { stdio: 'ignore' }); return true; } catch { return false; }
});
export const PYTHON3 = once('python3', () => existsSync('/usr/bin/python3'));
export const CHROMIUM = once('chromium', () => hasCommand('chromium'));
export const NETNS = once('network namespaces', () => {
  if (process.getuid?.() !== 0) return false;
  const name = `pdmscope-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/** Returns why the test cannot run, or null. */
export function missing(reqs: readonly Prereq[]): string | null {
  const absent = reqs.filter((r) => !r.available()).map((r) => r.name);
  return absent.length === 0 ? null : `needs ${absent.join(', ')}`;
}

/** A test that runs only with its prerequisites; skipped with the reason, failed in CI. */
export function testNeeding(
  name: string, reqs: readonly Prereq[], fn: (t: TestContext) => void | Promise<void>, timeoutMs = 120_000,
): void {
  const why = missing(reqs);
  if (why !== null && !IN_CI) {
    test(name, { skip: why }, () => {});
    return;
  }
  test(name, { timeout: timeoutMs }, async (t) => {
    if (why !== null) assert.fail(`CI is missing a prerequisite: ${why}`);
    await fn(t);
  });
}
