// One capture through readCaptureFile into an Analyzer, as `analyze --all-flows` reads it, with
// the reader and ESP set-up chosen by the test: the analyze/1 document and how the packets came
// (packet records from the reader worker, or frames).

import { EspPreOpen } from '../../src/capture/esp-preopen.js';
import { readCaptureFile, type ReaderMode } from '../../src/capture/offline.js';
import type { EspSaRecord } from '../../src/crypto/sa-file.js';
import { Analyzer } from '../../src/metrics/analyzer.js';
import { FileFlowSpill } from '../../src/sink/flow-spill.js';

export interface AnalyzeRead {
  /** JSON of the analyze/1 document. */
  doc: string;
  /** Packets that came as packet records, and as frames. */
  records: number;
  frames: number;
  delivered: number;
  complete: boolean;
}

/**
 * `espNull`: the ESP-NULL heuristic (analyze's default); `keys`: ESP SA records; `maxFlows`: the
 * flow table's bound, with ended flows spilled to a temporary file as analyze does.
 */
export async function analyzeRead(
  path: string, reader: ReaderMode, espNull: boolean, keys: readonly EspSaRecord[] = [], maxFlows?: number,
): Promise<AnalyzeRead> {
  const esp = espNull || keys.length > 0 ? new EspPreOpen(keys, { nullHeuristic: espNull }) : null;
  const analyzer = new Analyzer({
    allFlows: true, esp: esp?.opener ?? null, keepSketches: false,
    ...(maxFlows === undefined ? {} : { maxFlows, spill: () => new FileFlowSpill() }),
  });
  let frameNumber = 0;
  let records = 0;
  let frames = 0;
  let linkType = 0;
  const summary = await readCaptureFile(path, {
    reader,
    onPacketRecord: (words, at) => { records++; analyzer.addRecord(words, at, ++frameNumber); },
    ...(esp === null ? {} : { esp }),
  }, (frame, capLen, wireLen, tsUs) => {
    frames++;
    analyzer.addFrame(frame, capLen, wireLen, tsUs, linkType, ++frameNumber);
  }, (lt) => { linkType = lt; });
  const input = { path, packets: summary.delivered, link_types: summary.linkTypes, format: summary.format, complete: summary.complete, error: summary.error };
  const { head, flows } = analyzer.end([input]);
  const doc = JSON.stringify({ ...head, flows: [...flows.reports()] });
  flows.close();
  return { doc, records, frames, delivered: summary.delivered, complete: summary.complete };
}
