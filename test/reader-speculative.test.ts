// A read started before the CLI asks for it (capture/reader-prewarm.ts startSpeculativeRead,
// used by main.ts for `analyze` on a large file): used only when the read asked for is exactly
// the one started, stopped and waited for otherwise, never left to hang or to hold node_pcap
// while this thread loads it (native-notes/node_pcap.md §3.5). Worker reads first, the one thread read last.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { createRingBuffer } from '../src/capture/frame-ring.js';
import type { ReaderMode, ReaderWorkerData } from '../src/capture/offline.js';
import { prescanCapture } from '../src/capture/prescan.js';
import { speculativeReadPending, startSpeculativeRead } from '../src/capture/reader-prewarm.js';
import { analyzeRead } from './support/analyze-read.js';
import { DEMO_PCAP, fixturePath } from './support/fixtures.js';

const MANY_FLOWS = fixturePath('sim/many-flows.pcap');

/** What main.ts starts for `analyze FILE`. */
function speculate(path: string, nullHeuristic = true): void {
  const data: ReaderWorkerData = {
    sab: createRingBuffer(), path, filter: '', linkType: prescanCapture(path, { headerOnly: true }).linkType!,
    packetRecords: true, esp: { records: [], nullHeuristic, leaveEvery: 'adaptive' },
  };
  startSpeculativeRead(data);
}

/** analyze's default read of `path` (ESP-NULL heuristic on): the document and how the packets came. */
async function analyze(path: string, reader: ReaderMode): Promise<{ doc: string; records: number; complete: boolean }> {
  const { doc, records, complete } = await analyzeRead(path, reader, true);
  return { doc, records, complete };
}

test('a speculative read is claimed by the same read, stopped for another, and never hangs', async () => {
  const reference = await analyze(MANY_FLOWS, 'worker');
  assert.ok(reference.records > 1000 && reference.complete);

  // The same read: its ring is taken as it is (here after the writer filled it and waits).
  speculate(MANY_FLOWS);
  await sleep(300);
  assert.equal(speculativeReadPending(), true);
  const claimed = await analyze(MANY_FLOWS, 'worker');
  assert.equal(speculativeReadPending(), false);
  assert.deepEqual(claimed, reference);

  // A small file is read to its end before anyone asks: the ended thread is still claimed.
  const demoReference = await analyze(DEMO_PCAP, 'worker');
  speculate(DEMO_PCAP);
  await sleep(500);
  assert.deepEqual(await analyze(DEMO_PCAP, 'worker'), demoReference);

  // Another file, or the same file read another way (ESP-NULL off): stopped, then read afresh.
  speculate(DEMO_PCAP);
  assert.deepEqual(await analyze(MANY_FLOWS, 'worker'), reference);
  speculate(MANY_FLOWS, false);
  assert.deepEqual(await analyze(MANY_FLOWS, 'worker'), reference);

  // A read in this thread stops it first: node_pcap is then loaded here without a reader holding it.
  speculate(MANY_FLOWS);
  const here = await analyze(MANY_FLOWS, 'thread');
  assert.equal(here.records, 0);
  assert.equal(here.doc, reference.doc);
});

test('pdmscope analyze: the read main.ts starts ahead gives the same document, with one file or several, with options that change the read', async () => {
  const { pdmscope } = await import('./support/cli.js');
  const run = (reader: 'thread' | 'worker', args: string[]): string => {
    // PDMSCOPE_READER=worker makes main.ts start the read ahead whatever the file's size.
    const r = pdmscope(['analyze', ...args, '--format', 'json', '--no-db', '--quiet', '--all-flows'], { env: { PDMSCOPE_READER: reader } });
    assert.equal(r.status, 0, `${args.join(' ')} (${reader}): ${r.stderr}`);
    return r.stdout;
  };
  for (const args of [
    [MANY_FLOWS],
    [MANY_FLOWS, DEMO_PCAP],
    ['--no-esp-null', MANY_FLOWS],
    ['--idle-timeout', '1s', DEMO_PCAP],
  ]) {
    assert.equal(run('worker', args), run('thread', args), args.join(' '));
  }
});
