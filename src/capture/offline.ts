// Capture files through libpcap (node_pcap): the only module that opens files with the addon.
//
// Every file is pre-scanned first (prescan.ts) because node_pcap hides libpcap's errors
// (native.md §1.3, native-notes/node_pcap.md): unusable files are refused with a one-line
// CaptureFileError, damaged ones are read as far as libpcap goes and reported incomplete, and the
// delivered count is checked against the records the pre-scan counted. Defects contained here:
// the leaked descriptor per session (finishSession), a throwing callback reaching
// Nan::FatalException (the try/catch in onPacket), the 65535-byte buffer (SNAP_BUFFER_BYTES),
// and the allocation + emit per packet (the on_packet_ready hook).

import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { endianness } from 'node:os';

import { constructSession, linkTypeNumber, type NativePcapSession } from './native.js';
import { type CaptureFileFormat, isFatalProblem, MAX_RECORD_CAPLEN, prescanCapture, type PrescanResult } from './prescan.js';

/** Thrown for files that cannot be read at all; the message is one line naming the file. */
export class CaptureFileError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'CaptureFileError';
    this.path = path;
  }
}

export interface ReadOptions {
  /** A BPF filter, compiled by libpcap. Note `udp` does not see UDP behind extension headers: use `ip6 protochain 17`. */
  filter?: string;
}

/**
 * Receives each packet. `frame` is libpcap's shared buffer, reused for the next packet: read
 * bytes [0, capLen) inside the callback and copy what you keep. `tsUs` is µs since the epoch
 * (nanosecond files arrive truncated to µs by libpcap). Must be synchronous.
 */
export type FrameCallback = (frame: Buffer, capLen: number, wireLen: number, tsUs: number) => void;

export interface ReadSummary {
  path: string;
  format: CaptureFileFormat;
  /** LINKTYPE_* number of the file (1 ethernet, 101 raw, 113 sll, 276 sll2, 229 ipv6, 0 null, 108 loop…); null only for a pcapng with no interface. */
  linkType: number | null;
  /** Every link type the file declares (one, since mixed files are refused). */
  linkTypes: number[];
  /** The file's own timestamp resolution in units per second (1e6 or 1e9); delivery is always µs. */
  tsUnitsPerSecond: number;
  /** Packets passed to the callback. */
  delivered: number;
  /** Packet records the pre-scan counted (before the filter). */
  expected: number;
  /** True only when the whole file was read and nothing is missing. */
  complete: boolean;
  /** One line when `complete` is false. */
  error: string | null;
}

/** The buffer libpcap copies each packet into: libpcap's own ceiling, so nothing is clipped. */
const SNAP_BUFFER_BYTES = MAX_RECORD_CAPLEN;
const HOST_LE = endianness() === 'LE';

/**
 * Reads a pcap or pcapng file, calling `onFrame` for each packet, and resolves with what was read.
 * `onOpen` gets the LINKTYPE_* number before the first frame. Throws (rejects with) a
 * CaptureFileError for a missing, empty, non-capture or mixed-link-type file or a bad filter;
 * rejects with the callback's own error if `onFrame` throws (reading stops there).
 */
