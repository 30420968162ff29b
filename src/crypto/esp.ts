// Opens ESP packets (RFC 4303) with the keys of a Wireshark-style SA table, or reads ESP-NULL
// payloads without one. Implements decode/'s EspOpener: never throws on packet bytes, reports
// what happened as an EspOpenStatus.
//
// ESP: | SPI (4) | Seq (4) | IV (0/8/16) | payload … | padding | PadLen | NextHdr | ICV |
//      '------------------------ ICV covers (HMAC) -----------------------'
// AES-GCM (RFC 4106): nonce = salt ‖ IV, AAD = SPI ‖ Seq (ESN: SPI ‖ SeqHigh ‖ SeqLow), tag = ICV.

import {
  type Decipher, type KeyObject, createDecipheriv, createHmac, createSecretKey, timingSafeEqual,
} from 'node:crypto';
import { type EspOpenResult, type EspOpener } from '../decode/esp-opener.js';
import { readU32, hex32 } from '../wire/bytes.js';
import { AesGcmKey } from './gcm.js';
import { NULL_HEURISTIC_ICV_LENGTHS, checkPadding, innerPayloadVerifies, isHeuristicNextHeader } from './esp-null.js';
import {
  type AddressPattern, type EspSaRecord, authenticationSpec, encryptionSpec,
} from './sa-file.js';

const ESP_HEADER_LEN = 8;
const IPPROTO_NONE = 59;
const EMPTY = new Uint8Array(0);
/** Most SPIs remembered per wildcard-SPI SA for ESN state (bounded against hostile traffic). */
const MAX_ESN_STATES = 65536;
/** RFC 4303 Appendix A2 window for inferring SeqHigh. A passive reader has no replay window; half
 * the sequence space picks the candidate nearest the highest authenticated number. */
const ESN_WINDOW = 2 ** 31;

export interface EspSaOpenerOptions {
  /** Try to read ESP-NULL payloads when no SA matches (default true). */
  readonly nullHeuristic?: boolean;
}

/** Highest authenticated 64-bit sequence number of one SA (Th, Tl in RFC 4303 Appendix A2). */
class EsnState {
  hi = 0;
  lo = 0;
  seen = false;
}

/**
 * An SA made ready for the hot path: lengths resolved at once, keys as KeyObjects (and the AES-GCM
 * table, 64 KiB) on the first packet that needs them, so a table of thousands of SAs loads in
 * time and memory proportional to the lines, and only the SAs in use cost more.
 */
class SaRuntime {
  readonly record: EspSaRecord;
  readonly order: number;
  readonly specificity: number;
  readonly kind: 'null' | 'cbc' | 'ctr' | 'gcm' | 'unsupported';
  readonly ivLength: number;
  readonly blockLength: number;
  readonly icvLength: number;
  readonly hmacHash: string | null;
  readonly esnStates = new Map<number, EsnState>();
  #keys: SaKeys | null = null;

  constructor(record: EspSaRecord, order: number) {
    this.record = record;
    this.order = order;
    const enc = encryptionSpec(record.encryption);
    const auth = authenticationSpec(record.authentication);
    this.kind = enc.kind;
    this.ivLength = enc.ivLength;
    this.blockLength = enc.blockLength;
    this.icvLength = enc.kind === 'gcm' ? enc.icvLength : auth.icvLength;
    this.hmacHash = enc.kind === 'gcm' ? null : auth.hash;
    // Most specific first: a named SPI, then the longer address prefixes.
    this.specificity = (record.spi !== null ? 1000 : 0) + prefixOf(record.src) + prefixOf(record.dst);
  }

  private get keys(): SaKeys {
    return this.#keys ??= new SaKeys(this);
  }

  /** AES-CBC, 3DES-CBC and AES-CTR: the node:crypto cipher and key (AES-GCM uses `gcm`). */
  get cipherName(): string { return this.keys.cipherName; }
  get cipherKey(): KeyObject | null { return this.keys.cipherKey; }
  /** AES-GCM salt or AES-CTR nonce: the last 4 bytes of the SA key. */
  get salt(): Buffer { return this.keys.salt; }
  get hmacKey(): KeyObject | null { return this.keys.hmacKey; }
  /** AES-GCM: the reused ECB cipher and GHASH table (gcm.ts), instead of a Decipher per packet. */
  get gcm(): AesGcmKey | null { return this.keys.gcm; }

