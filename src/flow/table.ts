// The flow table: bidirectional 5-tuple flows (gopacket-style symmetric key), or (src, dst, 50)
// for ESP whose ports are hidden — SPIs ignored so a rekey never splits a flow (docs/protocol.md §6.1).
// The initiator is the sender of the first packet seen; an idle gap longer than the timeout ends a
// flow and the next packet starts a new one. The table holds at most maxFlows flows: a new flow
// in a full table first ends the least recently seen one (exact LRU; a packet only stamps its flow,
// the ordering is built when the table first fills: RecencyHeap).

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
  /** Initiator (A) and responder (B) addresses as four big-endian 32-bit words each. */
  readonly a0: number; readonly a1: number; readonly a2: number; readonly a3: number;
  readonly b0: number; readonly b1: number; readonly b2: number; readonly b3: number;
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
  /** The table's packet count at this flow's latest packet: the larger, the more recently seen. */
  lastSeq = 0;
  /** In a table's slots (false once ended): the recency heap skips entries of ended flows. */
  open = true;

  constructor(id: number, hash: number, key: FlowKeyScratch, tsUs: number, frame: number) {
    this.id = id;
    this.hash = hash;
    this.proto = key.proto;
    this.a0 = key.s0; this.a1 = key.s1; this.a2 = key.s2; this.a3 = key.s3;
    this.b0 = key.d0; this.b1 = key.d1; this.b2 = key.d2; this.b3 = key.d3;
    this.portA = key.srcPort;
    this.portB = key.dstPort;
    this.keyedByEcho = key.byEcho;
    this.firstTsUs = tsUs;
    this.lastTsUs = tsUs;
    this.firstFrame = frame;
  }

  get addrA(): Uint8Array { return wordsToBytes(this.a0, this.a1, this.a2, this.a3); }
  get addrB(): Uint8Array { return wordsToBytes(this.b0, this.b1, this.b2, this.b3); }

  addSpi(spi: number): void {
    if (this.spis === null) this.spis = [spi];
    else if (!this.spis.includes(spi) && this.spis.length < 64) this.spis.push(spi);
  }
}

function wordsToBytes(...words: number[]): Uint8Array {
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setInt32(4 * i, w));
  return out;
}

