// `pdmscope reflect`: answers UDP probes that carry PDM with a reply that carries PDM and
// echoes the payload. PDM state is kept per 5-tuple (RFC 8250 §3.2: never shared between
// connections), so the reply's DeltaTLR is this host's time from receiving the probe to sending
// the reply, artificial --delay included (RFC 8250 §2.2 server delay).
//
// Replies go back to the link-layer source of the probe (the previous hop), from the MAC the
// probe was addressed to: no neighbour discovery is needed to answer.
//
// A reply is a PDM packet from the reflector's port, so two reflectors would answer each other
// forever; probe-check.ts lists what is never answered (that among it), and a sliding window
// (rate-window.ts) caps replies in any one second, counted where they leave.

import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { IPPROTO_UDP } from '../wire/ext-header.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../wire/link.js';
import type { PdmRepr } from '../wire/pdm.js';
import { calibrationKeyOf, sendCalibrationFrames } from './calibration.js';
import { CaptureClock } from './capture-clock.js';
import { type BuiltFrame, type LinkFraming, buildPdmUdpFrame } from './frame-builder.js';
import type { GcPacer } from './latency.js';
import { type TimedSend, sendPdmAt } from './timed-send.js';
import { type MonotonicClock, PdmEndpoint } from './pdm-endpoint.js';
import { type OwnAddresses, ProbeLayout, type ProbePolicy, type RefusalCounts, noRefusals, refusalOf } from './probe-check.js';
import { SlidingWindowLimiter } from './rate-window.js';
import type { ReceivedFrame } from './receiver.js';
import type { PacketSink } from './sink.js';

export interface ReflectorConfig {
  readonly port: number;
  readonly delayNs: bigint;
  readonly clock: MonotonicClock;
  readonly sink: PacketSink;
  /** Largest IPv6 packet the link takes. */
  readonly mtu: number;
  /** Most 5-tuples with state; the least recently used is dropped beyond it. */
  readonly maxFlows?: number;
  /** State idle this long is dropped; the next probe starts afresh (RFC 8250 §3.6). */
  readonly idleNs?: bigint;
  /** Most replies in any one second (a reflector must not become a traffic source). */
  readonly maxRepliesPerSecond?: number;
  /** This host's addresses: never answered as sources, the only destinations answered. */
  readonly ownAddresses?: OwnAddresses | null;
  /** The interface is loopback: answer ::1 and this host's own addresses as sources. */
  readonly serveLoopback?: boolean;
  /** Collects garbage between replies, when none is due soon (latency.ts). */
  readonly gc?: GcPacer;
}

export interface ReflectorStats {
  probes: number;
  replies: number;
  flows: number;
  rate_limited: number;
  /** Packets to our port with PDM that were not answered, by reason (probe-check.ts). */
  refused: RefusalCounts;
  send_errors: number;
  /** Replies whose PDM was encoded again for a later instant: the process was held up at the deadline. */
  retimed: number;
  /** Replies sent more than LATE_REPORT_NS after their deadline (receive + --delay). */
  late: number;
  /** The latest a reply left after its deadline, ns. */
  max_late_ns: number;
  /**
   * Replies our capture saw stamped more than STAMP_LAG_REPORT_NS away from the time their PDM
   * was encoded for (after it, beyond the fastest send of the last 32): their DeltaTLR is off
   * by that much as a capture next to this host sees it.
   */
  stamped_off: number;
  /** The largest such distance, ns. */
  max_stamp_lag_ns: number;
  /** The last send error, one line. */
  last_error: string | null;
}

interface FlowState {
  endpoint: PdmEndpoint;
  lastSeenNs: bigint;
}

interface PendingReply {
  dueNs: bigint;
  rxNs: bigint;
  /** When the probe reached this process (monotonic): rxNs is its capture time. */
  deliveredNs: bigint;
  built: BuiltFrame;
  state: FlowState;
  peer: Uint8Array;
  peerPort: number;
}

