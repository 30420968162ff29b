// The once-a-second status line of `pdmscope live` on stderr (a terminal only; docs/architecture.md §5:
// progress and diagnostics on stderr, nothing animated in pipes or CI logs).

import { writeSync } from 'node:fs';
import type { LiveStatus } from './session.js';

const GROUP = new Intl.NumberFormat('en-US');

/** "lo: 12,345 packets, 6,000 PDM, 3 flows, 1,200 pkt/s, 0 kernel drops" */
export function formatStatusLine(iface: string, s: LiveStatus, packetsPerSecond: number): string {
  const drops = s.kernel.dropped + s.kernel.ifDropped;
  return `${iface}: ${GROUP.format(s.packets)} packets, ${GROUP.format(s.pdmPackets)} PDM, ${GROUP.format(s.openFlows)} flows, ` +
    `${GROUP.format(Math.round(packetsPerSecond))} pkt/s, ${GROUP.format(drops)} kernel drop${drops === 1 ? '' : 's'}`;
}

/** Rewrites one line in place (CR + erase to end of line). */
export class StatusLine {
  private readonly fd: number;
  private shown = false;
  private lastPackets = 0;
  private lastMs: number;

  constructor(fd = 2) {
    this.fd = fd;
    this.lastMs = Date.now();
  }

  update(iface: string, s: LiveStatus): void {
    const now = Date.now();
    const pps = now > this.lastMs ? ((s.packets - this.lastPackets) * 1000) / (now - this.lastMs) : 0;
    this.lastPackets = s.packets;
    this.lastMs = now;
    this.write(`\r${formatStatusLine(iface, s, pps)}\x1b[K`);
    this.shown = true;
  }

  /** Ends the line so that what follows starts on a fresh one. */
  end(): void {
    if (this.shown) this.write('\n');
    this.shown = false;
  }

  private write(text: string): void {
    try { writeSync(this.fd, text); } catch { /* a closed terminal: nothing to report to */ }
  }
}
