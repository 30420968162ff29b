// PSN accounting for one direction of a flow (RFC 8250 §3.2, Appendix A.2). PSNs wrap modulo
// 2^16, so every comparison is serial arithmetic (RFC 1982 style), never a plain `<`.

/** How far behind the highest PSN a late packet may be and still count as reordered. */
export const PSN_REORDER_WINDOW = 128;
/** A forward jump at least this large is a restart (new random PSN), not thousands of losses. */
export const PSN_RESTART_GAP = 1024;

export type PsnVerdict = 'first' | 'in_order' | 'gap' | 'reordered' | 'duplicate' | 'restart';


export class PsnTracker {
  /** Highest PSN seen in this epoch (serial order); -1 before the first packet. */
  highest = -1;
  lost = 0;
  reordered = 0;
  duplicates = 0;
  restarts = 0;
  /** The first PSN of the current epoch (random start check). */
  epochStart = -1;
  /* No `lastGap` field: a caller that needs the size of a gap computes it from `highest` before
   * observe() (8 bytes less per sender of 100,000 flows). */
  /** Bit i of the 128-bit window w0..w3 (w0 low) set: PSN (highest − i) was received. Plain
   * number fields rather than a typed array: one object fewer to touch per packet. Signed
   * 32-bit words (`| 0`, not `>>> 0`): V8 keeps int32 in the field itself, while a word with
   * bit 31 set as an unsigned number would be a boxed heap number (100,000 flows × 8 words). */
  private w0 = 0;
  private w1 = 0;
  private w2 = 0;
  private w3 = 0;

  /** Feeds one PSNTP; returns what it means for the sequence. */
  observe(psn: number): PsnVerdict {
    if (this.highest < 0) {
      this.startEpoch(psn);
      return 'first';
    }
    const ahead = (psn - this.highest) & 0xffff;
    if (ahead === 0) {
      this.duplicates++;
      return 'duplicate';
    }
    if (ahead < PSN_RESTART_GAP) {
      this.shift(ahead);
      this.highest = psn;
      this.w0 |= 1;
      if (ahead === 1) return 'in_order';
      this.lost += ahead - 1; // a 'gap' is (psn − highest before it − 1) mod 2^16 packets
      return 'gap';
    }
    const behind = 0x10000 - ahead;
    if (behind < PSN_REORDER_WINDOW) {
      const word = behind >>> 5;
      const bit = 1 << (behind & 31);
      const w = word === 0 ? this.w0 : word === 1 ? this.w1 : word === 2 ? this.w2 : this.w3;
      if ((w & bit) !== 0) {
        this.duplicates++;
        return 'duplicate';
      }
      if (word === 0) this.w0 |= bit;
      else if (word === 1) this.w1 |= bit;
      else if (word === 2) this.w2 |= bit;
      else this.w3 |= bit;
      this.reordered++;
      // It was counted lost when the gap opened, unless it precedes the epoch's first PSN seen
      // (the capture began between it and its successor): then no gap was ever counted.
      if (((psn - this.epochStart) & 0xffff) < 0x8000) this.lost--;
      else this.epochStart = psn;
      return 'reordered';
    }
    this.restarts++;
    this.startEpoch(psn);
    return 'restart';
  }

  /** Starts a new epoch explicitly (a peer's state timeout seen through zero deltas). */
  restart(psn: number): void {
    this.restarts++;
    this.startEpoch(psn);
  }

  /** True if `psn` is at or behind the highest PSN seen (serial order), i.e. it was sent. */
  hasReached(psn: number): boolean {
    if (this.highest < 0) return false;
    const ahead = (psn - this.highest) & 0xffff;
    return ahead === 0 || ahead >= 0x8000;
  }

  private startEpoch(psn: number): void {
    this.highest = psn;
    this.epochStart = psn;
    this.w0 = 1;
    this.w1 = 0;
    this.w2 = 0;
    this.w3 = 0;
  }

  /** Moves the window up by n PSNs (a 128-bit left shift over four 32-bit words). */
  private shift(n: number): void {
    if (n >= PSN_REORDER_WINDOW) {
      this.w0 = this.w1 = this.w2 = this.w3 = 0;
      return;
    }
    for (; n >= 32; n -= 32) {
      this.w3 = this.w2;
      this.w2 = this.w1;
      this.w1 = this.w0;
      this.w0 = 0;
    }
    if (n === 0) return;
    const back = 32 - n;
    this.w3 = (this.w3 << n) | (this.w2 >>> back);
    this.w2 = (this.w2 << n) | (this.w1 >>> back);
    this.w1 = (this.w1 << n) | (this.w0 >>> back);
    this.w0 = this.w0 << n;
  }
}
