// ESP opened by the reader thread (reader-worker.ts) ahead of the decoding thread. AES-GCM costs
// ~4.7 µs per packet through a node:crypto Decipher and still ~2 µs through crypto/gcm.ts, so at
// 200,000 packets/s one core cannot decrypt and analyze: the reader decodes each frame up to its ESP header, opens it
// with its own EspSaOpener built from the same SA records, and annotates the ring record with the
// outcome (decode/esp-opener.ts encodeEspOutcome). The decoding thread's PreOpenedEspOpener
// replays it; the decoder is deterministic, so it sees exactly what it would have computed.
//
// Sharing: a packet whose opening is stateless (no ESN SA, see EspSaOpener.opensStatelessly) may
// be left to the decoding thread, which opens it with its own opener and gets the same outcome.
// Packets of ESN SAs are always opened here, in capture order, so the SeqHigh inference
// (RFC 4303 Appendix A2) sees every authenticated sequence number exactly as a single opener would.

import { EspSaOpener } from '../crypto/esp.js';
import { type EspSaRecord, type EspSaRecordData, espSaRecordsFromData, espSaRecordsToData } from '../crypto/sa-file.js';
import { Decoder } from '../decode/decode.js';
import {
  EspOpenResult, type EspOpener, PreOpenedEspOpener, encodeEspKeystream, encodeEspOutcome, espKeystreamWords, espOutcomeWords,
} from '../decode/esp-opener.js';
import { DecodedPacket } from '../decode/packet.js';

/** What the reader worker needs to open ESP: plain data (structured clone), keys included. */
export interface EspPreOpenRequest {
  readonly records: readonly EspSaRecordData[];
  readonly nullHeuristic: boolean;
  /**
   * Of the packets that can be opened in either thread, the reader leaves one in `leaveEvery`
   * to the decoding thread (0: it opens them all); `adaptive` follows the ring (see `adapt`).
   */
  readonly leaveEvery: number | 'adaptive';
}

/**
 * ESP opening for a capture read: `opener` goes into the Decoder; ReadOptions.esp takes this
 * object, so a worker read opens ESP in the worker and `opener` replays it.
 */
export class EspPreOpen {
  readonly request: EspPreOpenRequest;
  readonly opener: PreOpenedEspOpener;

  constructor(records: readonly EspSaRecord[], options: { nullHeuristic: boolean; leaveEvery?: number | 'adaptive' }) {
    this.request = { records: espSaRecordsToData(records), nullHeuristic: options.nullHeuristic, leaveEvery: options.leaveEvery ?? DEFAULT_LEAVE_EVERY };
    this.opener = new PreOpenedEspOpener(new EspSaOpener(records, { nullHeuristic: options.nullHeuristic }));
  }
}

/**
 * Which thread is short of time changes with the capture (packet sizes, ciphers, flows per
 * packet) and with the machine's other load, so by default the reader follows the ring instead
 * of a fixed share: see EspFrameAnnotator.adapt.
 */
export const DEFAULT_LEAVE_EVERY: number | 'adaptive' = 'adaptive';

/**
 * Where the reader's records go (the frame ring): `frameWords`, when not null, views the same
 * memory as `frame` as whole words from its first byte. False: the reader stopped; read no more.
 */
export type FrameSink = (frameWords: Int32Array | null, frame: Uint8Array, capLen: number, wireLen: number,
  tsSec: number, tsUsec: number, notes: Int32Array, noteWords: number) => boolean;

/**
 * The reader side: `annotate` decodes one frame up to its ESP header, opens it (or leaves it),
 * and returns the number of annotation words in `words` (0: nothing recorded). `accept` does the
 * same in batches, for a reader with many frames: see there.
 */
export class EspFrameAnnotator {
  private readonly decoder: Decoder;
  private readonly packet = new DecodedPacket();
  private readonly recorder: RecordingOpener;
  private readonly linkType: number;
  private readonly adaptive: boolean;
  /** The batch `accept` holds back (see there): frames, their records, and their annotations. */
  private readonly staged = new StagedFrames();
  private readonly finished = new EspOpenResult();
  private finishedWords: Int32Array = new Int32Array(1024);
  private readonly batchPackets: number;

