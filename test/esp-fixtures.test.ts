// The scapy-generated ESP captures (fixtures/esp/generate.py) through the Decoder with an
// EspSaOpener, cross-checked against tshark where it is installed.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EspSaOpener } from '../src/crypto/esp.js';
import { loadEspSaFile, parseEspSaText } from '../src/crypto/sa-file.js';
import { Decoder } from '../src/decode/decode.js';
import { DecodedPacket, LAYER_INSIDE_ESP, LAYER_OUTER, LAYER_TUNNEL } from '../src/decode/packet.js';
import { formatIpv6 } from '../src/wire/ipv6.js';
import { TSHARK, testNeeding } from './support/prereq.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/test → the repository root.
const FIXTURES = join(here, '..', '..', 'fixtures', 'esp');

interface Frame { readonly data: Uint8Array; readonly tsUs: number }
interface Capture { readonly linkType: number; readonly frames: Frame[] }

/** A minimal classic-pcap reader (little-endian, µs), enough for the generator's files. */
function readPcap(name: string): Capture {
  const b = readFileSync(join(FIXTURES, name));
  assert.equal(b.readUInt32LE(0), 0xa1b2c3d4, `${name}: not a little-endian µs pcap`);
  const linkType = b.readUInt32LE(20);
  const frames: Frame[] = [];
  for (let off = 24; off + 16 <= b.length;) {
    const capLen = b.readUInt32LE(off + 8);
    frames.push({ tsUs: b.readUInt32LE(off) * 1e6 + b.readUInt32LE(off + 4), data: b.subarray(off + 16, off + 16 + capLen) });
    off += 16 + capLen;
  }
  return { linkType, frames };
}

interface ManifestFrame {
  frame: number; spi: number; seq?: number; seq_hi?: number; enc?: string; auth?: string; icv_len?: number;
  mode?: string; placement?: string; psn?: number; kind?: string; inner_src?: string; inner_dst?: string;
  src?: string; dst?: string; sport?: number; dport?: number; esp_bytes?: number;
}
type Manifest = Record<string, { linktype: number; sa_file: string | null; frames: ManifestFrame[] }>;
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;

function decodeAll(name: string, opener: EspSaOpener | null): DecodedPacket[] {
  const cap = readPcap(name);
  const decoder = new Decoder({ esp: opener });
  return cap.frames.map((f, i) => {
    const out = new DecodedPacket();
    out.frameNumber = i + 1;
    decoder.decode(f.data, f.data.length, cap.linkType, out);
    return out;
  });
}

function saOpener(file: string, nullHeuristic = true): EspSaOpener {
  return new EspSaOpener(loadEspSaFile(join(FIXTURES, file)), { nullHeuristic });
}

const authenticated = (m: ManifestFrame): boolean => m.auth !== 'NULL' || (m.enc ?? '').startsWith('AES-GCM');

test('matrix.pcap: every encryption × authentication, transport/tunnel, PDM inside/outside ESP', () => {
  const m = manifest['matrix.pcap']!;
  const packets = decodeAll('matrix.pcap', saOpener('matrix.esp_sa'));
  assert.equal(packets.length, m.frames.length);
  assert.ok(m.frames.length >= 100);
  const combos = new Set<string>();
  for (const [i, p] of packets.entries()) {
    const e = m.frames[i]!;
    const what = `frame ${e.frame} ${e.enc}/${e.auth} ${e.mode}/${e.placement}`;
    combos.add(`${e.enc}/${e.auth}`);
    assert.equal(p.anomaly, null, `${what}: ${p.anomaly} ${p.anomalyDetail}`);
    assert.equal(p.espSpi, e.spi, what);
    assert.equal(p.espSeq, e.seq, what);
    assert.equal(p.espOpened, 'sa', what);
    assert.equal(p.espTunnel, e.mode === 'tunnel', what);
    assert.equal(p.primary?.psnThisPkt, e.psn, what);
    const layer = e.placement === 'outside' ? LAYER_OUTER : e.mode === 'tunnel' ? LAYER_TUNNEL : LAYER_INSIDE_ESP;
    assert.equal(p.primary?.layer, layer, what);
    assert.equal(p.srcPort, e.sport, what);
    assert.equal(p.dstPort, e.dport, what);
    assert.equal(formatIpv6(p.addrBuf, p.srcOff), e.inner_src, what);
    assert.equal(formatIpv6(p.addrBuf, p.dstOff), e.inner_dst, what);
  }
  for (const enc of ['NULL', 'AES-CBC-128', 'AES-CBC-192', 'AES-CBC-256']) {
    for (const auth of ['NULL', 'HMAC-SHA-1-96', 'HMAC-SHA-256-128', 'HMAC-SHA-384-192', 'HMAC-SHA-512-256']) {
      assert.ok(combos.has(`${enc}/${auth}`), `${enc}/${auth} missing from the fixtures`);
    }
  }
  for (const gcm of ['AES-GCM-128-ICV8', 'AES-GCM-128-ICV12', 'AES-GCM-128-ICV16', 'AES-GCM-256-ICV16']) assert.ok(combos.has(`${gcm}/NULL`));
});

