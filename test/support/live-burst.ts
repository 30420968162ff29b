// A burst of synthetic PDM packets on an interface (default lo) through the `pdmscope live`
// capture loop, for the load test and `npm run bench`. Sender and capturer run in child
// processes: only one JS context per process may load node_pcap (native-notes/node_pcap.md §3.5),
// node_pcap cannot release an idle capture handle (native-notes/node_pcap.md #9), and the capturer is then measured alone.
// Needs root (or CAP_NET_RAW + CAP_NET_ADMIN).

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BurstCaptureResult } from './burst-capture-main.js';
import { trafficFilter } from './traffic.js';

export interface BurstOptions {
  iface?: string;
  /** Packets per second for the sender; 0 (default): as fast as it can inject. */
  ratePps?: number;
  /** Parallel flows the packets are spread over (default 16). */
  flows?: number;
  /** Capture snap length (default 512: headers and PDM; see session.ts on lo's ring slots). */
  snapLen?: number;
  bufferSizeBytes?: number;
}

export interface BurstResult {
  /** Packets injected. */
  sent: number;
  /** Packets the live loop analyzed. */
  captured: number;
  /** pcap_stats ps_drop: dropped in the kernel for lack of ring space. */
  dropped: number;
  /** The sender's time for the whole burst. */
  seconds: number;
  pdmPackets: number;
  kernelReceived: number;
}

const CAPTURE_JS = fileURLToPath(new URL('./burst-capture-main.js', import.meta.url));
const INJECT_JS = fileURLToPath(new URL('./inject-main.js', import.meta.url));

function firstJsonLine(child: ChildProcess, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      try { resolve(JSON.parse(line) as Record<string, unknown>); } catch { reject(new Error(`${what}: ${line}`)); }
    });
    // 'close', not 'exit': 'exit' can come before the last stdout line has been read, which
    // turned a child that printed its result and exited 0 into a failure.
    child.once('close', (code) => reject(new Error(`${what} exited with ${code}: ${stderr.trim()}`)));
  });
}

/** Sends `count` PDM packets (rounded up to whole request/response pairs per flow) and counts them. */
export async function runLiveBurst(count: number, options: BurstOptions = {}): Promise<BurstResult> {
  const iface = options.iface ?? 'lo';
  const flows = options.flows ?? 16;
  const exchanges = Math.max(1, Math.ceil(count / flows / 2));
  // A ULA /48 of our own so other traffic on the interface is not counted.
  const prefix = `fd00:${(0x5d00 + (process.pid & 0xff)).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}`;
  const capture = spawn(process.execPath, [CAPTURE_JS, JSON.stringify({
    iface, filter: trafficFilter(prefix), snapLen: options.snapLen ?? 512,
    ...(options.bufferSizeBytes !== undefined ? { bufferSizeBytes: options.bufferSizeBytes } : {}),
  })], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const captureLines = createInterface({ input: capture.stdout! });
    const lines: string[] = [];
    const waiters: ((l: string) => void)[] = [];
    captureLines.on('line', (l) => { const w = waiters.shift(); if (w) w(l); else lines.push(l); });
    let captureErr = '';
    capture.stderr!.on('data', (d: Buffer) => { captureErr += d.toString(); });
    const nextLine = (): Promise<string> => new Promise((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) { resolve(l); return; }
      waiters.push(resolve);
      capture.once('close', (code) => reject(new Error(`burst capture exited with ${code}: ${captureErr.trim()}`)));
    });
    await nextLine(); // {"ready":true}
    const injector = spawn(process.execPath, [INJECT_JS, JSON.stringify({ iface, prefix, flows, exchanges, ratePps: options.ratePps ?? 0 })],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const sentInfo = await firstJsonLine(injector, 'burst sender') as { sent: number; failed: number; seconds: number };
    capture.stdin!.write(`${sentInfo.sent}\n`);
    const result = JSON.parse(await nextLine()) as BurstCaptureResult;
    return {
      sent: sentInfo.sent, captured: result.captured, dropped: result.kernel_dropped, seconds: sentInfo.seconds,
      pdmPackets: result.pdm_packets, kernelReceived: result.kernel_received,
    };
  } finally {
    if (capture.exitCode === null) {
      capture.kill('SIGKILL');
      await once(capture, 'exit');
    }
  }
}