  constructor(request: EspPreOpenRequest, linkType: number, options: { batchPackets?: number } = {}) {
    this.adaptive = request.leaveEvery === 'adaptive';
    this.recorder = new RecordingOpener(new EspSaOpener(espSaRecordsFromData(request.records), { nullHeuristic: request.nullHeuristic }));
    if (request.leaveEvery === 'adaptive') this.recorder.setShare(ADAPTIVE_START_EIGHTHS, 8);
    else this.recorder.setShare(request.leaveEvery > 0 ? 1 : 0, Math.max(1, request.leaveEvery));
    this.decoder = new Decoder({ esp: this.recorder });
    this.linkType = linkType;
    this.batchPackets = Math.max(1, Math.min(options.batchPackets ?? BATCH_PACKETS, MAX_STAGED_FRAMES));
  }

  get words(): Int32Array {
    return this.recorder.words;
  }

  /**
   * Adaptive sharing, given the chunks the ring holds for the decoding thread, called every
   * thousand frames or so. Several waiting: that thread is the slower one, so the reader leaves
   * it an eighth less of the packets; the ring nearly empty: the decoding thread is waiting for
   * the reader, so it gets an eighth more. The share settles where both threads keep pace.
   */
  adapt(chunksWaiting: number): void {
    if (!this.adaptive) return;
    const r = this.recorder;
    if (chunksWaiting >= ADAPTIVE_BEHIND_CHUNKS && r.leaveNumerator > 0) r.setShare(r.leaveNumerator - 1, 8);
    else if (chunksWaiting <= ADAPTIVE_AHEAD_CHUNKS && r.leaveNumerator < 8) r.setShare(r.leaveNumerator + 1, 8);
  }

  /** The share of shareable packets left to the decoding thread (tests). */
  get leftShare(): number {
    return this.recorder.leaveNumerator / this.recorder.leaveDenominator;
  }

  /** One frame, opened at once (no batch). */
  annotate(frame: Uint8Array, capLen: number): number {
    this.recorder.recorded = 0;
    this.recorder.queueing = false;
    this.decoder.decode(frame, capLen, this.linkType, this.packet);
    return this.recorder.recorded;
  }

  /**
   * One frame for `sink`, in batches: an AES-GCM packet (without ESN) is queued rather than
   * opened, and it and every frame after it are held back (copied: `frame` may be reused once
   * this returns) until `batchPackets` are queued; then one AES call serves them all
   * (crypto/gcm.ts) and the held frames go to `sink` in capture order with exactly the
   * annotations `annotate` gives. A frame with nothing queued before it goes straight through.
   * Call `flush` after the last frame. False: `sink` said stop.
   */
  accept(frame: Uint8Array, frameWords: Int32Array | null, capLen: number, wireLen: number,
    tsSec: number, tsUsec: number, sink: FrameSink): boolean {
    const r = this.recorder;
    r.recorded = 0;
    r.ticket = -1;
    r.keystreamOnly = false;
    r.queueing = true;
    this.decoder.decode(frame, capLen, this.linkType, this.packet);
    const st = this.staged;
    if (st.count === 0 && r.ticket < 0) return sink(frameWords, frame, capLen, wireLen, tsSec, tsUsec, r.words, r.recorded);
    st.add(frame, frameWords, capLen, wireLen, tsSec, tsUsec, r.ticket, r.keystreamOnly, r.words, r.recorded);
    if (r.real.queued >= this.batchPackets || st.count === MAX_STAGED_FRAMES) return this.flush(sink);
    return true;
  }

