// Receiving probes and replies: a small node_pcap live adapter of the sender's own
// (native-notes/node_pcap.md §3.2, §3.4). cap cannot be used to receive (no timestamps, and its poll assert), and the
// project's live capture adapter (src/capture/live.ts) did not exist when this was written.
//
// Immediate mode (buffer_timeout 0) hands each frame over as soon as the kernel has it. The
// receive time used for PDM state is the monotonic clock read first thing in the handler; the
// kernel's capture timestamp (CLOCK_REALTIME, µs) is passed along so callers can measure how
// far delivery lags behind it.
//
// The same handle can inject frames (pcap_inject), which is the `pcap` PacketSink: unlike cap,
// node_pcap survives the interface going down or away (native-notes/cap.md §1).

import {
  HEADER_CAPLEN, HEADER_SEC, HEADER_USEC, HEADER_WIRELEN, type NativeLiveSession, linkTypeNumber, microsFromSecUsec,
  packetHeaderWord, pcapModule,
} from '../capture/native.js';
import type { MonotonicClock } from './pdm-endpoint.js';
import { type PacketSink, SinkError, NEED_NET_RAW } from './sink.js';

export interface ReceivedFrame {
  /** The frame; valid only during the callback (node_pcap reuses one buffer). */
  readonly frame: Uint8Array;
  readonly capLen: number;
  readonly wireLen: number;
  /** Kernel capture timestamp, µs since the epoch. */
  readonly capTsUs: number;
  /** Monotonic clock at delivery to JS. */
  readonly rxNs: bigint;
  readonly linkType: number;
}


export class LiveReceiver {
  readonly dev: string;
  readonly linkType: number;
  private session: NativeLiveSession | null;
  private readonly frameCopy: { frame: Uint8Array; capLen: number; wireLen: number; capTsUs: number; rxNs: bigint; linkType: number } = { frame: new Uint8Array(0), capLen: 0, wireLen: 0, capTsUs: 0, rxNs: 0n, linkType: 0 };
  /** The first error thrown by the callback; the handler never lets one reach node_pcap. */
  callbackError: unknown = null;

  private constructor(dev: string, session: NativeLiveSession, linkType: number) {
    this.dev = dev;
    this.session = session;
    this.linkType = linkType;
  }

  /**
   * Opens a live capture on `dev` with a BPF `filter`. Use `ip6 protochain 17`, not `udp`: the
   * latter misses UDP behind a Destination Options header (native-notes/node_pcap.md §3.6).
   */
  static open(dev: string, filter: string, clock: MonotonicClock, onFrame: (f: ReceivedFrame) => void): LiveReceiver {
    // Through capture/native.ts: it knows this thread now holds the addon (native-notes/node_pcap.md §3.5) and
    // drops libpcap's "no IPv4 address assigned" warnings on IPv6-only links (native-notes/node_pcap.md #10).
    let session: NativeLiveSession;
    try {
      session = pcapModule().createSession(dev, { filter, buffer_timeout: 0, promiscuous: false, buffer_size: 4 * 1024 * 1024 });
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (/permission|not permitted/i.test(text)) throw new SinkError(`capturing on ${dev} ${NEED_NET_RAW}`);
      throw new SinkError(`cannot capture on ${dev}: ${text.split('\n')[0]}`);
    }
    const linkType = linkTypeNumber(session.link_type);
    if (linkType === null) {
      session.close();
      throw new SinkError(`unsupported link type on ${dev}: ${session.link_type}`);
    }
    const r = new LiveReceiver(dev, session, linkType);
    const f = r.frameCopy;
    f.linkType = linkType;
    session.on('packet', (p) => {
      const rxNs = clock.nowNs(); // first: the rest of the handler must not add to the receive time
      try {
        const h = p.header;
        f.capLen = Math.min(packetHeaderWord(h, HEADER_CAPLEN), p.buf.length);
        f.wireLen = packetHeaderWord(h, HEADER_WIRELEN);
        f.capTsUs = microsFromSecUsec(packetHeaderWord(h, HEADER_SEC), packetHeaderWord(h, HEADER_USEC));
        f.rxNs = rxNs;
        f.frame = p.buf;
        onFrame(f);
      } catch (err) {
        // A throw here would reach Nan::FatalException and kill the process (native-notes/node_pcap.md #3).
        if (r.callbackError === null) r.callbackError = err;
      }
    });
    return r;
  }

  inject(frame: Uint8Array): void {
    const s = this.session;
    if (s === null) throw new SinkError(`cannot send on ${this.dev}: closed`);
    const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    try {
      s.inject(buf);
    } catch (err) {
      throw new SinkError(`sending on ${this.dev} failed (${err instanceof Error ? err.message : String(err)}); is the interface up?`);
    }
  }

  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number } | null {
    try { return this.session?.stats() ?? null; } catch { return null; }
  }

  /**
   * Stops delivery. node_pcap keeps its poll handle until one more packet arrives
   * (native-notes/node_pcap.md #9), so a process that wants to end must flush its output and call process.exit().
   */
  close(): void {
    const s = this.session;
    this.session = null;
    if (s !== null) { try { s.close(); } catch { /* already closed */ } }
  }
}

/**
 * Injects with node_pcap (pcap_inject) through a handle of its own, opened with a filter that
 * passes nothing. Its own handle, not the capture's: a handle never sees the frames it injects,
 * and the capture must see them to calibrate the receive clock (capture-clock.ts). Unlike cap,
 * node_pcap survives the interface going down or away: sends then fail with an error
 * (native-notes/cap.md §1).
 */
export class PcapInjectSink implements PacketSink {
  readonly linkType: string;
  private readonly handle: LiveReceiver;
  private constructor(handle: LiveReceiver) {
    this.handle = handle;
    this.linkType = handle.linkType === 1 ? 'ETHERNET' : handle.linkType === 101 ? 'RAW' : `LINKTYPE ${handle.linkType}`;
  }
  static open(dev: string, clock: MonotonicClock): PcapInjectSink {
    return new PcapInjectSink(LiveReceiver.open(dev, 'less 1', clock, () => {}));
  }
  send(frame: Uint8Array): void { this.handle.inject(frame); }
  close(): void { this.handle.close(); }
}
