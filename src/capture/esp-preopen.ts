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
  EspOpenResult, type EspOpener, PreOpenedEspOpener, encodeEspOutcome, espOutcomeWords,
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
 * The reader side: `annotate` decodes one frame up to its ESP header, opens it (or leaves it),
 * and returns the number of annotation words in `words` (0: nothing recorded).
 */
export class EspFrameAnnotator {
  private readonly decoder: Decoder;
  private readonly packet = new DecodedPacket();
  private readonly recorder: RecordingOpener;
  private readonly linkType: number;
  private readonly adaptive: boolean;

  constructor(request: EspPreOpenRequest, linkType: number) {
    this.adaptive = request.leaveEvery === 'adaptive';
    this.recorder = new RecordingOpener(new EspSaOpener(espSaRecordsFromData(request.records), { nullHeuristic: request.nullHeuristic }));
    if (request.leaveEvery === 'adaptive') this.recorder.setShare(ADAPTIVE_START_EIGHTHS, 8);
    else this.recorder.setShare(request.leaveEvery > 0 ? 1 : 0, Math.max(1, request.leaveEvery));
    this.decoder = new Decoder({ esp: this.recorder });
    this.linkType = linkType;
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

  annotate(frame: Uint8Array, capLen: number): number {
    this.recorder.recorded = 0;
    this.decoder.decode(frame, capLen, this.linkType, this.packet);
    return this.recorder.recorded;
  }
}

const ADAPTIVE_START_EIGHTHS = 4;
const ADAPTIVE_BEHIND_CHUNKS = 3;
const ADAPTIVE_AHEAD_CHUNKS = 1;

/** Opens for real and records the outcome; tells its own decoder to stop right after ESP. */
class RecordingOpener implements EspOpener {
  private readonly real: EspSaOpener;
  private readonly result = new EspOpenResult();
  /** Leaves `leaveNumerator` of every `leaveDenominator` shareable packets (spread evenly). */
  leaveNumerator = 0;
  leaveDenominator = 1;
  private credit = 0;
  words = new Int32Array(1024);
  recorded = 0;

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
        return;
      }
    }
    const r = this.result;
    this.real.open(buf, espOff, end, addrBuf, srcOff, dstOff, r);
    const need = espOutcomeWords(r);
    if (need > this.words.length) this.words = new Int32Array(need * 2);
    this.recorded = encodeEspOutcome(r, buf, this.words);
  }
}
