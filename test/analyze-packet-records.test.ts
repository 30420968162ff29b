// Packet-record reads (capture/packet-recorder.ts, flow/packet-record.ts): for large files without
// ESP keys, the reader worker decodes every frame and sends a few words per packet, and the
// Analyzer takes them with addRecord. The analyze/1 document must be exactly the one addFrame
// builds from the frames in this thread, for every fixture: links, extension-header chains,
// fragments, malformed packets, ESP-NULL and closed ESP, and the simulated flows.
// Worker reads come first: once this thread loads node_pcap no worker can (native.md §1.8).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EspPreOpen } from '../src/capture/esp-preopen.js';
import { readCaptureFile, type ReadOptions } from '../src/capture/offline.js';
import { loadEspSaFile, type EspSaRecord } from '../src/crypto/sa-file.js';
import { Analyzer } from '../src/metrics/analyzer.js';
import { decodeFixtures, FIXTURES_DIR, simFixtures } from './support/fixtures.js';

const FILES = [
  ...decodeFixtures(),
  ...simFixtures(),
  ...['matrix.pcap', 'null_heuristic.pcap', 'rekey_inside.pcap', 'truncated.pcap'].map((n) => `${FIXTURES_DIR}/esp/${n}`),
];

const KEYS = loadEspSaFile(`${FIXTURES_DIR}/esp/matrix.esp_sa`);

interface Outcome { doc: string; records: number; frames: number; delivered: number }

/** analyze/1 of `path` as `analyze --all-flows` builds it, read with `reader`; ESP-NULL heuristic on or off; ESP keys. */
async function analyzeWith(path: string, reader: 'worker' | 'thread', espNull: boolean, keys: readonly EspSaRecord[] = []): Promise<Outcome> {
  const esp = espNull || keys.length > 0 ? new EspPreOpen(keys, { nullHeuristic: espNull }) : null;
  const analyzer = new Analyzer({ allFlows: true, esp: esp?.opener ?? null, keepSketches: false });
  let frameNumber = 0;
  let records = 0;
  let frames = 0;
  let linkType = 0;
  const options: ReadOptions = {
    reader,
    onPacketRecord: (words, at) => { records++; analyzer.addRecord(words, at, ++frameNumber); },
    ...(esp === null ? {} : { esp }),
  };
  const summary = await readCaptureFile(path, options, (frame, capLen, wireLen, tsUs) => {
    frames++;
    analyzer.addFrame(frame, capLen, wireLen, tsUs, linkType, ++frameNumber);
  }, (lt) => { linkType = lt; });
  const input = { path, packets: summary.delivered, link_types: summary.linkTypes, format: summary.format, complete: summary.complete, error: summary.error };
  return { doc: JSON.stringify(analyzer.finish([input]).doc), records, frames, delivered: summary.delivered };
}

test('analyze: packet records from the reader worker give the document addFrame gives, on every fixture', async () => {
  const viaRecords = new Map<string, Outcome>();
  for (const path of FILES) {
    for (const espNull of [true, false]) {
      const o = await analyzeWith(path, 'worker', espNull);
      assert.equal(o.frames, 0, `${path}: a packet-record read handed over frames`);
      assert.equal(o.records, o.delivered, `${path}: one record per delivered packet`);
      viaRecords.set(`${path} ${espNull}`, o);
    }
  }
  // With ESP keys the worker opens ESP in batches (esp-preopen.ts) and hands over frames.
  const keyed = await analyzeWith(`${FIXTURES_DIR}/esp/matrix.pcap`, 'worker', true, KEYS);
  assert.equal(keyed.records, 0, 'a read with ESP keys sent packet records');
  assert.equal(keyed.frames, keyed.delivered);

  let flows = 0;
  let pdmPackets = 0;
  for (const path of FILES) {
    for (const espNull of [true, false]) {
      const here = await analyzeWith(path, 'thread', espNull);
      assert.equal(here.records, 0);
      assert.equal(viaRecords.get(`${path} ${espNull}`)!.doc, here.doc, `${path} (ESP-NULL heuristic ${espNull ? 'on' : 'off'})`);
      const doc = JSON.parse(here.doc) as { flows: unknown[]; packets: { with_pdm: number } };
      flows += doc.flows.length;
      pdmPackets += doc.packets.with_pdm;
    }
  }
  assert.equal(keyed.doc, (await analyzeWith(`${FIXTURES_DIR}/esp/matrix.pcap`, 'thread', true, KEYS)).doc);
  // The comparison must have had something to compare.
  assert.ok(flows > 300 && pdmPackets > 10_000, `${flows} flows, ${pdmPackets} PDM packets`);
});
