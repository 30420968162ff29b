// Helpers for the live integration tests (test/live-*.test.ts): run `pdmscope live`, tcpdump and
// the injector as child processes and wait for what they print.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TrafficSpec } from './traffic.js';

export const CLI_JS = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const INJECT_JS = fileURLToPath(new URL('./inject-main.js', import.meta.url));

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr (or stdout) matches, rejects after `ms` or if the process exits. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code and how long after `since` (default: now) it came. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/** `prefix` runs the command through another program, e.g. ['ip', 'netns', 'exec', 'ns1']. */
export function start(cmd: string, args: readonly string[], prefix: readonly string[] = []): Running {
  const argv = [...prefix, cmd, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = (): void => { for (const l of [...listeners]) l(); };
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); notify(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); notify(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal, atMs: Date.now() }); notify(); });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (re, ms = 10_000) => new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(err) ?? re.exec(out);
        if (m !== null) { done(); resolve(m); return; }
        if (child.exitCode !== null || child.signalCode !== null) {
          done(); reject(new Error(`${cmd} exited before printing ${re}: ${err.trim()}`));
        }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${re}; stderr: ${err.trim()}`)); }, ms);
      const done = (): void => { clearTimeout(timer); listeners.delete(check); };
      listeners.add(check);
      check();
    }),
    exited: () => exit,
  };
}

export function startLive(args: readonly string[], prefix: readonly string[] = []): Running {
  return start(process.execPath, [CLI_JS, 'live', ...args], prefix);
}

/** Injects the traffic (synchronously) and returns the injector's report. */
export function inject(spec: TrafficSpec & { iface: string; ratePps?: number }, prefix: readonly string[] = []): { sent: number; failed: number; seconds: number } {
  const argv = [...prefix, process.execPath, INJECT_JS, JSON.stringify(spec)];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`injector failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { sent: number; failed: number; seconds: number };
}

/** tcpdump writing a pcap; resolves once it listens. Stop it with SIGINT and await exited(). */
export async function startTcpdump(iface: string, filter: string, path: string, prefix: readonly string[] = []): Promise<Running> {
  const t = start('tcpdump', ['-i', iface, '-U', '-n', '-w', path, filter], prefix);
  await t.waitFor(/listening on/);
  return t;
}

export function runCli(args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_JS, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A ULA /48 (fd00::/8) unique to this process and call. */
let counter = 0;
export function uniquePrefix(): string {
  counter++;
  return `fd00:${(0x5d00 + ((process.pid >> 8) & 0xff)).toString(16)}:${(((process.pid & 0xff) << 8) | (counter & 0xff)).toString(16)}`;
}
