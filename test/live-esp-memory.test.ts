// Issue 16: `live --esp-sa` idle on lo held 592 MB against 131 MB without keys: the ESP default
// asked libpcap for a 256 MiB ring of 64 KiB slots, each rounded up to a 128 KiB block. The ring
// now stays 32 MiB with or without keys (the snap length follows the interface MTU).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './support/cli.js';
import { ROOT, testNeeding } from './support/prereq.js';

/** Resident memory (VmRSS, kB) of an idle `live -i lo` after `afterMs`, and its exit status. */
async function idleRssKb(extra: string[], afterMs = 2500): Promise<{ rssKb: number; status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'live', '-i', 'lo', '--filter', 'udp port 9', '--duration', '4s', '--no-db', '-q', ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  await new Promise((r) => setTimeout(r, afterMs));
  let rssKb = -1;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    if (m !== null) rssKb = Number(m[1]);
  } catch { /* exited early: reported below */ }
  const status = await new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { rssKb, status, stderr };
}

testNeeding('issue 16: an idle live --esp-sa holds about what live without keys holds', [ROOT], async () => {
  const sa = join(mkdtempSync(join(tmpdir(), 'pdmscope-livesa-')), 'keys.esp_sa');
  writeFileSync(sa, '"IPv6","*","*","0x00002000","AES-GCM with 16 octet ICV [RFC4106]","0x000102030405060708090a0b0c0d0e0fdeadbeef","NULL",""\n');
  const without = await idleRssKb([]);
  const withKeys = await idleRssKb(['--esp-sa', sa]);
  for (const r of [without, withKeys]) {
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.rssKb > 0, 'no VmRSS sample');
  }
  const extraMb = (withKeys.rssKb - without.rssKb) / 1024;
  // Before: +450 MiB (a 256 MiB ring in 128 KiB blocks). Keys and the opener cost a few MiB.
  assert.ok(extraMb < 64, `--esp-sa adds ${extraMb.toFixed(0)} MiB (${withKeys.rssKb} kB against ${without.rssKb} kB)`);
});
