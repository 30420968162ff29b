// node_pcap never calls pcap_close at the end of an offline file (native-notes/node_pcap.md #1): every session
// leaked its descriptor. readCaptureFile frees the handle; this test fails if descriptors grow.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { constructSession } from '../src/capture/native.js';
import { readCaptureFile } from '../src/capture/offline.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

test('reading 200 files in one process leaves no descriptor behind (incl. throws, bad filters, damaged files)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-fd-'));
  try {
    const paths: string[] = [];
    for (let i = 0; i < 200; i++) {
      const w = new PcapWriter({ format: i % 2 === 0 ? 'pcap' : 'pcapng', linkType: 1 });
      for (let j = 0; j < 5; j++) w.writePacket(new Uint8Array(80), BigInt(j));
      const buf = w.toBuffer();
      const p = join(dir, `f${i}`);
      writeFileSync(p, i % 10 === 3 ? buf.subarray(0, buf.length - 9) : buf);
      paths.push(p);
    }
    // Warm up: the addon load itself opens nothing per file, but do it before measuring.
    await readCaptureFile(paths[0]!, {}, () => {});
    const before = openDescriptors();
    let delivered = 0;
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i]!;
      if (i % 10 === 5) {
        await assert.rejects(readCaptureFile(p, {}, () => { throw new Error('stop'); }));
      } else if (i % 10 === 7) {
        await assert.rejects(readCaptureFile(p, { filter: 'not a filter (' }, () => {}));
      } else {
        const s = await readCaptureFile(p, i % 10 === 9 ? { filter: 'ip6' } : {}, () => { delivered++; });
        assert.equal(s.complete, i % 10 !== 3);
      }
    }
    assert.ok(delivered > 500);
    assert.equal(openDescriptors(), before, 'descriptors grew while reading 200 files');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the defect is real: plain node_pcap sessions drained to the end keep their descriptors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdmscope-fd-'));
  try {
    const w = new PcapWriter({ format: 'pcap', linkType: 1 });
    w.writePacket(new Uint8Array(60), 0n);
    const p = join(dir, 'one.pcap');
    writeFileSync(p, w.toBuffer());
    const before = openDescriptors();
    const sessions = [];
    for (let i = 0; i < 10; i++) {
      const { session, error } = constructSession(function noop() {}, false, p, '', 0, 65535, 1000, true);
      assert.equal(error, null);
      await new Promise<void>((resolve) => session.once('complete', resolve));
      sessions.push(session);
    }
    assert.equal(openDescriptors(), before + 10);
    // The adapter's remedy (offline.ts finishSession): breakloop, then one dispatch returns -2.
    for (const s of sessions) {
      s.session.close();
      assert.equal(s.session.dispatch(s.buf, s.header), -2);
    }
    assert.equal(openDescriptors(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