  esnState(spi: number): EsnState {
    let s = this.esnStates.get(spi);
    if (s === undefined) {
      if (this.esnStates.size >= MAX_ESN_STATES) this.esnStates.clear();
      s = new EsnState();
      this.esnStates.set(spi, s);
    }
    return s;
  }

  matches(addr: Uint8Array, srcOff: number, dstOff: number): boolean {
    return this.record.protocol === 'IPv6' &&
      prefixMatches(this.record.src, addr, srcOff) && prefixMatches(this.record.dst, addr, dstOff);
  }
}

/** The key material of one SA in node:crypto form, made on first use (SaRuntime). */
class SaKeys {
  readonly cipherName: string = '';
  readonly cipherKey: KeyObject | null = null;
  readonly salt: Buffer = Buffer.alloc(0);
  readonly hmacKey: KeyObject | null;
  readonly gcm: AesGcmKey | null = null;

  constructor(sa: SaRuntime) {
    const record = sa.record;
    const key = record.encryptionKey.bytes();
    if (sa.kind === 'cbc') {
      this.cipherName = record.encryption === 'TripleDES-CBC [RFC2451]' ? 'des-ede3-cbc' : `aes-${key.length * 8}-cbc`;
      this.cipherKey = createSecretKey(key);
    } else if (sa.kind === 'gcm' || sa.kind === 'ctr') {
      const aesKey = key.subarray(0, key.length - 4);
      this.salt = Buffer.from(key.subarray(key.length - 4));
      if (sa.kind === 'gcm') {
        this.gcm = new AesGcmKey(aesKey); // no Decipher per packet (gcm.ts)
      } else {
        this.cipherName = `aes-${aesKey.length * 8}-ctr`;
        this.cipherKey = createSecretKey(aesKey);
      }
    }
    this.hmacKey = sa.hmacHash !== null ? createSecretKey(record.authenticationKey.bytes()) : null;
  }
}

/**
 * The SAs one lookup chooses among, most specific first (file order among equals), answering
 * "the first that matches these addresses". A short list is scanned; a long one (thousands of
 * SAs under one SPI, or `*`) is indexed: SAs with the same pair of prefix lengths go into one Map
 * keyed by the masked source and destination, and a lookup asks each pair of prefix lengths in
 * order of specificity — a few Map lookups instead of a scan. Same answer as the scan: the first
 * level of specificity with a hit, and the earliest line among its hits.
 */
class SaIndex {
  private readonly list: readonly SaRuntime[];
  /** Null: scan `list`. Else groups by specificity, descending. */
  private readonly groups: SaGroup[] | null = null;

  constructor(sorted: readonly SaRuntime[]) {
    this.list = sorted.filter((sa) => sa.record.protocol === 'IPv6');
    if (this.list.length <= SCAN_MAX) return;
    const byShape = new Map<number, SaGroup>();
    for (const sa of this.list) {
      const srcBits = prefixOf(sa.record.src);
      const dstBits = prefixOf(sa.record.dst);
      const shape = srcBits * 256 + dstBits;
      let g = byShape.get(shape);
      if (g === undefined) byShape.set(shape, g = new SaGroup(srcBits, dstBits));
      const key = maskedKey(sa.record.src.bytes, 0, srcBits) + maskedKey(sa.record.dst.bytes, 0, dstBits);
      // `list` is in file order within a specificity: the first line with a key wins.
      if (!g.byKey.has(key)) g.byKey.set(key, sa);
    }
    this.groups = [...byShape.values()].sort((a, b) => (b.srcBits + b.dstBits) - (a.srcBits + a.dstBits));
  }

  find(addr: Uint8Array, srcOff: number, dstOff: number): SaRuntime | null {
    const groups = this.groups;
    if (groups === null) {
      const list = this.list;
      for (let i = 0; i < list.length; i++) {
        const sa = list[i]!;
        if (sa.matches(addr, srcOff, dstOff)) return sa;
      }
      return null;
    }
    let best: SaRuntime | null = null;
    let bestLevel = -1;
    for (const g of groups) {
      const level = g.srcBits + g.dstBits;
      if (best !== null && level < bestLevel) break;
      const sa = g.byKey.get(maskedKey(addr, srcOff, g.srcBits) + maskedKey(addr, dstOff, g.dstBits));
      if (sa !== undefined && (best === null || sa.order < best.order)) {
        best = sa;
        bestLevel = level;
      }
    }
    return best;
  }
}

