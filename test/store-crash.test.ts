// SIGKILL in the middle of a big writeRun, and a reader querying while another process writes.
// The file re-runs itself as the child process (STORE_CHILD=...), so no extra script is needed.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { openStore } from '../src/sink/store.js';
import { testFlow, testRunMeta, testSamples } from './support/store.js';
import type { Sample } from '../src/metrics/types.js';

const SELF = fileURLToPath(import.meta.url);

function* announcingSamples(flows: number, perFlow: number, announceAfter: number): Generator<Sample> {
  let n = 0;
  for (const s of testSamples(flows, perFlow)) {
    if (++n === announceAfter) writeSync(1, 'midway\n');
    yield s;
  }
}

function childMain(role: string, path: string): void {
  const store = openStore(path);
  if (role === 'kill') {
    // 5M samples: a run far bigger than what is written when the parent kills us.
    store.writeRun(testRunMeta({ content_hash: 'big' }), Array.from({ length: 1000 }, (_, i) => testFlow(i, { rtd_ns: [i + 1] })),
      announcingSamples(1000, 5000, 300_000));
    writeSync(1, 'finished\n');
  } else if (role === 'writer') {
    // Several runs, each in one transaction, plus a live run with many short flushes.
    for (let r = 0; r < 4; r++) {
      store.writeRun(testRunMeta({ content_hash: `w${r}` }), Array.from({ length: 200 }, (_, i) => testFlow(i)), testSamples(200, 500));
    }
    const live = store.beginLiveRun(testRunMeta({ kind: 'live', content_hash: null }));
    for (let b = 0; b < 40; b++) live.flush({ flows: [testFlow(b)], samples: testSamples(b + 1, 1000), packets: { total: b } });
    live.finish({});
  }
  store.close();
}

if (process.env.STORE_CHILD !== undefined) {
  childMain(process.env.STORE_CHILD, process.env.STORE_PATH!);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-crash-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const spawnChild = (role: string, path: string) => spawn(process.execPath, [SELF], {
    env: { ...process.env, STORE_CHILD: role, STORE_PATH: path }, stdio: ['ignore', 'pipe', 'inherit'],
  });

  test('SIGKILL halfway through a big writeRun leaves earlier runs intact and no partial run', async () => {
    const path = join(dir, 'crash.db');
    const store = openStore(path);
    store.writeRun(testRunMeta({ content_hash: 'early1' }), [testFlow(0, { rtd_ns: [1, 2, 3] }), testFlow(1)], testSamples(2, 100));
    store.writeRun(testRunMeta({ content_hash: 'early2' }), [testFlow(0)], testSamples(1, 50));
    // A run with the hash the child writes: the child's replace must also be undone.
    store.writeRun(testRunMeta({ content_hash: 'big' }), [testFlow(0)], testSamples(1, 7));
    const before = { runs: store.listRuns(), flows: store.queryFlows() };
    store.close();

    const child = spawnChild('kill', path);
    let out = '';
    const killed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('midway') && child.exitCode === null) child.kill('SIGKILL');
    });
    const { signal } = await killed;
    assert.equal(signal, 'SIGKILL', `child exited on its own: ${out}`);
    assert.ok(!out.includes('finished'), 'the child finished before it was killed; make the run bigger');

    const after = openStore(path, { readonly: true });
    assert.deepEqual(after.listRuns(), before.runs);
    assert.deepEqual(after.queryFlows(), before.flows);
    assert.equal(after.readonlySql('SELECT count(*) FROM samples').rows[0]![0], 257);
    assert.equal(after.readonlySql('PRAGMA integrity_check').rows[0]![0], 'ok');
    after.close();
    // And the store is writable again after the crash.
    const again = openStore(path);
    again.writeRun(testRunMeta({ content_hash: 'after' }), [testFlow(0)]);
    assert.equal(again.listRuns().length, 4);
    again.close();
  });

  test('a reader queries while another process writes (WAL): no busy errors, never a partial run', async () => {
    const path = join(dir, 'concurrent.db');
    openStore(path).close();
    const child = spawnChild('writer', path);
    const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let exited = false;
    void done.then(() => { exited = true; });
    const reader = openStore(path, { readonly: true, busyTimeoutMs: 0 });
    let reads = 0;
    let sawLive = false;
    let lastSamples = 0;
    while (!exited) {
      for (const run of reader.listRuns()) {
        if (run.kind === 'analyze') {
          // A committed analyze run is always whole.
          assert.equal(run.flow_count, 200);
          assert.equal(run.sample_count, 100_000);
        } else if (run.status === 'in_progress') {
          sawLive = true;
        }
      }
      const total = reader.readonlySql('SELECT count(*) FROM samples').rows[0]![0] as number;
      assert.ok(total >= lastSamples, 'sample count went backwards');
      lastSamples = total;
      reads++;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await done, 0);
    const runs = reader.listRuns();
    assert.equal(runs.length, 5);
    assert.ok(runs.every((r) => r.status === 'complete'));
    assert.ok(reads >= 5, `only ${reads} reads overlapped the writer`);
    console.log(`# ${reads} reads while writing, live run seen in progress: ${sawLive}`);
    reader.close();
  });
}
