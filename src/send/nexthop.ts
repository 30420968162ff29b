// Next hop, addresses, MACs and MTU for injecting at layer 2 (native-notes/cap.md §10). The kernel's own
// answers are asked for through iproute2's JSON output; parsing is pure and tested on recorded
// outputs. When the neighbour cache has no link-layer address, a 0-byte UDP datagram to the
// destination's discard port makes the kernel run neighbour discovery (RFC 4861 §7.2), and the
// cache is polled for up to a second.

import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { formatIpv6, parseIpv6Address } from '../wire/ipv6.js';
import type { LinkFraming } from './frame-builder.js';

/** A setup failure the user can act on (the CLI prints its one-line message). */
export class NextHopError extends Error {}

export interface RouteInfo {
  /** 'unicast', 'local' (one of this host's addresses), 'multicast', … */
  readonly type: string;
  readonly dev: string;
  readonly gateway: string | null;
  readonly prefsrc: string | null;
}

export interface NeighbourInfo {
  readonly lladdr: string | null;
  readonly state: readonly string[];
}

export interface LinkInfo {
  readonly mtu: number;
  /** iproute2's link_type: 'ether', 'loopback', 'none' (tun, wireguard), … */
  readonly linkType: string;
  readonly address: string | null;
  readonly up: boolean;
}

function parseJsonArray(text: string, what: string): Record<string, unknown>[] {
  let v: unknown;
  try { v = JSON.parse(text); } catch { throw new NextHopError(`unreadable output from ${what}`); }
  if (!Array.isArray(v)) throw new NextHopError(`unexpected output from ${what}`);
  return v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

/** Parses `ip -j -6 route get DST [oif DEV]`. */
export function parseRouteGet(text: string): RouteInfo {
  const first = parseJsonArray(text, 'ip route get')[0];
  const dev = first === undefined ? null : str(first.dev);
  if (first === undefined || dev === null) throw new NextHopError('ip route get gave no route');
  return {
    type: str(first.type) ?? 'unicast',
    dev,
    gateway: str(first.gateway),
    prefsrc: str(first.prefsrc),
  };
}

/** Parses `ip -j -6 neigh show NH dev DEV`; no entry reads as no lladdr. */
export function parseNeighbour(text: string): NeighbourInfo {
  const first = parseJsonArray(text, 'ip neigh show')[0];
  if (first === undefined) return { lladdr: null, state: [] };
  const state = Array.isArray(first.state) ? first.state.filter((s): s is string => typeof s === 'string') : [];
  // INCOMPLETE and FAILED entries carry no lladdr; a stale lladdr is still the best we have
  // and the kernel re-validates it (RFC 4861 §7.3.3).
  return { lladdr: str(first.lladdr), state };
}

/** Parses `ip -j link show DEV`. */
export function parseLink(text: string): LinkInfo {
  const first = parseJsonArray(text, 'ip link show')[0];
  const mtu = first === undefined ? NaN : Number(first.mtu);
  if (first === undefined || !Number.isInteger(mtu) || mtu <= 0) throw new NextHopError('ip link show gave no MTU');
  const flags = Array.isArray(first.flags) ? first.flags : [];
  return { mtu, linkType: str(first.link_type) ?? 'ether', address: str(first.address), up: flags.includes('UP') };
}

/** "02:fc:00:00:00:01" → 6 bytes; null if it is not a MAC. */
export function parseMac(text: string): Uint8Array | null {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text.trim());
  if (m === null) return null;
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** RFC 2464 §7: an IPv6 multicast group maps to 33:33 and its last four bytes. */
export function multicastMac(dst: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, dst[12]!, dst[13]!, dst[14]!, dst[15]!);
}

export function isMulticast(addr: Uint8Array): boolean {
  return addr[0] === 0xff;
}

export interface NextHop {
  readonly dev: string;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** The gateway, or the destination itself when it is on-link. */
  readonly nextHop: string;
  readonly link: LinkFraming;
  readonly mtu: number;
  readonly linkType: string;
}

export type CommandRunner = (cmd: string, args: readonly string[]) => Promise<string>;

export const runCommand: CommandRunner = (cmd, args) => new Promise((resolve, reject) => {
  execFile(cmd, args as string[], { timeout: 5000 }, (err, stdout, stderr) => {
    if (err) {
      const why = (stderr || err.message).toString().split('\n')[0]!.trim();
      reject(new NextHopError(`${cmd} ${args.join(' ')}: ${why}`));
    } else resolve(stdout.toString());
  });
});

