// AES-GCM decryption (NIST SP 800-38D) with one reused AES-ECB cipher per key and GHASH in
// JavaScript. node:crypto's GCM needs a new Decipher per packet, and that set-up (~4.7 µs:
// allocation, cipher lookup, context init) is nearly all of a small packet's cost; here the AES
// work for a packet — E_K(J0) for the tag and E_K(inc32^i(J0)) for the keystream (§7.2) — is one
// `update` call on a cipher made once, and GHASH (§6.4) runs on a per-key table.
//
// GHASH: blocks are 128-bit big-endian values in four int32 words; bit 0 is the MSB of byte 0.
// X·H = XOR over set bits k of X of H·x^k, and H·x^(k+1) = (H·x^k) >> 1, XOR R = 0xE1 ‖ 0^120
// when the bit shifted out was 1 (§6.3 Algorithm 1). The table holds, for each byte position i
// and byte value b, the XOR of H·x^(8i+j) over the bits j of b (MSB first): 16 lookups a block.
// The table depends on the key only; lookups indexed by data are not constant-time, which is
// acceptable for reading captures offline, not for a live endpoint.

import { type Cipher, createCipheriv } from 'node:crypto';
import { endianness } from 'node:os';

import { readU32 } from '../wire/bytes.js';

const BLOCK = 16;
const HOST_LE = endianness() === 'LE';

export class AesGcmKey {
  private readonly ecb: Cipher;
  /** 16 byte positions × 256 values × 4 words. */
  private readonly table = new Int32Array(16 * 256 * 4);
  private counters = Buffer.alloc(BLOCK * 64);
  private counterWords = new Int32Array(this.counters.buffer, this.counters.byteOffset, this.counters.length >> 2);
  /** The plaintext of the last successful `open`, bytes [0, its return value); reused. */
  plaintext = Buffer.alloc(BLOCK * 64);
  /** counters.subarray(0, 16·n) by n, made once per size rather than per packet. */
  private counterViews: Buffer[] = [];
  private readonly lastBlock = new Uint8Array(BLOCK);
  private readonly s = new Int32Array(4);
  /** The queue (see queueOpen): counter blocks, per job its first block and S, the keystream. */
  private queueCounters = Buffer.alloc(BLOCK * 512);
  private queueCounterWords = new Int32Array(this.queueCounters.buffer, this.queueCounters.byteOffset, this.queueCounters.length >> 2);
  private queueState = new Int32Array(JOB_WORDS * 64);
  private queueBlocks = 0;
  private queueJobs = 0;
  private queueKs: Uint8Array | null = null;
  /** GHASH state. */
  private x0 = 0; private x1 = 0; private x2 = 0; private x3 = 0;

  /** `aesKey`: 16, 24 or 32 bytes (the ESP salt already removed). */
  constructor(aesKey: Uint8Array) {
    this.ecb = createCipheriv(`aes-${aesKey.length * 8}-ecb`, aesKey, null);
    this.ecb.setAutoPadding(false);
    const h = this.ecb.update(Buffer.alloc(BLOCK));
    this.fillTable(h.readInt32BE(0), h.readInt32BE(4), h.readInt32BE(8), h.readInt32BE(12));
  }