/** Lists up to this long are scanned: as fast as a Map lookup, and the usual case. */
const SCAN_MAX = 16;

class SaGroup {
  readonly byKey = new Map<string, SaRuntime>();
  readonly srcBits: number;
  readonly dstBits: number;
  constructor(srcBits: number, dstBits: number) {
    this.srcBits = srcBits;
    this.dstBits = dstBits;
  }
}

/** The first `bits` bits of the address at `b[off]` as a string key (trailing bits zeroed). */
function maskedKey(b: Uint8Array | null, off: number, bits: number): string {
  if (b === null || bits === 0) return '';
  const whole = bits >>> 3;
  let key = '';
  for (let i = 0; i < whole; i++) key += String.fromCharCode(b[off + i]!);
  const rest = bits & 7;
  if (rest !== 0) key += String.fromCharCode(b[off + whole]! & ((0xff << (8 - rest)) & 0xff));
  return key;
}

function prefixOf(p: AddressPattern): number {
  return p.bytes === null ? 0 : p.prefixBits;
}

function prefixMatches(p: AddressPattern, addr: Uint8Array, off: number): boolean {
  const want = p.bytes;
  if (want === null) return true;
  const bits = p.prefixBits;
  const whole = bits >>> 3;
  for (let i = 0; i < whole; i++) if (addr[off + i] !== want[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[off + whole]! ^ want[whole]!) & mask) === 0;
}

/** RFC 4303 Appendix A2.2: SeqHigh for `lo` given the highest authenticated (Th, Tl). */
export function inferSeqHigh(th: number, tl: number, lo: number, window = ESN_WINDOW): number {
  if (tl >= window - 1) {
    // Case A: the window sits within one sub-space.
    return lo >= tl - window + 1 ? th : th + 1;
  }
  // Case B: the window spans two sub-spaces; Bl = Tl − W + 1 wraps around 2^32.
  const bl = tl - window + 1 + 2 ** 32;
  if (lo >= bl) return th === 0 ? 0 : th - 1;
  return th;
}

export class EspSaOpener implements EspOpener {
  /** SAs with a named SPI, by SPI; they outrank every `*` SA (specificity 1000 and up). */
  private readonly bySpi = new Map<number, SaIndex>();
  private readonly anySpi: SaIndex;
  private readonly nullHeuristic: boolean;
  /** Number of SAs loaded. */
  readonly size: number;
  /** Scratch: RFC 4106 nonce, AAD, ESN high bits; node:crypto copies them on use. */
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(12);
  private readonly seqHigh = Buffer.alloc(4);
  private readonly ctrIv = Buffer.alloc(16);
  private readonly layout = new EspLayout();
  /** The queue (openOrQueue): SAs with queued packets, and the packets in ticket order. */
  private readonly queuedSas: SaRuntime[] = [];
  /** Reused: tickets[0, ticketCount) are live. */
  private readonly tickets: QueuedGcm[] = [];
  private ticketCount = 0;

  constructor(records: readonly EspSaRecord[], options: EspSaOpenerOptions = {}) {
    this.nullHeuristic = options.nullHeuristic ?? true;
    this.size = records.length;
    const runtimes = records.map((r, i) => new SaRuntime(r, i));
    runtimes.sort((a, b) => b.specificity - a.specificity || a.order - b.order);
    const named = new Map<number, SaRuntime[]>();
    const any: SaRuntime[] = [];
    for (const r of runtimes) {
      const spi = r.record.spi;
      if (spi === null) { any.push(r); continue; }
      let list = named.get(spi);
      if (list === undefined) named.set(spi, list = []);
      list.push(r); // still in specificity order
    }
    for (const [spi, list] of named) this.bySpi.set(spi, new SaIndex(list));
    this.anySpi = new SaIndex(any);
  }