  /** Sends what `accept` holds back to `sink`. False: `sink` said stop (the rest is dropped). */
  flush(sink: FrameSink): boolean {
    const st = this.staged;
    const real = this.recorder.real;
    let goOn = true;
    try {
      if (st.count === 0) return true;
      real.runQueue();
      const out = this.finished;
      for (let i = 0; i < st.count && goOn; i++) {
        const m = i * META_WORDS;
        const meta = st.meta;
        const ticket = meta[m + M_TICKET]!;
        const frame = st.frameBytes(i);
        let notes: Int32Array;
        let noteWords: number;
        if (ticket >= 0 && meta[m + M_KEYSTREAM_ONLY] !== 0) {
          const at = real.queuedKeystream(ticket);
          const length = real.lastKeystreamLength;
          notes = this.finishedRoom(espKeystreamWords(length));
          noteWords = encodeEspKeystream(real.lastKeystream, at, length, notes);
        } else if (ticket >= 0) {
          real.finishQueued(ticket, frame, 0, out);
          notes = this.finishedRoom(espOutcomeWords(out));
          noteWords = encodeEspOutcome(out, frame, notes);
        } else {
          noteWords = meta[m + M_NOTE_WORDS]!;
          notes = st.notesOf(i, this.finishedWords);
          if (notes.length > this.finishedWords.length) this.finishedWords = notes;
        }
        goOn = sink(st.frameWords(i), frame, meta[m + M_CAPLEN]!, meta[m + M_WIRELEN]!,
          meta[m + M_SEC]!, meta[m + M_USEC]!, notes, noteWords);
      }
    } finally {
      st.clear();
      real.clearQueue();
    }
    return goOn;
  }

  /** The scratch for a finished annotation of `words` words, grown when it is too small. */
  private finishedRoom(words: number): Int32Array {
    if (words > this.finishedWords.length) this.finishedWords = new Int32Array(words * 2);
    return this.finishedWords;
  }
}

/** Queued AES-GCM packets per batch: ~28 KB of counter blocks for small packets, one AES call. */
const BATCH_PACKETS = 256;
/** Most frames held back at once (a batch waits for its packets among other traffic). */
const MAX_STAGED_FRAMES = 1024;
/** Frames up to this size are held in fixed slots whose views are made once. */
const SLOT_BYTES = 2048;
const META_WORDS = 8;
const M_CAPLEN = 0, M_WIRELEN = 1, M_SEC = 2, M_USEC = 3, M_TICKET = 4, M_NOTE_AT = 5, M_NOTE_WORDS = 6, M_KEYSTREAM_ONLY = 7;

/** The frames `accept` holds back, copied, with their ring records and annotations. */
class StagedFrames {
  count = 0;
  readonly meta = new Int32Array(MAX_STAGED_FRAMES * META_WORDS);
  private readonly slotWords = new Int32Array((MAX_STAGED_FRAMES * SLOT_BYTES) >> 2);
  private readonly slotBytes = new Uint8Array(this.slotWords.buffer);
  /** Views of the slots, made on first use; a larger frame gets its own buffer until clear. */
  private readonly wordViews: (Int32Array | undefined)[] = [];
  private readonly byteViews: (Uint8Array | undefined)[] = [];
  private readonly large: (Int32Array | undefined)[] = [];
  private notes = new Int32Array(4096);
  private notesUsed = 0;

  add(frame: Uint8Array, frameWords: Int32Array | null, capLen: number, wireLen: number,
    tsSec: number, tsUsec: number, ticket: number, keystreamOnly: boolean, notes: Int32Array, noteWords: number): void {
    const i = this.count++;
    const m = i * META_WORDS;
    const meta = this.meta;
    meta[m + M_CAPLEN] = capLen; meta[m + M_WIRELEN] = wireLen; meta[m + M_SEC] = tsSec; meta[m + M_USEC] = tsUsec;
    meta[m + M_TICKET] = ticket;
    meta[m + M_KEYSTREAM_ONLY] = keystreamOnly ? 1 : 0;
    meta[m + M_NOTE_AT] = this.notesUsed;
    meta[m + M_NOTE_WORDS] = noteWords;
    if (noteWords > 0) {
      if (this.notesUsed + noteWords > this.notes.length) {
        const grown = new Int32Array((this.notesUsed + noteWords) * 2);
        grown.set(this.notes.subarray(0, this.notesUsed));
        this.notes = grown;
      }
      const to = this.notes;
      for (let k = 0, at = this.notesUsed; k < noteWords; k++) to[at + k] = notes[k]!;
      this.notesUsed += noteWords;
    }
    const n = (capLen + 3) >> 2;
    let words: Int32Array;
    let at: number;
    if (capLen <= SLOT_BYTES) {
      words = this.slotWords;
      at = i * (SLOT_BYTES >> 2);
    } else {
      words = this.large[i] = new Int32Array(n);
      at = 0;
    }
    if (frameWords !== null && n <= frameWords.length) {
      for (let k = 0; k < n; k++) words[at + k] = frameWords[k]!;
    } else {
      const bytes = words === this.slotWords ? this.slotBytes : new Uint8Array(words.buffer);
      const base = at << 2;
      for (let k = 0; k < capLen; k++) bytes[base + k] = frame[k]!;
    }
  }

