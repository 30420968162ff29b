// The decoder's view of ESP decryption: `crypto/` implements it, `decode/` only calls it.

export type EspOpenStatus = 'ok' | 'no_sa' | 'auth_failed' | 'bad_trailer' | 'truncated' | 'tfc_dummy';

/** Filled by an opener; `buf[off..end)` is the plaintext payload, reused across calls. */
export class EspOpenResult {
  status: EspOpenStatus = 'no_sa';
  method: 'sa' | 'null_heuristic' = 'sa';
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  end = 0;
  nextHeader = 0;
  detail = '';
}

/**
 * An opener that can finish an AES-GCM packet whose AES work another thread did (crypto/esp.ts
 * EspSaOpener): `ks[ksOff, ksOff + ksLength)` is that packet's keystream. Same outcome as `open`.
 */
export interface EspKeystreamOpener extends EspOpener {
  openWithKeystream(buf: Uint8Array, espOff: number, end: number, addrBuf: Uint8Array, srcOff: number, dstOff: number,
    ks: Uint8Array, ksOff: number, ksLength: number, out: EspOpenResult): void;
}

export interface EspOpener {
  /**
   * Opens the ESP packet at `buf[espOff..end)`. Addresses are the 16-byte outer source and
   * destination at `addrBuf[srcOff]` and `addrBuf[dstOff]` (SA lookup, checksum checks).
   * Must not throw on any bytes.
   */
  open(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): void;
}

// ---------------------------------------------------------------------------------------------
// Recorded outcomes. A reader thread can open ESP ahead of the decoding thread (capture/
// esp-preopen.ts) and hand over what `open` produced as int32 words; PreOpenedEspOpener replays
// them, so the decoder sees the same EspOpenResult it would have computed itself.
//
// Layout: word 0 = status index | method bit 8 | payload-in-frame bit 9 | next header << 16;
// word 1, 2 = payload start and end inside the frame (in-frame) or 0 and the payload length
// (the payload bytes follow, padded to a word); word 3 = detail length in UTF-16 code units, two
// per word after the payload. Only an `ok` outcome carries payload bytes: for any other status
// the decoder stops at the ESP header and reads nothing but `status` and `detail`.
//
// A keystream record (bit 10 in word 0, nothing else set) is not an outcome: the reader did the
// AES work of an AES-GCM packet and left the rest (GHASH, tag, trailer) to the decoding thread.
// Word 1 is the keystream's length in bytes (a multiple of 16), the keystream follows.

const STATUSES: readonly EspOpenStatus[] = ['ok', 'no_sa', 'auth_failed', 'bad_trailer', 'truncated', 'tfc_dummy'];
const METHOD_HEURISTIC = 1 << 8;
const IN_FRAME = 1 << 9;
const OUTCOME_HEADER_WORDS = 4;
const KEYSTREAM = 1 << 10;
const KEYSTREAM_HEADER_WORDS = 2;

/** Words `encodeEspKeystream` writes for `length` bytes of keystream. */
export function espKeystreamWords(length: number): number {
  return KEYSTREAM_HEADER_WORDS + ((length + 3) >> 2);
}

/** Writes a keystream record for `ks[off, off + length)` into `to`; returns the words written. */
export function encodeEspKeystream(ks: Uint8Array, off: number, length: number, to: Int32Array): number {
  to[0] = KEYSTREAM;
  to[1] = length;
  const n = (length + 3) >> 2;
  to[KEYSTREAM_HEADER_WORDS + n - 1] = 0;
  const bytes = byteView(to);
  const at = KEYSTREAM_HEADER_WORDS << 2;
  for (let k = 0; k < length; k++) bytes[at + k] = ks[off + k]!;
  return KEYSTREAM_HEADER_WORDS + n;
}

/** A byte view of `to` (the same memory, from its first word), kept for the last array asked. */
let viewedWords: Int32Array | null = null;
let viewedBytes: Uint8Array = new Uint8Array(0);
function byteView(to: Int32Array): Uint8Array {
  if (to !== viewedWords) {
    viewedWords = to;
    viewedBytes = new Uint8Array(to.buffer, to.byteOffset, to.byteLength);
  }
  return viewedBytes;
}

/** Words `encodeEspOutcome` needs at most for `r` (the caller sizes its scratch from it). */
export function espOutcomeWords(r: EspOpenResult): number {
  const payload = r.status === 'ok' ? (r.end - r.off + 3) >> 2 : 0;
  return OUTCOME_HEADER_WORDS + payload + ((r.detail.length + 1) >> 1);
}

/**
 * Writes `r`, the result of opening ESP in `frame`, into `to[0..)` (at least espOutcomeWords(r)
 * long) and returns the number of words written.
 */