function word(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

/** The key of the packet being looked up; filled by keyOf without allocating. */
export class FlowKeyScratch {
  proto = 0;
  s0 = 0; s1 = 0; s2 = 0; s3 = 0;
  d0 = 0; d1 = 0; d2 = 0; d3 = 0;
  srcPort = -1;
  dstPort = -1;
  byEcho = false;
  esp: EspPlacement = 'none';

  setAddresses(buf: Uint8Array, srcOff: number, dstOff: number): void {
    this.s0 = word(buf, srcOff); this.s1 = word(buf, srcOff + 4); this.s2 = word(buf, srcOff + 8); this.s3 = word(buf, srcOff + 12);
    this.d0 = word(buf, dstOff); this.d1 = word(buf, dstOff + 4); this.d2 = word(buf, dstOff + 8); this.d3 = word(buf, dstOff + 12);
  }
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
    out.setAddresses(p.outerBuf, p.outerSrcOff, p.outerDstOff);
    out.srcPort = -1;
    out.dstPort = -1;
    return;
  }
  out.proto = p.upperProto < 0 ? 0 : p.upperProto;
  out.setAddresses(p.addrBuf, p.srcOff, p.dstOff);
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

function mix(h: number, w: number): number {
  const x = Math.imul(h ^ w, 0x01000193);
  return x ^ (x >>> 15);
}

/** Symmetric: the same for both directions of a flow (the two endpoint hashes are added). */
function flowHash(k: FlowKeyScratch): number {
  const src = mix(mix(mix(mix(0x811c9dc5 ^ k.srcPort, k.s0), k.s1), k.s2), k.s3);
  const dst = mix(mix(mix(mix(0x811c9dc5 ^ k.dstPort, k.d0), k.d1), k.d2), k.d3);
  return Math.imul(((src + dst) | 0) ^ k.proto, 0x9e3779b1) | 0;
}

function matchesForward(f: Flow, k: FlowKeyScratch): boolean {
  return f.portA === k.srcPort && f.portB === k.dstPort && f.a3 === k.s3 && f.b3 === k.d3 &&
    f.a0 === k.s0 && f.a1 === k.s1 && f.a2 === k.s2 && f.b0 === k.d0 && f.b1 === k.d1 && f.b2 === k.d2;
}

function matchesReverse(f: Flow, k: FlowKeyScratch): boolean {
  return f.portA === k.dstPort && f.portB === k.srcPort && f.a3 === k.d3 && f.b3 === k.s3 &&
    f.a0 === k.d0 && f.a1 === k.d1 && f.a2 === k.d2 && f.b0 === k.s0 && f.b1 === k.s1 && f.b2 === k.s2;
}

export interface FlowTableOptions {
  idleTimeoutUs: number;
  /** The table never holds more than this many flows; a new flow in a full table ends the least recently seen. */
  maxFlows: number;
  /** Called when a flow ends (idle timeout, eviction, or the final flush). */
  onFlowEnd: (flow: Flow) => void;
}

/**
 * Open addressing with linear probing over parallel arrays (faster than a Map per packet);
 * deletion shifts later entries back, so no tombstones build up.
 */
export class FlowTable {
  private slots: (Flow | null)[];
  private mask: number;
  private readonly opts: FlowTableOptions;
  private nextId = 0;
  private live = 0;
  private lastSweepTsUs = -Infinity;
  /** Packets looked up so far: each stamps its flow's lastSeq. */
  private seq = 0;
  /** Built when the table first fills, dropped when it empties below half (RecencyHeap). */
  private recency: RecencyHeap | null = null;
  /** Flows ended because the table was full (not by idle timeout or the final flush). */
  endedEarly = 0;
  /** True after lookup() when the packet went from the initiator to the responder. */
  forward = true;

  constructor(opts: FlowTableOptions) {
    this.opts = opts;
    this.slots = new Array<Flow | null>(1024).fill(null);
    this.mask = 1023;
  }

  get size(): number {
    return this.live;
  }

  /** Finds or creates the flow of the key; sets `forward`. */
  lookup(k: FlowKeyScratch, tsUs: number, frame: number): Flow {
    if (tsUs - this.lastSweepTsUs > this.opts.idleTimeoutUs / 4) this.sweep(tsUs);
    const hash = flowHash(k);
    const slots = this.slots;
    let i = hash & this.mask;
    for (let f = slots[i]!; f !== null; i = (i + 1) & this.mask, f = slots[i]!) {
      if (f.hash !== hash || f.proto !== k.proto) continue;
      let forward: boolean;
      if (matchesForward(f, k)) forward = true;
      else if (matchesReverse(f, k)) forward = false;
      else continue;
      if (tsUs - f.lastTsUs > this.opts.idleTimeoutUs) {
        this.removeAt(i);
        f.open = false;
        this.opts.onFlowEnd(f);
        return this.insert(k, hash, tsUs, frame);
      }
      this.forward = forward;
      // The only per-packet cost of the bound: no list to relink (the flows of a busy capture
      // interleave, so an LRU list would touch three scattered flows per packet).
      f.lastSeq = ++this.seq;
      return f;
    }
    return this.insert(k, hash, tsUs, frame);
  }

  private insert(k: FlowKeyScratch, hash: number, tsUs: number, frame: number): Flow {
    if (this.live >= this.opts.maxFlows) this.endOldest();
    if ((this.live + 1) * 2 > this.slots.length) this.grow();
    const flow = new Flow(this.nextId++, hash, k, tsUs, frame);
    let i = hash & this.mask;
    while (this.slots[i] !== null) i = (i + 1) & this.mask;
    this.slots[i] = flow;
    this.live++;
    flow.lastSeq = ++this.seq;
    this.recency?.push(flow, flow.lastSeq);
    this.forward = true;
    return flow;
  }

  /** The table is full: the least recently seen flow ends early, the way an idle one does. */
  private endOldest(): void {
    let heap = this.recency;
    // Entries of ended flows pile up between evictions (idle timeouts): rebuild when they outnumber the open flows.
    if (heap === null || heap.size > 2 * this.live + 1024) heap = this.recency = new RecencyHeap(this.all());
    const f = heap.popLeastRecent();
    if (f === null) return;
    this.remove(f);
    this.endedEarly++;
    this.opts.onFlowEnd(f);
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<Flow | null>(old.length * 2).fill(null);
    this.mask = this.slots.length - 1;
    for (const f of old) {
      if (f === null) continue;
      let i = f.hash & this.mask;
      while (this.slots[i] !== null) i = (i + 1) & this.mask;
      this.slots[i] = f;
    }
  }

  /** Removes slot i and shifts the probe run after it back (Knuth's algorithm R). */
  private removeAt(i: number): void {
    const slots = this.slots;
    const mask = this.mask;
    slots[i] = null;
    this.live--;
    let hole = i;
    for (let j = (i + 1) & mask; slots[j] !== null; j = (j + 1) & mask) {
      const home = slots[j]!.hash & mask;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        slots[hole] = slots[j]!;
        slots[j] = null;
        hole = j;
      }
    }
  }

  /** Ends every flow idle for longer than the timeout at capture time `nowUs`. */
  sweep(nowUs: number): void {
    this.lastSweepTsUs = nowUs;
    const limit = nowUs - this.opts.idleTimeoutUs;
    const ended: Flow[] = [];
    for (const f of this.slots) if (f !== null && f.lastTsUs < limit) ended.push(f);
    for (const f of ended) this.remove(f);
    // Far from full again: let go of the heap (it holds ended flows) until the table next fills.
    if (this.live < this.opts.maxFlows / 2) this.recency = null;
    for (const f of ended) this.opts.onFlowEnd(f);
  }

  /** Ends all flows (end of input), in creation order. */
  flush(): void {
    const flows = [...this.all()].sort((a, b) => a.id - b.id);
    this.slots = new Array<Flow | null>(1024).fill(null);
    this.mask = 1023;
    this.live = 0;
    this.recency = null;
    for (const f of flows) f.open = false;
    for (const f of flows) this.opts.onFlowEnd(f);
  }

  *all(): IterableIterator<Flow> {
    for (const f of this.slots) if (f !== null) yield f;
  }

  /** Takes the flow out of the slots (its recency heap entry goes when popped). */
  private remove(flow: Flow): void {
    flow.open = false;
    for (let i = flow.hash & this.mask; this.slots[i] !== null; i = (i + 1) & this.mask) {
      if (this.slots[i] === flow) {
        this.removeAt(i);
        return;
      }
    }
  }
}

