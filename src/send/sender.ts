// `pdmscope send`: probes carrying PDM to a reflector, replies paired to probes by PSNLR → PSNTP
// (RFC 8250 §4.1; docs/protocol.md §4), and the three delay metrics per reply:
//   server delay = the reply's DeltaTLR (the reflector's own clock),
//   total        = reply received − probe sent (this host's monotonic clock),
//   RTD          = total − server delay.
// Each probe's own PDM reports the previous round trip in DeltaTLS, so a third party capturing
// the exchange derives the same numbers (except the last total, which no later probe reports).

import { Decoder } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { DurationAccumulator } from '../metrics/sketch.js';
import type { DurationStats } from '../metrics/types.js';
import { readU16 } from '../wire/bytes.js';
import { IPPROTO_UDP } from '../wire/ext-header.js';
import { formatIpv6 } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET } from '../wire/link.js';
import { type PdmRepr, pdmDeltaNs } from '../wire/pdm.js';
import { calibrationKeyOf, sendCalibrationFrames } from './calibration.js';
import { CaptureClock } from './capture-clock.js';
import { buildPdmUdpFrame } from './frame-builder.js';
import { sendPdmAt } from './timed-send.js';
import type { NextHop } from './nexthop.js';
import { buildProbePayload, probeSeq } from './payload.js';
import { type MonotonicClock, PdmEndpoint } from './pdm-endpoint.js';
import type { ReceivedFrame } from './receiver.js';
import { STAMP_LAG_REPORT_NS } from './reflector.js';
import type { PacketSink } from './sink.js';

export const SEND_SCHEMA = 'pdmscope.send/1';
/** Probes and replies kept for the JSON document and the store; counters go on beyond it. */
export const MAX_RECORDS = 100_000;
const MAX_OUTSTANDING = 4096;

export interface SenderConfig {
  readonly hop: NextHop;
  readonly dstPort: number;
  readonly srcPort: number;
  readonly payloadSize: number;
  readonly clock: MonotonicClock;
  readonly sink: PacketSink;
  readonly sessionId: number;
  readonly initialPsn?: number;
}

/** One probe as it went on the wire. Deltas decoded from the encoded fields; null = no sample. */
export interface ProbeRecord {
  seq: number;
  psn_this_pkt: number;
  psn_last_recv: number;
  delta_last_recv_ns: number | null;
  delta_last_sent_ns: number | null;
  /** Monotonic send time relative to the first probe. */
  tx_rel_ns: number;
  /** The probe was seen leaving in our capture, and its send time taken from there. */
  tx_from_capture: boolean;
  /**
   * How long after the instant its PDM was encoded for the kernel stamped the probe (beyond the
   * fastest send of the last 32): its DeltaTLR is low by this much (negative: high). Null
   * until seen.
   */
  stamp_lag_ns: number | null;
}

export interface ReplyRecord {
  seq: number;
  /** PSNTP of the probe whose payload this reply echoes. */
  probe_psn: number;
  /**
   * The reply's PSNLR: equal to probe_psn unless the reflector had received a later probe
   * before answering; then server_delay_ns and rtd_ns are null (RFC 8250 §4.1 pairing).
   */
  psn_last_recv: number;
  psn_this_pkt: number;
  server_delay_ns: number | null;
  total_ns: number;
  rtd_ns: number | null;
  /** Kernel capture timestamp of the reply, µs since the epoch. */
  rx_ts_us: number;
  /** Monotonic receive time relative to the first probe. */
  rx_rel_ns: number;
}

