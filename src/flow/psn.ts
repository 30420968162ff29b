// PSN accounting for one direction of a flow (RFC 8250 §3.2, Appendix A.2). PSNs wrap modulo
// 2^16, so every comparison is serial arithmetic (RFC 1982 style), never a plain `<`.

/** How far behind the highest PSN a late packet may be and still count as reordered. */
export const PSN_REORDER_WINDOW = 128;
/** A forward jump at least this large is a restart (new random PSN), not thousands of losses. */
export const PSN_RESTART_GAP = 1024;

export type PsnVerdict = 'first' | 'in_order' | 'gap' | 'reordered' | 'duplicate' | 'restart';

const WORDS = PSN_REORDER_WINDOW / 32;

export class PsnTracker {
  /** Highest PSN seen in this epoch (serial order); -1 before the first packet. */
  highest = -1;
  lost = 0;
  reordered = 0;
  duplicates = 0;
  restarts = 0;
  /** Size of the last forward gap (packets missing), set when observe() returns 'gap'. */
  lastGap = 0;
  /** The first PSN of the current epoch (random start check). */
  epochStart = -1;
  /** Bit i set: PSN (highest − i) was received. */
  private readonly seen = new Uint32Array(WORDS);

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
      this.seen[0]! |= 1;
      if (ahead === 1) return 'in_order';
      this.lost += ahead - 1;
      this.lastGap = ahead - 1;
      return 'gap';
    }
    const behind = 0x10000 - ahead;
    if (behind < PSN_REORDER_WINDOW) {
      const word = behind >>> 5;
      const bit = 1 << (behind & 31);
      if ((this.seen[word]! & bit) !== 0) {
        this.duplicates++;
        return 'duplicate';
      }
      this.seen[word]! |= bit;
      // It was counted lost when the gap opened; it has arrived after all.
      this.reordered++;
      this.lost--;
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
    this.seen.fill(0);
    this.seen[0] = 1;
  }

  private shift(n: number): void {
    if (n >= PSN_REORDER_WINDOW) {
      this.seen.fill(0);
      return;
    }
    const wordShift = n >>> 5;
    const bitShift = n & 31;
    for (let i = WORDS - 1; i >= 0; i--) {
      const src = i - wordShift;
      let v = src >= 0 ? (this.seen[src]! << bitShift) >>> 0 : 0;
      if (bitShift !== 0 && src - 1 >= 0) v |= this.seen[src - 1]! >>> (32 - bitShift);
      this.seen[i] = v;
    }
  }
}
