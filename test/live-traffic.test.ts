import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Analyzer } from '../src/metrics/analyzer.js';
import { trafficFrames, trafficPackets } from './support/traffic.js';

test('synthetic conversations decode as PDM flows with the generated server delay', () => {
  const spec = { prefix: 'fd00:5d:1', flows: 3, exchanges: 100 };
  const a = new Analyzer();
  let n = 0;
  for (const f of trafficFrames(spec)) {
    n++;
    a.addFrame(f, f.length, f.length, 1_700_000_000_000_000 + n * 100, 1, n);
  }
  assert.equal(n, trafficPackets(spec));
  const { doc } = a.finish([]);
  assert.deepEqual(doc.packets, { total: 600, ipv6: 600, with_pdm: 600, malformed: 0 });
  assert.deepEqual(doc.anomalies, {});
  assert.equal(doc.flows.length, 3);
  for (const f of doc.flows) {
    assert.equal(f.initiator.addr, 'fd00:5d:1::1');
    assert.equal(f.responder.port, 7000);
    assert.equal(f.server_delay_ns.count, 100);
    // 50–80 µs, truncated by the PDM encoding (RFC 8250 Appendix B: never above the true value).
    assert.ok(f.server_delay_ns.min! >= 49_000 && f.server_delay_ns.max! < 80_000, JSON.stringify(f.server_delay_ns));
    // Total = server delay + two one-way delays (≥ 400 µs); RTD = total − server delay.
    assert.equal(f.total_ns.count, 99);
    assert.ok(f.rtd_ns.min! >= 390_000 && f.rtd_ns.max! <= 410_000, JSON.stringify(f.rtd_ns));
    assert.deepEqual(f.psn.initiator_to_responder, { lost: 0, reordered: 0, duplicates: 0, restarts: 0 });
  }
});
