// Compiling the packet paths before the first real packet: a sender and a reflector exchange a
// few hundred probes and replies in memory, on the real clock, through the same code (decode,
// PDM state, timed sends, capture clock). Without it the first probe reached the reflector's
// JS 11 ms after its capture and its reply left 12 ms late (lazy compilation of the decoder and
// the rest on first use; measured with `reflect --log`, native-notes/cap.md §6).

import { LINKTYPE_ETHERNET } from '../wire/link.js';
import type { NextHop } from './nexthop.js';
import { MONOTONIC_CLOCK } from './pdm-endpoint.js';
import type { ReceivedFrame } from './receiver.js';
import { PdmReflector } from './reflector.js';
import { PdmSender } from './sender.js';

// Documentation addresses (RFC 3849) and locally administered MACs: nothing leaves the process.
const SENDER_ADDR = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a);
const REFLECTOR_ADDR = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b);
const SENDER_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0x0a);
const REFLECTOR_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0x0b);
const WARM_UP_PORT = 7777;

/** Runs `rounds` probe/reply exchanges in memory (0.1 to 0.2 s for 300 here); returns what was answered. */
export function warmUpExchange(rounds = 300): { probes: number; replies: number } {
  const clock = MONOTONIC_CLOCK;
  // Capture timestamps in µs on a wall clock of our own making; only differences matter.
  const captureUs = (): number => Number(clock.nowNs() / 1000n) + 1_700_000_000_000_000;
  const toReflector: Uint8Array[] = [];
  const toSender: Uint8Array[] = [];
  const hop: NextHop = {
    dev: 'warm-up', src: SENDER_ADDR, dst: REFLECTOR_ADDR, nextHop: 'fe80::b',
    link: { kind: 'ethernet', srcMac: SENDER_MAC, dstMac: REFLECTOR_MAC }, mtu: 1500, linkType: 'ETHERNET',
  };
  const sender = new PdmSender({
    hop, dstPort: WARM_UP_PORT, srcPort: 40000, payloadSize: 64, clock, sessionId: 1,
    sink: { linkType: 'ETHERNET', send: (f) => { toReflector.push(f.slice()); }, close: () => {} },
  });
  const reflector = new PdmReflector({
    port: WARM_UP_PORT, delayNs: 0n, clock, mtu: 1500, maxRepliesPerSecond: 1e9,
    sink: { linkType: 'ETHERNET', send: (f) => { toSender.push(f.slice()); }, close: () => {} },
  });
  const frame = (f: Uint8Array): ReceivedFrame =>
    ({ frame: f, capLen: f.length, wireLen: f.length, capTsUs: captureUs(), rxNs: clock.nowNs(), linkType: LINKTYPE_ETHERNET });
  for (let i = 0; i < rounds; i++) {
    sender.sendProbe();
    for (const f of toReflector.splice(0)) {
      sender.handleFrame(frame(f)); // the sender's capture sees its probe leave
      reflector.handleFrame(frame(f)); // delay 0: answered at once
    }
    for (const f of toSender.splice(0)) {
      reflector.handleFrame(frame(f));
      sender.handleFrame(frame(f));
    }
  }
  reflector.stop();
  for (let i = 0; i < 300; i++) clock.spinUntilNs!(clock.nowNs() + 1_000n);
  return { probes: sender.probesSent, replies: sender.repliesReceived };
}
