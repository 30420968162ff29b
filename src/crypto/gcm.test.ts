// AesGcmKey against node:crypto's AES-GCM (OpenSSL) as the oracle, and a published vector.

import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';

import { rng } from '../../test/support/build.js';
import { AesGcmKey } from './gcm.js';

function seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array, tagLen: number): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv(`aes-${key.length * 8}-gcm` as 'aes-128-gcm', key, nonce, { authTagLength: tagLen });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

test('McGrew–Viega GCM test case 2 (SP 800-38D reference vectors): K = 0, IV = 0, P = 0^128', () => {
  const key = new AesGcmKey(new Uint8Array(16));
  const ct = Buffer.from('0388dace60b6a392f328c2b971b2fe78', 'hex');
  const tag = Buffer.from('ab6e47d42cec13bdf53a67b21257bddf', 'hex');
  const packet = Buffer.concat([Buffer.alloc(3), ct, tag]);
  assert.equal(key.open(new Uint8Array(12), new Uint8Array(0), 0, 0, packet, 3, 16, 19, 16), 16);
  assert.deepEqual(key.plaintext.subarray(0, 16), Buffer.alloc(16));
});

test('random keys, nonces, AAD, payloads of 0..300 bytes and tag lengths 8/12/16 open exactly as OpenSSL seals', () => {
  const rand = rng(0x6cc);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  for (const keyLen of [16, 24, 32]) {
    const k = bytes(keyLen);
    const key = new AesGcmKey(k);
    for (let n = 0; n <= 300; n += n < 40 ? 1 : 13) {
      for (const tagLen of [8, 12, 16]) {
        const nonce = bytes(12);
        const aad = bytes(n % 2 === 0 ? 8 : 12);
        const plain = bytes(n);
        const { ct, tag } = seal(k, nonce, aad, plain, tagLen);
        const off = n % 7;
        const packet = Buffer.concat([bytes(off), ct, tag, bytes(3)]);
        const what = `key ${keyLen}, ${n} bytes, tag ${tagLen}`;
        assert.equal(key.open(nonce, aad, 0, aad.length, packet, off, n, off + n, tagLen), n, what);
        assert.deepEqual(key.plaintext.subarray(0, n), plain, what);
        // Any flipped bit — ciphertext, tag, AAD, nonce — fails the tag.
        const flips: [string, () => number][] = [
          ['tag', () => { const p = Buffer.from(packet); p[off + n + (n % tagLen)]! ^= 1 << (n % 8); return key.open(nonce, aad, 0, aad.length, p, off, n, off + n, tagLen); }],
          ['aad', () => { const a = Buffer.from(aad); a[n % a.length]! ^= 0x80; return key.open(nonce, a, 0, a.length, packet, off, n, off + n, tagLen); }],
          ['nonce', () => { const v = Buffer.from(nonce); v[11]! ^= 1; return key.open(v, aad, 0, aad.length, packet, off, n, off + n, tagLen); }],
        ];
        if (n > 0) flips.push(['ct', () => { const p = Buffer.from(packet); p[off + (n * 7) % n]! ^= 4; return key.open(nonce, aad, 0, aad.length, p, off, n, off + n, tagLen); }]);
        for (const [name, f] of flips) assert.equal(f(), -1, `${what}: flipped ${name}`);
      }
    }
  }
});

test('a jumbo payload (70,000 bytes) opens as OpenSSL seals it', () => {
  const k = Buffer.alloc(16, 7);
  const nonce = Buffer.alloc(12, 9);
  const plain = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff));
  const { ct, tag } = seal(k, nonce, Buffer.alloc(8, 1), plain, 16);
  const packet = Buffer.concat([ct, tag]);
  const key = new AesGcmKey(k);
  assert.equal(key.open(nonce, Buffer.alloc(8, 1), 0, 8, packet, 0, ct.length, ct.length, 16), plain.length);
  assert.deepEqual(key.plaintext.subarray(0, plain.length), plain);
});

