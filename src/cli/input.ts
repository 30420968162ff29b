// Capture files in, frames out, in the order given. Every file's damage is reported, never
// hidden: an incomplete file is marked in the results and makes the exit code non-zero.

import type { EspPreOpen } from '../capture/esp-preopen.js';
import { readCaptureFile, type ReadOptions } from '../capture/offline.js';
import type { InputReport } from '../metrics/types.js';
import { UserError } from './errors.js';

export type FrameHandler = (frame: Uint8Array, capLen: number, wireLen: number, tsUs: number, linkType: number, frameNumber: number, fileIndex: number) => void;
/** A packet decoded by the reader thread, as its flow/packet-record.ts record at `words[at]` (capture/offline.ts ReadOptions.onPacketRecord). */
export type PacketRecordHandler = (words: Int32Array, at: number, frameNumber: number, fileIndex: number) => void;

/**
 * `esp`: ESP opened in the reader thread for the decoder whose opener is `esp.opener` (commands/common.ts espSetupFromArgs).
 * `onRecord`: take packets decoded by the reader thread where it can decode them; `onFrame` gets the others' frames.
 */
export async function readInputs(paths: readonly string[], filter: string | undefined, onFrame: FrameHandler,
  esp: EspPreOpen | null = null, onRecord: PacketRecordHandler | null = null): Promise<InputReport[]> {
  const reports: InputReport[] = [];
  const options: ReadOptions = {};
  if (filter !== undefined) options.filter = filter;
  if (esp !== null) options.esp = esp;
  for (let fileIndex = 0; fileIndex < paths.length; fileIndex++) {
    const path = paths[fileIndex]!;
    let frameNumber = 0;
    let linkType = 0;
    if (onRecord !== null) options.onPacketRecord = (words, at) => onRecord(words, at, ++frameNumber, fileIndex);
    const summary = await readCaptureFile(path, options, (frame, capLen, wireLen, tsUs) => {
      onFrame(frame, capLen, wireLen, tsUs, linkType, ++frameNumber, fileIndex);
    }, (lt) => { linkType = lt; });
    reports.push({
      path,
      packets: summary.delivered,
      link_types: summary.linkTypes,
      format: summary.format,
      complete: summary.complete,
      error: summary.error,
    });
    if (!summary.complete) process.stderr.write(`pdmscope: ${summary.error ?? `${path}: capture not read to the end`}\n`);
  }
  return reports;
}

/** Non-zero when any input was incomplete: the results stand, but they are not the whole file. */
export function inputsExitCode(inputs: readonly InputReport[]): number {
  return inputs.some((i) => !i.complete) ? 2 : 0;
}

export function requireInputs(paths: unknown): string[] {
  const list = (Array.isArray(paths) ? paths : [paths]).filter((p): p is string => typeof p === 'string' && p.length > 0);
  if (list.length === 0) throw new UserError('name at least one capture file (pcap or pcapng)', 1);
  return list;
}
