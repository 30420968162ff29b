// tshark/editcap/mergecap as the oracle: they read what the writer writes, and the files they
// make (mixed link types, nanosecond pcap) are judged the same way by the prescan and adapter.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

import { PdmFrameTemplate } from './support/fixture-frames.js';
import { CaptureFileError, readCaptureFile } from '../src/capture/offline.js';
import { PcapWriter, type PcapWriterOptions } from '../src/capture/pcap-writer.js';
import { prescanCapture } from '../src/capture/prescan.js';
import { TSHARK, testNeeding } from './support/prereq.js';

const dir = mkdtempSync(join(tmpdir(), 'pdmscope-tshark-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, opts: PcapWriterOptions, link: 'ethernet' | 'raw', n: number): string {
  const t = new PdmFrameTemplate(link, 16);
  const w = new PcapWriter(opts);
  for (let i = 0; i < n; i++) {
    w.writePacket(t.fill({ psnThisPkt: 100 + i, psnLastRecv: 7, deltaLastRecv: 1, deltaLastSent: 2, scaleDtlr: 3, scaleDtls: 4, srcPort: 40000, dstPort: 443 }),
      1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n + 123n);
  }
  const p = join(dir, name);
  writeFileSync(p, w.toBuffer());
  return p;
}

function tshark(path: string, ...fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', path, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').map((l) => l.split('\t'));
}

testNeeding('tshark reads every writer variant: PSNs, lengths and (ns files) nanosecond timestamps', [TSHARK], () => {
  for (const format of ['pcap', 'pcapng'] as const) {
    for (const nanosecond of [false, true]) {
      for (const bigEndian of [false, true]) {
        const p = write(`t-${format}-${nanosecond}-${bigEndian}`, { format, linkType: 1, nanosecond, bigEndian }, 'ethernet', 3);
        const rows = tshark(p, 'frame.time_epoch', 'ipv6.opt.pdm.psn_this_pkt', 'frame.len', 'udp.dstport');
        assert.equal(rows.length, 3);
        rows.forEach((r, i) => {
          assert.equal(r[1], String(100 + i));
          assert.equal(r[2], '94');
          assert.equal(r[3], '443');
          const frac = nanosecond ? `${String(i).padStart(3, '0')}000123` : `${String(i).padStart(3, '0')}000`;
          assert.match(r[0]!, new RegExp(`^1700000000\\.${frac}0*$`), `${format} ns=${nanosecond}: ${r[0]}`);
        });
      }
    }
  }
  // Raw IPv6 (LINKTYPE_RAW 101) too.
  const raw = write('raw.pcap', { format: 'pcap', linkType: 101 }, 'raw', 2);
  assert.deepEqual(tshark(raw, 'ipv6.opt.pdm.psn_this_pkt'), [['100'], ['101']]);
});

testNeeding('mergecap of Ethernet and raw-IP files: prescan and adapter refuse it (libpcap alone: 0 packets)', [TSHARK], async () => {
  const eth = write('m-eth.pcap', { format: 'pcap', linkType: 1 }, 'ethernet', 5);
  const raw = write('m-raw.pcap', { format: 'pcap', linkType: 101 }, 'raw', 5);
  const merged = join(dir, 'merged.pcapng');
  execFileSync('mergecap', ['-F', 'pcapng', '-w', merged, eth, raw], { stdio: 'ignore' });
  const scan = prescanCapture(merged);
  assert.equal(scan.problem?.kind, 'mixed_link_types');
  assert.equal(scan.packets, 10);
  assert.equal(scan.packetsBeforeProblem, 0);
  await assert.rejects(readCaptureFile(merged, {}, () => {}), (e: unknown) => e instanceof CaptureFileError && /different link types \(1, 101\)/.test(e.message));
});

testNeeding('editcap -F nsecpcap and -F pcapng: the prescan sees the resolution, libpcap delivers µs', [TSHARK], async () => {
  const src = write('e.pcap', { format: 'pcap', linkType: 1 }, 'ethernet', 4);
  for (const [fmt, ns] of [['nsecpcap', true], ['pcapng', false], ['pcap', false]] as const) {
    const out = join(dir, `e-${fmt}`);
    execFileSync('editcap', ['-F', fmt, src, out], { stdio: 'ignore' });
    const scan = prescanCapture(out);
    assert.equal(scan.problem, null);
    assert.equal(scan.tsUnitsPerSecond, ns ? 1e9 : 1e6);
    const ts: number[] = [];
    const s = await readCaptureFile(out, {}, (_f, _c, _w, tsUs) => { ts.push(tsUs); });
    assert.equal(s.complete, true);
    assert.deepEqual(ts, [0, 1, 2, 3].map((i) => 1_700_000_000_000_000 + i * 1000));
  }
});