/** What was sent, for logging. */
export interface ReflectedReply {
  peer: Uint8Array;
  peerPort: number;
  pdm: PdmRepr;
  /** This host's receive-to-send time, as measured (the reply's DeltaTLR encodes it truncated). */
  heldNs: number;
  /** How long after its capture the probe reached this process. */
  deliveryLagNs: number;
  /** How long after the deadline (receive + --delay) the reply was sent; 0 when on time. */
  lateNs: number;
}

export { ETHERTYPE_CALIBRATION } from './calibration.js';

function flowKey(src: Uint8Array, sport: number, dst: Uint8Array, dport: number): string {
  return `${Buffer.from(src).toString('hex')}|${sport}|${Buffer.from(dst).toString('hex')}|${dport}`;
}

function replyKey(addrBuf: Uint8Array, off: number, port: number, psn: number): string {
  return `${Buffer.from(addrBuf.subarray(off, off + 16)).toString('hex')}|${port}|${psn}`;
}

/** A reply that leaves later than this after its deadline is counted as late (issue 8: 5 ms ± 0.5 ms). */
export const LATE_REPORT_NS = 500_000;
/** A reply stamped further than this from its encoded send time is counted (issue 8: within 50 µs). */
export const STAMP_LAG_REPORT_NS = 50_000;
/** A timer is armed this long before a reply is due; the rest is a busy wait on the clock. */
const SPIN_MARGIN_NS = 2_000_000n;
const PDM_PLACEHOLDER: PdmRepr = { scaleDtlr: 0, scaleDtls: 0, psnThisPkt: 0, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0 };