test('matrix.pcap with wrong keys: auth_failed wherever there is an ICV, never the inner PSN', () => {
  const m = manifest['matrix.pcap']!;
  const packets = decodeAll('matrix.pcap', saOpener('matrix-wrong-keys.esp_sa'));
  for (const [i, p] of packets.entries()) {
    const e = m.frames[i]!;
    if (e.enc === 'NULL' && e.auth === 'NULL') continue; // no key to get wrong
    const what = `frame ${e.frame} ${e.enc}/${e.auth}`;
    if (authenticated(e)) {
      assert.equal(p.anomaly, 'esp_auth_failed', what);
      assert.equal(p.espOpened, 'no', what);
    } else {
      // No integrity: garbage plaintext, normally a bad trailer; never the right inner packet.
      assert.notEqual(p.anomaly === null && p.primary?.layer !== LAYER_OUTER && p.primary?.psnThisPkt === e.psn, true, what);
    }
    // PDM outside ESP stays readable whatever the keys.
    if (e.placement === 'outside') assert.equal(p.primary?.psnThisPkt, e.psn, what);
    else assert.equal(p.primary, null, what);
  }
});

test('rekey: SPIs change mid-flow in both directions, PSNs continue, inside and outside ESP', () => {
  for (const name of ['rekey_inside.pcap', 'rekey_outside.pcap']) {
    const m = manifest[name]!;
    const spis = new Set<number>();
    for (const opener of [saOpener('rekey.esp_sa'), name === 'rekey_outside.pcap' ? new EspSaOpener([]) : null]) {
      if (opener === null) continue;
      const packets = decodeAll(name, opener);
      assert.equal(packets.length, 16);
      for (const [i, p] of packets.entries()) {
        const e = m.frames[i]!;
        spis.add(p.espSpi);
        assert.equal(p.espSpi, e.spi);
        assert.equal(p.primary?.psnThisPkt, e.psn, `${name} frame ${e.frame}`);
        assert.equal(p.primary?.psnLastRecv, (e as unknown as { psn_last_recv: number }).psn_last_recv);
        assert.equal(formatIpv6(p.outerBuf, p.outerSrcOff), e.src);
        if (opener.size > 0) {
          assert.equal(p.anomaly, null, p.anomalyDetail);
          assert.equal(p.srcPort, e.sport);
        } else {
          // Without keys: the clear-text PDM is still measured; no esp_no_sa noise on those packets.
          assert.equal(p.anomaly, null, p.anomalyDetail);
          assert.equal(p.primary?.layer, LAYER_OUTER);
          assert.equal(p.srcPort, -1);
        }
      }
    }
    assert.deepEqual([...spis].sort(), [0x5001, 0x5002, 0x5003, 0x5004]);
  }
});

test('esn.pcap: ESN SAs across the 2^32 wrap (a late packet included) for GCM and HMAC', () => {
  const m = manifest['esn.pcap']!;
  const packets = decodeAll('esn.pcap', saOpener('esn.esp_sa'));
  for (const [i, p] of packets.entries()) {
    const e = m.frames[i]!;
    assert.equal(p.anomaly, null, `frame ${e.frame} ${e.seq_hi}:${e.seq}: ${p.anomalyDetail}`);
    assert.equal(p.primary?.psnThisPkt, e.psn);
  }
  // The same SAs without the ninth field: every ICV fails (GCM AAD and HMAC input both differ).
  const text = readFileSync(join(FIXTURES, 'esn.esp_sa'), 'utf8').replace(/,"esn"$/gm, '');
  const without = decodeAll('esn.pcap', new EspSaOpener(parseEspSaText(text, 'esn-stripped'), { nullHeuristic: false }));
  for (const p of without) assert.equal(p.anomaly, 'esp_auth_failed');
});

