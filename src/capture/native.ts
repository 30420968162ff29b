// Typed access to node_pcap (`pcap` 3.1.0). The package's typings leave the events and the
// internals untyped (native-notes/node_pcap.md §3.1); the adapters in offline.ts and live.ts use the pieces
// typed here and nothing else. The addon loads lazily: importing this module costs nothing, and
// only one JS context per process may load it (native-notes/node_pcap.md §3.5).

import { createRequire } from 'node:module';
import { endianness } from 'node:os';

const HOST_LE = endianness() === 'LE';

/** node_pcap's per-packet header (a pcap_pkthdr copied in host byte order): its 32-bit words. */
export const HEADER_SEC = 0;
export const HEADER_USEC = 1;
export const HEADER_CAPLEN = 2;
export const HEADER_WIRELEN = 3;

/**
 * A pcap timestamp (seconds, microseconds) in microseconds since the epoch. `>>> 0` reads the
 * words unsigned (ring records hold them in an Int32Array; seconds pass 2^31 in 2038); 2^32 s in
 * microseconds stays below 2^53, so the double is exact. Small enough for V8 to inline in the
 * per-packet callbacks.
 */
export function microsFromSecUsec(sec: number, usec: number): number {
  return (sec >>> 0) * 1e6 + (usec >>> 0);
}

/** Word `index` (HEADER_*) of node_pcap's 16-byte packet header. */
export function packetHeaderWord(header: Buffer, index: number): number {
  return HOST_LE ? header.readUInt32LE(index << 2) : header.readUInt32BE(index << 2);
}

/** The C++ session object (pcap_session.cc). */
export interface NativeSessionBinding {
  /** Loops pcap_dispatch(handle, 1, …) until it returns ≤ 0; -2 after a breakloop runs FinalizeClose (pcap_close). */
  dispatch(buf: Buffer, header: Buffer): number;
  /** Only pcap_breakloop; the handle is freed by the next dispatch (returns -2). */
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
  inject(buf: Buffer): void;
}

/** The JS wrapper object (pcap.js PcapSession), with the internals the adapters rely on. */
export interface NativePcapSession {
  session: NativeSessionBinding;
  buf: Buffer;
  header: Buffer;
  link_type: string;
  opened: boolean | null;
  on_packet_ready: (this: NativePcapSession) => void;
  on(event: 'complete', fn: () => void): void;
  once(event: 'complete', fn: () => void): void;
  removeAllListeners(): void;
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
}

export interface NativeDevice {
  name: string;
  description?: string;
  addresses?: { addr?: string }[];
  flags?: string;
}

/** node_pcap's own live session (pcap.js createSession): 'packet' events with buf and header. */
export interface NativeLiveSession {
  link_type: string;
  on(event: 'packet', fn: (p: { buf: Buffer; header: Buffer }) => void): void;
  inject(buf: Buffer): void;
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
}

interface PcapModule {
  createSession(device: string, options: Record<string, unknown>): NativeLiveSession;
  PcapSession: {
    prototype: object;
    // (is_live, device_name, filter, buffer_size, snap_length, outfile, is_monitor, buffer_timeout, promiscuous)
    call(self: object, isLive: boolean, device: string, filter: string, bufferSize: number, snapLength: number | null,
      outfile: null, isMonitor?: boolean, bufferTimeout?: number, promiscuous?: boolean): void;
  };
  findalldevs(): NativeDevice[];
  lib_version: string;
  warningHandler: (text: string) => void;
}

/** The compiled addon alone (pcap_session.cc, pcap_binding.cc), without pcap.js. */
interface PcapBinding {
  PcapSession: new () => NativeOfflineBinding;
}

/** pcap_session.cc's session before pcap.js wraps it. */
interface NativeOfflineBinding extends NativeSessionBinding {
  /** Opens a savefile (and compiles `filter`); returns pcap_datalink's name. Throws libpcap's error. */
  open_offline(path: string, filter: string, bufferSize: number, snapLength: number, outfile: string,
    packetReady: () => void, isMonitor: boolean, bufferTimeout: number, warningHandler: (text: string) => void,
    promiscuous: boolean): string;
}

let loaded: PcapModule | null = null;
let bindingLoaded: PcapBinding | null = null;
let warningSink: ((text: string) => void) | null = null;
let readerWorkers = 0;

/** Whether this thread has loaded node_pcap (then no other thread may: native-notes/node_pcap.md §3.5). */
export function pcapLoadedHere(): boolean {
  return bindingLoaded !== null;
}

/** Bookkeeping of file-reader worker threads that hold node_pcap (offline.ts). */
export function readerWorkersAlive(change: number): void {
  readerWorkers += change;
}

