// The reader thread's side of a packet-record read (offline.ts ReadOptions.packetRecords): it
// decodes each frame itself and sends the flow layer's few words (flow/packet-record.ts) instead
// of the frame. Only for reads whose ESP needs no keys (none, or the ESP-NULL heuristic alone):
// the decoder is deterministic, so this thread decodes exactly what the analysing thread would
// have. Reads with SA keys keep sending frames (esp-preopen.ts batches their AES work).

import { EspSaOpener } from '../crypto/esp.js';
import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { encodePacketRecord, PACKET_RECORD_MAX_WORDS } from '../flow/packet-record.js';
import { FlowKeyScratch } from '../flow/table.js';
import type { FrameRingWriter } from './frame-ring.js';

export class PacketRecorder {
  private readonly decoder: Decoder;
  private readonly packet = new DecodedPacket();
  private readonly key = new FlowKeyScratch();
  private readonly linkType: number;

  /** `espNullHeuristic`: null reads nothing inside ESP, as a decoder without an ESP opener. */
  constructor(linkType: number, espNullHeuristic: boolean | null) {
    this.linkType = linkType;
    this.decoder = new Decoder({ esp: espNullHeuristic === null ? null : new EspSaOpener([], { nullHeuristic: espNullHeuristic }) });
  }

  /**
   * Decodes `frame[0..capLen)` (`wireLen` on the wire: the decoder tells a snap-length cut from
   * a lying IPv6 Payload Length by it) and writes its record into `ring`. False: the reader
   * asked to stop.
   */
  push(ring: FrameRingWriter, frame: Uint8Array, capLen: number, wireLen: number, tsSec: number, tsUsec: number): boolean {
    const at = ring.reserveWords(PACKET_RECORD_MAX_WORDS);
    if (at < 0) return false;
    ring.commitWords(this.encode(frame, capLen, wireLen, tsSec, tsUsec, ring.dataWords, at));
    return true;
  }

  /** Decodes `frame[0..capLen)` and writes its record at `out[at]` (room for PACKET_RECORD_MAX_WORDS); returns its words. */
  encode(frame: Uint8Array, capLen: number, wireLen: number, tsSec: number, tsUsec: number, out: Int32Array, at: number): number {
    this.decoder.decode(frame, capLen, this.linkType, this.packet, wireLen);
    return encodePacketRecord(this.packet, capLen, tsSec, tsUsec, this.key, out, at);
  }
}