/** Sends a 0-byte UDP datagram to [dst]:9 (discard) so the kernel resolves the neighbour. */
export function nudgeNeighbourDiscovery(dst: string, dev: string): Promise<void> {
  return new Promise((resolve) => {
    const s = createSocket({ type: 'udp6' });
    s.on('error', () => { s.close(); resolve(); });
    const scoped = dst.toLowerCase().startsWith('fe80:') && !dst.includes('%') ? `${dst}%${dev}` : dst;
    s.send(new Uint8Array(0), 9, scoped, () => { s.close(); resolve(); });
  });
}

export interface ResolveOptions {
  /** The interface to leave by; default: the one the routing table picks. */
  dev?: string;
  run?: CommandRunner;
  readText?: (path: string) => Promise<string>;
  nudge?: (dst: string, dev: string) => Promise<void>;
  sleepMs?: (ms: number) => Promise<void>;
  /** How long to wait for neighbour discovery. */
  neighbourTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves everything needed to frame packets to `dstText` (native-notes/cap.md §10). */
export async function resolveNextHop(dstText: string, options: ResolveOptions = {}): Promise<NextHop> {
  const run = options.run ?? runCommand;
  const readText = options.readText ?? ((p: string) => readFile(p, 'utf8'));
  const dst = parseIpv6Address(dstText);
  if (dst === null) throw new NextHopError(`'${dstText}' is not an IPv6 address`);
  const dstCanon = formatIpv6(dst);
  const routeArgs = ['-j', '-6', 'route', 'get', dstCanon];
  if (options.dev !== undefined) routeArgs.push('oif', options.dev);
  const route = parseRouteGet(await run('ip', routeArgs));
  // The kernel's answer, which for one of this host's own addresses is `lo` whatever oif says.
  const dev = route.dev;
  const link = parseLink(await run('ip', ['-j', 'link', 'show', 'dev', dev]));
  if (!link.up) throw new NextHopError(`interface ${dev} is down`);
  const srcText = route.prefsrc;
  const src = srcText === null ? null : parseIpv6Address(srcText);
  if (src === null) throw new NextHopError(`no IPv6 source address for ${dstCanon} on ${dev}`);
  const nextHop = route.gateway ?? dstCanon;
  const base = { dev, src, dst, nextHop, mtu: link.mtu, linkType: link.linkType };

  if (link.linkType === 'loopback' || route.type === 'local') {
    // lo carries Ethernet framing with all-zero MACs (native-notes/cap.md §9).
    return { ...base, link: { kind: 'ethernet', srcMac: new Uint8Array(6), dstMac: new Uint8Array(6) } };
  }
  if (link.linkType === 'none') return { ...base, link: { kind: 'raw' } };
  if (link.linkType !== 'ether') throw new NextHopError(`interface ${dev} has link type ${link.linkType}; pdmscope sends on Ethernet, loopback and raw-IP (tun, wireguard) links`);

  const srcMacText = (await readText(`/sys/class/net/${dev}/address`).catch(() => link.address ?? '')).trim();
  const srcMac = parseMac(srcMacText);
  if (srcMac === null) throw new NextHopError(`cannot read the MAC address of ${dev}`);
  if (isMulticast(dst)) return { ...base, link: { kind: 'ethernet', srcMac, dstMac: multicastMac(dst) } };

  const neighArgs = ['-j', '-6', 'neigh', 'show', nextHop, 'dev', dev];
  let neigh = parseNeighbour(await run('ip', neighArgs));
  if (neigh.lladdr === null) {
    const nudge = options.nudge ?? nudgeNeighbourDiscovery;
    const wait = options.sleepMs ?? sleep;
    await nudge(dstCanon, dev);
    const deadline = options.neighbourTimeoutMs ?? 1000;
    for (let waited = 0; neigh.lladdr === null && waited < deadline; waited += 50) {
      await wait(50);
      neigh = parseNeighbour(await run('ip', neighArgs));
    }
  }
  const dstMac = neigh.lladdr === null ? null : parseMac(neigh.lladdr);
  if (dstMac === null) {
    const state = neigh.state.length > 0 ? neigh.state.join(',') : 'no entry';
    throw new NextHopError(`next hop ${nextHop} on ${dev} did not answer neighbour discovery (${state})`);
  }
  return { ...base, link: { kind: 'ethernet', srcMac, dstMac } };
}
