// Live capture on `lo` (root): delivery, stats, a throwing callback, close() and process exit,
// and the one-line errors for an unknown interface and for missing privileges.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { LiveCaptureError, listInterfaces, openLiveCapture, SETCAP_HINT } from '../src/capture/live.js';
import { ROOT, testNeeding } from './support/prereq.js';

const LIVE_JS = fileURLToPath(new URL('../src/capture/live.js', import.meta.url));

function sendUdp6(port: number, count: number): Promise<void> {
  const s = dgram.createSocket('udp6');
  return new Promise((resolve) => {
    let sent = 0;
    for (let i = 0; i < count; i++) {
      s.send(Buffer.from(`probe ${i}`), port, '::1', () => { if (++sent === count) { s.close(); resolve(); } });
    }
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('an unknown interface names the real ones', () => {
  assert.throws(() => openLiveCapture('nosuch0', {}, () => {}), (e: unknown) => {
    assert.ok(e instanceof LiveCaptureError);
    assert.match(e.message, /^unknown interface 'nosuch0'; interfaces: .*\blo\b/);
    return true;
  });
  assert.ok(listInterfaces().includes('lo'));
});

testNeeding('lo: frames arrive with µs timestamps, stats count them, close() stops delivery at once', [ROOT], async () => {
  const port = 30000 + (process.pid % 20000);
  const frames: { udpDst: number; capLen: number; wireLen: number; tsUs: number }[] = [];
  const cap = openLiveCapture('lo', { filter: `ip6 and udp dst port ${port}` }, (frame, capLen, wireLen, tsUs) => {
    // lo is DLT_EN10MB: 14-byte Ethernet header, then IPv6 (40), then UDP.
    frames.push({ udpDst: frame.readUInt16BE(14 + 40 + 2), capLen, wireLen, tsUs });
  });
  assert.equal(cap.linkType, 1);
  const t0 = Date.now() * 1000;
  await sendUdp6(port, 5);
  for (let i = 0; i < 50 && frames.length < 5; i++) await sleep(20);
  assert.equal(frames.length, 5);
  for (const f of frames) {
    assert.equal(f.udpDst, port);
    assert.equal(f.capLen, f.wireLen);
    assert.ok(Math.abs(f.tsUs - t0) < 10_000_000);
  }
  assert.ok(cap.stats().received >= 5);
  assert.equal(cap.delivered, 5);
  cap.close();
  assert.equal(cap.closed, true);
  await sendUdp6(port, 2); // frees the handle if close() could not; must not be delivered
  await sleep(100);
  assert.equal(frames.length, 5);
});

testNeeding('lo: a throwing callback stops the capture and reaches onError, not Nan::FatalException', [ROOT], async () => {
  const port = 30001 + (process.pid % 20000);
  let calls = 0;
  let reported: unknown = null;
  const cap = openLiveCapture('lo', { filter: `ip6 and udp dst port ${port}`, onError: (e) => { reported = e; } }, () => {
    calls++;
    throw new Error('consumer bug');
  });
  await sendUdp6(port, 4);
  for (let i = 0; i < 50 && reported === null; i++) await sleep(20);
  assert.equal(calls, 1);
  assert.match(String((reported as Error | null)?.message), /consumer bug/);
  assert.equal(cap.closed, true);
  assert.equal(cap.close(), true); // the dispatch loop freed the handle when it saw the break
});

testNeeding('idle lo: close() cannot release the handle; process.exit() ends the process (node_pcap #18/#248)', [ROOT], () => {
  const script = `
    const { openLiveCapture } = await import(${JSON.stringify(LIVE_JS)});
    const cap = openLiveCapture('lo', { filter: 'udp port 9 and ip6 and src host ::2' }, () => {});
    setTimeout(() => {
      const released = cap.close();
      console.log('released=' + released);
      if (process.argv[1] === 'exit') process.exit(0);
    }, 200);`;
  const waitOnly = spawnSync(process.execPath, ['--input-type=module', '-e', script, 'wait'], { encoding: 'utf8', timeout: 2500 });
  assert.match(waitOnly.stdout, /released=false/);
  assert.equal(waitOnly.signal, 'SIGTERM', 'the process exited on its own: the defect is gone, update live.ts');
  const withExit = spawnSync(process.execPath, ['--input-type=module', '-e', script, 'exit'], { encoding: 'utf8', timeout: 5000 });
  assert.equal(withExit.status, 0);
});

testNeeding('without privileges the error names root and the setcap command', [ROOT], () => {
  // Run as nobody: pcap_activate fails with EPERM on the packet socket.
  const script = `
    const { openLiveCapture } = await import(${JSON.stringify(LIVE_JS)});
    try { openLiveCapture('lo', {}, () => {}); console.log('opened'); } catch (e) { console.log(e.message); }`;
  const out = execFileSync('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
  assert.equal(out.split('\n').length, 1);
  assert.match(out, /^lo: capturing needs root or the capture capabilities \(socket: Operation not permitted\); run as root or: /);
  assert.ok(out.endsWith(SETCAP_HINT));
});
