import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/support/build.js';
import { formatIpv6, parseIpv6Address } from '../wire/ipv6.js';
import {
  NextHopError, type CommandRunner, formatMac, multicastMac, parseLink, parseMac, parseNeighbour, parseRouteGet, resolveNextHop,
} from './nexthop.js';

// Outputs recorded with iproute2 on the development host (Debian 12, Linux 6.18).
const ROUTE_VIA_GATEWAY = '[{"dst":"2001:db8::1","from":"::","gateway":"fd00::1","dev":"eth0","prefsrc":"fd00::2","metric":1024,"flags":[],"pref":"medium"}]';
const ROUTE_ON_LINK = '[{"dst":"fd00:5::2","from":"::","dev":"pdmva","protocol":"kernel","prefsrc":"fd00:5::1","metric":256,"flags":[],"pref":"medium"}]';
const ROUTE_LOCAL = '[{"type":"local","dst":"fd00::2","from":"::","dev":"lo","table":"local","protocol":"kernel","prefsrc":"fd00::2","metric":0,"flags":[],"pref":"medium"}]';
const ROUTE_MULTICAST = '[{"type":"multicast","dst":"ff02::1","from":"::","dev":"eth0","table":"local","protocol":"kernel","prefsrc":"fe80::fc:ff:fe00:1","metric":256,"flags":[],"pref":"medium"}]';
const NEIGH_STALE = '[{"dst":"fd00:5::2","lladdr":"56:84:39:b4:fb:0e","state":["STALE"]}]';
const NEIGH_FAILED = '[{"dst":"fd00::1","state":["FAILED"]}]';
const NEIGH_NONE = '[]';
const LINK_VETH = '[{"ifindex":10,"link_index":9,"ifname":"pdmva","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"ae:7c:21:3b:90:6d","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":1}]';
const LINK_ETH0 = '[{"ifindex":4,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1400,"qdisc":"pfifo_fast","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"02:fc:00:00:00:01","broadcast":"ff:ff:ff:ff:ff:ff"}]';
const LINK_LO = '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00"}]';
// A WireGuard interface: no link-layer address (iproute2 prints link_type "none").
const LINK_WG = '[{"ifindex":7,"ifname":"wg0","flags":["POINTOPOINT","NOARP","UP","LOWER_UP"],"mtu":1420,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"none"}]';
const LINK_DOWN = '[{"ifindex":2,"ifname":"ifb0","flags":["BROADCAST","NOARP"],"mtu":1500,"qdisc":"noop","operstate":"DOWN","linkmode":"DEFAULT","group":"default","txqlen":32,"link_type":"ether","address":"2e:ac:68:be:b1:b7","broadcast":"ff:ff:ff:ff:ff:ff"}]';

test('parses recorded ip -j outputs', () => {
  assert.deepEqual(parseRouteGet(ROUTE_VIA_GATEWAY), { type: 'unicast', dev: 'eth0', gateway: 'fd00::1', prefsrc: 'fd00::2' });
  assert.deepEqual(parseRouteGet(ROUTE_ON_LINK), { type: 'unicast', dev: 'pdmva', gateway: null, prefsrc: 'fd00:5::1' });
  assert.equal(parseRouteGet(ROUTE_LOCAL).type, 'local');
  assert.deepEqual(parseNeighbour(NEIGH_STALE), { lladdr: '56:84:39:b4:fb:0e', state: ['STALE'] });
  assert.deepEqual(parseNeighbour(NEIGH_FAILED), { lladdr: null, state: ['FAILED'] });
  assert.deepEqual(parseNeighbour(NEIGH_NONE), { lladdr: null, state: [] });
  assert.deepEqual(parseLink(LINK_ETH0), { mtu: 1400, linkType: 'ether', address: '02:fc:00:00:00:01', up: true });
  assert.deepEqual(parseLink(LINK_WG), { mtu: 1420, linkType: 'none', address: null, up: true });
  assert.equal(parseLink(LINK_DOWN).up, false);
});

test('MAC helpers and the RFC 2464 §7 multicast mapping', () => {
  assert.deepEqual([...parseMac('56:84:39:B4:fb:0e')!], [0x56, 0x84, 0x39, 0xb4, 0xfb, 0x0e]);
  assert.equal(parseMac('56:84:39:b4:fb'), null);
  assert.equal(formatMac(parseMac('02:fc:00:00:00:01')!), '02:fc:00:00:00:01');
  assert.equal(formatMac(multicastMac(parseIpv6Address('ff02::1:ff00:1234')!)), '33:33:ff:00:12:34');
});

test('bad or truncated output is a NextHopError, never another exception', () => {
  const random = rng(8250);
  const inputs = [ROUTE_VIA_GATEWAY, NEIGH_STALE, LINK_ETH0].flatMap((s) => Array.from({ length: s.length }, (_, n) => s.slice(0, n)));
  for (let i = 0; i < 2000; i++) inputs.push(String.fromCharCode(...Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 128))));
  inputs.push('{}', 'null', '[1,2]', '[{"dev":7}]', '[{"mtu":"x"}]');
  for (const text of inputs) {
    for (const parse of [parseRouteGet, parseNeighbour, parseLink]) {
      try { parse(text); } catch (err) { assert.ok(err instanceof NextHopError, `${parse.name}(${JSON.stringify(text)}) threw ${String(err)}`); }
    }
    assert.doesNotThrow(() => parseMac(text));
  }
});

