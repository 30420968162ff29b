// Live capture through libpcap (node_pcap), for `pdmscope live` and the reflector.
//
// Contained here (native-notes/node_pcap.md): errors become one-line LiveCaptureErrors (missing
// privilege names the fix, an unknown interface lists the real ones); a throwing callback stops
// the capture instead of reaching Nan::FatalException; node_pcap's per-packet allocation and
// emit are bypassed. Not containable from JS: close() on an idle interface cannot free the
// handle until one more packet arrives (node_pcap #18/#248), so `close()` reports whether it
// did, and a caller that wants to exit must flush its sinks and call process.exit().

import { readFileSync } from 'node:fs';
import {
  HEADER_CAPLEN, HEADER_SEC, HEADER_USEC, HEADER_WIRELEN, constructSession, linkTypeNumber, microsFromSecUsec,
  type NativePcapSession, packetHeaderWord, pcapModule, setPcapWarningSink,
} from './native.js';
import type { FrameCallback } from './offline.js';

export class LiveCaptureError extends Error {
  readonly iface: string;
  constructor(iface: string, message: string) {
    super(message);
    this.name = 'LiveCaptureError';
    this.iface = iface;
  }
}

export interface LiveCaptureOptions {
  /** BPF filter. `udp` misses UDP behind extension headers: use `ip6 protochain 17`. */
  filter?: string;
  /** Bytes kept per packet (default 65535). */
  snapLen?: number;
  /** Kernel ring size (default 10 MiB). */
  bufferSizeBytes?: number;
  /** Deliver each packet as it arrives instead of in ~1 s batches (default true). */
  immediate?: boolean;
  /** Promiscuous mode (default false: the PDM flows of interest are to or from this host). */
  promiscuous?: boolean;
  /** libpcap warnings (e.g. "no IPv4 address assigned" on IPv6-only links); dropped by default. */
  onWarning?: (text: string) => void;
  /** Called once if the frame callback throws; the capture is stopped at that point. */
  onError?: (err: unknown) => void;
}

export interface LiveCaptureStats {
  /** Packets the kernel handed to the socket (pcap_stats ps_recv). */
  received: number;
  /** Dropped for lack of buffer space (ps_drop). */
  dropped: number;
  /** Dropped by the interface or driver, where reported (ps_ifdrop). */
  ifDropped: number;
}

export interface LiveCapture {
  readonly iface: string;
  /** LINKTYPE_* number (lo and Ethernet: 1; `any`: 113, Linux cooked v1). */
  readonly linkType: number;
  /** Packets passed to the callback. */
  readonly delivered: number;
  /** The callback's error, if it threw (the capture stopped there). */
  readonly error: unknown;
  readonly closed: boolean;
  /** libpcap's counters; the last values seen once the handle is released. */
  stats(): LiveCaptureStats;
  /**
   * Stops delivery at once. Returns true when the libpcap handle was released too; false when
   * node_pcap keeps it (and a libuv poll handle that holds the event loop open) until one more
   * packet arrives: flush and call process.exit() to end the process then.
   */
  close(): boolean;
}


/** The command that lets a non-root node capture. */
export const SETCAP_HINT = 'setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which node))';

