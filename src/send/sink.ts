// PacketSink over npm `cap` (native.md §2, §3.4): the only module that touches cap.
//
// cap is used to SEND only. Its receive path has no timestamps (issue #85) and a poll error
// aborts the process (`assert(status == 0)` in cb_packets, issue #82; native-notes/cap.md):
// an interface that goes down or disappears under an open handle kills node with SIGABRT.
// Containment here: a BPF filter that matches nothing (no packet is ever copied to JS), a small
// kernel ring, and a watchdog that closes the handle (cap's close() stops its uv poll) as soon
// as the interface goes down, is deleted or is replaced. The watchdog shrinks the window but
// cannot close it: an interface removed between two checks still aborts the process.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface PacketSink {
  /** The link type the sink frames for: 'ETHERNET', 'RAW', … (cap's names, native.md §2.2). */
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
const WATCHDOG_MS = 100;

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

function ifaceIdentity(dev: string): string | null {
  try {
    const ifindex = readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8').trim();
    const flags = parseInt(readFileSync(`/sys/class/net/${dev}/flags`, 'utf8').trim(), 16);
    // IFF_UP (0x1): a downed interface raises POLLERR on the packet socket too.
    return (flags & 1) === 1 ? ifindex : null;
  } catch {
    return null;
  }
}

export class CapSink implements PacketSink {
  readonly linkType: string;
  readonly dev: string;
  private handle: CapHandle | null;
  private readonly watchdog: NodeJS.Timeout | null;
  private closedReason: string | null = null;
  private readonly identity: string | null;

  private constructor(dev: string, handle: CapHandle, linkType: string) {
    this.dev = dev;
    this.handle = handle;
    this.linkType = linkType;
    this.identity = ifaceIdentity(dev);
    this.watchdog = this.identity === null ? null : setInterval(() => this.check(), WATCHDOG_MS);
    this.watchdog?.unref();
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
    if (h === null) throw new SinkError(`cannot send on ${this.dev}: ${this.closedReason ?? 'closed'}`);
    const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    try {
      h.send(buf, buf.length);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      throw new SinkError(`sending on ${this.dev} failed: ${text.split('\n')[0]}`);
    }
  }

  close(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.shut('closed');
  }

  /** True while the handle is open. */
  get open(): boolean {
    return this.handle !== null;
  }

  private check(): void {
    const now = ifaceIdentity(this.dev);
    if (now === this.identity) return;
    this.shut(now === null ? 'the interface went down or away' : 'the interface was replaced');
    if (this.watchdog !== null) clearInterval(this.watchdog);
  }

  private shut(reason: string): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    this.closedReason = reason;
    try { h.close(); } catch { /* already closed */ }
  }
}
