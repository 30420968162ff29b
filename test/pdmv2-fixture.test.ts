// PDMv2 clear form (draft-ietf-ippm-encrypted-pdmv2-14): `pdmscope packets` against the
// simulator's truth field by field (scripts/fixtures/simulate.py pdmv2-* scenarios, option bytes
// packed with Python struct). `analyze` is checked against the same truth in sim-truth.test.ts
// and the reader paths against each other in analyze-packet-records.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type TruthPacket, PDM_FIELDS, fixtureName, fixturePath, loadTruth, pdmv2Fixtures, runCliAsync } from './support/fixtures.js';

interface PacketsLine {
  frame: number;
  ts_us: number;
  src: string;
  dst: string;
  src_port: number | null;
  dst_port: number | null;
  position: string;
  esp: string;
  pdm_version: number;
  epoch: number | null;
  global_pointer: number | null;
  delta_last_recv_ns: number;
  delta_last_sent_ns: number;
  [field: string]: unknown;
}

async function packetsLines(file: string): Promise<PacketsLine[]> {
  const r = await runCliAsync(['packets', file, '--format', 'ndjson', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as PacketsLine);
}

const FILES = pdmv2Fixtures();

test('a PDMv2 fixture exists and exercises the 2^32 wrap, loss, duplicates and a restart', () => {
  assert.ok(FILES.length > 0, 'no capture under fixtures/pdmv2');
  for (const file of FILES) {
    const truth = loadTruth(file);
    const psns = truth.packets.map((p) => p.psn_this_pkt);
    assert.ok(truth.packets.every((p) => p.pdm_version === 2));
    assert.ok(psns.some((p) => p > 0xffff_ff00) && psns.some((p) => p < 0x100), `${fixtureName(file)}: PSNs wrap past 2^32`);
    const f = truth.flows[0]!;
    assert.ok(f.psn.responder_to_initiator.lost > 0 && f.psn.responder_to_initiator.duplicates > 0);
    assert.ok(f.psn.initiator_to_responder.restarts === 1 && f.rtd.length > 100);
  }
});

test('packets: every PDMv2 option decoded as the simulator sent it, field by field', async () => {
  for (const file of FILES) {
    const name = fixtureName(file);
    const truth = loadTruth(file);
    const lines = await packetsLines(file);
    assert.equal(lines.length, truth.packets.length, `${name}: one line per PDM packet`);
    const byFrame = new Map<number, TruthPacket>(truth.packets.map((p) => [p.frame, p]));
    for (const l of lines) {
      const p = byFrame.get(l.frame);
      assert.ok(p, `${name}: frame ${l.frame} is not a PDM packet of the truth`);
      const where = `${name} frame ${l.frame}`;
      assert.equal(l.pdm_version, 2, `${where}: pdm_version`);
      assert.equal(l.epoch, p.pdmv2_epoch, `${where}: epoch`);
      assert.equal(l.global_pointer, p.global_pointer, `${where}: global_pointer`);
      for (const k of PDM_FIELDS) assert.equal(l[k], p[k], `${where}: ${k}`);
      assert.equal(l.ts_us, p.ts_us, `${where}: ts_us`);
      assert.equal(l.src, truth.hosts[p.sender]!.addr, `${where}: src`);
      assert.equal(l.position, 'dstopts');
      assert.equal(l.delta_last_recv_ns, (p.delta_last_recv * 2 ** p.scale_dtlr) / 1e9);
      assert.equal(l.delta_last_sent_ns, (p.delta_last_sent * 2 ** p.scale_dtls) / 1e9);
    }
  }
});

test('packets: RFC 8250 options say pdm_version 1, with epoch and global_pointer null', async () => {
  const lines = await packetsLines(fixturePath('sim/psn-wrap.pcap'));
  assert.ok(lines.length > 0);
  for (const l of lines) assert.deepEqual([l.pdm_version, l.epoch, l.global_pointer], [1, null, null], `frame ${l.frame}`);
  const csv = await runCliAsync(['packets', fixturePath('sim/psn-wrap.pcap'), '--format', 'csv', '--quiet']);
  assert.match(csv.stdout.split('\n')[0]!, /,esp,pdm_version,scale_dtlr,.*,delta_last_sent,epoch,global_pointer,/);
});
