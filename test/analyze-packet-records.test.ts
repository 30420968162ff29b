// Packet-record reads (capture/packet-recorder.ts, flow/packet-record.ts): for large files without
// ESP keys, the reader worker decodes every frame and sends a few words per packet, and the
// Analyzer takes them with addRecord. The analyze/1 document must be exactly the one addFrame
// builds from the frames in this thread, for every fixture: links, extension-header chains,
// fragments, malformed packets, ESP-NULL and closed ESP, and the simulated flows.
// Worker reads come first: once this thread loads node_pcap no worker can (native-notes/node_pcap.md §3.5).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadEspSaFile } from '../src/crypto/sa-file.js';
import { analyzeRead, type AnalyzeRead } from './support/analyze-read.js';
import { decodeFixtures, FIXTURES_DIR, framingFixtures, pdmv2Fixtures, simFixtures } from './support/fixtures.js';

const FILES = [
  ...decodeFixtures(),
  ...simFixtures(),
  ...pdmv2Fixtures(),
  ...framingFixtures(),
  ...['matrix.pcap', 'null_heuristic.pcap', 'rekey_inside.pcap', 'truncated.pcap'].map((n) => `${FIXTURES_DIR}/esp/${n}`),
];

const KEYS = loadEspSaFile(`${FIXTURES_DIR}/esp/matrix.esp_sa`);

test('analyze: packet records from the reader worker give the document addFrame gives, on every fixture', async () => {
  const viaRecords = new Map<string, AnalyzeRead>();
  for (const path of FILES) {
    for (const espNull of [true, false]) {
      const o = await analyzeRead(path, 'worker', espNull);
      assert.equal(o.frames, 0, `${path}: a packet-record read handed over frames`);
      assert.equal(o.records, o.delivered, `${path}: one record per delivered packet`);
      viaRecords.set(`${path} ${espNull}`, o);
    }
  }
  // With ESP keys the worker opens ESP in batches (esp-preopen.ts) and hands over frames.
  const keyed = await analyzeRead(`${FIXTURES_DIR}/esp/matrix.pcap`, 'worker', true, KEYS);
  assert.equal(keyed.records, 0, 'a read with ESP keys sent packet records');
  assert.equal(keyed.frames, keyed.delivered);

  let flows = 0;
  let pdmPackets = 0;
  for (const path of FILES) {
    for (const espNull of [true, false]) {
      const here = await analyzeRead(path, 'thread', espNull);
      assert.equal(here.records, 0);
      assert.equal(viaRecords.get(`${path} ${espNull}`)!.doc, here.doc, `${path} (ESP-NULL heuristic ${espNull ? 'on' : 'off'})`);
      const doc = JSON.parse(here.doc) as { flows: unknown[]; packets: { with_pdm: number } };
      flows += doc.flows.length;
      pdmPackets += doc.packets.with_pdm;
    }
  }
  assert.equal(keyed.doc, (await analyzeRead(`${FIXTURES_DIR}/esp/matrix.pcap`, 'thread', true, KEYS)).doc);
  // The comparison must have had something to compare.
  assert.ok(flows > 300 && pdmPackets > 10_000, `${flows} flows, ${pdmPackets} PDM packets`);
});

test('analyze --max-flows: both reader paths end the same flows early and give the same document', async () => {
  // A bound of 3 ends flows early in the simulated captures and the decode fixtures alike.
  const viaRecords = new Map<string, string>();
  for (const path of FILES) viaRecords.set(path, (await analyzeRead(path, 'worker', true, [], 3)).doc);
  let endedEarly = 0;
  for (const path of FILES) {
    const here = await analyzeRead(path, 'thread', true, [], 3);
    assert.equal(viaRecords.get(path), here.doc, path);
    const doc = JSON.parse(here.doc) as { flow_table: { max_flows: number; ended_early: number } };
    assert.equal(doc.flow_table.max_flows, 3);
    endedEarly += doc.flow_table.ended_early;
  }
  assert.ok(endedEarly > 100, `${endedEarly} flows ended early`);
});