export interface SendSummary {
  schema: typeof SEND_SCHEMA;
  source: { addr: string; port: number };
  target: { addr: string; port: number };
  dev: string;
  sink: string;
  /** 'SCHED_FIFO <priority>' when the sender ran real-time, else 'default' (latency.ts). */
  scheduling: string;
  started_at_us: number;
  probes_sent: number;
  replies_received: number;
  loss_pct: number | null;
  duplicate_replies: number;
  /** Replies that echo no probe of this session. */
  unmatched_replies: number;
  /** Replies whose PSNLR names a later probe than the one they echo: no server delay sample. */
  unpaired_replies: number;
  server_delay_ns: DurationStats;
  total_ns: DurationStats;
  rtd_ns: DurationStats;
  /**
   * Receive times come from the kernel's capture timestamps mapped onto the monotonic clock
   * (capture-clock.ts); false when no own probe was seen in the capture, and delivery times
   * were used instead.
   */
  receive_clock_calibrated: boolean;
  /**
   * Probes whose PDM was encoded again for a later instant because the process was held up at
   * the planned one (timed-send.ts); a count that grows with load.
   */
  retimed_probes: number;
  /** Probes stamped more than 50 µs away from their encoded send time (|stamp_lag_ns|). */
  stamped_off_probes: number;
  /** How long after its capture timestamp each reply reached JS: min, mean, max in µs. */
  delivery_lag_us: { min: number; mean: number; max: number } | null;
  probes: ProbeRecord[];
  replies: ReplyRecord[];
}

interface Outstanding {
  seq: number;
  psn: number;
  record: ProbeRecord;
  txNs: bigint;
  answered: boolean;
}

function decodedNs(delta: number, scale: number): number | null {
  return delta === 0 && scale === 0 ? null : pdmDeltaNs(delta, scale);
}

export class PdmSender {
  readonly endpoint: PdmEndpoint;
  readonly serverDelay = new DurationAccumulator();
  readonly total = new DurationAccumulator();
  readonly rtd = new DurationAccumulator();
  readonly probes: ProbeRecord[] = [];
  readonly replies: ReplyRecord[] = [];
  onReply: ((r: ReplyRecord) => void) | null = null;
  private readonly cfg: SenderConfig;
  private readonly decoder = new Decoder({ esp: null });
  private readonly pkt = new DecodedPacket();
  /** Probes by PSNTP (their own capture refines the send time) and by sequence number. */
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly bySeq = new Map<number, Outstanding>();
  private unpaired = 0;
  private seq = 0;
  private sent = 0;
  private received = 0;
  private duplicates = 0;
  private unmatched = 0;
  private retargeted = 0;
  private stampedOff = 0;
  private firstTxNs: bigint | null = null;
  private lagMinNs = Infinity;
  private lagMaxNs = -Infinity;
  private lagSumNs = 0;
  private lagCount = 0;
  readonly captureClock = new CaptureClock();
  private readonly startedAtUs = Date.now() * 1000;

  constructor(cfg: SenderConfig) {
    this.cfg = cfg;
    this.endpoint = new PdmEndpoint(cfg.initialPsn === undefined ? {} : { initialPsn: cfg.initialPsn });
  }

  get probesSent(): number { return this.sent; }
  get repliesReceived(): number { return this.received; }
  /** True when every probe sent has been answered. */
  get allAnswered(): boolean {
    for (const o of this.bySeq.values()) if (!o.answered) return false;
    return true;
  }

  /**
   * Builds the next probe and sends it at `atNs` (monotonic), or as soon as possible when that
   * is absent or past; throws the sink's error. The wait until `atNs` is a busy wait: call it a
   * little (a millisecond or two) before.
   */
  sendProbe(atNs?: bigint): ProbeRecord {
    const { hop, clock } = this.cfg;
    const seq = ++this.seq;
    const placeholder: PdmRepr = { scaleDtlr: 0, scaleDtls: 0, psnThisPkt: 0, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0 };
    const built = buildPdmUdpFrame({
      link: hop.link, src: hop.src, dst: hop.dst, srcPort: this.cfg.srcPort, dstPort: this.cfg.dstPort,
      payload: buildProbePayload(this.cfg.payloadSize, this.cfg.sessionId, seq), pdm: placeholder,
    }, hop.mtu);
    // The frame is built and checksummed first; the PDM option (outside the checksum) is
    // encoded for the instant of sending before it comes (timed-send.ts).
    const sent = sendPdmAt(clock, this.endpoint, this.cfg.sink, built.frame, built.pdmOffset, atNs ?? clock.nowNs());
    const { pdm, txNs } = sent;
    // Our capture sees the probe leave asynchronously: registering it after the send is in time.
    this.captureClock.noteSent(String(pdm.psnThisPkt), txNs);
    if (sent.retargets > 0) this.retargeted++;
    this.sent++;
    if (this.firstTxNs === null) this.firstTxNs = txNs;
    if (this.bySeq.size >= MAX_OUTSTANDING) {
      const oldest = this.bySeq.values().next().value;
      if (oldest !== undefined) { this.bySeq.delete(oldest.seq); this.outstanding.delete(oldest.psn); }
    }
    const rec: ProbeRecord = {
      seq, psn_this_pkt: pdm.psnThisPkt, psn_last_recv: pdm.psnLastRecv,
      delta_last_recv_ns: decodedNs(pdm.deltaLastRecv, pdm.scaleDtlr),
      delta_last_sent_ns: decodedNs(pdm.deltaLastSent, pdm.scaleDtls),
      tx_rel_ns: Number(txNs - this.firstTxNs),
      tx_from_capture: false,
      stamp_lag_ns: null,
    };
    const o: Outstanding = { seq, psn: pdm.psnThisPkt, record: rec, txNs, answered: false };
    this.outstanding.delete(pdm.psnThisPkt);
    this.outstanding.set(pdm.psnThisPkt, o);
    this.bySeq.set(seq, o);
    if (this.probes.length < MAX_RECORDS) this.probes.push(rec);
    return rec;
  }