export async function readCaptureFile(path: string, options: ReadOptions, onFrame: FrameCallback,
  onOpen?: (linkType: number) => void): Promise<ReadSummary> {
  const scan = prescanCapture(path);
  if (isFatalProblem(scan.problem)) throw new CaptureFileError(path, scan.problem!.message);
  const summary: ReadSummary = {
    path, format: scan.format!, linkType: scan.linkType, linkTypes: scan.linkTypes.slice(),
    tsUnitsPerSecond: scan.tsUnitsPerSecond, delivered: 0, expected: scan.packets, complete: false, error: null,
  };
  if (scan.linkType === null) {
    // A pcapng with a section header and no interface: libpcap refuses to open it ("no Interface
    // Description Blocks"), though nothing is wrong when it holds no packets either.
    return finishSummary(summary, scan, true, null);
  }
  onOpen?.(scan.linkType);
  return new Promise<ReadSummary>((resolve, reject) => {
    let callbackError: unknown = null;
    let stopped = false;
    let delivered = 0;
    const onPacket = function onPacket(this: NativePcapSession): void {
      if (stopped) return;
      const h = this.header;
      const sec = HOST_LE ? h.readUInt32LE(0) : h.readUInt32BE(0);
      const usec = HOST_LE ? h.readUInt32LE(4) : h.readUInt32BE(4);
      const capLen = HOST_LE ? h.readUInt32LE(8) : h.readUInt32BE(8);
      const wireLen = HOST_LE ? h.readUInt32LE(12) : h.readUInt32BE(12);
      try {
        onFrame(this.buf, capLen <= this.buf.length ? capLen : this.buf.length, wireLen, sec * 1e6 + usec);
        delivered++;
      } catch (err) {
        // Thrown through the addon it would go to Nan::FatalException and end the process.
        callbackError = err;
        stopped = true;
        this.session.close(); // pcap_breakloop: the next pcap_dispatch returns -2 and frees the handle
      }
    };
    const openBefore = options.filter !== undefined && options.filter !== '' ? descriptorsOpenOn(path) : -1;
    const { session, error } = constructSession(onPacket, false, path, options.filter ?? '', 0, SNAP_BUFFER_BYTES, 1000, true);
    if (error !== null) {
      freeHalfOpenSession(session, path, openBefore);
      const text = error instanceof Error ? error.message : String(error);
      const what = options.filter !== undefined && options.filter !== '' ? `bad filter '${options.filter}': ${text}` : `libpcap cannot read it: ${text}`;
      reject(new CaptureFileError(path, `${path}: ${what}`.split('\n')[0]!));
      return;
    }
    session.once('complete', () => {
      // Runs right after the synchronous drain (native.md §1.3).
      finishSession(session, stopped);
      summary.delivered = delivered;
      if (callbackError !== null) {
        reject(callbackError);
        return;
      }
      const lt = linkTypeNumber(session.link_type);
      if (lt !== scan.linkType && !(lt === 101 && (scan.linkType === 12 || scan.linkType === 14))) {
        // Not expected to happen; recorded rather than hidden.
        summary.error = `${path}: libpcap reports link type ${session.link_type}, the file header says ${scan.linkType}`;
      }
      resolve(finishSummary(summary, scan, options.filter === undefined || options.filter === '', summary.error));
    });
  });
}

function finishSummary(summary: ReadSummary, scan: PrescanResult, unfiltered: boolean, mismatch: string | null): ReadSummary {
  let error: string | null = null;
  if (scan.problem !== null) {
    error = scan.problem.message;
    if (unfiltered && summary.delivered !== scan.packetsBeforeProblem) {
      error += ` (libpcap delivered ${summary.delivered} of the ${scan.packetsBeforeProblem} readable records)`;
    }
  } else if (unfiltered && summary.delivered !== scan.packets) {
    error = `${scan.path}: libpcap delivered ${summary.delivered} of ${scan.packets} packet records`;
  } else {
    error = mismatch;
  }
  summary.complete = error === null;
  summary.error = error;
  return summary;
}

/**
 * Frees the libpcap handle. node_pcap only calls pcap_close from FinalizeClose, which runs when
 * pcap_dispatch returns -2 after a pcap_breakloop; at end of file it returns 0, so every offline
 * session leaked its descriptor. Breakloop, then one more dispatch, frees it (the break flag is
 * checked before any read, so no packet is delivered). Skipped when the callback already stopped
 * the loop: that dispatch loop saw the -2 and freed the handle; a second dispatch on the freed
 * (NULL) handle would crash.
 */
function finishSession(session: NativePcapSession, alreadyFreed: boolean): void {
  session.removeAllListeners();
  session.opened = false;
  if (alreadyFreed) return;
  session.session.close();
  session.session.dispatch(session.buf, session.header);
}

/**
 * A bad filter throws after pcap_open_offline succeeded, leaving an open handle. It is freed the
 * same way, but only when the file is provably open (a descriptor to it appeared): when
 * pcap_open_offline itself failed the handle is NULL and dispatch would crash.
 */
function freeHalfOpenSession(session: NativePcapSession, path: string, openBefore: number): void {
  const s = (session as Partial<NativePcapSession>).session;
  if (s === undefined || session.opened === true) return;
  if (openBefore < 0 || descriptorsOpenOn(path) <= openBefore) return;
  s.close();
  s.dispatch(Buffer.alloc(16), Buffer.alloc(16));
}

/** Descriptors of this process open on `path` (Linux /proc); -1 when that cannot be known. */
function descriptorsOpenOn(path: string): number {
  try {
    const target = realpathSync(path);
    let n = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`) === target) n++;
      } catch { /* closed meanwhile */ }
    }
    return n;
  } catch {
    return -1;
  }
}
