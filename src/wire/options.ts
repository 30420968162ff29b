// TLV options inside Hop-by-Hop and Destination Options headers (RFC 8200 §4.2).
// Pad1 (type 0) is a single octet with no length byte; every other option is Type, Len, Data.

import { type WireResult, wireError } from './errors.js';

export const OPT_PAD1 = 0;
export const OPT_PADN = 1;

/**
 * Returns the total length (Type and Length included) of the option at `off`, bounded by `end`
 * (the end of its own header), or a WireError if it overruns.
 */
export function checkOption(buf: Uint8Array, off: number, end: number): WireResult<number> {
  if (off >= end) return wireError('truncated', 'option type');
  if (buf[off] === OPT_PAD1) return 1;
  if (off + 2 > end) return wireError('truncated', 'option length');
  const len = 2 + buf[off + 1]!;
  if (off + len > end) return wireError('truncated', 'option data');
  return len;
}
