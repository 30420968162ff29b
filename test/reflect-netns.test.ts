// `pdmscope reflect` against a hostile network, in two network namespaces joined by a veth pair:
// two reflectors that one packet from port 7777 to port 7777 must not set answering each other,
// and one reflector offered a probe per reason to refuse (spoofed, multicast, broken, not for
// it yet). The packets come from test/support/reflect_probes.py (Python struct, AF_PACKET),
// which also watches the wire: what the reflectors send is seen, not taken from their word.

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { CLI as MAIN } from './support/cli.js';
import { NETNS, ROOT, testNeeding } from './support/prereq.js';
import { EXPECTED_REFUSAL, PROBES_PY, PYTHON3, type SeenPdm, probeArgs } from './support/reflect-cases.js';

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Net {
  nsA: string;
  nsB: string;
  vethA: string;
  vethB: string;
  addrA: string;
  addrB: string;
  /** Another address of B's, on its lo. */
  addrB2: string;
  /** On the link's prefix, nobody's. */
  nobody: string;
  macA: string;
  macB: string;
}

function makeNet(tag: string): Net {
  const prefix = `fd00:8250:${(process.pid & 0xffff).toString(16)}:${tag === 'l' ? 1 : 2}`;
  const net: Net = {
    nsA: `pdmr${process.pid % 100000}${tag}a`, nsB: `pdmr${process.pid % 100000}${tag}b`,
    vethA: `pr${process.pid % 100000}${tag}a`, vethB: `pr${process.pid % 100000}${tag}b`,
    addrA: `${prefix}::1`, addrB: `${prefix}::2`, addrB2: `${prefix}::3`, nobody: `${prefix}::99`,
    macA: '02:82:50:00:00:0a', macB: '02:82:50:00:00:0b',
  };
  sh('ip', ['netns', 'add', net.nsA]);
  sh('ip', ['netns', 'add', net.nsB]);
  sh('ip', ['link', 'add', net.vethA, 'type', 'veth', 'peer', 'name', net.vethB]);
  sh('ip', ['link', 'set', net.vethA, 'netns', net.nsA]);
  sh('ip', ['link', 'set', net.vethB, 'netns', net.nsB]);
  for (const [ns, dev, addr, mac] of [[net.nsA, net.vethA, net.addrA, net.macA], [net.nsB, net.vethB, net.addrB, net.macB]] as const) {
    sh('ip', ['-n', ns, 'link', 'set', dev, 'address', mac]);
    sh('ip', ['-n', ns, 'addr', 'add', `${addr}/64`, 'dev', dev, 'nodad']);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh('ip', ['-n', net.nsB, 'addr', 'add', `${net.addrB2}/128`, 'dev', 'lo']);
  return net;
}

function dropNet(net: Net): void {
  for (const ns of [net.nsA, net.nsB]) { try { sh('ip', ['netns', 'del', ns]); } catch { /* not created */ } }
}

/** Starts `pdmscope reflect` in `ns`; resolves once it serves. Its stderr collects in `.text`. */
async function startReflector(ns: string, dev: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, MAIN, 'reflect', '-i', dev, '--no-realtime'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reflector in ${ns} not serving within 20 s: ${text}`)), 20_000);
    const poll = setInterval(() => {
      if (/reflecting PDM probes/.test(text)) { clearInterval(poll); clearTimeout(timer); resolve(); }
    }, 20);
    child.once('exit', (code) => { clearInterval(poll); clearTimeout(timer); reject(new Error(`reflector in ${ns} exited (${code}): ${text}`)); });
  });
  return { child, stderr: () => text };
}

/** Stops a reflector with SIGINT; returns its closing line. */
async function stopReflector(r: { child: ChildProcess; stderr: () => string }): Promise<string> {
  const code = await new Promise<number | null>((resolve) => { r.child.once('exit', (c) => resolve(c)); r.child.kill('SIGINT'); });
  assert.equal(code, 0, r.stderr());
  const line = r.stderr().split('\n').find((l) => / probes, \d+ replies/.test(l));
  assert.ok(line !== undefined, `no closing line: ${r.stderr()}`);
  return line;
}

/** Sends `cases` from A's side and watches A's end of the link for `seconds` more. */
function probeFromA(net: Net, seconds: number, cases: string[]): Promise<{ sent: number; seen: SeenPdm[] }> {
  const args = ['netns', 'exec', net.nsA, '/usr/bin/python3', PROBES_PY, 'run', net.vethA, String(seconds), ...cases,
    ...probeArgs({ srcMac: net.macA, dstMac: net.macB, src: net.addrA, dst: net.addrB, ownOther: net.addrB2, other: net.nobody })];
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`reflect_probes.py: ${err.message} ${stderr}`));
      else resolve(JSON.parse(stdout) as { sent: number; seen: SeenPdm[] });
    });
  });
}

/** "refused N (a 1, b 2)" of a closing line, by name. */
function refusedCounts(line: string): Record<string, number> {
  const m = /, refused (\d+) \(([^)]*)\)/.exec(line);
  if (m === null) return {};
  const counts = Object.fromEntries(m[2]!.split(', ').map((p) => { const [k, v] = p.split(' '); return [k!, Number(v)]; }));
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), Number(m[1]), line);
  return counts;
}

testNeeding('two reflectors: one packet from port 7777 to the other\'s 7777 starts no exchange', [ROOT, NETNS, PYTHON3], async (t) => {
  const net = makeNet('l');
  const running: ChildProcess[] = [];
  try {
    const a = await startReflector(net.nsA, net.vethA);
    running.push(a.child);
    const b = await startReflector(net.nsB, net.vethB);
    running.push(b.child);
    // A's address and port 7777 to B's 7777: what A's reflector would send B as a reply. Then
    // two seconds on the wire; the loop this guards against ran at ~600 packets/s.
    const { seen } = await probeFromA(net, 2, ['from_reflector_port']);
    const lineA = await stopReflector(a);
    const lineB = await stopReflector(b);
    // (A packet socket does not see what it sent itself: `seen` is what the reflectors sent.)
    t.diagnostic(`${seen.length} PDM packets on the link in 2 s; A: ${lineA}; B: ${lineB}`);
    assert.ok(seen.length <= 2, `${seen.length} PDM packets exchanged after the injected one`);
    assert.match(lineB, /^pdmscope: 0 probes, 0 replies/);
    assert.equal(refusedCounts(lineB).from_reflector_port, 1, lineB);
    assert.match(lineA, /^pdmscope: 0 probes, 0 replies/);
    // A's own capture saw the packet leave its link: not for A, so not answered by A either
    // (before, A answered it too, in B's name, and started a second loop).
    assert.deepEqual(refusedCounts(lineA), { not_own_destination: 1 }, lineA);
  } finally {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
    dropNet(net);
  }
});

testNeeding('a reflector refuses spoofed, multicast, broken and not-yet-arrived probes, counts each, and answers good ones', [ROOT, NETNS, PYTHON3], async (t) => {
  const net = makeNet('s');
  const running: ChildProcess[] = [];
  try {
    const b = await startReflector(net.nsB, net.vethB);
    running.push(b.child);
    const cases = Object.keys(EXPECTED_REFUSAL);
    const { sent, seen } = await probeFromA(net, 1, cases);
    const line = await stopReflector(b);
    t.diagnostic(line);
    assert.equal(sent, cases.length);
    const good = cases.filter((c) => EXPECTED_REFUSAL[c] === null);
    // On the wire: replies from B's port 7777 to A, one per good probe, and nothing else from B.
    const fromB = seen.filter((p) => !p.out);
    assert.equal(fromB.length, good.length, `PDM packets from the reflector: ${JSON.stringify(fromB)}`);
    for (const p of fromB) {
      assert.deepEqual([p.src, p.sport, p.dst, p.dport], [net.addrB, 7777, net.addrA, 40000]);
    }
    assert.match(line, new RegExp(`^pdmscope: ${good.length} probes, ${good.length} replies, 1 flows,`));
    const want: Record<string, number> = {};
    for (const c of cases) { const r = EXPECTED_REFUSAL[c]; if (r) want[r] = (want[r] ?? 0) + 1; }
    assert.deepEqual(refusedCounts(line), want, line);
  } finally {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
    dropNet(net);
  }
});
