import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/support/build.js';
import { isWireError } from './errors.js';
import {
  PDM_OPTION_LENGTH, PDMV2_OPTION_LENGTH, checkPdm, checkPdmV2, emitPdm, emitPdmV2, encodePdmDeltaAttoseconds, encodePdmDeltaNs,
  parsePdm, parsePdmV2, pdmDeltaAttoseconds, pdmDeltaNs, pdmVersionOf,
} from './pdm.js';

// RFC 8250 §3.2
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Option Type  | Option Length |   ScaleDTLR   |   ScaleDTLS   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   PSN This Packet (PSNTP)     |  PSN Last Received (PSNLR)    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Delta Time Last Recv (DTLR)  |  Delta Time Last Sent (DTLS)  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const VECTOR = Uint8Array.from([
  0x0f, 0x0a, 0x2c, 0x2e, // type 0x0F, length 10, ScaleDTLR 44, ScaleDTLS 46
  0x00, 0x19, 0x00, 0x0c, // PSNTP 25, PSNLR 12
  0xde, 0x0b, 0xb1, 0xa2, // DeltaTLR 0xDE0B (≈1 s at scale 44), DeltaTLS 0xB1A2
]);

test('parses the RFC 8250 §3.2 layout field by field', () => {
  assert.equal(checkPdm(VECTOR, 0, VECTOR.length), 10);
  assert.deepEqual(parsePdm(VECTOR, 0), {
    scaleDtlr: 44, scaleDtls: 46, psnThisPkt: 25, psnLastRecv: 12, deltaLastRecv: 0xde0b, deltaLastSent: 0xb1a2,
  });
});

test('emit and parse share one layout', () => {
  const buf = new Uint8Array(PDM_OPTION_LENGTH);
  emitPdm(parsePdm(VECTOR, 0), buf, 0);
  assert.deepEqual(buf, VECTOR);
});

test('every truncation of the option is an error, never an exception', () => {
  for (let len = 0; len < VECTOR.length; len++) {
    const r = checkPdm(VECTOR.subarray(0, len), 0, len);
    assert.ok(isWireError(r), `length ${len}`);
  }
});

test('a length other than 10 is reported, not parsed as RFC 8250', () => {
  const v2 = new Uint8Array(20);
  v2[0] = 0x0f;
  v2[1] = 18;
  const r = checkPdm(v2, 0, v2.length);
  assert.ok(isWireError(r) && r.wireError === 'bad_length');
});

// docs/protocol.md §3 worked examples: value × 2^scale attoseconds.
const EXAMPLES: [string, bigint, number, number][] = [
  ['1 ns', 1_000_000_000n, 61035, 14],
  ['1 ms', 1_000_000_000_000_000n, 58207, 34],
  ['50 ms', 50_000_000_000_000_000n, 45474, 40],
  ['1 s', 1_000_000_000_000_000_000n, 56843, 44],
  ['1 h', 3_600_000_000_000_000_000_000n, 49960, 56],
];

for (const [name, attoseconds, delta, scale] of EXAMPLES) {
  test(`encodes ${name} as ${delta} × 2^${scale}`, () => {
    assert.deepEqual(encodePdmDeltaAttoseconds(attoseconds), { delta, scale });
    const decodedAs = pdmDeltaAttoseconds(delta, scale);
    assert.ok(decodedAs <= attoseconds && attoseconds - decodedAs < 1n << BigInt(scale));
  });
}

test('decoding never uses 32-bit shifts: scales 16..255 stay exact', () => {
  for (let scale = 0; scale <= 255; scale++) {
    const exact = pdmDeltaAttoseconds(0xffff, scale);
    const ns = pdmDeltaNs(0xffff, scale);
    const rel = Math.abs(ns - Number(exact) / 1e9) / (Number(exact) / 1e9);
    assert.ok(rel < 1e-12, `scale ${scale}`);
    assert.ok(ns > 0);
  }
  assert.equal(pdmDeltaNs(1, 16), 65536 / 1e9); // `1 << 16` would be fine, `1 << 32` would be 1
  assert.equal(pdmDeltaNs(1, 32), 2 ** 32 / 1e9);
});

test('scale 0 is raw attoseconds, not "unused"', () => {
  assert.equal(pdmDeltaNs(65535, 0), 65535 / 1e9);
  assert.deepEqual(encodePdmDeltaAttoseconds(65535n), { delta: 65535, scale: 0 });
  assert.deepEqual(encodePdmDeltaAttoseconds(65536n), { delta: 32768, scale: 1 });
});

test('75 s and long intervals encode normalised within the quantum', () => {
  const enc = encodePdmDeltaNs(75_000_000_000n);
  assert.ok(enc.delta >= 32768 && enc.delta <= 65535);
  const back = pdmDeltaAttoseconds(enc.delta, enc.scale);
  const truth = 75_000_000_000n * 1_000_000_000n;
  assert.ok(back <= truth && truth - back < 1n << BigInt(enc.scale));
});

test('zero and negative durations encode as no sample', () => {
  assert.deepEqual(encodePdmDeltaNs(0n), { delta: 0, scale: 0 });
  assert.deepEqual(encodePdmDeltaNs(-5n), { delta: 0, scale: 0 });
});