  /**
   * True when opening this packet neither reads nor changes state kept between packets, so any
   * thread holding an opener built from the same records gets the same outcome: every SA without
   * ESN (its result depends on the packet and the keys only) and the ESP-NULL heuristic. An SA
   * with ESN infers SeqHigh from the highest sequence number authenticated so far (RFC 4303
   * Appendix A2), so its packets must all pass through one opener, in capture order.
   */
  opensStatelessly(buf: Uint8Array, espOff: number, end: number, addrBuf: Uint8Array, srcOff: number, dstOff: number): boolean {
    if (espOff + ESP_HEADER_LEN > end) return true;
    const sa = this.lookup(readU32(buf, espOff), addrBuf, srcOff, dstOff);
    return sa === null || !sa.record.esn || sa.kind === 'unsupported';
  }

  open(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): void {
    resetResult(out);
    if (espOff + ESP_HEADER_LEN > end) {
      out.status = 'truncated';
      out.detail = 'esp header';
      return;
    }
    const spi = readU32(buf, espOff);
    const sa = this.lookup(spi, addrBuf, srcOff, dstOff);
    if (sa !== null) {
      this.openWithSa(sa, spi, buf, espOff, end, out);
      return;
    }
    if (this.nullHeuristic && this.tryNullHeuristic(buf, espOff, end, addrBuf, srcOff, dstOff, out)) return;
    out.status = 'no_sa';
    out.detail = this.nullHeuristic ? `spi ${hex32(spi)}: no SA, and not readable as ESP-NULL` : `spi ${hex32(spi)}: no SA`;
  }

  private openWithSa(sa: SaRuntime, spi: number, buf: Uint8Array, espOff: number, end: number, out: EspOpenResult): void {
    if (sa.kind === 'unsupported') {
      out.status = 'no_sa';
      out.detail = `spi ${hex32(spi)}: ${sa.record.encryption} (${sa.record.origin}) is not supported by pdmscope`;
      return;
    }
    const { ivOff, ctOff, icvOff, ctLen } = this.layout.of(sa, espOff, end);
    if (ctLen < 2 || (sa.kind === 'cbc' && ctLen < sa.blockLength)) {
      out.status = 'truncated';
      out.detail = `spi ${hex32(spi)}: ${end - espOff} bytes, too short for ${sa.record.encryption} with a ${sa.icvLength}-byte ICV`;
      return;
    }
    if (sa.kind === 'cbc' && ctLen % sa.blockLength !== 0) {
      out.status = 'truncated';
      out.detail = `spi ${hex32(spi)}: ciphertext of ${ctLen} bytes is not a multiple of the ${sa.blockLength}-byte block`;
      return;
    }
    const seqLo = readU32(buf, espOff + 4);

    if (sa.kind === 'gcm') {
      this.gcmOutcome(spi, this.openGcm(sa, spi, seqLo, buf, espOff, ivOff, ctOff, icvOff, end), sa.gcm!, out);
      return;
    }

    if (sa.hmacHash !== null && !this.verifyHmac(sa, spi, seqLo, buf, espOff, icvOff, end)) {
      out.status = 'auth_failed';
      out.detail = `spi ${hex32(spi)}: ${sa.record.authentication} ICV does not verify`;
      return;
    }
    if (sa.kind === 'null') {
      this.finishTrailer(buf, ctOff, icvOff, spi, 'sa', out);
      return;
    }
    const plain = this.decrypt(sa, buf, ivOff, ctOff, icvOff);
    this.finishTrailer(plain, 0, plain.length, spi, 'sa', out);
  }

  /** AES-CBC / 3DES-CBC (RFC 3602, RFC 2451) or AES-CTR (RFC 3686 §4: nonce ‖ IV ‖ counter 1). */
  private decrypt(sa: SaRuntime, buf: Uint8Array, ivOff: number, ctOff: number, icvOff: number): Buffer {
    const ct = view(buf, ctOff, icvOff - ctOff);
    let d: Decipher;
    if (sa.kind === 'ctr') {
      const iv = this.ctrIv;
      sa.salt.copy(iv, 0);
      iv.set(buf.subarray(ivOff, ivOff + 8), 4);
      iv.writeUInt32BE(1, 12);
      d = createDecipheriv(sa.cipherName, sa.cipherKey!, iv);
    } else {
      d = createDecipheriv(sa.cipherName, sa.cipherKey!, view(buf, ivOff, sa.ivLength));
      d.setAutoPadding(false); // ESP pads by itself (RFC 4303 §2.4), not PKCS#7
    }
    // Lengths were checked against the block size, so neither call can throw.
    const head = d.update(ct);
    const tail = d.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  }

