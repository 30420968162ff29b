// ESP opened in the reader worker (capture/esp-preopen.ts) against ESP opened in the decoding
// thread: `analyze` and `packets` must print the same documents, byte for byte, for every ESP
// fixture. The CLI runs as a child process per mode, so node_pcap is loaded by one thread only
// (native-notes/node_pcap.md §3.5).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fixture, pdmscope } from './support/cli.js';

interface Case { pcap: string; args: string[] }
const CASES: Case[] = [
  { pcap: 'matrix.pcap', args: ['--esp-sa', fixture('esp', 'matrix.esp_sa')] },
  { pcap: 'matrix.pcap', args: ['--esp-sa', fixture('esp', 'matrix-wrong-keys.esp_sa')] },
  { pcap: 'matrix.pcap', args: [] },
  { pcap: 'esn.pcap', args: ['--esp-sa', fixture('esp', 'esn.esp_sa')] },
  { pcap: 'null_heuristic.pcap', args: [] },
  { pcap: 'null_heuristic.pcap', args: ['--no-esp-null'] },
  { pcap: 'rekey_inside.pcap', args: ['--esp-sa', fixture('esp', 'rekey.esp_sa')] },
  { pcap: 'rekey_outside.pcap', args: ['--esp-sa', fixture('esp', 'rekey.esp_sa')] },
  { pcap: 'truncated.pcap', args: ['--esp-sa', fixture('esp', 'matrix.esp_sa')] },
];

function run(command: 'analyze' | 'packets', c: Case, reader: 'thread' | 'worker'): string {
  const extra = command === 'analyze' ? ['--all-flows', '--no-db'] : [];
  const r = pdmscope([command, fixture('esp', c.pcap), ...c.args, ...extra, '--format', 'json', '--quiet'], { env: { PDMSCOPE_READER: reader } });
  assert.equal(r.status, 0, `${command} ${c.pcap} ${reader}: ${r.stderr}`);
  return r.stdout;
}

test('analyze: the analyze/1 document is identical with ESP opened in the reader worker or in this thread', () => {
  let flowsWithEsp = 0;
  for (const c of CASES) {
    const here = run('analyze', c, 'thread');
    const worker = run('analyze', c, 'worker');
    assert.equal(worker, here, `${c.pcap} ${c.args.join(' ')}`);
    const doc = JSON.parse(here) as { flows: { esp: unknown }[] };
    flowsWithEsp += doc.flows.filter((f) => f.esp !== null && f.esp !== undefined).length;
  }
  assert.ok(flowsWithEsp > 10, `only ${flowsWithEsp} ESP flows: the comparison would prove little`);
});

test('packets: anomaly counts, esp_no_sa per SPI and every PDM row are identical in both modes', () => {
  for (const c of CASES) {
    const here = run('packets', c, 'thread');
    assert.equal(run('packets', c, 'worker'), here, `${c.pcap} ${c.args.join(' ')}`);
  }
  const wrong = JSON.parse(run('packets', CASES[1]!, 'worker')) as { anomalies: Record<string, number> };
  assert.ok((wrong.anomalies['esp_auth_failed'] ?? 0) > 0, 'wrong keys give esp_auth_failed');
  const keyless = JSON.parse(run('packets', CASES[2]!, 'worker')) as { esp_no_sa_by_spi: Record<string, number> };
  assert.ok(Object.keys(keyless.esp_no_sa_by_spi).length > 0, 'esp_no_sa counted per SPI');
});