  /**
   * Learns the capture clock before the first probe (calibration.ts): Ethernet links only;
   * elsewhere the first probes calibrate it. Throws the sink's error.
   */
  async calibrate(ownMac: Uint8Array, frames = 8): Promise<void> {
    await sendCalibrationFrames(this.cfg.clock, this.cfg.sink, this.captureClock, ownMac, frames);
  }

  /** Handles a captured frame; anything but a PDM reply from the target to our port is ignored. */
  handleFrame(f: ReceivedFrame): void {
    const calibration = calibrationKeyOf(f);
    if (calibration !== null) {
      this.captureClock.noteCaptured(calibration, f.capTsUs);
      return;
    }
    const p = this.pkt;
    this.decoder.decode(f.frame, f.capLen, f.linkType, p, f.wireLen);
    if (p.ipVersion !== 6 || p.upperProto !== IPPROTO_UDP || p.primaryPdm < 0 || p.espSpi >= 0) return;
    const hit = p.pdm[p.primaryPdm]!;
    // The sender speaks RFC 8250 PDM; a PDMv2 packet is no answer to one of its probes.
    if (hit.version !== 1) return;
    if (p.srcPort === this.cfg.srcPort && p.dstPort === this.cfg.dstPort &&
      sameAddr(p.addrBuf, p.srcOff, this.cfg.hop.src) && sameAddr(p.addrBuf, p.dstOff, this.cfg.hop.dst)) {
      // One of our own probes, as the kernel stamped it on the way out: its wire time replaces
      // the time read before sending, for DeltaTLS and for the total.
      const seen = this.captureClock.noteCaptured(String(hit.psnThisPkt), f.capTsUs);
      if (seen !== null) {
        this.endpoint.refineSentTime(hit.psnThisPkt, seen.wireNs);
        const o = this.outstanding.get(hit.psnThisPkt);
        if (o !== undefined) {
          if (!o.answered) { o.txNs = seen.wireNs; o.record.tx_from_capture = true; }
          o.record.stamp_lag_ns = Number(seen.lagNs);
        }
        if (Math.abs(Number(seen.lagNs)) > STAMP_LAG_REPORT_NS) this.stampedOff++;
      }
      return;
    }
    if (p.srcPort !== this.cfg.dstPort || p.dstPort !== this.cfg.srcPort) return;
    if (!sameAddr(p.addrBuf, p.srcOff, this.cfg.hop.dst) || !sameAddr(p.addrBuf, p.dstOff, this.cfg.hop.src)) return;
    const rxNs = this.captureClock.receiveTimeNs(f.capTsUs, f.rxNs);
    this.endpoint.onReceive(hit.psnThisPkt, rxNs);
    // Which probe this reply echoes: its payload says. The PDM pairing (PSNLR = the probe's
    // PSNTP, RFC 8250 §4.1) may name a later probe when the reflector received that one before
    // answering this; then the reply's DeltaTLR is not this probe's server delay.
    const ipOff = f.linkType === LINKTYPE_ETHERNET ? 14 : 0;
    const ipEnd = Math.min(f.capLen, ipOff + 40 + readU16(f.frame, ipOff + 4));
    const seq = p.upperPayloadLength < 0 ? -1 : probeSeq(f.frame, ipEnd - p.upperPayloadLength, ipEnd, this.cfg.sessionId);
    const probe = seq < 0 ? undefined : this.bySeq.get(seq);
    if (probe === undefined) {
      this.unmatched++;
      return;
    }
    if (probe.answered) {
      this.duplicates++;
      return;
    }
    probe.answered = true;
    this.received++;
    const totalNs = Number(rxNs - probe.txNs);
    const pairedByPdm = hit.psnLastRecv === probe.psn;
    if (!pairedByPdm) this.unpaired++;
    const serverDelayNs = pairedByPdm ? decodedNs(hit.deltaLastRecv, hit.scaleDtlr) : null;
    const rtdNs = serverDelayNs === null ? null : totalNs - serverDelayNs;
    this.total.add(totalNs);
    if (serverDelayNs !== null) this.serverDelay.add(serverDelayNs);
    if (rtdNs !== null) this.rtd.add(rtdNs);
    if (this.captureClock.calibrated) {
      const lag = Number(f.rxNs - rxNs);
      if (lag < this.lagMinNs) this.lagMinNs = lag;
      if (lag > this.lagMaxNs) this.lagMaxNs = lag;
      this.lagSumNs += lag;
      this.lagCount++;
    }
    const rec: ReplyRecord = {
      seq: probe.seq, probe_psn: probe.psn, psn_last_recv: hit.psnLastRecv, psn_this_pkt: hit.psnThisPkt,
      server_delay_ns: serverDelayNs, total_ns: totalNs, rtd_ns: rtdNs, rx_ts_us: f.capTsUs,
      rx_rel_ns: Number(rxNs - (this.firstTxNs ?? rxNs)),
    };
    if (this.replies.length < MAX_RECORDS) this.replies.push(rec);
    this.onReply?.(rec);
  }

