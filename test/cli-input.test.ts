// The command line's promises about bad input: one line, non-zero exit, nothing half-done.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, fixture, pdmscope } from './support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'pdmscope-cli-'));

function oneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0]!, pattern);
}

test('a file that is not a capture: one line naming it, exit 2, no output', () => {
  const path = join(tmp, 'notes.txt');
  writeFileSync(path, 'hello, this is not a pcap\n');
  for (const cmd of ['packets', 'analyze']) {
    const r = pdmscope([cmd, path, ...(cmd === 'analyze' ? ['--no-db'] : [])]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, cmd === 'packets' ? r.stdout : '');
    oneLineError(r.stderr, /notes\.txt: not a pcap or pcapng file/);
  }
});

test('a missing file and an empty file are named', () => {
  let r = pdmscope(['analyze', join(tmp, 'nope.pcap'), '--no-db']);
  assert.equal(r.status, 2);
  oneLineError(r.stderr, /nope\.pcap: no such file/);
  const empty = join(tmp, 'empty.pcap');
  writeFileSync(empty, '');
  r = pdmscope(['analyze', empty, '--no-db']);
  assert.equal(r.status, 2);
  oneLineError(r.stderr, /empty\.pcap/);
});

test('a truncated capture: results for what was read, marked incomplete, exit 2', () => {
  const whole = readFileSync(fixture('decode', 'chain-doh-udp.pcap'));
  const cut = join(tmp, 'cut.pcap');
  writeFileSync(cut, whole.subarray(0, whole.length - 7));
  const r = pdmscope(['analyze', cut, '--no-db', '--format', 'json']);
  assert.equal(r.status, 2);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.inputs[0].complete, false);
  assert.match(doc.inputs[0].error, /truncated/);
  assert.equal(doc.packets.total, 7, 'the 7 whole records still count');
  assert.match(r.stderr, /cut\.pcap: truncated/);
});

test('bad arguments: exit 1 with a one-line reason', () => {
  const r = pdmscope(['analyze', fixture('decode', 'chain-doh-udp.pcap'), '--format', 'xml']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /format/);
  const d = pdmscope(['analyze', fixture('decode', 'chain-doh-udp.pcap'), '--idle-timeout', 'soon', '--no-db']);
  assert.equal(d.status, 1);
  oneLineError(d.stderr, /--idle-timeout/);
  const u = pdmscope(['frobnicate']);
  assert.equal(u.status, 1);
});

test('an invalid BPF filter is one line', () => {
  const r = pdmscope(['packets', fixture('decode', 'chain-doh-udp.pcap'), '--filter', 'ip6 and bogus ((']);
  assert.equal(r.status, 2);
  oneLineError(r.stderr, /filter/i);
});

test('`udp` misses UDP behind Destination Options; `ip6 protochain 17` finds it', () => {
  const file = fixture('decode', 'chain-doh-udp.pcap');
  const plain = pdmscope(['packets', file, '--filter', 'udp', '--format', 'ndjson', '--quiet']);
  const chain = pdmscope(['packets', file, '--filter', 'ip6 protochain 17', '--format', 'ndjson', '--quiet']);
  assert.equal(plain.stdout.trim(), '');
  assert.equal(chain.stdout.trim().split('\n').length, 8);
  assert.match(pdmscope(['packets', '--help']).stdout, /protochain 17/);
});

test('output formats share field names; csv has a header; a closed pipe ends quietly', () => {
  const file = fixture('decode', 'chain-doh-udp.pcap');
  const nd = pdmscope(['packets', file, '--format', 'ndjson', '--quiet']).stdout.trim().split('\n').map((l) => JSON.parse(l));
  const csv = pdmscope(['packets', file, '--format', 'csv', '--quiet']).stdout.trim().split('\n');
  assert.deepEqual(csv[0]!.split(','), Object.keys(nd[0]));
  assert.equal(csv.length, nd.length + 1);
  const json = JSON.parse(pdmscope(['packets', file, '--format', 'json']).stdout);
  assert.equal(json.schema, 'pdmscope.packets/1');
  assert.deepEqual(json.pdm, nd);
  const piped = spawnSync('sh', ['-c', `node ${CLI} packets ${file} --format ndjson --quiet | head -1`], { encoding: 'utf8' });
  assert.equal(piped.status, 0);
  assert.equal(piped.stdout.trim().split('\n').length, 1);
  assert.doesNotMatch(piped.stderr, /EPIPE|Error/);
});

test('several files are read in order with per-file frame numbers', () => {
  const a = fixture('decode', 'link-ethernet.pcap');
  const b = fixture('decode', 'chain-doh-udp.pcap');
  const rows = pdmscope(['packets', a, b, '--format', 'ndjson', '--quiet']).stdout.trim().split('\n').map((l) => JSON.parse(l));
  const files = rows.map((r) => r.file);
  assert.equal(files.indexOf(b), files.findIndex((f) => f === b));
  assert.ok(files.lastIndexOf(a) < files.indexOf(b));
  assert.equal(rows.find((r) => r.file === b).frame, 1);
});