  /**
   * Returns the plaintext length (bytes in `sa.gcm.plaintext`), or -1 when the tag does not
   * verify (with ESN: for any SeqHigh candidate).
   */
  private openGcm(sa: SaRuntime, spi: number, seqLo: number, buf: Uint8Array,
    espOff: number, ivOff: number, ctOff: number, icvOff: number, end: number): number {
    const nonce = this.gcmNonce(sa, buf, ivOff);
    const gcm = sa.gcm!;
    const ctLen = icvOff - ctOff;
    const tagLen = end - icvOff;
    if (!sa.record.esn) {
      // RFC 4106 §5: AAD = SPI ‖ 32-bit Seq, the first 8 bytes of ESP.
      return gcm.open(nonce, buf, espOff, 8, buf, ctOff, ctLen, icvOff, tagLen);
    }
    const state = sa.esnState(spi);
    const first = state.seen ? inferSeqHigh(state.hi, state.lo, seqLo) : 0;
    for (const hi of seqHighCandidates(first, state)) {
      const aad = this.aad;
      aad.writeUInt32BE(spi, 0);
      aad.writeUInt32BE(hi, 4);
      aad.writeUInt32BE(seqLo, 8);
      const plainLen = gcm.open(nonce, aad, 0, 12, buf, ctOff, ctLen, icvOff, tagLen);
      if (plainLen >= 0) {
        noteSeq(state, hi, seqLo);
        return plainLen;
      }
    }
    return -1;
  }

  /** RFC 4106 §4: nonce = salt ‖ the packet's 8-byte IV, in the reused scratch. */
  private gcmNonce(sa: SaRuntime, buf: Uint8Array, ivOff: number): Buffer {
    const nonce = this.nonce;
    const salt = sa.salt;
    nonce[0] = salt[0]!; nonce[1] = salt[1]!; nonce[2] = salt[2]!; nonce[3] = salt[3]!;
    for (let k = 0; k < 8; k++) nonce[4 + k] = buf[ivOff + k]!;
    return nonce;
  }

  // --- Queued opening ---------------------------------------------------------------------------
  // A reader thread with many packets at hand (capture/esp-preopen.ts) opens AES-GCM packets in
  // batches: gcm.ts runs the counter blocks of all of them through one AES call. `openOrQueue`
  // either fills `out` like `open` or queues the packet and returns a ticket; after `runQueue`,
  // `finishQueued` fills `out` for each ticket with exactly what `open` would have. Only packets
  // whose outcome depends on nothing but their bytes and the keys are queued (AES-GCM without
  // ESN: see opensStatelessly), so queuing reorders no state.

  /**
   * Like `open`, except that a packet of an AES-GCM SA without ESN is queued: the result is its
   * ticket (≥ 0) and `out` is untouched. -1: `out` holds the outcome. `buf` must keep its bytes
   * until `finishQueued`, or an equal copy be passed there.
   */
  openOrQueue(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): number {
    const ticket = this.queue(buf, espOff, end, addrBuf, srcOff, dstOff, true);
    if (ticket < 0) this.open(buf, espOff, end, addrBuf, srcOff, dstOff, out);
    return ticket;
  }

  /**
   * For a packet `openOrQueue` would queue, queues only its AES work and returns the ticket
   * (-1: not such a packet, nothing queued): after `runQueue`, `queuedKeystream` gives what
   * another thread's `openWithKeystream` needs to finish it.
   */
  queueKeystream(buf: Uint8Array, espOff: number, end: number, addrBuf: Uint8Array, srcOff: number, dstOff: number): number {
    return this.queue(buf, espOff, end, addrBuf, srcOff, dstOff, false);
  }

  /**
   * The keystream of a `queueKeystream` ticket after `runQueue`: it is `keystream.subarray(at,
   * at + length)` with at = the result, keystream and length in `lastKeystream` / `lastKeystreamLength`.
   */
  queuedKeystream(ticket: number): number {
    const q = ticket < this.ticketCount ? this.tickets[ticket] : undefined;
    if (q === undefined || q.sa === null || q.full) throw new Error(`ESP ticket ${ticket} is not a queued keystream`);
    const gcm = q.sa.gcm!;
    this.lastKeystream = gcm.keystream;
    this.lastKeystreamLength = gcmKeystreamLength(q.ctLen);
    return gcm.keystreamOffset(q.job);
  }

