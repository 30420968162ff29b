// Benchmark captures: request/response PDM flows over UDP and TCP, PDM state kept per flow as
// RFC 8250 prescribes, plus background IPv4 and IPv6 without PDM. Deterministic per seed.

import { PcapFileWriter } from '../src/capture/pcap-writer.js';
import { IPPROTO_DSTOPTS, IPPROTO_TCP, IPPROTO_UDP, emitOptionsHeader } from '../src/wire/ext-header.js';
import { emitIpv6 } from '../src/wire/ipv6.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, LINKTYPE_ETHERNET, emitEthernet } from '../src/wire/link.js';
import { PDM_OPTION_LENGTH, emitPdm, encodePdmDeltaNs } from '../src/wire/pdm.js';
import { emitUdp } from '../src/wire/transport.js';
import { rng } from '../test/support/build.js';

export interface BenchCaptureSpec {
  packets: number;
  flows: number;
  seed: number;
}

interface BenchFlow {
  /** Frames client→server and server→client; the PDM option starts at `pdmOff`. */
  toServer: Uint8Array;
  toClient: Uint8Array;
  pdmOff: number;
  psnClient: number;
  psnServer: number;
  sent: number;
  serverDelayNs: number;
  rtdNs: number;
}

const PAYLOAD = 64;

function frame(src: Uint8Array, dst: Uint8Array, proto: number, sport: number, dport: number, withPdm: boolean): { f: Uint8Array; pdmOff: number } {
  const dohLen = withPdm ? 16 : 0;
  const l4 = proto === IPPROTO_TCP ? 20 : 8;
  const f = new Uint8Array(14 + 40 + dohLen + l4 + PAYLOAD);
  emitEthernet({ dst: Uint8Array.of(2, 0, 0, 0, 0, 2), src: Uint8Array.of(2, 0, 0, 0, 0, 1), ethertype: ETHERTYPE_IPV6 }, f, 0);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: dohLen + l4 + PAYLOAD, nextHeader: withPdm ? IPPROTO_DSTOPTS : proto, hopLimit: 64, src, dst }, f, 14);
  if (withPdm) emitOptionsHeader({ nextHeader: proto, options: new Uint8Array(PDM_OPTION_LENGTH) }, f, 54);
  const l4Off = 54 + dohLen;
  if (proto === IPPROTO_UDP) emitUdp({ srcPort: sport, dstPort: dport, payload: new Uint8Array(PAYLOAD) }, src, dst, f, l4Off);
  else {
    const dv = new DataView(f.buffer);
    dv.setUint16(l4Off, sport);
    dv.setUint16(l4Off + 2, dport);
    f[l4Off + 12] = 5 << 4;
    f[l4Off + 13] = 0x18; // PSH, ACK
  }
  return { f, pdmOff: 56 };
}

function ipv4Frame(i: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + PAYLOAD);
  emitEthernet({ dst: new Uint8Array(6), src: new Uint8Array(6), ethertype: ETHERTYPE_IPV4 }, f, 0);
  f[14] = 0x45;
  f[16] = 0; f[17] = 20 + 8 + PAYLOAD;
  f[23] = IPPROTO_UDP;
  f.set([192, 0, 2, i & 0xff, 198, 51, 100, (i >> 8) & 0xff], 26);
  return f;
}

function address(prefix: number, i: number): Uint8Array {
  const a = new Uint8Array(16);
  a.set([0x20, 0x01, 0x0d, 0xb8, 0, prefix]);
  new DataView(a.buffer).setUint32(12, i);
  return a;
}

export function generateBenchCapture(path: string, spec: BenchCaptureSpec): void {
  const rand = rng(spec.seed);
  const flows: BenchFlow[] = [];
  for (let i = 0; i < spec.flows; i++) {
    const client = address(1, i + 1);
    const server = address(2, (i % 97) + 1);
    const proto = i % 10 < 7 ? IPPROTO_UDP : IPPROTO_TCP;
    const sport = 10000 + (i % 50000);
    const dport = proto === IPPROTO_UDP ? 443 : 80;
    const c = frame(client, server, proto, sport, dport, true);
    const s = frame(server, client, proto, dport, sport, true);
    flows.push({
      toServer: c.f, toClient: s.f, pdmOff: c.pdmOff,
      psnClient: Math.floor(rand() * 65536), psnServer: Math.floor(rand() * 65536), sent: 0,
      serverDelayNs: 100_000 + Math.floor(-Math.log(1 - rand()) * 2_000_000),
      rtdNs: 1_000_000 + Math.floor(rand() * 40_000_000),
    });
  }
  const background6 = frame(address(9, 1), address(9, 2), IPPROTO_UDP, 53, 53, false).f;
  const w = new PcapFileWriter(path, { format: 'pcap', linkType: LINKTYPE_ETHERNET });
  let tsNs = 1_700_000_000_000_000_000n;
  for (let n = 0; n < spec.packets; n++) {
    tsNs += 1000n;
    const r = rand();
    if (r < 0.05) { w.writePacket(ipv4Frame(n), tsNs); continue; }
    if (r < 0.1) { w.writePacket(background6, tsNs); continue; }
    const flow = flows[Math.floor(rand() * flows.length)]!;
    const fromClient = flow.sent % 2 === 0;
    const jitter = Math.floor(rand() * 50_000);
    const serverDelayNs = flow.serverDelayNs + jitter;
    const first = flow.sent < 2;
    let buf: Uint8Array;
    let pdm;
    if (fromClient) {
      const total = first ? { delta: 0, scale: 0 } : encodePdmDeltaNs(BigInt(flow.serverDelayNs + flow.rtdNs + jitter));
      const think = first ? { delta: 0, scale: 0 } : encodePdmDeltaNs(BigInt(20_000 + jitter));
      pdm = { psnThisPkt: flow.psnClient, psnLastRecv: first ? 0 : (flow.psnServer - 1) & 0xffff,
        deltaLastRecv: think.delta, scaleDtlr: think.scale, deltaLastSent: total.delta, scaleDtls: total.scale };
      flow.psnClient = (flow.psnClient + 1) & 0xffff;
      buf = flow.toServer;
    } else {
      const sd = encodePdmDeltaNs(BigInt(serverDelayNs));
      pdm = { psnThisPkt: flow.psnServer, psnLastRecv: (flow.psnClient - 1) & 0xffff,
        deltaLastRecv: sd.delta, scaleDtlr: sd.scale, deltaLastSent: 0, scaleDtls: 0 };
      flow.psnServer = (flow.psnServer + 1) & 0xffff;
      buf = flow.toClient;
    }
    flow.sent++;
    emitPdm(pdm, buf, flow.pdmOff);
    w.writePacket(buf, tsNs);
  }
  w.close();
}
