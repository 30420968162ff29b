// BPF filters on offline files, and the gotcha: `udp` does not walk IPv6 extension headers, so
// UDP behind a Destination Options header (where PDM lives) does not match it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { PdmFrameTemplate } from './support/fixture-frames.js';
import { readCaptureFile } from '../src/capture/offline.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-filter-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// 30 Eth/IPv6/DstOpt(PDM)/UDP to port 443, 20 Eth/IPv6/UDP (no extension header) to port 53.
const withPdm = new PdmFrameTemplate('ethernet', 32, true);
const plain = new PdmFrameTemplate('ethernet', 32, false);
const fields = { psnThisPkt: 1, psnLastRecv: 0, deltaLastRecv: 0, deltaLastSent: 0, scaleDtlr: 0, scaleDtls: 0, srcPort: 40000 };

function mixedFile(format: 'pcap' | 'pcapng'): string {
  const w = new PcapWriter({ format, linkType: 1 });
  for (let i = 0; i < 50; i++) {
    w.writePacket(i < 30 ? withPdm.fill({ ...fields, dstPort: 443 }) : plain.fill({ ...fields, dstPort: 53 }), BigInt(i) * 1000n);
  }
  const p = join(dir, `mixed.${format}`);
  writeFileSync(p, w.toBuffer());
  return p;
}

async function count(path: string, filter: string): Promise<number> {
  let n = 0;
  const s = await readCaptureFile(path, { filter }, () => { n++; });
  assert.equal(s.delivered, n);
  assert.equal(s.expected, 50);
  assert.equal(s.complete, true); // a filter that drops packets does not make a file incomplete
  return n;
}

for (const format of ['pcap', 'pcapng'] as const) {
  test(`${format}: udp matches only UDP right after the IPv6 header; ip6 protochain 17 walks the Destination Options`, async () => {
    const p = mixedFile(format);
    assert.equal(await count(p, 'udp'), 20);
    assert.equal(await count(p, 'ip6 and udp dst port 443'), 0);
    assert.equal(await count(p, 'ip6 protochain 17'), 50);
    assert.equal(await count(p, 'ip6[6] == 60'), 30);
    assert.equal(await count(p, 'ip6'), 50);
    assert.equal(await count(p, 'ip'), 0);
  });
}

test('an unfiltered read is cross-checked; a filtered one is not held to the record count', async () => {
  const p = mixedFile('pcap');
  const s = await readCaptureFile(p, {}, () => {});
  assert.deepEqual([s.delivered, s.expected, s.complete], [50, 50, true]);
});