  frameWords(i: number): Int32Array {
    const large = this.large[i];
    if (large !== undefined) return large;
    return this.wordViews[i] ??= new Int32Array(this.slotWords.buffer, i * SLOT_BYTES, SLOT_BYTES >> 2);
  }

  frameBytes(i: number): Uint8Array {
    const large = this.large[i];
    if (large !== undefined) return new Uint8Array(large.buffer);
    return this.byteViews[i] ??= new Uint8Array(this.slotWords.buffer, i * SLOT_BYTES, SLOT_BYTES);
  }

  /** Frame i's annotation copied to the start of `scratch` (or of a larger array, returned). */
  notesOf(i: number, scratch: Int32Array): Int32Array {
    const m = i * META_WORDS;
    const at = this.meta[m + M_NOTE_AT]!;
    const n = this.meta[m + M_NOTE_WORDS]!;
    const to = n > scratch.length ? new Int32Array(n) : scratch;
    const from = this.notes;
    for (let k = 0; k < n; k++) to[k] = from[at + k]!;
    return to;
  }

  clear(): void {
    for (let i = 0; i < this.count; i++) this.large[i] = undefined;
    this.count = 0;
    this.notesUsed = 0;
  }
}

const ADAPTIVE_START_EIGHTHS = 4;
const ADAPTIVE_BEHIND_CHUNKS = 3;
const ADAPTIVE_AHEAD_CHUNKS = 1;

/** Opens for real and records the outcome; tells its own decoder to stop right after ESP. */
class RecordingOpener implements EspOpener {
  readonly real: EspSaOpener;
  private readonly result = new EspOpenResult();
  /** Leaves `leaveNumerator` of every `leaveDenominator` shareable packets (spread evenly). */
  leaveNumerator = 0;
  leaveDenominator = 1;
  private credit = 0;
  words = new Int32Array(1024);
  recorded = 0;
  /** Queue AES-GCM packets (EspSaOpener.openOrQueue) instead of opening them; `ticket` says which. */
  queueing = false;
  ticket = -1;
  /** `ticket` is for the keystream only (EspSaOpener.queueKeystream). */
  keystreamOnly = false;

  constructor(real: EspSaOpener) {
    this.real = real;
  }

  setShare(numerator: number, denominator: number): void {
    this.leaveNumerator = numerator;
    this.leaveDenominator = denominator;
    if (this.credit >= denominator) this.credit = 0;
  }

  open(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): void {
    // Whatever follows ESP is the decoding thread's business: a non-ok status ends the walk here.
    out.status = 'tfc_dummy';
    out.detail = '';
    if (this.leaveNumerator > 0 && this.real.opensStatelessly(buf, espOff, end, addrBuf, srcOff, dstOff)) {
      this.credit += this.leaveNumerator;
      if (this.credit >= this.leaveDenominator) {
        this.credit -= this.leaveDenominator;
        // In a batch, an AES-GCM packet left to the decoding thread still gets its AES work done
        // here, in the batch's one AES call; that thread does the GHASH and the rest.
        if (this.queueing) {
          this.ticket = this.real.queueKeystream(buf, espOff, end, addrBuf, srcOff, dstOff);
          this.keystreamOnly = this.ticket >= 0;
        }
        return;
      }
    }
    const r = this.result;
    if (this.queueing) {
      this.ticket = this.real.openOrQueue(buf, espOff, end, addrBuf, srcOff, dstOff, r);
      if (this.ticket >= 0) return;
    } else {
      this.real.open(buf, espOff, end, addrBuf, srcOff, dstOff, r);
    }
    const need = espOutcomeWords(r);
    if (need > this.words.length) this.words = new Int32Array(need * 2);
    this.recorded = encodeEspOutcome(r, buf, this.words);
  }
}