test('null_heuristic.pcap: ESP-NULL with ICV 0/8/12/16/24/32 read without an SA', () => {
  const m = manifest['null_heuristic.pcap']!;
  const packets = decodeAll('null_heuristic.pcap', new EspSaOpener([]));
  const icvs = new Set<number>();
  for (const [i, p] of packets.entries()) {
    const e = m.frames[i]!;
    icvs.add(e.icv_len!);
    assert.equal(p.anomaly, null, `frame ${e.frame} icv ${e.icv_len} ${e.kind}: ${p.anomalyDetail}`);
    assert.equal(p.espOpened, 'null_heuristic');
    assert.equal(p.primary?.psnThisPkt, e.psn);
    assert.equal(p.espTunnel, e.kind === 'tunnel_udp');
    assert.equal(p.upperProto, e.kind === 'tcp' ? 6 : e.kind === 'icmpv6' ? 58 : 17);
  }
  assert.deepEqual([...icvs].sort((a, b) => a - b), [0, 8, 12, 16, 24, 32]);
  const off = decodeAll('null_heuristic.pcap', new EspSaOpener([], { nullHeuristic: false }));
  for (const p of off) {
    assert.equal(p.anomaly, 'esp_no_sa');
    assert.equal(p.primary, null);
  }
});

test('truncated.pcap: short ESP packets are flagged, never decoded', () => {
  const packets = decodeAll('truncated.pcap', saOpener('matrix.esp_sa'));
  assert.ok(packets.length >= 15);
  for (const p of packets) {
    assert.ok(p.anomaly === 'esp_truncated' || p.anomaly === 'esp_auth_failed', `${p.frameNumber}: ${p.anomaly}`);
    assert.equal(p.primary, null);
  }
  // Every capture cut at every length, through the decoder: never throws.
  const opener = saOpener('matrix.esp_sa');
  const decoder = new Decoder({ esp: opener });
  const out = new DecodedPacket();
  for (const name of ['matrix.pcap', 'esn.pcap', 'null_heuristic.pcap']) {
    for (const f of readPcap(name).frames.slice(0, 40)) {
      for (let len = 0; len <= f.data.length; len++) decoder.decode(f.data, len, 101, out);
    }
  }
});

test('decrypt + decode rate (AES-GCM-16, AES-CBC + HMAC-SHA-256) — a rough figure, not the benchmark', (t) => {
  const gcm = readPcap('rekey_inside.pcap');
  const opener = saOpener('rekey.esp_sa');
  const decoder = new Decoder({ esp: opener });
  const out = new DecodedPacket();
  const rate = (frames: Frame[], linkType: number, n: number): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const f = frames[i % frames.length]!;
      decoder.decode(f.data, f.data.length, linkType, out);
    }
    return n / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  rate(gcm.frames, gcm.linkType, 5000); // warm-up
  const gcmRate = rate(gcm.frames, gcm.linkType, 50_000);
  assert.equal(out.anomaly, null);
  const matrix = readPcap('matrix.pcap');
  const cbcFrames = matrix.frames.filter((_, i) => manifest['matrix.pcap']!.frames[i]!.enc === 'AES-CBC-128' &&
    manifest['matrix.pcap']!.frames[i]!.auth === 'HMAC-SHA-256-128');
  const cbcDecoder = new Decoder({ esp: saOpener('matrix.esp_sa') });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 30_000; i++) { const f = cbcFrames[i % cbcFrames.length]!; cbcDecoder.decode(f.data, f.data.length, 101, out); }
  const cbcRate = 30_000 / (Number(process.hrtime.bigint() - t0) / 1e9);
  t.diagnostic(`AES-GCM-16 decrypt+decode: ${Math.round(gcmRate)} packets/s; AES-CBC-128+HMAC-SHA-256: ${Math.round(cbcRate)} packets/s`);
  // A loose floor that only a pathological slowdown breaks on a shared 2-core machine.
  assert.ok(gcmRate > 20_000, `${gcmRate}`);
});

// ---------------------------------------------------------------------------------------------
// tshark as the oracle (docs/protocol.md §8.4): the same SA lines, given as -o uat:esp_sa records.

interface TsharkRow { spi: number; icvGood: string; psn: string }