// draft-ietf-ippm-encrypted-pdmv2-14 §7, the clear form
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Option Type  | Opt Data Len  | Vers. |        Epoch          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  PSN This Packet (PSNTP)                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  PSN Last Received (PSNLR)                    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  Global Pointer                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   ScaleDTLR   |   ScaleDTLS   |           Reserved            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Delta Time Last Recv (DTLR)  |  Delta Time Last Sent (DTLS)  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const V2_VECTOR = Uint8Array.from([
  0x0f, 0x16, 0x2a, 0xbc, // type 0x0F, length 22, Version 2, Epoch 0xABC
  0xff, 0xff, 0xff, 0xfe, // PSNTP 2^32 − 2
  0x80, 0x00, 0x00, 0x01, // PSNLR 2^31 + 1
  0x12, 0x34, 0x56, 0x78, // Global Pointer 0x12345678
  0x2c, 0x28, 0x00, 0x00, // ScaleDTLR 44, ScaleDTLS 40, Reserved
  0xde, 0x0b, 0xb1, 0xa2, // DeltaTLR 0xDE0B, DeltaTLS 0xB1A2
]);
const V2_FIELDS = {
  epoch: 0xabc, psnThisPkt: 0xffff_fffe, psnLastRecv: 0x8000_0001, globalPointer: 0x1234_5678,
  scaleDtlr: 44, scaleDtls: 40, deltaLastRecv: 0xde0b, deltaLastSent: 0xb1a2,
};

test('PDMv2: parses the draft-14 clear layout field by field, 32-bit PSNs unsigned', () => {
  assert.equal(pdmVersionOf(V2_VECTOR, 0), 2);
  assert.equal(pdmVersionOf(VECTOR, 0), 1);
  assert.equal(checkPdmV2(V2_VECTOR, 0, V2_VECTOR.length), 22);
  assert.deepEqual(parsePdmV2(V2_VECTOR, 0), V2_FIELDS);
  // Reserved is ignored on receipt and written as 0.
  const reserved = V2_VECTOR.slice();
  reserved[18] = 0xff;
  reserved[19] = 0x01;
  assert.deepEqual(parsePdmV2(reserved, 0), V2_FIELDS);
});

test('PDMv2: emit and parse share one layout', () => {
  const buf = new Uint8Array(PDMV2_OPTION_LENGTH + 3).fill(0x55);
  assert.equal(emitPdmV2(parsePdmV2(V2_VECTOR, 0), buf, 3), PDMV2_OPTION_LENGTH);
  assert.deepEqual(buf.subarray(3), V2_VECTOR);
  assert.deepEqual([...buf.subarray(0, 3)], [0x55, 0x55, 0x55], 'nothing written before the option');
});

test('PDMv2: every truncation is an error, never an exception', () => {
  for (let len = 0; len < V2_VECTOR.length; len++) {
    const r = checkPdmV2(V2_VECTOR.subarray(0, len), 0, len);
    assert.ok(isWireError(r) && r.wireError === 'truncated', `length ${len}`);
  }
});

test('PDMv2: length 22 with another version, and other lengths with version 2, are not PDMv2', () => {
  for (const version of [0, 1, 3, 15]) {
    const v = V2_VECTOR.slice();
    v[2] = (version << 4) | (v[2]! & 0x0f);
    assert.equal(pdmVersionOf(v, 0), 0, `version ${version}`);
    const r = checkPdmV2(v, 0, v.length);
    assert.ok(isWireError(r) && r.wireError === 'bad_length');
  }
  for (const dataLen of [8, 10, 18, 20, 21, 23, 34]) {
    const v = new Uint8Array(2 + dataLen);
    v[0] = 0x0f;
    v[1] = dataLen;
    v[2] = 0x20; // version nibble 2
    assert.equal(pdmVersionOf(v, 0), dataLen === 10 ? 1 : 0, `length ${dataLen}`);
    const r = checkPdmV2(v, 0, v.length);
    assert.ok(isWireError(r) && r.wireError === 'bad_length', `length ${dataLen}`);
  }
});

test('PDMv2: 100,000 seeded random options never throw; a checked one round-trips', () => {
  const rand = rng(22);
  const buf = new Uint8Array(40);
  const out = new Uint8Array(PDMV2_OPTION_LENGTH);
  let parsed = 0;
  for (let i = 0; i < 100_000; i++) {
    const len = Math.floor(rand() * buf.length);
    for (let k = 0; k < len; k++) buf[k] = Math.floor(rand() * 256);
    if (i % 2 === 0 && len >= 3) { buf[0] = 0x0f; buf[1] = 22; buf[2] = 0x20 | (buf[2]! & 0x0f); }
    buf[18] = 0; buf[19] = 0; // Reserved as emitted, so the round trip compares every byte
    const r = checkPdmV2(buf, 0, len);
    if (isWireError(r)) continue;
    parsed++;
    emitPdmV2(parsePdmV2(buf, 0), out, 0);
    assert.deepEqual(out, buf.subarray(0, PDMV2_OPTION_LENGTH));
  }
  assert.ok(parsed > 10_000, `${parsed} parsed`);
});
