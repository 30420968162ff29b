// The flow table: bidirectional 5-tuple flows (gopacket-style symmetric key), or (src, dst, 50)
// for ESP whose ports are hidden — SPIs ignored so a rekey never splits a flow (protocol.md §6.1).
// The initiator is the sender of the first packet seen; an idle gap longer than the timeout ends a
// flow and the next packet starts a new one.

import type { DecodedPacket, EspPlacement } from '../decode/packet.js';
import { IPPROTO_ESP, IPPROTO_ICMPV6 } from '../wire/ext-header.js';

/** Per-flow state the metrics layer hangs on a flow; opaque to the table. */
export interface FlowAttachment {
  readonly kind: string;
}

export class Flow {
  readonly id: number;
  readonly hash: number;
  readonly proto: number;
  /** Initiator (A) and responder (B) addresses, copied out of the packet buffer. */
  readonly addrA: Uint8Array;
  readonly addrB: Uint8Array;
  /** Ports, or the ICMPv6 echo identifier on both; -1 when the flow is keyed without ports. */
  readonly portA: number;
  readonly portB: number;
  readonly keyedByEcho: boolean;
  espPlacement: EspPlacement = 'none';
  spis: number[] | null = null;
  firstTsUs: number;
  lastTsUs: number;
  firstFrame: number;
  packetsAB = 0;
  packetsBA = 0;
  pdmPacketsAB = 0;
  pdmPacketsBA = 0;
  /** Metrics state, created on the first PDM packet. */
  metrics: FlowAttachment | null = null;
  next: Flow | null = null;

  constructor(id: number, hash: number, key: FlowKeyScratch, tsUs: number, frame: number) {
    this.id = id;
    this.hash = hash;
    this.proto = key.proto;
    this.addrA = key.buf.slice(key.srcOff, key.srcOff + 16);
    this.addrB = key.buf.slice(key.dstOff, key.dstOff + 16);
    this.portA = key.srcPort;
    this.portB = key.dstPort;
    this.keyedByEcho = key.byEcho;
    this.firstTsUs = tsUs;
    this.lastTsUs = tsUs;
    this.firstFrame = frame;
  }

  addSpi(spi: number): void {
    if (this.spis === null) this.spis = [spi];
    else if (!this.spis.includes(spi) && this.spis.length < 64) this.spis.push(spi);
  }
}

/** The key of the packet being looked up; filled by keyOf without allocating. */
export class FlowKeyScratch {
  proto = 0;
  buf: Uint8Array = new Uint8Array(0);
  srcOff = 0;
  dstOff = 0;
  srcPort = -1;
  dstPort = -1;
  byEcho = false;
  esp: EspPlacement = 'none';
}

/**
 * Derives the flow key of a decoded IPv6 packet. PDM outside ESP, or ESP that could not be
 * opened: (outer src, outer dst, 50), no ports. Opened transport mode: outer addresses with the
 * inner protocol and ports. Tunnel mode: the inner packet's addresses and ports.
 */
export function keyOf(p: DecodedPacket, out: FlowKeyScratch): void {
  const placement = p.primaryEspPlacement;
  const espClosed = p.espSpi >= 0 && (p.espOpened === 'no' || placement === 'outside');
  out.esp = p.espSpi < 0 ? 'none' : espClosed ? 'outside' : p.espTunnel ? 'tunnel' : 'inside';
  out.byEcho = false;
  if (espClosed) {
    out.proto = IPPROTO_ESP;
    out.buf = p.outerBuf;
    out.srcOff = p.outerSrcOff;
    out.dstOff = p.outerDstOff;
    out.srcPort = -1;
    out.dstPort = -1;
    return;
  }
  out.proto = p.upperProto < 0 ? 0 : p.upperProto;
  out.buf = p.addrBuf;
  out.srcOff = p.srcOff;
  out.dstOff = p.dstOff;
  if (p.srcPort >= 0) {
    out.srcPort = p.srcPort;
    out.dstPort = p.dstPort;
  } else if (out.proto === IPPROTO_ICMPV6 && p.icmpEchoId >= 0) {
    // No ports in ICMPv6: the echo identifier pairs requests with replies.
    out.srcPort = p.icmpEchoId;
    out.dstPort = p.icmpEchoId;
    out.byEcho = true;
  } else {
    out.srcPort = -1;
    out.dstPort = -1;
  }
}

function endpointHash(buf: Uint8Array, off: number, port: number): number {
  let h = 0x811c9dc5 ^ port;
  for (let i = 0; i < 16; i += 4) {
    const w = (buf[off + i]! << 24) | (buf[off + i + 1]! << 16) | (buf[off + i + 2]! << 8) | buf[off + i + 3]!;
    h = Math.imul(h ^ w, 0x01000193);
    h ^= h >>> 15;
  }
  return h;
}