/**
 * The open flows by recency, for the evictions of a full table: a binary min-heap of (flow,
 * lastSeq when pushed). A packet only raises its flow's lastSeq, so an entry's key can be stale,
 * never too high: the first popped entry whose key is still its flow's lastSeq is the least
 * recently seen open flow (every other key ≤ that flow's true lastSeq). A stale entry is pushed
 * again with the flow's current lastSeq; an ended flow's entry is dropped. Each push after the
 * build follows a packet, so evictions cost O(log n) amortised per packet, and nothing per
 * packet while the table is not full.
 */
export class RecencyHeap {
  private readonly flows: Flow[] = [];
  private readonly keys: number[] = [];

  constructor(open: Iterable<Flow>) {
    for (const f of open) {
      this.flows.push(f);
      this.keys.push(f.lastSeq);
    }
    for (let i = (this.flows.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.flows.length;
  }

  push(flow: Flow, key: number): void {
    this.flows.push(flow);
    this.keys.push(key);
    this.up(this.flows.length - 1);
  }

  /** Takes out and returns the least recently seen open flow; null when none is open. */
  popLeastRecent(): Flow | null {
    while (this.flows.length > 0) {
      const flow = this.flows[0]!;
      const key = this.keys[0]!;
      this.removeTop();
      if (!flow.open) continue;
      if (key === flow.lastSeq) return flow;
      this.push(flow, flow.lastSeq);
    }
    return null;
  }

  private removeTop(): void {
    const lastFlow = this.flows.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.flows.length === 0) return;
    this.flows[0] = lastFlow;
    this.keys[0] = lastKey;
    this.down(0);
  }

  private up(i: number): void {
    const { flows, keys } = this;
    const flow = flows[i]!;
    const key = keys[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      flows[i] = flows[parent]!;
      keys[i] = keys[parent]!;
      i = parent;
    }
    flows[i] = flow;
    keys[i] = key;
  }

  private down(i: number): void {
    const { flows, keys } = this;
    const n = flows.length;
    const flow = flows[i]!;
    const key = keys[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1]! < keys[child]!) child++;
      if (keys[child]! >= key) break;
      flows[i] = flows[child]!;
      keys[i] = keys[child]!;
      i = child;
    }
    flows[i] = flow;
    keys[i] = key;
  }
}
