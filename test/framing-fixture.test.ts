// Issue 16, defect 8: an IPv6 Payload Length beyond a whole frame (caplen = len) is a broken
// packet — tshark's "IPv6 payload length exceeds framing length" — counted under
// ipv6_payload_length_exceeds_frame, with no PDM taken from it; the same bytes cut by the snap
// length (caplen < len) decode as far as they go; bytes after the IPv6 packet are not read.
// The capture and its expectations come from scripts/fixtures/make_framing_fixtures.py (scapy and
// struct); the frame and packet-record readers are compared on it in analyze-packet-records.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AnalyzeDocument } from '../src/metrics/types.js';
import { FRAMING_DIR, PDM_FIELDS, type PdmValues, runCliAsync } from './support/fixtures.js';

interface FramingExpectations {
  pcap: string;
  packets_total: number;
  anomalies: Record<string, number>;
  malformed: number;
  flow: {
    initiator: { addr: string; port: number };
    responder: { addr: string; port: number };
    packets: Record<string, number>;
    pdm_packets: Record<string, number>;
  };
  frames: { frame: number; ts_us: number; caplen: number; len: number; note: string; src: string; dst: string;
    src_port: number; dst_port: number; anomaly: string | null; pdm: PdmValues | null }[];
}

const exp = JSON.parse(readFileSync(join(FRAMING_DIR, 'payload-length.expectations.json'), 'utf8')) as FramingExpectations;
const PCAP = join(FRAMING_DIR, exp.pcap);

test('the fixture has the cases it is meant to have (independent of pdmscope)', () => {
  const broken = exp.frames.filter((f) => f.anomaly === 'ipv6_payload_length_exceeds_frame');
  assert.ok(broken.length >= 2 && broken.every((f) => f.caplen === f.len && f.pdm === null));
  assert.ok(exp.frames.some((f) => f.caplen < f.len && f.pdm !== null), 'a snap-length cut that still decodes');
  assert.ok(exp.frames.some((f) => f.anomaly === null && /FCS/.test(f.note)), 'trailing bytes');
});

test('packets: no PDM row from a frame shorter than its Payload Length; the anomaly named and counted malformed', async () => {
  const r = await runCliAsync(['packets', PCAP, '--format', 'json', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { packets: { total: number; malformed: number }; anomalies: Record<string, number>;
    pdm: (PdmValues & { frame: number; ts_us: number; src: string; dst: string; src_port: number; dst_port: number; pdm_version: number })[] };
  assert.equal(doc.packets.total, exp.packets_total);
  assert.equal(doc.packets.malformed, exp.malformed);
  assert.deepEqual(doc.anomalies, exp.anomalies);
  const want = exp.frames.filter((f) => f.pdm !== null);
  assert.deepEqual(doc.pdm.map((l) => l.frame), want.map((f) => f.frame));
  for (const [i, f] of want.entries()) {
    const got = doc.pdm[i]!;
    for (const k of PDM_FIELDS) assert.equal(got[k], f.pdm![k], `frame ${f.frame} ${k}`);
    assert.deepEqual([got.ts_us, got.src, got.dst, got.src_port, got.dst_port, got.pdm_version],
      [f.ts_us, f.src, f.dst, f.src_port, f.dst_port, 1], `frame ${f.frame}`);
  }
});

test('analyze: the broken packets count in their flow, not as PDM packets, and give no sample', async () => {
  const r = await runCliAsync(['analyze', PCAP, '--format', 'json', '--no-db', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as AnalyzeDocument;
  assert.deepEqual(doc.anomalies, exp.anomalies);
  assert.equal(doc.packets.malformed, exp.malformed);
  assert.equal(doc.flows.length, 1, 'one flow: the broken packets keep their ports');
  const flow = doc.flows[0]!;
  assert.deepEqual([flow.initiator, flow.responder], [exp.flow.initiator, exp.flow.responder]);
  assert.deepEqual(flow.packets, exp.flow.packets);
  assert.deepEqual(flow.pdm_packets, exp.flow.pdm_packets);
  // Frames 3 and 4 carried totals (DeltaTLS 45474, 45475 at scale 40); only frame 5's is read.
  assert.equal(flow.total_ns.count, 1);
  assert.equal(flow.total_ns.min, 45476 * 2 ** 40 / 1e9);
});
