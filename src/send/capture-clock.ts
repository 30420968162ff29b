// Receive times from kernel capture timestamps instead of the moment JS gets the packet.
//
// Measured on the development host (native-notes/cap.md): node_pcap hands frames to JS 0.2 to
// 1.6 ms after the kernel stamped them when the machine is busy, far beyond the 50 µs within
// which PDM deltas must agree with a capture of the same packets. The kernel's timestamp is
// CLOCK_REALTIME in µs; PDM state runs on CLOCK_MONOTONIC (protocol.md pitfall 14). The two
// differ by an offset that only changes when the wall clock is stepped (NTP slews both alike).
//
// The offset is learned from this host's own transmissions, which its capture also sees:
// offset ≥ capture timestamp − monotonic time read just before the send, with equality minus
// the (small) send-path latency. The minimum over the last samples is the estimate; a capture
// timestamp then maps to monotonic time as capture − offset, never later than its delivery.

const WINDOW = 32;
const MAX_PENDING = 1024;

export class CaptureClock {
  private readonly pending = new Map<string, bigint>();
  private readonly samples: bigint[] = [];
  private next = 0;
  private offsetNs: bigint | null = null;
  /** Sends matched with their capture, for reports. */
  matched = 0;

  /** Records that the frame known by `key` is being sent at monotonic `txNs`. */
  noteSent(key: string, txNs: bigint): void {
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.pending.set(key, txNs);
  }

  /**
   * When the captured frame `key` is one of our own sends: learns from it and returns its wire
   * time on the monotonic clock (the capture timestamp mapped, never before the send began).
   * Otherwise null.
   */
  noteCaptured(key: string, capTsUs: number): bigint | null {
    const txNs = this.pending.get(key);
    if (txNs === undefined) return null;
    this.pending.delete(key);
    this.addSample(BigInt(capTsUs) * 1000n - txNs);
    const wire = BigInt(capTsUs) * 1000n - this.offsetNs!;
    return wire > txNs ? wire : txNs;
  }

  /** Adds one offset observation (capture ns − monotonic ns at or before the capture). */
  addSample(offsetNs: bigint): void {
    if (this.samples.length < WINDOW) this.samples.push(offsetNs);
    else this.samples[this.next] = offsetNs;
    this.next = (this.next + 1) % WINDOW;
    let min = this.samples[0]!;
    for (const x of this.samples) if (x < min) min = x;
    this.offsetNs = min;
    this.matched++;
  }

  get calibrated(): boolean {
    return this.offsetNs !== null;
  }

  /** CLOCK_REALTIME − CLOCK_MONOTONIC as estimated, or null before the first own send is seen. */
  get offset(): bigint | null {
    return this.offsetNs;
  }

  /**
   * The monotonic time of a frame captured at `capTsUs` and delivered at `deliveredNs`: the
   * mapped capture time, or the delivery time when not calibrated yet. Never after delivery.
   */
  receiveTimeNs(capTsUs: number, deliveredNs: bigint): bigint {
    if (this.offsetNs === null) return deliveredNs;
    const mapped = BigInt(capTsUs) * 1000n - this.offsetNs;
    return mapped < deliveredNs ? mapped : deliveredNs;
  }
}
