// Issue 16, defects 3-5 and the FIFO item, as a user meets them: `--esp-sa` with a key in the
// wrong column, an odd-length key, an IPv4 line, /dev/zero, a FIFO with and without a writer.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, fixture, pdmscope } from './support/cli.js';

const PCAP = fixture('esp', 'matrix.pcap');
const KEY_HEX = '5eed5eed0badc0de1234567890abcdeff00dbabe';
const GOOD = ['IPv6', '2001:db8::1', '2001:db8::2', '0x00001001', 'AES-GCM with 16 octet ICV [RFC4106]',
  '0x000102030405060708090a0b0c0d0e0fdeadbeef', 'NULL', ''];

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'pdmscope-sacli-')), name);
  writeFileSync(path, text);
  return path;
}

function line(fields: string[]): string {
  return fields.map((f) => `"${f}"`).join(',');
}

function analyze(sa: string): { status: number; stdout: string; stderr: string } {
  return pdmscope(['analyze', PCAP, '--esp-sa', sa, '--no-db', '--format', 'json', '--quiet']);
}

test('issue 16: a key in any field of an esp_sa line never reaches stderr', () => {
  const variants: string[][] = [];
  for (let i = 0; i < GOOD.length; i++) {
    if (i === 5) continue; // the key's own field: a valid line
    const f = [...GOOD];
    f[i] = `0x${KEY_HEX}`;
    variants.push(f);
  }
  variants.push([...GOOD, `0x${KEY_HEX}`], [...GOOD, 'esn', KEY_HEX]);
  for (const fields of variants) {
    const r = analyze(tempFile('k.esp_sa', `# planted\n${line(fields)}\n`));
    assert.equal(r.status, 2, `${line(fields)}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /esp_sa file .*k\.esp_sa, line 2: /);
    for (let k = 0; k + 8 <= KEY_HEX.length; k++) {
      assert.equal(r.stderr.toLowerCase().includes(KEY_HEX.slice(k, k + 8)), false, `stderr quotes the key: ${r.stderr}`);
    }
    assert.equal(r.stdout, '');
  }
});

test('issue 16: a 39-digit AES-GCM key and an IPv4 line are errors with their line number', () => {
  const odd = [...GOOD];
  odd[5] = `0x${'0102030405060708090a0b0c0d0e0f10deadbee'}`;
  let r = analyze(tempFile('odd.esp_sa', `${line(GOOD)}\n${line(odd)}\n`));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /line 2: field 6 \(encryption key\) has an odd number of hex digits \(39\)/);
  const v4 = ['IPv4', '192.0.2.1', '192.0.2.2', '0x1001', 'NULL', '', 'NULL', ''];
  r = analyze(tempFile('v4.esp_sa', `\n\n${line(v4)}\n`));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /line 3: field 1 \(protocol\) is "IPv4": pdmscope reads ESP in IPv6 packets only/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
});

test('issue 16: --esp-sa /dev/zero is refused at once', () => {
  // With a deadline: reading /dev/zero whole (as before) grows without end.
  const r = spawnSync(process.execPath, [CLI, 'analyze', PCAP, '--esp-sa', '/dev/zero', '--no-db', '--quiet'],
    { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.signal, null, 'still reading /dev/zero after 10 s');
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'pdmscope: esp_sa file /dev/zero: is a character device, not an SA file (give a regular file or a FIFO)');
});

function mkfifo(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'pdmscope-sacli-')), 'keys.fifo');
  execFileSync('mkfifo', [path]);
  return path;
}

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr, ms: performance.now() - t0 })));
}

test('issue 16: --esp-sa FIFO: read like the file when written, a notice and an error when nobody writes', { timeout: 60_000 }, async () => {
  const keys = readFileSync(fixture('esp', 'matrix.esp_sa'), 'utf8');
  const expected = analyze(fixture('esp', 'matrix.esp_sa'));
  assert.equal(expected.status, 0, expected.stderr);

  const fifo = mkfifo();
  const args = ['analyze', PCAP, '--esp-sa', fifo, '--no-db', '--format', 'json', '--quiet'];
  const reading = run(args);
  // The writer comes after pdmscope has opened the FIFO, as a script feeding it would.
  await new Promise((r) => setTimeout(r, 300));
  const writer = spawn('sh', ['-c', 'cat > "$1"', 'sh', fifo], { stdio: ['pipe', 'ignore', 'ignore'] });
  writer.stdin.end(keys);
  const r = await reading;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, expected.stdout);

  const idle = await run(args);
  assert.equal(idle.status, 2);
  assert.deepEqual(idle.stderr.trimEnd().split('\n'), [
    `pdmscope: esp_sa file ${fifo} is a FIFO with no writer yet: waiting up to 10 s`,
    `pdmscope: esp_sa file ${fifo}: is a FIFO that nobody wrote to within 10 s`,
  ]);
  assert.ok(idle.ms > 9000 && idle.ms < 20_000, `${idle.ms} ms`);
});
