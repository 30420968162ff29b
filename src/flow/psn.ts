// PSN accounting for one direction of a flow (RFC 8250 §3.2, Appendix A.2). PSNs wrap modulo
// 2^16 (RFC 8250) or 2^32 (PDMv2, draft-ietf-ippm-encrypted-pdmv2-14 §7), so every comparison
// is serial arithmetic (RFC 1982 style) in the width of the sender's PSNs, never a plain `<`.
//
// The state is PSN_STATE_SIZE numbers at an offset of a plain array, so that a flow can keep
// both directions' state inside one array of its own (FlowPdm: no object per sender, 100,000
// flows).

/** How far behind the highest PSN a late packet may be and still count as reordered. */
export const PSN_REORDER_WINDOW = 128;
/** A forward jump at least this large is a restart (new random PSN), not thousands of losses. */
export const PSN_RESTART_GAP = 1024;

export type PsnVerdict = 'first' | 'in_order' | 'gap' | 'reordered' | 'duplicate' | 'restart';

/** PSN width in bits: 16 (RFC 8250 §3.2) or 32 (PDMv2). */
export type PsnBits = 16 | 32;

/**
 * (psn − from) modulo 2^bits, for PSNs in [0, 2^bits): the difference is below 2^32 in size,
 * so a left shift (ToInt32, exact) then an unsigned right shift keeps its low `bits` bits.
 */
export function psnAhead(psn: number, from: number, bits: PsnBits): number {
  const s = 32 - bits;
  return ((psn - from) << s) >>> s;
}

/** Offsets in a PSN state. */
/** Highest PSN seen in this epoch (serial order); -1 before the first packet. */
export const PSN_HIGHEST = 0;
/** The first PSN of the current epoch (random start check); -1 before the first packet. */
export const PSN_EPOCH_START = 1;
export const PSN_LOST = 2;
export const PSN_REORDERED = 3;
export const PSN_DUPLICATES = 4;
export const PSN_RESTARTS = 5;
/**
 * Bit i of the 128-bit window W0..W3 (W0 low) set: PSN (highest − i) was received. Signed
 * 32-bit words (`| 0`, not `>>> 0`), like every bitwise result in JS.
 */
const W0 = 6, W1 = 7, W2 = 8, W3 = 9;
export const PSN_STATE_SIZE = 10;

/** Writes an empty state (no packet yet) at `o`. */
export function psnInit(st: number[], o: number): void {
  st[o + PSN_HIGHEST] = -1;
  st[o + PSN_EPOCH_START] = -1;
  for (let k = PSN_LOST; k < PSN_STATE_SIZE; k++) st[o + k] = 0;
}

/**
 * Feeds one PSNTP to the state at `o`; returns what it means for the sequence. A 'gap' is
 * (psn − highest before it − 1) mod 2^bits packets, all counted lost.
 */
export function psnObserve(st: number[], o: number, psn: number, bits: PsnBits = 16): PsnVerdict {
  const highest = st[o + PSN_HIGHEST]!;
  if (highest < 0) {
    startEpoch(st, o, psn);
    return 'first';
  }
  const ahead = psnAhead(psn, highest, bits);
  if (ahead === 0) {
    st[o + PSN_DUPLICATES] = st[o + PSN_DUPLICATES]! + 1;
    return 'duplicate';
  }
  if (ahead < PSN_RESTART_GAP) {
    shift(st, o, ahead);
    st[o + PSN_HIGHEST] = psn;
    st[o + W0] = st[o + W0]! | 1;
    if (ahead === 1) return 'in_order';
    st[o + PSN_LOST] = st[o + PSN_LOST]! + ahead - 1;
    return 'gap';
  }
  const behind = (bits === 16 ? 0x10000 : 0x100000000) - ahead;
  if (behind < PSN_REORDER_WINDOW) {
    const w = o + W0 + (behind >>> 5);
    const bit = 1 << (behind & 31);
    if ((st[w]! & bit) !== 0) {
      st[o + PSN_DUPLICATES] = st[o + PSN_DUPLICATES]! + 1;
      return 'duplicate';
    }
    st[w] = st[w]! | bit;
    st[o + PSN_REORDERED] = st[o + PSN_REORDERED]! + 1;
    // It was counted lost when the gap opened, unless it precedes the epoch's first PSN seen
    // (the capture began between it and its successor): then no gap was ever counted.
    if (psnAhead(psn, st[o + PSN_EPOCH_START]!, bits) < (bits === 16 ? 0x8000 : 0x80000000)) st[o + PSN_LOST] = st[o + PSN_LOST]! - 1;
    else st[o + PSN_EPOCH_START] = psn;
    return 'reordered';
  }
  st[o + PSN_RESTARTS] = st[o + PSN_RESTARTS]! + 1;
  startEpoch(st, o, psn);
  return 'restart';
}

/** Starts a new epoch explicitly (a peer's state timeout seen through zero deltas). */
export function psnRestart(st: number[], o: number, psn: number): void {
  st[o + PSN_RESTARTS] = st[o + PSN_RESTARTS]! + 1;
  startEpoch(st, o, psn);
}

/** True if `psn` is at or behind the highest PSN seen (serial order), i.e. it was sent. */
export function psnHasReached(st: readonly number[], o: number, psn: number, bits: PsnBits = 16): boolean {
  const highest = st[o + PSN_HIGHEST]!;
  if (highest < 0) return false;
  const ahead = psnAhead(psn, highest, bits);
  return ahead === 0 || ahead >= (bits === 16 ? 0x8000 : 0x80000000);
}

function startEpoch(st: number[], o: number, psn: number): void {
  st[o + PSN_HIGHEST] = psn;
  st[o + PSN_EPOCH_START] = psn;
  st[o + W0] = 1;
  st[o + W1] = 0;
  st[o + W2] = 0;
  st[o + W3] = 0;
}

/** Moves the window up by n PSNs (a 128-bit left shift over four 32-bit words). */
function shift(st: number[], o: number, n: number): void {
  if (n >= PSN_REORDER_WINDOW) {
    st[o + W0] = st[o + W1] = st[o + W2] = st[o + W3] = 0;
    return;
  }
  let w0 = st[o + W0]! | 0, w1 = st[o + W1]! | 0, w2 = st[o + W2]! | 0, w3 = st[o + W3]! | 0;
  for (; n >= 32; n -= 32) {
    w3 = w2;
    w2 = w1;
    w1 = w0;
    w0 = 0;
  }
  if (n > 0) {
    const back = 32 - n;
    w3 = (w3 << n) | (w2 >>> back);
    w2 = (w2 << n) | (w1 >>> back);
    w1 = (w1 << n) | (w0 >>> back);
    w0 = w0 << n;
  }
  st[o + W0] = w0;
  st[o + W1] = w1;
  st[o + W2] = w2;
  st[o + W3] = w3;
}