/** Loads the addon once; routes libpcap warnings (pcap_lookupnet on IPv6-only links) to `setPcapWarningSink`. */
export function pcapModule(): PcapModule {
  if (loaded === null) {
    pcapBinding(); // the one place that loads the addon (and refuses while a reader holds it)
    const mod = createRequire(import.meta.url)('pcap') as PcapModule;
    // The default handler prints "warning: … - this may not actually work" on stderr.
    mod.warningHandler = (text: string) => { warningSink?.(String(text)); };
    loaded = mod;
  }
  return loaded;
}

/**
 * The addon without pcap.js: pcap.js also loads node_pcap's own protocol decoders, TCP tracker
 * and DNS cache (~15 ms of every start, unused here). Offline reading needs only the session
 * class. pcap.js (pcapModule, for live capture) requires the same file: one copy.
 */
function pcapBinding(): PcapBinding {
  if (bindingLoaded === null) {
    if (readerWorkers > 0) {
      // Loading it here now would fail with "Module did not self-register" (native-notes/node_pcap.md §3.5).
      throw new Error('libpcap is held by the capture-file reader thread; open the live capture after the file is read');
    }
    bindingLoaded = createRequire(import.meta.url)('pcap/build/Release/pcap_binding') as PcapBinding;
  }
  return bindingLoaded;
}

/** A savefile opened through the addon directly (offline.ts drains it). */
export interface OfflineSession {
  readonly native: NativeSessionBinding;
  /** libpcap copies each packet here (node_pcap truncates to its length). */
  readonly buf: Buffer;
  /** sec, usec, caplen, len as host-order words (HEADER_*). */
  readonly header: Buffer;
  /** The same 16 bytes as words, read without Buffer's checks: headerWords[HEADER_CAPLEN]. */
  readonly headerWords: Uint32Array;
  /** pcap_datalink's name as node_pcap gives it (linkTypeNumber maps it). */
  readonly linkTypeName: string;
}

/**
 * Opens `path` (with `filter`) and calls `onPacket` for each packet a dispatch delivers.
 * On failure (`ok` false) `error` is libpcap's and `native` is the session object, whose handle is open when the
 * file opened but the filter did not compile (offline.ts frees it).
 */
export function openOfflineSession(path: string, filter: string, snapLength: number, onPacket: () => void):
  { ok: true; session: OfflineSession } | { ok: false; native: NativeSessionBinding; error: unknown } {
  const binding = pcapBinding();
  const native = new binding.PcapSession();
  try {
    const linkTypeName = native.open_offline(path, filter, 0, snapLength, '', onPacket, false, 0,
      (text: string) => { warningSink?.(String(text)); }, false);
    // Buffer.alloc of 16 bytes has its own zero-offset ArrayBuffer, so a word view lines up.
    const header = Buffer.alloc(16);
    const headerWords = new Uint32Array(header.buffer, header.byteOffset, 4);
    return { ok: true, session: { native, buf: Buffer.alloc(snapLength), header, headerWords, linkTypeName } };
  } catch (error) {
    return { ok: false, native, error };
  }
}

/** Where libpcap warnings go (default: dropped). */
export function setPcapWarningSink(sink: ((text: string) => void) | null): void {
  warningSink = sink;
}

export function pcapLibVersion(): string {
  return pcapModule().lib_version;
}

/**
 * Creates a PcapSession the way pcap.js does, but keeps a reference to the half-built object when
 * the constructor throws (a bad filter throws after pcap_open_*, so the handle is open and must
 * be freed), and lets the caller install `onPacket` as the per-packet hook before the session
 * binds it: node_pcap's own path allocates a PacketWithHeader and runs EventEmitter.emit per
 * packet.
 */
export function constructSession(onPacket: (this: NativePcapSession) => void, isLive: boolean, device: string,
  filter: string, bufferSize: number, snapLength: number, bufferTimeout: number, promiscuous: boolean,
): { session: NativePcapSession; error: unknown } {
  const mod = pcapModule();
  const session = Object.create(mod.PcapSession.prototype) as NativePcapSession;
  session.on_packet_ready = onPacket;
  try {
    mod.PcapSession.call(session, isLive, device, filter, bufferSize, snapLength, null, false, bufferTimeout, promiscuous);
    return { session, error: null };
  } catch (error) {
    return { session, error };
  }
}

/** Maps node_pcap's link-type string (pcap_datalink, a DLT_ value) to the LINKTYPE_* number. */
export function linkTypeNumber(name: string): number | null {
  switch (name) {
    case 'LINKTYPE_NULL': return 0;
    case 'LINKTYPE_ETHERNET': return 1;
    case 'LINKTYPE_IEEE802_11_RADIO': return 127;
    case 'LINKTYPE_RAW': return 101; // DLT_RAW is 12 (14 on OpenBSD); the file says 101
    case 'LINKTYPE_LINUX_SLL': return 113;
    default: {
      const m = /^Unknown linktype (\d+)$/.exec(name);
      if (m === null) return null;
      const dlt = Number(m[1]);
      // DLT values that differ from their LINKTYPE_* numbers on the platforms we run on.
      if (dlt === 12 || dlt === 14) return 101;
      return dlt;
    }
  }
}