export function encodeEspOutcome(r: EspOpenResult, frame: Uint8Array, to: Int32Array): number {
  const ok = r.status === 'ok';
  const inFrame = ok && r.buf === frame;
  to[0] = STATUSES.indexOf(r.status) | (r.method === 'null_heuristic' ? METHOD_HEURISTIC : 0) |
    (inFrame ? IN_FRAME : 0) | ((r.nextHeader & 0xff) << 16);
  let w = OUTCOME_HEADER_WORDS;
  if (inFrame) {
    to[1] = r.off;
    to[2] = r.end;
  } else if (ok) {
    const len = r.end - r.off;
    to[1] = 0;
    to[2] = len;
    // The last word's pad bytes are zero, not whatever `to` held: the same outcome, the same words.
    if ((len & 3) !== 0) to[w + (len >> 2)] = 0;
    const bytes = byteView(to);
    const from = r.buf;
    for (let k = 0, at = w << 2, o = r.off; k < len; k++) bytes[at + k] = from[o + k]!;
    w += (len + 3) >> 2;
  } else {
    to[1] = 0;
    to[2] = 0;
  }
  const detail = r.detail;
  to[3] = detail.length;
  for (let i = 0; i < detail.length; i += 2) {
    to[w++] = detail.charCodeAt(i) | (i + 1 < detail.length ? detail.charCodeAt(i + 1) << 16 : 0);
  }
  return w;
}

/**
 * An EspOpener that replays outcomes recorded by another thread for the current frame
 * (`replayNext`), and asks `delegate` for frames with no recording (a read in this thread, or a
 * packet the reader left to this thread).
 */
export class PreOpenedEspOpener implements EspOpener {
  readonly delegate: EspOpener;
  private words: Int32Array = new Int32Array(0);
  private at = 0;
  private count = 0;
  /** The replayed payload: copied out of the ring, which the writer reuses. */
  private payloadWords = new Int32Array(1024);
  private payload = new Uint8Array(this.payloadWords.buffer);

  constructor(delegate: EspOpener) {
    this.delegate = delegate;
    this.keystreamDelegate = 'openWithKeystream' in delegate ? delegate as EspKeystreamOpener : null;
  }

  /** `words` as bytes (keystream records), made when `words` changes. */
  private wordBytes: Uint8Array = new Uint8Array(0);
  private readonly keystreamDelegate: EspKeystreamOpener | null;

  /** The outcome for the next frame's `open` is `words[at, at + count)`; 0 words: none recorded. */
  replayNext(words: Int32Array, at: number, count: number): void {
    if (words !== this.words) this.wordBytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    this.words = words;
    this.at = at;
    this.count = count;
  }

  open(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): void {
    if (this.count === 0) {
      this.delegate.open(buf, espOff, end, addrBuf, srcOff, dstOff, out);
      return;
    }
    const w = this.words;
    let i = this.at;
    this.count = 0; // one open per frame (the decoder follows no nested ESP)
    const head = w[i]!;
    if (head === KEYSTREAM) {
      const ksLength = w[i + 1]!;
      const ksOff = (i + KEYSTREAM_HEADER_WORDS) << 2;
      if (this.keystreamDelegate !== null) {
        this.keystreamDelegate.openWithKeystream(buf, espOff, end, addrBuf, srcOff, dstOff, this.wordBytes, ksOff, ksLength, out);
      } else {
        this.delegate.open(buf, espOff, end, addrBuf, srcOff, dstOff, out);
      }
      return;
    }
    out.status = STATUSES[head & 0xff]!;
    out.method = (head & METHOD_HEURISTIC) !== 0 ? 'null_heuristic' : 'sa';
    out.nextHeader = (head >>> 16) & 0xff;
    const a = w[i + 1]!;
    const b = w[i + 2]!;
    const detailLength = w[i + 3]!;
    i += OUTCOME_HEADER_WORDS;
    if ((head & IN_FRAME) !== 0) {
      out.buf = buf;
      out.off = a;
      out.end = b;
    } else if (out.status === 'ok') {
      const n = (b + 3) >> 2;
      if (n > this.payloadWords.length) {
        this.payloadWords = new Int32Array(n * 2);
        this.payload = new Uint8Array(this.payloadWords.buffer);
      }
      const pw = this.payloadWords;
      for (let k = 0; k < n; k++) pw[k] = w[i + k]!;
      i += n;
      out.buf = this.payload;
      out.off = 0;
      out.end = b;
    } else {
      out.buf = EMPTY_BYTES;
      out.off = 0;
      out.end = 0;
    }
    out.detail = detailLength === 0 ? '' : decodeDetail(w, i, detailLength);
  }
}

const EMPTY_BYTES = new Uint8Array(0);

function decodeDetail(w: Int32Array, at: number, length: number): string {
  const units: number[] = [];
  for (let k = 0; k < length; k++) {
    const word = w[at + (k >> 1)]!;
    units.push((k & 1) === 0 ? word & 0xffff : word >>> 16);
  }
  return String.fromCharCode(...units);
}
