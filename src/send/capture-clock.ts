// Receive times from kernel capture timestamps instead of the moment JS gets the packet.
//
// Measured on the development host (native-notes/cap.md §4): node_pcap hands frames to JS 0.2 to
// 1.6 ms after the kernel stamped them when the machine is busy, far beyond the 50 µs within
// which PDM deltas must agree with a capture of the same packets. The kernel's timestamp is
// CLOCK_REALTIME in µs; PDM state runs on CLOCK_MONOTONIC (docs/protocol.md §11 pitfall 14). The two
// differ by an offset that only changes when the wall clock is stepped (NTP slews both alike).
//
// The offset is learned from this host's own transmissions, which its capture also sees: each
// gives capture timestamp − the monotonic instant the send was due (timed-send.ts), which is
// the offset plus that send's latency up to the kernel's stamp. The estimate is the MINIMUM
// over the last 32 sends, so a DeltaTLR that ends at a send errs low by that send's latency
// beyond the fastest, and (but for a shift to faster sends) never high: on a veth pair the
// round trip between two captures is a few µs, and a DeltaTLR encoded high would make the RTD
// negative. (The median errs less in size, p90 6 to 10 µs against 11 to 19, but high by up to
// 18 µs: measured, native-notes/cap.md §6.) Deltas between two captured events (DeltaTLS, the
// sender's total) do not depend on the estimate.
//
// Calibration frames (calibration.ts) give the first estimate; they are left out once three
// real sends have been seen, because they were faster than the replies sent later (by 25 µs in
// one run), which made the first 32 DeltaTLR values of that run 25 µs low.

const WINDOW = 32;
const MAX_PENDING = 1024;
/** Real sends needed before calibration frames no longer count. */
const REAL_SAMPLES_FIRST = 3;
const CALIBRATION_KEY_PREFIX = 'cal|';

export class CaptureClock {
  private readonly pending = new Map<string, bigint>();
  private readonly samples = new OffsetWindow();
  private readonly calibrationSamples = new OffsetWindow();
  private offsetNs: bigint | null = null;
  /** Sends matched with their capture, for reports. */
  matched = 0;

  /**
   * Records that the frame known by `key` is being sent at monotonic `txNs`. Keys starting with
   * 'cal|' are calibration frames.
   */
  noteSent(key: string, txNs: bigint): void {
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.pending.set(key, txNs);
  }

  /**
   * When the captured frame `key` is one of our own sends: learns from it and returns its wire
   * time on the monotonic clock (its capture timestamp mapped), and `lagNs`, how much later
   * than the time noted for the send it was stamped, by the estimate in force before this
   * capture: for a send whose PDM was encoded for that time, how much its DeltaTLR is low
   * (negative: high) as a capture next to this host sees it. Otherwise null.
   */
  noteCaptured(key: string, capTsUs: number): { wireNs: bigint; lagNs: bigint } | null {
    const txNs = this.pending.get(key);
    if (txNs === undefined) return null;
    this.pending.delete(key);
    const sample = BigInt(capTsUs) * 1000n - txNs;
    // The estimate in force when this send's DeltaTLR was encoded (its receive was mapped with
    // it): the error of that DeltaTLR is measured against it, not against the updated one.
    const offsetBefore = this.offsetNs;
    if (key.startsWith(CALIBRATION_KEY_PREFIX)) this.calibrationSamples.add(sample);
    else this.samples.add(sample);
    this.matched++;
    this.offsetNs = this.samples.size >= REAL_SAMPLES_FIRST || this.calibrationSamples.size === 0
      ? this.samples.min() : this.calibrationSamples.min();
    // Mapped like every other capture timestamp, even when that is before the send was due
    // (a send faster than the fastest of the window the estimate came from): deltas between
    // captured events (DeltaTLS, totals) then equal the capture's own.
    const wireNs = BigInt(capTsUs) * 1000n - this.offsetNs;
    return { wireNs, lagNs: sample - (offsetBefore ?? this.offsetNs) };
  }

  get calibrated(): boolean {
    return this.offsetNs !== null;
  }

  /** CLOCK_REALTIME − CLOCK_MONOTONIC as estimated (plus the fastest send latency), or null before the first own send is seen. */
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

/** The last WINDOW offset observations. */
class OffsetWindow {
  private readonly ring: bigint[] = [];
  private next = 0;

  get size(): number { return this.ring.length; }

  add(x: bigint): void {
    if (this.ring.length < WINDOW) this.ring.push(x);
    else this.ring[this.next] = x;
    this.next = (this.next + 1) % WINDOW;
  }

  min(): bigint {
    let m = this.ring[0]!;
    for (const x of this.ring) if (x < m) m = x;
    return m;
  }
}