  private fillTable(h0: number, h1: number, h2: number, h3: number): void {
    const t = this.table;
    let v0 = h0, v1 = h1, v2 = h2, v3 = h3;
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 8; j++) {
        // V = H·x^(8i+j) goes to the single-bit entry of byte value 0x80 >> j.
        const e = ((i << 8) | (0x80 >> j)) << 2;
        t[e] = v0; t[e + 1] = v1; t[e + 2] = v2; t[e + 3] = v3;
        const carry = v3 & 1;
        v3 = (v3 >>> 1) | (v2 << 31);
        v2 = (v2 >>> 1) | (v1 << 31);
        v1 = (v1 >>> 1) | (v0 << 31);
        v0 = (v0 >>> 1) ^ (carry !== 0 ? 0xe1000000 | 0 : 0);
      }
      for (let b = 1; b < 256; b++) {
        const low = b & -b;
        if (low === b) continue;
        const e = ((i << 8) | b) << 2;
        const a = ((i << 8) | (b ^ low)) << 2;
        const s = ((i << 8) | low) << 2;
        t[e] = t[a]! ^ t[s]!; t[e + 1] = t[a + 1]! ^ t[s + 1]!;
        t[e + 2] = t[a + 2]! ^ t[s + 2]!; t[e + 3] = t[a + 3]! ^ t[s + 3]!;
      }
    }
  }

  /** X = (X ^ block) · H for the block of words w0..w3. */
  private ghashBlock(w0: number, w1: number, w2: number, w3: number): void {
    const t = this.table;
    const a = this.x0 ^ w0, b = this.x1 ^ w1, c = this.x2 ^ w2, d = this.x3 ^ w3;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    let e = (a >>> 24) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x100 | ((a >>> 16) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x200 | ((a >>> 8) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x300 | (a & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x400 | (b >>> 24)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x500 | ((b >>> 16) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x600 | ((b >>> 8) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x700 | (b & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x800 | (c >>> 24)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0x900 | ((c >>> 16) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0xa00 | ((c >>> 8) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0xb00 | (c & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0xc00 | (d >>> 24)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0xd00 | ((d >>> 16) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0xe00 | ((d >>> 8) & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    e = (0xf00 | (d & 0xff)) << 2; z0 ^= t[e]!; z1 ^= t[e + 1]!; z2 ^= t[e + 2]!; z3 ^= t[e + 3]!;
    this.x0 = z0; this.x1 = z1; this.x2 = z2; this.x3 = z3;
  }

  /** GHASH over `buf[off, off + len)`, zero-padded to whole blocks (§6.4, §7.2 step 5). */
  private ghashBytes(buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let o = off;
    for (; o + BLOCK <= end; o += BLOCK) {
      this.ghashBlock(readU32(buf, o), readU32(buf, o + 4), readU32(buf, o + 8), readU32(buf, o + 12));
    }
    if (o < end) {
      // The last partial block, zero-padded, without a subarray per packet.
      const last = this.lastBlock;
      let k = 0;
      for (; o + k < end; k++) last[k] = buf[o + k]!;
      for (; k < BLOCK; k++) last[k] = 0;
      this.ghashBytes(last, 0, BLOCK);
    }
  }

  /**
   * Decrypts `buf[ctOff, ctOff + ctLen)` with the 12-byte `nonce` and the AAD
   * `aad[aadOff, aadOff + aadLen)`, verifying the tag
   * `buf[tagOff, tagOff + tagLen)` (8 to 16 bytes, a prefix of the full tag, §5.2.1.2). Returns
   * the plaintext length (the bytes are `plaintext[0, length)`, overwritten by the next call), or
   * -1 when the tag differs.
   */
  open(nonce: Uint8Array, aad: Uint8Array, aadOff: number, aadLen: number,
    buf: Uint8Array, ctOff: number, ctLen: number, tagOff: number, tagLen: number): number {
    const blocks = 1 + ((ctLen + BLOCK - 1) >> 4);
    let ctr = this.counters;
    if (ctr.length < blocks * BLOCK) {
      ctr = this.counters = Buffer.alloc(blocks * BLOCK * 2);
      this.counterWords = new Int32Array(ctr.buffer, ctr.byteOffset, ctr.length >> 2);
      this.counterViews = [];
    }
    writeCounterBlocks(this.counterWords, 0, nonce, blocks);
    const ks = this.ecb.update(this.counterViews[blocks] ??= ctr.subarray(0, blocks * BLOCK));
    this.ghash(aad, aadOff, aadLen, buf, ctOff, ctLen);
    return this.checkAndDecrypt(ks, 0, this.x0, this.x1, this.x2, this.x3, buf, ctOff, ctLen, tagOff, tagLen);
  }

  // --- Batched opening -------------------------------------------------------------------------
  // A node:crypto `update` call costs ~0.7-1.3 µs whatever its length, several times the AES work
  // for a small packet, so a reader with many packets queues them: `queueOpen` writes a packet's
  // counter blocks and computes its GHASH at once (the ciphertext is read then), `runQueue`
  // encrypts the counter blocks of every queued packet in one `update`, and `finishQueued`
  // checks each tag and decrypts. Outcomes are exactly `open`'s; only the AES call is shared.

  /** Packets queued since the last `clearQueue`. */
  get queued(): number {
    return this.queueJobs;
  }

  /**
   * Queues the packet `open` would take with these arguments and returns its job number; the
   * ciphertext is read now (GHASH) and again by `finishQueued`, from the same or an equal copy.
   */
  queueOpen(nonce: Uint8Array, aad: Uint8Array, aadOff: number, aadLen: number,
    buf: Uint8Array, ctOff: number, ctLen: number): number {
    const job = this.queueCountersFor(nonce, ctLen);
    this.ghash(aad, aadOff, aadLen, buf, ctOff, ctLen);
    const st = this.queueState;
    const j = job * JOB_WORDS;
    st[j + 1] = this.x0; st[j + 2] = this.x1; st[j + 3] = this.x2; st[j + 4] = this.x3;
    return job;
  }

  /**
   * Queues only the AES part of a packet with `ctLen` bytes of ciphertext: after `runQueue`,
   * `keystreamOffset(job)` locates E_K(J0) ‖ E_K(inc32(J0)) ‖ … (16 + ctLen bytes, rounded up to
   * whole blocks) in `keystream`, for `openWithKeystream` elsewhere (another thread).
   */
  queueKeystream(nonce: Uint8Array, ctLen: number): number {
    return this.queueCountersFor(nonce, ctLen);
  }

  /** The keystream of the last `runQueue` (see queueKeystream). */
  get keystream(): Uint8Array {
    const ks = this.queueKs;
    if (ks === null) throw new Error('AES-GCM queue not run');
    return ks;
  }

  /** Where queued `job`'s keystream starts in `keystream`. */
  keystreamOffset(job: number): number {
    if (this.queueKs === null || job < 0 || job >= this.queueJobs) throw new Error(`AES-GCM job ${job} is not queued and run`);
    return this.queueState[job * JOB_WORDS]! * BLOCK;
  }

  /**
   * `open` with the AES work already done: `ks[ksOff, ksOff + 16 + ctLen)` is E_K(J0) ‖
   * E_K(inc32(J0)) ‖ … for this packet's nonce (see queueKeystream; the caller vouches for it).
   */
  openWithKeystream(aad: Uint8Array, aadOff: number, aadLen: number, buf: Uint8Array, ctOff: number, ctLen: number,
    tagOff: number, tagLen: number, ks: Uint8Array, ksOff: number): number {
    this.ghash(aad, aadOff, aadLen, buf, ctOff, ctLen);
    return this.checkAndDecrypt(ks, ksOff, this.x0, this.x1, this.x2, this.x3, buf, ctOff, ctLen, tagOff, tagLen);
  }

  /** Queues the counter blocks for a packet of `ctLen` bytes; returns its job number. */
  private queueCountersFor(nonce: Uint8Array, ctLen: number): number {
    const blocks = 1 + ((ctLen + BLOCK - 1) >> 4);
    const first = this.queueBlocks;
    if ((first + blocks) * BLOCK > this.queueCounters.length) {
      const grown = Buffer.alloc(Math.max(this.queueCounters.length * 2, (first + blocks) * BLOCK * 2));
      grown.set(this.queueCounters.subarray(0, first * BLOCK));
      this.queueCounters = grown;
      this.queueCounterWords = new Int32Array(grown.buffer, grown.byteOffset, grown.length >> 2);
    }
    const job = this.queueJobs;
    if ((job + 1) * JOB_WORDS > this.queueState.length) {
      const grown = new Int32Array(this.queueState.length * 2);
      grown.set(this.queueState);
      this.queueState = grown;
    }
    writeCounterBlocks(this.queueCounterWords, first << 2, nonce, blocks);
    this.queueState[job * JOB_WORDS] = first;
    this.queueBlocks = first + blocks;
    this.queueJobs = job + 1;
    this.queueKs = null;
    return job;
  }

  /** Encrypts the counter blocks of every queued packet: one node:crypto call. */
  runQueue(): void {
    this.queueKs = this.queueBlocks === 0 ? EMPTY
      : this.ecb.update(this.queueCounters.subarray(0, this.queueBlocks * BLOCK));
  }

  /**
   * `open`'s result for queued `job` (after `runQueue`): the plaintext length, bytes in
   * `plaintext[0, length)` until the next call, or -1 when the tag differs. `buf` holds the same
   * bytes the job was queued with.
   */
  finishQueued(job: number, buf: Uint8Array, ctOff: number, ctLen: number, tagOff: number, tagLen: number): number {
    const ks = this.queueKs;
    if (ks === null || job < 0 || job >= this.queueJobs) throw new Error(`AES-GCM job ${job} is not queued and run`);
    const st = this.queueState;
    const j = job * JOB_WORDS;
    return this.checkAndDecrypt(ks, st[j]! * BLOCK, st[j + 1]!, st[j + 2]!, st[j + 3]!, st[j + 4]!, buf, ctOff, ctLen, tagOff, tagLen);
  }

  /** Forgets every queued packet. */
  clearQueue(): void {
    this.queueJobs = 0;
    this.queueBlocks = 0;
    this.queueKs = null;
  }

  /** S = GHASH(A ‖ 0^v ‖ C ‖ 0^u ‖ [len(A)]64 ‖ [len(C)]64) into x0..x3 (§7.2 step 5); bit lengths < 2^32 here. */
  private ghash(aad: Uint8Array, aadOff: number, aadLen: number, buf: Uint8Array, ctOff: number, ctLen: number): void {
    this.x0 = 0; this.x1 = 0; this.x2 = 0; this.x3 = 0;
    this.ghashBytes(aad, aadOff, aadLen);
    this.ghashBytes(buf, ctOff, ctLen);
    this.ghashBlock(0, aadLen * 8, Math.floor(ctLen / 0x20000000), (ctLen * 8) | 0);
  }

  /**
   * With `ks[ksOff, …)` = E_K(J0) ‖ E_K(inc32(J0)) ‖ … and S = s0..s3: checks T = MSB_t(E_K(J0) ⊕ S)
   * against the tag without an early exit, then writes the plaintext; -1 when the tag differs.
   */
  private checkAndDecrypt(ks: Uint8Array, ksOff: number, s0: number, s1: number, s2: number, s3: number,
    buf: Uint8Array, ctOff: number, ctLen: number, tagOff: number, tagLen: number): number {
    const s = this.s;
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
    let diff = 0;
    for (let k = 0; k < tagLen; k++) {
      const sByte = (s[k >> 2]! >>> (24 - 8 * (k & 3))) & 0xff;
      diff |= (sByte ^ ks[ksOff + k]!) ^ buf[tagOff + k]!;
    }
    if (diff !== 0) return -1;
    let p = this.plaintext;
    if (p.length < ctLen) p = this.plaintext = Buffer.alloc(ctLen * 2);
    const from = ksOff + BLOCK;
    for (let k = 0; k < ctLen; k++) p[k] = buf[ctOff + k]! ^ ks[from + k]!;
    return ctLen;
  }
}

/** Words per queued job: first counter block, S (4 words). */
const JOB_WORDS = 5;
const EMPTY = new Uint8Array(0);

/**
 * J0 = IV ‖ 0^31 ‖ 1 (§7.2 step 2, 96-bit IV) and inc32^i(J0) for i < blocks − 1, from word `w`
 * of `cw`, as host-order words (a typed-array word store is far cheaper than a Buffer.set a block).
 */
function writeCounterBlocks(cw: Int32Array, w: number, nonce: Uint8Array, blocks: number): void {
  const n0 = hostWord(nonce, 0), n1 = hostWord(nonce, 4), n2 = hostWord(nonce, 8);
  for (let i = 0; i < blocks; i++, w += 4) {
    cw[w] = n0; cw[w + 1] = n1; cw[w + 2] = n2;
    const c = i + 1;
    cw[w + 3] = HOST_LE ? ((c & 0xff) << 24) | ((c & 0xff00) << 8) | ((c >>> 8) & 0xff00) | (c >>> 24) : c;
  }
}

/** The 4 bytes at `b[o]` as the int32 a host-order word store must write to reproduce them. */
function hostWord(b: Uint8Array, o: number): number {
  return HOST_LE ? b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)
    : (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}