function tshark(pcap: string, saFile: string | null, extra: string[] = []): TsharkRow[] {
  const args = ['-r', join(FIXTURES, pcap), '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', ...extra];
  if (saFile !== null) {
    for (const line of readFileSync(join(FIXTURES, saFile), 'utf8').split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      args.push('-o', `uat:esp_sa:${line.replace(/,"esn"$/, '')}`); // Wireshark has no ESN field
    }
  }
  args.push('-T', 'fields', '-e', 'esp.spi', '-e', 'esp.icv_good', '-e', 'ipv6.opt.pdm.psn_this_pkt');
  const text = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return text.trimEnd().split('\n').map((l) => {
    const [spi, icvGood, psn] = l.split('\t');
    return { spi: parseInt(spi ?? '', 16), icvGood: icvGood ?? '', psn: psn ?? '' };
  });
}

/** pdmscope's PSNs in tshark's comma-joined order (outer first). */
function ourPsns(p: DecodedPacket): string {
  const list: number[] = [];
  for (let i = 0; i < p.pdmCount; i++) list.push(p.pdm[i]!.psnThisPkt);
  return list.join(',');
}

testNeeding('tshark agrees on matrix.pcap: SPI, ICV verdict and PSN for every algorithm', [TSHARK], () => {
  const m = manifest['matrix.pcap']!;
  const rows = tshark('matrix.pcap', 'matrix.esp_sa');
  const ours = decodeAll('matrix.pcap', saOpener('matrix.esp_sa'));
  assert.equal(rows.length, ours.length);
  for (const [i, row] of rows.entries()) {
    const e = m.frames[i]!;
    const what = `frame ${e.frame} ${e.enc}/${e.auth}`;
    assert.equal(row.spi, ours[i]!.espSpi, what);
    assert.equal(row.icvGood, authenticated(e) ? '1' : '', what);
    assert.equal(row.psn, ourPsns(ours[i]!), what);
    assert.equal(row.psn, String(e.psn), what);
  }
  const wrongRows = tshark('matrix.pcap', 'matrix-wrong-keys.esp_sa');
  const wrongOurs = decodeAll('matrix.pcap', saOpener('matrix-wrong-keys.esp_sa'));
  for (const [i, row] of wrongRows.entries()) {
    const e = m.frames[i]!;
    if (!authenticated(e)) continue;
    // '' when Wireshark's sub-dissector throws on the garbage plaintext before its ICV verdict.
    assert.notEqual(row.icvGood, '1', `tshark, frame ${e.frame}`);
    assert.equal(wrongOurs[i]!.anomaly, 'esp_auth_failed');
  }
});

testNeeding('tshark agrees on the rekey flows and the ESP-NULL heuristic; ESN is where it cannot', [TSHARK], () => {
  for (const name of ['rekey_inside.pcap', 'rekey_outside.pcap']) {
    const rows = tshark(name, 'rekey.esp_sa');
    const ours = decodeAll(name, saOpener('rekey.esp_sa'));
    for (const [i, row] of rows.entries()) {
      assert.equal(row.spi, ours[i]!.espSpi);
      assert.equal(row.icvGood, '1');
      assert.equal(row.psn, ourPsns(ours[i]!));
    }
  }
  // Wireshark's heuristic tries ICV 12, 16, 24, 32 only; where it reads a PDM, we read the same.
  const m = manifest['null_heuristic.pcap']!;
  const heur = tshark('null_heuristic.pcap', null, ['-o', 'esp.enable_null_encryption_decode_heuristic:TRUE']);
  const ours = decodeAll('null_heuristic.pcap', new EspSaOpener([]));
  for (const [i, row] of heur.entries()) {
    const e = m.frames[i]!;
    if (e.icv_len! >= 12) assert.equal(row.psn, ourPsns(ours[i]!), `frame ${e.frame} icv ${e.icv_len}`);
    assert.equal(ourPsns(ours[i]!), String(e.psn));
  }
  // ESN: Wireshark authenticates with 32-bit sequence numbers only, so every ICV is "bad".
  const esnRows = tshark('esn.pcap', 'esn.esp_sa');
  const esnOurs = decodeAll('esn.pcap', saOpener('esn.esp_sa'));
  for (const [i, row] of esnRows.entries()) {
    assert.equal(row.icvGood, '0');
    assert.equal(esnOurs[i]!.anomaly, null);
    assert.equal(ourPsns(esnOurs[i]!), String(manifest['esn.pcap']!.frames[i]!.psn));
  }
});
