// The option checks of every command (options.ts), on the words as typed: what counts as the same
// option (aliases, camelCase, --no-), what is a value rather than an option, where options end.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UserError } from './errors.js';
import { checkOptionsGivenOnce, durationArgNs, type DeclaredOptions } from './options.js';

/** Like yargs' getOptions() for: --db (string), --quiet/-q, --samples, --count/-c (number), --idle-timeout, --files (array). */
const OPTIONS: DeclaredOptions = {
  key: { help: true, version: true, db: true, quiet: true, q: true, samples: true, count: true, c: true, 'idle-timeout': true, files: true },
  alias: { quiet: ['q'], count: ['c'], files: [] },
  boolean: ['help', 'version', 'quiet', 'q', 'samples'],
  array: ['files'],
};

function verdict(words: string[]): string {
  try {
    checkOptionsGivenOnce(words, OPTIONS);
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof UserError && err.exitCode === 1, String(err));
    return err.message;
  }
}

test('an option twice, by any of its names, or with its negation, is refused naming its long name', () => {
  assert.match(verdict(['--db', 'a', '--db', 'b']), /^--db is given more than once/);
  assert.match(verdict(['--db=a', '--db', 'b']), /^--db is given more than once/);
  assert.match(verdict(['--db', 'a', '--no-db']), /^--db and --no-db contradict each other/);
  assert.match(verdict(['--no-db', '--db', 'a']), /^--db and --no-db contradict each other/);
  assert.match(verdict(['-q', '--quiet']), /^--quiet is given more than once/);
  assert.match(verdict(['-qq']), /^--quiet is given more than once/);
  assert.match(verdict(['--samples', '--no-samples']), /^--samples and --no-samples contradict/);
  assert.match(verdict(['--idleTimeout', '5s', '--idle-timeout', '6s']), /^--idle-timeout is given more than once/);
  assert.match(verdict(['-c', '3', '--count=4']), /^--count is given more than once/);
  assert.match(verdict(['-c5', '-c', '6']), /^--count is given more than once/);
  assert.match(verdict(['-qc', '5', '--count', '6']), /^--count is given more than once/);
});

test('values, positionals, array options and words after -- are not counted', () => {
  assert.equal(verdict(['file.pcap', '--db', 'a', 'other.pcap', '--quiet']), 'ok');
  // A value that is a negative number or duration belongs to its option.
  assert.equal(verdict(['--idle-timeout', '-5s', '--count', '-1']), 'ok');
  assert.equal(verdict(['--files', 'a', '--files', 'b']), 'ok');
  assert.equal(verdict(['--db', 'a', '--', '--db', 'b', '--no-db']), 'ok');
  // Not this command's options: yargs' strict mode names them.
  assert.equal(verdict(['--bogus', '--bogus', '--no-other', '--other']), 'ok');
  // A dashed word after a string option is an option again, as yargs reads it (db: ['', '']).
  assert.match(verdict(['--db', '--db']), /given more than once/);
});

test('durationArgNs: units, signs, zero, limits', () => {
  assert.equal(durationArgNs('5ms', 'x'), 5e6);
  assert.equal(durationArgNs('2', 'x'), 2e9);
  assert.equal(durationArgNs('2', 'x', { defaultUnit: 'ms' }), 2e6);
  assert.equal(durationArgNs('720h', 'x'), 720 * 3600e9);
  assert.equal(durationArgNs('0', 'x', { zero: true }), 0);
  assert.throws(() => durationArgNs('0', 'x'), /--x must be positive, not '0'/);
  assert.throws(() => durationArgNs('-5s', 'x'), /--x must be positive, not '-5s'/);
  assert.throws(() => durationArgNs('-1ms', 'x', { zero: true }), /--x must be zero or positive/);
  assert.throws(() => durationArgNs('11s', 'x', { zero: true, max: '10s' }), /--x must be 0\.\.10s, not '11s'/);
  assert.equal(durationArgNs('2400000000h', 'x'), 8.64e21);
  assert.equal(durationArgNs('10000000s', 'x'), 1e16);
  assert.throws(() => durationArgNs('2400000001h', 'x'), /--x '2400000001h' is too long: durations go up to 2400000000h/);
  assert.throws(() => durationArgNs('9'.repeat(400), 'x'), /too long/);
  assert.throws(() => durationArgNs('soon', 'x'), /invalid --x 'soon'/);
});
