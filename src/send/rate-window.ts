// A sliding-window rate limit: at most `maxEvents` events in ANY window of `windowNs`. Pure: the
// caller passes every time, from a monotonic clock.
//
// A token bucket of capacity N refilled at N per second lets 2N through in one second (a full
// bucket spent at once, then a second's refill); a fixed window lets 2N through across a window
// edge. Here the last `maxEvents` event times are kept in a ring: an event at t is allowed when
// the N-th most recent one is at least `windowNs` before t. Then no N + 1 events ever fall within
// `windowNs` of each other, whichever second one looks at. O(1) per event, N times 8 bytes.

export class SlidingWindowLimiter {
  readonly maxEvents: number;
  readonly windowNs: bigint;
  /** Event times; `next` is the oldest once the ring is full. */
  private readonly ring: bigint[] = [];
  private next = 0;

  constructor(maxEvents: number, windowNs = 1_000_000_000n) {
    if (!Number.isInteger(maxEvents) || maxEvents < 1) throw new RangeError(`maxEvents must be a positive integer, not ${maxEvents}`);
    if (windowNs <= 0n) throw new RangeError('windowNs must be positive');
    this.maxEvents = maxEvents;
    this.windowNs = windowNs;
  }

  /** Whether an event at `atNs` (not before the last recorded) keeps every window within the limit. */
  allows(atNs: bigint): boolean {
    if (this.ring.length < this.maxEvents) return true;
    return atNs - this.ring[this.next]! >= this.windowNs;
  }

  /** Records an event at `atNs` (call it with non-decreasing times). */
  record(atNs: bigint): void {
    if (this.ring.length < this.maxEvents) {
      this.ring.push(atNs);
      return;
    }
    this.ring[this.next] = atNs;
    this.next = (this.next + 1) % this.maxEvents;
  }

  /** allows(atNs), and records the event when it is. */
  tryTake(atNs: bigint): boolean {
    if (!this.allows(atNs)) return false;
    this.record(atNs);
    return true;
  }
}