  summary(sinkName: string, scheduling = 'default'): SendSummary {
    const { hop } = this.cfg;
    return {
      schema: SEND_SCHEMA,
      source: { addr: formatIpv6(hop.src), port: this.cfg.srcPort },
      target: { addr: formatIpv6(hop.dst), port: this.cfg.dstPort },
      dev: hop.dev,
      sink: sinkName,
      scheduling,
      started_at_us: this.startedAtUs,
      probes_sent: this.sent,
      replies_received: this.received,
      loss_pct: this.sent === 0 ? null : (100 * (this.sent - this.received)) / this.sent,
      duplicate_replies: this.duplicates,
      unmatched_replies: this.unmatched,
      unpaired_replies: this.unpaired,
      server_delay_ns: this.serverDelay.stats(),
      total_ns: this.total.stats(),
      rtd_ns: this.rtd.stats(),
      receive_clock_calibrated: this.captureClock.calibrated,
      retimed_probes: this.retargeted,
      stamped_off_probes: this.stampedOff,
      delivery_lag_us: this.lagCount === 0 ? null
        : { min: this.lagMinNs / 1000, mean: this.lagSumNs / this.lagCount / 1000, max: this.lagMaxNs / 1000 },
      probes: this.probes,
      replies: this.replies,
    };
  }
}

function sameAddr(buf: Uint8Array, off: number, addr: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== addr[i]) return false;
  return true;
}

/**
 * The BPF filter: replies from the target and our own probes (their capture timestamps calibrate
 * the receive clock), first extension header Destination Options or Hop-by-Hop, and on Ethernet
 * our calibration frames (calibration.ts). Not `udp` (misses UDP behind Destination Options,
 * native-notes/node_pcap.md §3.6) and not `ip6 protochain 17`, which the kernel refuses (libpcap then copies
 * every packet to user space; native-notes/cap.md §3). UDP and the ports are checked after decoding.
 */
export function captureFilter(src: string, dst: string, ethernet = false): string {
  const pdm = `ip6 and host ${src} and host ${dst} and (ip6[6] == 60 or ip6[6] == 0)`;
  return ethernet ? `(${pdm}) or ether proto 0x88b5` : pdm;
}