  /** See queuedKeystream. */
  lastKeystream: Uint8Array = EMPTY;
  lastKeystreamLength = 0;

  /**
   * `open`, with the AES work for this packet done elsewhere (queueKeystream, by an opener built
   * from the same SA records): `ks[ksOff, ksOff + ksLength)`. The outcome is `open`'s; a packet
   * the keystream does not fit is simply opened.
   */
  openWithKeystream(buf: Uint8Array, espOff: number, end: number, addrBuf: Uint8Array, srcOff: number, dstOff: number,
    ks: Uint8Array, ksOff: number, ksLength: number, out: EspOpenResult): void {
    const sa = this.statelessGcmSa(buf, espOff, end, addrBuf, srcOff, dstOff);
    if (sa === null) {
      this.open(buf, espOff, end, addrBuf, srcOff, dstOff, out);
      return;
    }
    const { ctOff, icvOff, ctLen } = this.layout;
    if (ksLength !== gcmKeystreamLength(ctLen) || ksOff < 0 || ksOff + ksLength > ks.length) {
      this.open(buf, espOff, end, addrBuf, srcOff, dstOff, out);
      return;
    }
    const spi = readU32(buf, espOff);
    const plainLen = sa.gcm!.openWithKeystream(buf, espOff, 8, buf, ctOff, ctLen, icvOff, end - icvOff, ks, ksOff);
    resetResult(out);
    this.gcmOutcome(spi, plainLen, sa.gcm!, out);
  }

  /** The SA `open` uses for this packet, or null. */
  private lookup(spi: number, addrBuf: Uint8Array, srcOff: number, dstOff: number): SaRuntime | null {
    // A line naming the SPI beats every `*` line, whatever their prefixes (see specificity).
    const named = this.bySpi.get(spi);
    if (named !== undefined) {
      const sa = named.find(addrBuf, srcOff, dstOff);
      if (sa !== null) return sa;
    }
    return this.anySpi.find(addrBuf, srcOff, dstOff);
  }

  /** The SA record a packet with this SPI and addresses (at `addrBuf[srcOff]`, `[dstOff]`) is opened with. */
  recordFor(spi: number, addrBuf: Uint8Array, srcOff: number, dstOff: number): EspSaRecord | null {
    return this.lookup(spi, addrBuf, srcOff, dstOff)?.record ?? null;
  }

  /**
   * The SA of a packet whose outcome depends on its bytes and the keys alone (AES-GCM without
   * ESN: see opensStatelessly) and that is long enough to open, with `layout` describing the
   * packet; null for any other (open reports it).
   */
  private statelessGcmSa(buf: Uint8Array, espOff: number, end: number, addrBuf: Uint8Array, srcOff: number, dstOff: number): SaRuntime | null {
    if (espOff + ESP_HEADER_LEN > end) return null;
    const sa = this.lookup(readU32(buf, espOff), addrBuf, srcOff, dstOff);
    if (sa === null || sa.kind !== 'gcm' || sa.record.esn) return null;
    return this.layout.of(sa, espOff, end).ctLen < 2 ? null : sa;
  }

  /** Queues an AES-GCM packet of an SA without ESN (`full`: with its GHASH); -1 for any other. */
  private queue(buf: Uint8Array, espOff: number, end: number, addrBuf: Uint8Array, srcOff: number, dstOff: number, full: boolean): number {
    const sa = this.statelessGcmSa(buf, espOff, end, addrBuf, srcOff, dstOff);
    if (sa === null) return -1;
    const spi = readU32(buf, espOff);
    const { ivOff, ctOff, icvOff, ctLen } = this.layout;
    const gcm = sa.gcm!;
    if (gcm.queued === 0) this.queuedSas.push(sa);
    const nonce = this.gcmNonce(sa, buf, ivOff);
    // RFC 4106 §5: AAD = SPI ‖ 32-bit Seq, the first 8 bytes of ESP.
    const job = full ? gcm.queueOpen(nonce, buf, espOff, 8, buf, ctOff, ctLen) : gcm.queueKeystream(nonce, ctLen);
    const ticket = this.ticketCount++;
    let q = this.tickets[ticket];
    if (q === undefined) this.tickets.push(q = new QueuedGcm());
    q.sa = sa; q.full = full; q.job = job; q.spi = spi; q.ctOff = ctOff; q.ctLen = ctLen; q.icvOff = icvOff; q.tagLen = end - icvOff;
    return ticket;
  }

