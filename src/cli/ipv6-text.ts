// Text of IPv6 addresses for per-packet output. A capture holds few distinct addresses and
// millions of packets, and RFC 5952 formatting (formatIpv6) costs far more than recognising an
// address seen before, so the text is remembered in a small direct-mapped table.

import { readU32 } from '../wire/bytes.js';
import { formatIpv6 } from '../wire/ipv6.js';

const SLOTS = 4096; // a power of two

export class Ipv6TextCache {
  /** The four big-endian words of the address in each slot. */
  private readonly words = new Int32Array(SLOTS * 4);
  private readonly texts: (string | null)[] = new Array<string | null>(SLOTS).fill(null);

  /** formatIpv6(buf, off), from the table when this address was the last one in its slot. */
  text(buf: Uint8Array, off: number): string {
    const w0 = readU32(buf, off) | 0;
    const w1 = readU32(buf, off + 4) | 0;
    const w2 = readU32(buf, off + 8) | 0;
    const w3 = readU32(buf, off + 12) | 0;
    // Host parts vary most: mix all words, fold the high bits down.
    let h = Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca77) ^ Math.imul(w3, 0xc2b2ae3d), 0x27d4eb2f);
    h = (h ^ (h >>> 15)) & (SLOTS - 1);
    const at = h * 4;
    const words = this.words;
    const cached = this.texts[h]!;
    if (cached !== null && words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3) return cached;
    const text = formatIpv6(buf, off);
    words[at] = w0; words[at + 1] = w1; words[at + 2] = w2; words[at + 3] = w3;
    this.texts[h] = text;
    return text;
  }
}