/** Symmetric: the same for both directions of a flow. */
function flowHash(k: FlowKeyScratch): number {
  const h = (endpointHash(k.buf, k.srcOff, k.srcPort) + endpointHash(k.buf, k.dstOff, k.dstPort)) | 0;
  return Math.imul(h ^ k.proto, 0x9e3779b1) | 0;
}

function sameAddr(a: Uint8Array, buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}

export interface FlowTableOptions {
  idleTimeoutUs: number;
  /** The table never holds more than this many flows; the longest idle are ended first. */
  maxFlows: number;
  /** Called when a flow ends (idle timeout, eviction, or the final flush). */
  onFlowEnd: (flow: Flow) => void;
}

export class FlowTable {
  private readonly buckets = new Map<number, Flow>();
  private readonly opts: FlowTableOptions;
  private nextId = 0;
  private live = 0;
  private lastSweepTsUs = -Infinity;
  /** True after lookup() when the packet went from the initiator to the responder. */
  forward = true;

  constructor(opts: FlowTableOptions) {
    this.opts = opts;
  }

  get size(): number {
    return this.live;
  }

  /** Finds or creates the flow of the key; sets `forward`. */
  lookup(k: FlowKeyScratch, tsUs: number, frame: number): Flow {
    if (tsUs - this.lastSweepTsUs > this.opts.idleTimeoutUs / 4 || this.live > this.opts.maxFlows) this.sweep(tsUs);
    const hash = flowHash(k);
    let prev: Flow | null = null;
    for (let f = this.buckets.get(hash) ?? null; f !== null; prev = f, f = f.next) {
      if (f.proto !== k.proto) continue;
      let forward: boolean;
      if (f.portA === k.srcPort && f.portB === k.dstPort && sameAddr(f.addrA, k.buf, k.srcOff) && sameAddr(f.addrB, k.buf, k.dstOff)) forward = true;
      else if (f.portA === k.dstPort && f.portB === k.srcPort && sameAddr(f.addrA, k.buf, k.dstOff) && sameAddr(f.addrB, k.buf, k.srcOff)) forward = false;
      else continue;
      if (tsUs - f.lastTsUs > this.opts.idleTimeoutUs) {
        this.unlink(f, prev);
        this.opts.onFlowEnd(f);
        break;
      }
      this.forward = forward;
      return f;
    }
    const flow = new Flow(this.nextId++, hash, k, tsUs, frame);
    flow.next = this.buckets.get(hash) ?? null;
    this.buckets.set(hash, flow);
    this.live++;
    this.forward = true;
    return flow;
  }

  /** Ends every flow idle for longer than the timeout at capture time `nowUs`. */
  sweep(nowUs: number): void {
    this.lastSweepTsUs = nowUs;
    const limit = nowUs - this.opts.idleTimeoutUs;
    // Collect first: removing while walking a bucket chain would cut the walk short.
    const idle: Flow[] = [];
    for (const flow of this.all()) if (flow.lastTsUs < limit) idle.push(flow);
    for (const flow of idle) this.remove(flow);
    if (this.live > this.opts.maxFlows) {
      const byAge = [...this.all()].sort((a, b) => a.lastTsUs - b.lastTsUs);
      const excess = this.live - Math.floor(this.opts.maxFlows * 0.9);
      for (let i = 0; i < excess; i++) this.remove(byAge[i]!);
    }
  }

  /** Ends all flows (end of input), in creation order. */
  flush(): void {
    const flows = [...this.all()].sort((a, b) => a.id - b.id);
    this.buckets.clear();
    this.live = 0;
    for (const f of flows) this.opts.onFlowEnd(f);
  }

  *all(): IterableIterator<Flow> {
    for (const head of this.buckets.values()) for (let f: Flow | null = head; f !== null; f = f.next) yield f;
  }

  private remove(flow: Flow): void {
    let prev: Flow | null = null;
    for (let f = this.buckets.get(flow.hash) ?? null; f !== null; prev = f, f = f.next) {
      if (f === flow) {
        this.unlink(f, prev);
        this.opts.onFlowEnd(f);
        return;
      }
    }
  }

  private unlink(f: Flow, prev: Flow | null): void {
    if (prev === null) {
      if (f.next === null) this.buckets.delete(f.hash);
      else this.buckets.set(f.hash, f.next);
    } else prev.next = f.next;
    f.next = null;
    this.live--;
  }
}