/** The MTU of `iface` from sysfs (Linux), or null (`any`, another OS, a name that is no interface). */
export function interfaceMtu(iface: string): number | null {
  if (!/^[\w.:@-]{1,15}$/.test(iface) || iface === '.' || iface === '..') return null;
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${iface}/mtu`, 'ascii').trim());
    return Number.isInteger(mtu) && mtu > 0 ? mtu : null;
  } catch {
    return null;
  }
}

export function listInterfaces(): string[] {
  return pcapModule().findalldevs().map((d) => d.name);
}

/** Opens `iface` for capture and calls `onFrame` for each packet (µs timestamps). */
export function openLiveCapture(iface: string, options: LiveCaptureOptions, onFrame: FrameCallback): LiveCapture {
  const names = listInterfaces();
  if (!names.includes(iface)) {
    throw new LiveCaptureError(iface, `unknown interface '${iface}'; interfaces: ${names.join(', ')}`);
  }
  let delivered = 0;
  let stopped = false;
  let released = false;
  /** dispatch may run once after the breakloop: once the handle is freed it is NULL and dispatch would crash. */
  let dispatchedAfterStop = false;
  let callbackError: unknown = null;
  let lastStats: LiveCaptureStats = { received: 0, dropped: 0, ifDropped: 0 };
  let session: NativePcapSession | null = null;

  const readStats = (s: NativePcapSession): LiveCaptureStats => {
    const st = s.session.stats();
    return { received: st.ps_recv, dropped: st.ps_drop, ifDropped: st.ps_ifdrop };
  };
  const stop = (s: NativePcapSession): boolean => {
    if (!stopped) {
      stopped = true;
      try { lastStats = readStats(s); } catch { /* keep the last counters */ }
      s.removeAllListeners();
      s.opened = false;
      s.session.close(); // pcap_breakloop
    }
    return released;
  };
  const onPacket = function onPacket(this: NativePcapSession): void {
    if (stopped) return;
    const h = this.header;
    const capLen = packetHeaderWord(h, HEADER_CAPLEN);
    const wireLen = packetHeaderWord(h, HEADER_WIRELEN);
    const tsUs = microsFromSecUsec(packetHeaderWord(h, HEADER_SEC), packetHeaderWord(h, HEADER_USEC));
    try {
      onFrame(this.buf, capLen <= this.buf.length ? capLen : this.buf.length, wireLen, tsUs);
      delivered++;
    } catch (err) {
      callbackError = err;
      stop(this);
      // Still inside node_pcap's dispatch loop: its next pcap_dispatch sees the break, returns -2
      // and frees the handle (FinalizeClose).
      dispatchedAfterStop = true;
      released = true;
      if (options.onError !== undefined) options.onError(err);
      else process.emitWarning(`live capture on ${iface} stopped: the frame callback threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  setPcapWarningSink(options.onWarning ?? null);
  const built = constructSession(onPacket, true, iface, options.filter ?? '', options.bufferSizeBytes ?? 10 * 1024 * 1024,
    options.snapLen ?? 65535, options.immediate === false ? 1000 : 0, options.promiscuous === true);
  if (built.error !== null) throw liveOpenError(iface, options.filter, built.error);
  session = built.session;
  const opened = session;
  const lt = linkTypeNumber(opened.link_type);
  if (lt === null) {
    stop(opened);
    opened.session.dispatch(opened.buf, opened.header);
    throw new LiveCaptureError(iface, `${iface}: unsupported link type ${opened.link_type}`);
  }
  return {
    iface,
    linkType: lt,
    get delivered() { return delivered; },
    get error() { return callbackError; },
    get closed() { return stopped; },
    stats(): LiveCaptureStats {
      if (stopped) return lastStats;
      lastStats = readStats(opened);
      return lastStats;
    },
    close(): boolean {
      stop(opened);
      if (!dispatchedAfterStop) {
        dispatchedAfterStop = true;
        // Frees the handle now if a packet is already queued; on an idle interface libpcap
        // returns 0 and node_pcap's poll handle waits for the next packet.
        const r = opened.session.dispatch(opened.buf, opened.header);
        if (r === -2) released = true;
      }
      return released;
    },
  };
}

function liveOpenError(iface: string, filter: string | undefined, err: unknown): LiveCaptureError {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (/permission|not permitted|EPERM|EACCES/i.test(text)) {
    return new LiveCaptureError(iface,
      `${iface}: capturing needs root or the capture capabilities (${text}); run as root or: ${SETCAP_HINT}`);
  }
  if (/no such device/i.test(text)) {
    return new LiveCaptureError(iface, `unknown interface '${iface}' (${text}); interfaces: ${listInterfaces().join(', ')}`);
  }
  if (filter !== undefined && filter !== '') return new LiveCaptureError(iface, `${iface}: bad filter '${filter}': ${text}`);
  return new LiveCaptureError(iface, `${iface}: ${text}`);
}
