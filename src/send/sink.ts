// PacketSink over npm `cap` (native-notes/cap.md §1, §8): the only module that touches cap.
//
// cap is used to SEND only. Its receive path has no timestamps (issue #85), and its poll
// callback asserts `status == 0` (issue #82): the packet socket reports POLLERR when the
// interface goes down or is deleted, and node dies with SIGABRT — even with a filter that
// passes nothing and no packet listener (verified, native-notes/cap.md §1). That cannot be
// contained from inside the process, so `--sink pcap` (receiver.ts, PcapInjectSink) exists and
// is the default; cap stays available as `--sink cap`.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface PacketSink {
  /** The link type the sink frames for: 'ETHERNET', 'RAW', … (cap's names, native-notes/cap.md §8). */
  readonly linkType: string;
  /** Sends one whole frame; throws SinkError with a one-line reason. */
  send(frame: Uint8Array): void;
  close(): void;
}

export class SinkError extends Error {}

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  send(buffer: Buffer, length?: number): void;
  close(): boolean;
  on(event: string, fn: (...args: unknown[]) => void): void;
}

interface CapModule {
  Cap: new () => CapHandle;
}

/** A filter no frame passes: `less 1` is "length ≤ 1 byte". */
const MATCH_NOTHING = 'less 1';
/** Kernel ring bytes; nothing is ever received (libpcap rounds up to its minimum). */
const RING_BYTES = 64 * 1024;

/** CAP_NET_RAW (bit 13 of CapEff in /proc/self/status, capabilities(7)); null if unknown. */
export function hasCapNetRaw(): boolean | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m === null) return null;
    return (BigInt(`0x${m[1]}`) & (1n << 13n)) !== 0n;
  } catch {
    return null;
  }
}

export const NEED_NET_RAW =
  'needs CAP_NET_RAW to capture and inject frames: run as root, or grant it with ' +
  '`sudo setcap cap_net_raw+ep "$(readlink -f "$(command -v node)")"`';

export class CapSink implements PacketSink {
  readonly linkType: string;
  readonly dev: string;
  private handle: CapHandle | null;

  private constructor(dev: string, handle: CapHandle, linkType: string) {
    this.dev = dev;
    this.handle = handle;
    this.linkType = linkType;
  }

  /** Opens `dev` for sending. */
  static open(dev: string): CapSink {
    const cap = createRequire(import.meta.url)('cap') as CapModule;
    const handle = new cap.Cap();
    // Required by open(); never filled, because the filter passes nothing.
    const buffer = Buffer.alloc(65535);
    let linkType: string;
    try {
      linkType = handle.open(dev, MATCH_NOTHING, RING_BYTES, buffer);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (/permission|not permitted/i.test(text)) throw new SinkError(`opening ${dev} ${NEED_NET_RAW}`);
      throw new SinkError(`cannot open ${dev} for sending: ${text.split('\n')[0]}`);
    }
    handle.on('packet', () => {});
    return new CapSink(dev, handle, linkType);
  }

  send(frame: Uint8Array): void {
    const h = this.handle;
    if (h === null) throw new SinkError(`cannot send on ${this.dev}: closed`);
    const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    try {
      h.send(buf, buf.length);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      throw new SinkError(`sending on ${this.dev} failed: ${text.split('\n')[0]}`);
    }
  }

  /** cap's close() stops its uv poll, so unlike node_pcap it lets the process end. */
  close(): void {
    const h = this.handle;
    this.handle = null;
    if (h !== null) { try { h.close(); } catch { /* already closed */ } }
  }
}
