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

export interface EspOpener {
  /**
   * Opens the ESP packet at `buf[espOff..end)`. Addresses are the 16-byte outer source and
   * destination at `addrBuf[srcOff]` and `addrBuf[dstOff]` (SA lookup, checksum checks).
   * Must not throw on any bytes.
   */
  open(buf: Uint8Array, espOff: number, end: number,
    addrBuf: Uint8Array, srcOff: number, dstOff: number, out: EspOpenResult): void;
}
