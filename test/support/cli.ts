// Runs the built CLI as a user would.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = join(REPO, 'dist/src/cli/main.js');

export interface CliResult { status: number; stdout: string; stderr: string }

export function pdmscope(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? REPO, encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function fixture(...parts: string[]): string {
  return join(REPO, 'fixtures', ...parts);
}
