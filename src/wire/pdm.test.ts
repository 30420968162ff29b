import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWireError } from './errors.js';
import {
  PDM_OPTION_LENGTH, checkPdm, emitPdm, encodePdmDeltaAttoseconds, encodePdmDeltaNs, parsePdm, pdmDeltaAttoseconds, pdmDeltaNs,
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

// protocol.md §3 worked examples: value × 2^scale attoseconds.
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