export class PdmReflector {
  readonly stats: ReflectorStats = {
    probes: 0, replies: 0, flows: 0, rate_limited: 0, refused: noRefusals(), send_errors: 0, retimed: 0, late: 0, max_late_ns: 0, stamped_off: 0, max_stamp_lag_ns: 0, last_error: null,
  };
  private readonly cfg: ReflectorConfig;
  private readonly decoder = new Decoder({ esp: null });
  private readonly pkt = new DecodedPacket();
  private readonly flows = new Map<string, FlowState>();
  private readonly queue: PendingReply[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Over the times replies are due: bounds the queue to what the cap lets leave. */
  private readonly dueLimiter: SlidingWindowLimiter;
  /** Over the times replies leave: the cap itself, whatever the scheduling made of the due times. */
  private readonly sendLimiter: SlidingWindowLimiter;
  private readonly layout = new ProbeLayout();
  private readonly policy: ProbePolicy;
  private stopped = false;
  onReply: ((r: ReflectedReply) => void) | null = null;
  readonly captureClock = new CaptureClock();

  constructor(cfg: ReflectorConfig) {
    this.cfg = cfg;
    const rate = Math.max(1, Math.floor(cfg.maxRepliesPerSecond ?? 1000));
    this.dueLimiter = new SlidingWindowLimiter(rate);
    this.sendLimiter = new SlidingWindowLimiter(rate);
    this.policy = { port: cfg.port, serveLoopback: cfg.serveLoopback ?? false, ownAddresses: cfg.ownAddresses ?? null };
  }

  get flowCount(): number { return this.flows.size; }

  /** Handles one captured frame: a probe to our port carrying PDM schedules a reply. */
  handleFrame(f: ReceivedFrame): void {
    if (this.stopped) return;
    const p = this.pkt;
    const calibration = calibrationKeyOf(f);
    if (calibration !== null) {
      this.captureClock.noteCaptured(calibration, f.capTsUs);
      return;
    }
    this.decoder.decode(f.frame, f.capLen, f.linkType, p, f.wireLen);
    // The decoder takes no PDM from a frame shorter than its Payload Length; a probe to our port
    // is still counted as refused, not passed over in silence.
    if (p.anomaly === 'ipv6_payload_length_exceeds_frame' && p.upperProto === IPPROTO_UDP && p.dstPort === this.cfg.port) {
      this.stats.refused.bad_length++;
      return;
    }
    if (p.ipVersion !== 6 || p.upperProto !== IPPROTO_UDP || p.primaryPdm < 0 || p.espSpi >= 0) return;
    const hit = p.pdm[p.primaryPdm]!;
    if (p.srcPort === this.cfg.port) {
      const seen = this.captureClock.noteCaptured(replyKey(p.addrBuf, p.dstOff, p.dstPort, hit.psnThisPkt), f.capTsUs);
      if (seen !== null) {
        // One of our own replies on its way out: it calibrates the receive clock, and its wire
        // time is what the next DeltaTLS of this flow is measured from. How long after the
        // encoded send time the kernel stamped it is how much its DeltaTLR is low.
        this.flows.get(flowKey(p.addrBuf.subarray(p.dstOff, p.dstOff + 16), p.dstPort, p.addrBuf.subarray(p.srcOff, p.srcOff + 16), p.srcPort))
          ?.endpoint.refineSentTime(hit.psnThisPkt, seen.wireNs);
        const lag = Math.abs(Number(seen.lagNs));
        if (lag > this.stats.max_stamp_lag_ns) this.stats.max_stamp_lag_ns = lag;
        if (lag > STAMP_LAG_REPORT_NS) this.stats.stamped_off++;
        return;
      }
    }
    if (p.dstPort !== this.cfg.port || p.upperPayloadLength < 0) return;
    if (f.linkType !== LINKTYPE_ETHERNET && f.linkType !== LINKTYPE_RAW) return;
    const layout = this.layout;
    const refusal = hit.version !== 1 ? 'pdm_version_2' : refusalOf(f.frame, f.capLen, f.wireLen, f.linkType, this.policy, layout);
    if (refusal !== null) {
      this.stats.refused[refusal]++;
      return;
    }
    const src = p.addrBuf.slice(p.srcOff, p.srcOff + 16);
    const dst = p.addrBuf.slice(p.dstOff, p.dstOff + 16);
    const link: LinkFraming = f.linkType === LINKTYPE_ETHERNET
      ? { kind: 'ethernet', srcMac: f.frame.slice(0, 6), dstMac: f.frame.slice(6, 12) }
      : { kind: 'raw' };
    this.stats.probes++;
    const rxNs = this.captureClock.receiveTimeNs(f.capTsUs, f.rxNs);
    const state = this.flowState(src, p.srcPort, dst, p.dstPort, rxNs);
    state.endpoint.onReceive(hit.psnThisPkt, rxNs);
    const dueNs = rxNs + this.cfg.delayNs;
    if (!this.dueLimiter.tryTake(dueNs)) {
      this.stats.rate_limited++;
      return;
    }
    const payload = f.frame.slice(layout.udpOff + 8, layout.ipEnd);
    let built: BuiltFrame;
    try {
      built = buildPdmUdpFrame({
        link, src: dst, dst: src, srcPort: p.dstPort, dstPort: p.srcPort, payload, pdm: PDM_PLACEHOLDER,
      }, this.cfg.mtu);
    } catch (err) {
      this.noteError(err);
      return;
    }
    this.queue.push({ dueNs, rxNs, deliveredNs: f.rxNs, built, state, peer: src, peerPort: p.srcPort });
    if (this.cfg.delayNs === 0n) this.flush();
    else this.arm();
  }

  /**
   * Learns the capture clock offset before the first probe arrives: a few frames of the IEEE
   * 802 local experimental EtherType 0x88B5, addressed to our own MAC (a switch never sends
   * them back, a peer drops them), seen leaving by our capture. Ethernet links only; elsewhere
   * the first reply is timed from delivery and the clock is learned from the replies.
   */
  async calibrate(ownMac: Uint8Array, frames = 8): Promise<void> {
    try {
      await sendCalibrationFrames(this.cfg.clock, this.cfg.sink, this.captureClock, ownMac, frames, () => this.stopped);
    } catch (err) {
      this.noteError(err);
    }
  }

  /** Stops answering; replies not yet sent are dropped. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private flowState(src: Uint8Array, sport: number, dst: Uint8Array, dport: number, nowNs: bigint): FlowState {
    const key = flowKey(src, sport, dst, dport);
    let s = this.flows.get(key);
    const idle = this.cfg.idleNs ?? 60_000_000_000n;
    if (s !== undefined && nowNs - s.lastSeenNs > idle) s = undefined;
    if (s === undefined) s = { endpoint: new PdmEndpoint(), lastSeenNs: nowNs };
    this.flows.delete(key); // re-insert: Map order is least recently used first
    this.flows.set(key, s);
    s.lastSeenNs = nowNs;
    const max = this.cfg.maxFlows ?? 10_000;
    while (this.flows.size > max) {
      const oldest = this.flows.keys().next().value;
      if (oldest === undefined) break;
      this.flows.delete(oldest);
    }
    this.stats.flows = this.flows.size;
    return s;
  }

  private arm(): void {
    if (this.timer !== null || this.queue.length === 0 || this.stopped) return;
    const head = this.queue[0]!;
    const waitNs = head.dueNs - SPIN_MARGIN_NS - this.cfg.clock.nowNs();
    const waitMs = waitNs > 0n ? Number(waitNs) / 1e6 : 0;
    this.timer = setTimeout(() => { this.timer = null; this.flush(); }, waitMs);
  }

  /**
   * Sends every reply that is due, each at its deadline (receive + --delay): the timer fires
   * SPIN_MARGIN_NS early and the rest is a busy wait (timed-send.ts), because timers fire late
   * by up to a millisecond or two (libuv rounds to milliseconds; a loaded host runs us late).
   */
  private flush(): void {
    const clock = this.cfg.clock;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.dueNs - clock.nowNs() > SPIN_MARGIN_NS) break;
      this.queue.shift();
      // The send starts no earlier than this; the window holds when the sends were made
      // (a late reply followed by one on time would otherwise squeeze N + 1 into a second).
      const nowNs = clock.nowNs();
      if (!this.sendLimiter.allows(head.dueNs > nowNs ? head.dueNs : nowNs)) {
        this.stats.rate_limited++;
        continue;
      }
      let sent: TimedSend;
      try {
        sent = sendPdmAt(clock, head.state.endpoint, this.cfg.sink, head.built.frame, head.built.pdmOffset, head.dueNs);
      } catch (err) {
        this.noteError(err);
        continue;
      }
      this.sendLimiter.record(sent.returnedNs);
      // The capture delivers our own frame asynchronously, so registering it after the send is
      // in time, and keeps the string work out of the timed path.
      this.captureClock.noteSent(replyKey(head.peer, 0, head.peerPort, sent.pdm.psnThisPkt), sent.txNs);
      this.stats.replies++;
      if (sent.retargets > 0) this.stats.retimed++;
      const lateNs = Number(sent.txNs - head.dueNs);
      if (lateNs > this.stats.max_late_ns) this.stats.max_late_ns = lateNs;
      if (lateNs > LATE_REPORT_NS) this.stats.late++;
      this.onReply?.({
        peer: head.peer, peerPort: head.peerPort, pdm: sent.pdm, heldNs: Number(sent.txNs - head.rxNs),
        deliveryLagNs: Number(head.deliveredNs - head.rxNs), lateNs: Math.max(0, lateNs),
      });
    }
    this.cfg.gc?.idle(clock.nowNs(), this.queue.length > 0 ? this.queue[0]!.dueNs : null);
    this.arm();
  }

  private noteError(err: unknown): void {
    this.stats.send_errors++;
    this.stats.last_error = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  }
}

/**
 * Probes and our own replies: IPv6 packets whose first extension header is Destination Options,
 * Hop-by-Hop or Routing (PDM sits in Destination Options, RFC 8250 §3.3, which may follow the
 * other two, RFC 8200 §4.1), plus the calibration frames on Ethernet.
 * Not `udp` (it misses UDP behind extension headers) and not `ip6 protochain 17`: the kernel
 * refuses the protochain loop and libpcap filters in user space instead (native-notes/cap.md §3).
 * Not `inbound` either: on veth it lost the first probe of each run (native-notes/cap.md §3); our
 * own replies are recognised by CaptureClock instead. UDP, the port and PDM are checked after
 * decoding.
 */
export function probeFilter(ethernet: boolean): string {
  // Routing (43) too: a probe behind one is refused and counted, not unseen (probe-check.ts).
  const ip = '(ip6[6] == 60 or ip6[6] == 0 or ip6[6] == 43)';
  return ethernet ? `(ip6 and ${ip}) or ether proto 0x88b5` : `ip6 and ${ip}`;
}