/** A fake `ip` that answers from a table and records the calls. */
function fakeIp(answers: Record<string, string | string[]>): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = async (cmd, args) => {
    const key = args.join(' ');
    calls.push(key);
    const a = answers[key];
    if (a === undefined) throw new NextHopError(`unexpected ${cmd} ${key}`);
    if (Array.isArray(a)) return a.length > 1 ? a.shift()! : a[0]!;
    return a;
  };
  return { run, calls };
}

const noSleep = async (): Promise<void> => {};

test('on-link destination: the destination is the next hop, MACs from neighbour cache and sysfs', async () => {
  const { run } = fakeIp({
    '-j -6 route get fd00:5::2 oif pdmva': ROUTE_ON_LINK,
    '-j link show dev pdmva': LINK_VETH,
    '-j -6 neigh show fd00:5::2 dev pdmva': NEIGH_STALE,
  });
  const hop = await resolveNextHop('fd00:5::2', { dev: 'pdmva', run, readText: async () => 'ae:7c:21:3b:90:6d\n' });
  assert.equal(hop.dev, 'pdmva');
  assert.equal(hop.nextHop, 'fd00:5::2');
  assert.equal(formatIpv6(hop.src), 'fd00:5::1');
  assert.equal(hop.mtu, 1500);
  assert.equal(hop.link.kind, 'ethernet');
  if (hop.link.kind === 'ethernet') {
    assert.equal(formatMac(hop.link.srcMac), 'ae:7c:21:3b:90:6d');
    assert.equal(formatMac(hop.link.dstMac), '56:84:39:b4:fb:0e');
  }
});

test('via a gateway with no neighbour entry: nudges discovery and polls until the lladdr appears', async () => {
  let nudged = '';
  const { run, calls } = fakeIp({
    '-j -6 route get 2001:db8::1': ROUTE_VIA_GATEWAY,
    '-j link show dev eth0': LINK_ETH0,
    '-j -6 neigh show fd00::1 dev eth0': [NEIGH_NONE, '[{"dst":"fd00::1","state":["INCOMPLETE"]}]', '[{"dst":"fd00::1","lladdr":"02:00:00:00:00:99","state":["REACHABLE"]}]'],
  });
  const hop = await resolveNextHop('2001:db8::1', {
    run, readText: async () => '02:fc:00:00:00:01', sleepMs: noSleep, nudge: async (dst, dev) => { nudged = `${dst}%${dev}`; },
  });
  assert.equal(nudged, '2001:db8::1%eth0');
  assert.equal(hop.nextHop, 'fd00::1');
  assert.equal(calls.filter((c) => c.includes('neigh')).length, 3);
  if (hop.link.kind === 'ethernet') assert.equal(formatMac(hop.link.dstMac), '02:00:00:00:00:99');
});

test('a next hop that never answers fails clearly after the timeout', async () => {
  const { run, calls } = fakeIp({
    '-j -6 route get 2001:db8::1': ROUTE_VIA_GATEWAY,
    '-j link show dev eth0': LINK_ETH0,
    '-j -6 neigh show fd00::1 dev eth0': NEIGH_FAILED,
  });
  await assert.rejects(resolveNextHop('2001:db8::1', { run, readText: async () => '02:fc:00:00:00:01', sleepMs: noSleep, nudge: async () => {} }),
    /next hop fd00::1 on eth0 did not answer neighbour discovery \(FAILED\)/);
  assert.equal(calls.filter((c) => c.includes('neigh')).length, 1 + 1000 / 50);
});

test('own address goes over lo with zero MACs; wireguard is raw IP; multicast maps the MAC; a down link fails', async () => {
  const lo = await resolveNextHop('fd00::2', { run: fakeIp({ '-j -6 route get fd00::2': ROUTE_LOCAL, '-j link show dev lo': LINK_LO }).run });
  assert.equal(lo.dev, 'lo');
  assert.deepEqual(lo.link, { kind: 'ethernet', srcMac: new Uint8Array(6), dstMac: new Uint8Array(6) });

  const wgRoute = '[{"dst":"fd10::2","dev":"wg0","prefsrc":"fd10::1","flags":[]}]';
  const wg = await resolveNextHop('fd10::2', { run: fakeIp({ '-j -6 route get fd10::2': wgRoute, '-j link show dev wg0': LINK_WG }).run });
  assert.deepEqual(wg.link, { kind: 'raw' });
  assert.equal(wg.mtu, 1420);

  const mc = await resolveNextHop('ff02::1', {
    dev: 'eth0', readText: async () => '02:fc:00:00:00:01',
    run: fakeIp({ '-j -6 route get ff02::1 oif eth0': ROUTE_MULTICAST, '-j link show dev eth0': LINK_ETH0 }).run,
  });
  if (mc.link.kind === 'ethernet') assert.equal(formatMac(mc.link.dstMac), '33:33:00:00:00:01');
  assert.equal(formatIpv6(mc.src), 'fe80::fc:ff:fe00:1');

  await assert.rejects(resolveNextHop('fd00::9', {
    run: fakeIp({ '-j -6 route get fd00::9': '[{"dst":"fd00::9","dev":"ifb0","prefsrc":"fd00::2"}]', '-j link show dev ifb0': LINK_DOWN }).run,
  }), /interface ifb0 is down/);
  await assert.rejects(resolveNextHop('not-an-address'), /is not an IPv6 address/);
});