  /** Tickets handed out since the last `clearQueue`. */
  get queued(): number {
    return this.ticketCount;
  }

  /** Does the AES work of every queued packet (one call per SA). */
  runQueue(): void {
    for (const sa of this.queuedSas) sa.gcm!.runQueue();
  }

  /**
   * Fills `out` for `ticket` after `runQueue`. `buf[shift + o]` must equal the byte at `o` of the
   * buffer the packet was queued from (a copy of the frame may start elsewhere).
   */
  finishQueued(ticket: number, buf: Uint8Array, shift: number, out: EspOpenResult): void {
    const q = ticket < this.ticketCount ? this.tickets[ticket] : undefined;
    if (q === undefined || q.sa === null || !q.full) throw new Error(`ESP ticket ${ticket} is not queued`);
    resetResult(out);
    const gcm = q.sa.gcm!;
    const plainLen = gcm.finishQueued(q.job, buf, q.ctOff + shift, q.ctLen, q.icvOff + shift, q.tagLen);
    this.gcmOutcome(q.spi, plainLen, gcm, out);
  }

  /** What open reports for an AES-GCM packet given `plainLen` (-1: the tag did not verify). */
  private gcmOutcome(spi: number, plainLen: number, gcm: AesGcmKey, out: EspOpenResult): void {
    if (plainLen < 0) {
      out.status = 'auth_failed';
      out.detail = `spi ${hex32(spi)}: AES-GCM tag does not verify`;
      return;
    }
    this.finishTrailer(gcm.plaintext, 0, plainLen, spi, 'sa', out);
  }

  /** Forgets every queued packet (after the last `finishQueued`). */
  clearQueue(): void {
    for (const sa of this.queuedSas) sa.gcm!.clearQueue();
    this.queuedSas.length = 0;
    for (let i = 0; i < this.ticketCount; i++) this.tickets[i]!.sa = null;
    this.ticketCount = 0;
  }

  /** Encrypt-then-MAC (RFC 4303 §3.4.4): the ICV is checked before anything is decrypted. */
  private verifyHmac(sa: SaRuntime, spi: number, seqLo: number, buf: Uint8Array, espOff: number, icvOff: number, end: number): boolean {
    const covered = view(buf, espOff, icvOff - espOff);
    const icv = view(buf, icvOff, end - icvOff);
    if (!sa.record.esn) return hmacMatches(sa, covered, null, icv);
    // RFC 4303 §3.3.2.2: with ESN the high 32 bits are appended for the ICV computation only.
    const state = sa.esnState(spi);
    const first = state.seen ? inferSeqHigh(state.hi, state.lo, seqLo) : 0;
    for (const hi of seqHighCandidates(first, state)) {
      this.seqHigh.writeUInt32BE(hi, 0);
      if (hmacMatches(sa, covered, this.seqHigh, icv)) {
        noteSeq(state, hi, seqLo);
        return true;
      }
    }
    return false;
  }

  /** RFC 4303 §2.4 trailer on plaintext `p[off..end)`; fills `out`. */
  private finishTrailer(p: Uint8Array, off: number, end: number, spi: number, method: 'sa' | 'null_heuristic', out: EspOpenResult): void {
    out.method = method;
    if (end - off < 2) {
      out.status = 'bad_trailer';
      out.detail = `spi ${hex32(spi)}: no room for pad length and next header`;
      return;
    }
    const nextHeader = p[end - 1]!;
    const payloadEnd = checkPadding(p, off, end - 2);
    if (payloadEnd < 0) {
      out.status = 'bad_trailer';
      out.detail = `spi ${hex32(spi)}: pad length ${p[end - 2]!} does not fit or padding is not 1, 2, 3, …`;
      return;
    }
    out.nextHeader = nextHeader;
    out.buf = p;
    out.off = off;
    out.end = payloadEnd;
    if (nextHeader === IPPROTO_NONE) {
      // RFC 4303 §2.6: a traffic-flow-confidentiality dummy packet, to be discarded.
      out.status = 'tfc_dummy';
      out.detail = `spi ${hex32(spi)}: next header 59`;
      return;
    }
    out.status = 'ok';
  }

