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