// The queue (queueOpen / runQueue / finishQueued): one AES call for many packets must give
// exactly `open`'s results, packet by packet, whatever else is in the batch.
test('queued opening: batches of 1 and of many, mixed lengths and tag lengths, failures in the middle', () => {
  const rand = rng(0x9a7c);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  for (const keyLen of [16, 32]) {
    const k = bytes(keyLen);
    const key = new AesGcmKey(k);
    const reference = new AesGcmKey(k);
    for (const batch of [1, 2, 7, 300]) {
      const jobs: { nonce: Buffer; aad: Buffer; packet: Buffer; off: number; n: number; tagLen: number; expect: number; plain: Buffer }[] = [];
      for (let i = 0; i < batch; i++) {
        const n = Math.floor(rand() * 200);
        const tagLen = [8, 12, 16][i % 3]!;
        const nonce = bytes(12);
        const aad = bytes(i % 2 === 0 ? 8 : 12);
        const plain = bytes(n);
        const { ct, tag } = seal(k, nonce, aad, plain, tagLen);
        const off = i % 5;
        const packet = Buffer.concat([bytes(off), ct, tag]);
        // Every third packet of a larger batch, and the middle one, has a flipped tag bit.
        const bad = batch > 1 && (i % 3 === 1 || i === batch >> 1);
        if (bad) packet[off + n + (i % tagLen)]! ^= 0x10;
        const expect = reference.open(nonce, aad, 0, aad.length, packet, off, n, off + n, tagLen);
        assert.equal(expect, bad ? -1 : n, `reference, packet ${i}`);
        jobs.push({ nonce, aad, packet, off, n, tagLen, expect, plain });
      }
      assert.equal(key.queued, 0);
      for (const [i, j] of jobs.entries()) {
        assert.equal(key.queueOpen(j.nonce, j.aad, 0, j.aad.length, j.packet, j.off, j.n), i);
      }
      assert.equal(key.queued, batch);
      key.runQueue();
      // Finished from a copy at the same offsets, in reverse order: each job stands alone.
      for (let i = batch - 1; i >= 0; i--) {
        const j = jobs[i]!;
        const copy = Buffer.from(j.packet);
        const what = `key ${keyLen}, batch ${batch}, packet ${i}`;
        assert.equal(key.finishQueued(i, copy, j.off, j.n, j.off + j.n, j.tagLen), j.expect, what);
        if (j.expect >= 0) assert.deepEqual(key.plaintext.subarray(0, j.n), j.plain, what);
      }
      key.clearQueue();
      assert.equal(key.queued, 0);
    }
  }
});

test('queued opening: a job is finished only after runQueue and before clearQueue; open in between is unaffected', () => {
  const k = Buffer.alloc(16, 3);
  const key = new AesGcmKey(k);
  const nonce = Buffer.alloc(12, 1);
  const plain = Buffer.from('queued and direct');
  const { ct, tag } = seal(k, nonce, Buffer.alloc(8), plain, 16);
  const packet = Buffer.concat([ct, tag]);
  const job = key.queueOpen(nonce, Buffer.alloc(8), 0, 8, packet, 0, ct.length);
  assert.throws(() => key.finishQueued(job, packet, 0, ct.length, ct.length, 16), /not queued and run/);
  // A direct open between queue and run uses its own counter blocks.
  assert.equal(key.open(nonce, Buffer.alloc(8), 0, 8, packet, 0, ct.length, ct.length, 16), ct.length);
  key.runQueue();
  assert.equal(key.finishQueued(job, packet, 0, ct.length, ct.length, 16), ct.length);
  assert.deepEqual(key.plaintext.subarray(0, ct.length), plain);
  assert.throws(() => key.finishQueued(job + 1, packet, 0, ct.length, ct.length, 16), /not queued and run/);
  key.clearQueue();
  assert.throws(() => key.finishQueued(job, packet, 0, ct.length, ct.length, 16), /not queued and run/);
  // A run of an empty queue is harmless; queueing again starts at job 0.
  key.runQueue();
  assert.equal(key.queueOpen(nonce, Buffer.alloc(8), 0, 8, packet, 0, ct.length), 0);
});