  private tryNullHeuristic(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): boolean {
    const payloadOff = espOff + ESP_HEADER_LEN;
    for (const icv of NULL_HEURISTIC_ICV_LENGTHS) {
      const trailerEnd = end - icv;
      if (trailerEnd - payloadOff < 2) return false;
      // RFC 4303 §2.4: Pad Length and Next Header end on a 4-byte boundary of the ESP packet.
      if ((trailerEnd - espOff) % 4 !== 0) continue;
      const nh = buf[trailerEnd - 1]!;
      if (!isHeuristicNextHeader(nh)) continue;
      const payloadEnd = checkPadding(buf, payloadOff, trailerEnd - 2);
      if (payloadEnd < 0) continue;
      if (!innerPayloadVerifies(buf, payloadOff, payloadEnd, nh, addrBuf, srcOff, dstOff, true)) continue;
      out.status = 'ok';
      out.method = 'null_heuristic';
      out.buf = buf;
      out.off = payloadOff;
      out.end = payloadEnd;
      out.nextHeader = nh;
      out.detail = `spi ${hex32(readU32(buf, espOff))}: ESP-NULL with a ${icv}-byte ICV (not verified)`;
      return true;
    }
    return false;
  }
}

/** Where the parts of an ESP packet lie under one SA (RFC 4303 §2), written in place per packet. */
class EspLayout {
  ivOff = 0;
  ctOff = 0;
  icvOff = 0;
  ctLen = 0;

  of(sa: SaRuntime, espOff: number, end: number): this {
    this.ivOff = espOff + ESP_HEADER_LEN;
    this.ctOff = this.ivOff + sa.ivLength;
    this.icvOff = end - sa.icvLength;
    this.ctLen = this.icvOff - this.ctOff;
    return this;
  }
}

/** A packet queued by openOrQueue: where its parts are, relative to the frame it came in. */
class QueuedGcm {
  sa: SaRuntime | null = null;
  /** Opened here (queueOpen) rather than only its keystream made (queueKeystream). */
  full = true;
  job = 0;
  spi = 0;
  ctOff = 0;
  ctLen = 0;
  icvOff = 0;
  tagLen = 0;
}

/** Bytes of AES-GCM keystream for `ctLen` bytes of ciphertext: E_K(J0) and whole counter blocks. */
function gcmKeystreamLength(ctLen: number): number {
  return (1 + ((ctLen + 15) >> 4)) * 16;
}

/** Every field `open` sets, as it starts: method `sa`, no payload, no detail. */
function resetResult(out: EspOpenResult): void {
  out.method = 'sa';
  out.buf = EMPTY;
  out.off = 0;
  out.end = 0;
  out.nextHeader = 0;
  out.detail = '';
}

/** Builds an opener from SA records (e.g. `loadEspSaFile(path)`). */
export function createEspOpener(records: readonly EspSaRecord[], options: EspSaOpenerOptions = {}): EspSaOpener {
  return new EspSaOpener(records, options);
}

function hmacMatches(sa: SaRuntime, covered: Buffer, seqHigh: Buffer | null, icv: Buffer): boolean {
  const h = createHmac(sa.hmacHash!, sa.hmacKey!);
  h.update(covered);
  if (seqHigh !== null) h.update(seqHigh);
  const digest = h.digest();
  return timingSafeEqual(digest.subarray(0, icv.length), icv);
}

/** The inferred SeqHigh first, then its neighbours (a capture that starts mid-SA, reordering). */
function seqHighCandidates(first: number, state: EsnState): number[] {
  const list = [first];
  if (first + 1 <= 0xffffffff) list.push(first + 1);
  if (first > 0 && state.seen) list.push(first - 1);
  return list;
}

function noteSeq(state: EsnState, hi: number, lo: number): void {
  if (!state.seen || hi > state.hi || (hi === state.hi && lo > state.lo)) {
    state.hi = hi;
    state.lo = lo;
    state.seen = true;
  }
}

/** A Buffer over the same memory (no copy) for node:crypto. */
function view(buf: Uint8Array, off: number, len: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + off, len);
}

