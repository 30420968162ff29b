import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatStatusLine } from './status.js';

test('status line', () => {
  const line = formatStatusLine('eth0', {
    packets: 1234567, ipv6: 1000000, pdmPackets: 5000, malformed: 0, openFlows: 12, kernel: { received: 1, dropped: 1, ifDropped: 0 },
  }, 2500.4);
  assert.equal(line, 'eth0: 1,234,567 packets, 5,000 PDM, 12 flows, 2,500 pkt/s, 1 kernel drop');
});
