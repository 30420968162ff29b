// The metrics endpoint bounds what idle clients hold: connections that send nothing, or trickle
// their headers, are closed after the header timeout, and beyond the connection cap a new
// connection is closed at once, while a scrape works again as soon as the idle ones are gone.

import assert from 'node:assert/strict';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';

import { DEFAULT_METRICS_SERVER_LIMITS, startMetricsServer } from './prometheus.js';

const LOOPBACK = { host: '127.0.0.1', port: 0, loopback: true };

interface Probe { socket: Socket; closedAfterMs: Promise<number>; data: () => string }

function open(port: number, onConnect: (s: Socket) => void = () => {}): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let data = '';
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { data += d; });
    socket.on('error', () => {}); // a reset is one way of being closed
    const closedAfterMs = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
    socket.once('connect', () => { onConnect(socket); resolve({ socket, closedAfterMs, data: () => data }); });
    socket.once('error', reject);
  });
}

/** GET /metrics on a connection of its own, closed after the answer (no keep-alive pool). */
function scrape(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('the defaults: 64 connections, a 10 s header timeout', () => {
  assert.deepEqual(DEFAULT_METRICS_SERVER_LIMITS, { maxConnections: 64, headersTimeoutMs: 10_000 });
});

test('idle and trickling connections are closed after the header timeout; beyond the cap new ones are refused', async () => {
  const cap = 8;
  const timeoutMs = 600;
  const server = await startMetricsServer(LOOPBACK, () => 'pdmscope_packets_total 7\n', { maxConnections: cap, headersTimeoutMs: timeoutMs });
  const timers: NodeJS.Timeout[] = [];
  try {
    // A normal scrape first: the limits do not get in its way.
    assert.deepEqual(await scrape(server.port), { status: 200, body: 'pdmscope_packets_total 7\n' });
    const held: Probe[] = [];
    // Connections that never send a byte, a half-sent request, and a slow-loris client that
    // sends one header byte every 100 ms (which an inactivity timeout alone would not stop).
    for (let i = 0; i < cap - 2; i++) held.push(await open(server.port));
    held.push(await open(server.port, (s) => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n')));
    held.push(await open(server.port, (s) => {
      s.write('GET /metrics HTTP/1.1\r\nX-Slow: ');
      timers.push(setInterval(() => { if (!s.destroyed) s.write('a'); }, 100));
    }));
    // The cap is reached: one more connection is accepted by the kernel and closed at once,
    // its request unanswered.
    const refused = await open(server.port, (s) => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'));
    const refusedAfter = await Promise.race([refused.closedAfterMs, new Promise<number>((r) => setTimeout(() => r(-1), timeoutMs / 2))]);
    assert.notEqual(refusedAfter, -1, 'a connection beyond the cap was kept open');
    assert.equal(refused.data(), '', 'a connection beyond the cap was answered');
    for (const p of held) assert.equal(p.socket.destroyed, false, 'a held connection was closed before its time');
    // Every held connection is closed after the timeout (plus the server's check interval and
    // a generous margin for a loaded machine), none of them long before it.
    const closed = await Promise.race([
      Promise.all(held.map((p) => p.closedAfterMs)),
      new Promise<null>((r) => setTimeout(() => r(null), timeoutMs * 8)),
    ]);
    assert.ok(closed !== null, `idle connections still open after ${timeoutMs * 8} ms`);
    for (const ms of closed) assert.ok(ms >= timeoutMs * 0.8, `closed after ${ms} ms, before the ${timeoutMs} ms timeout`);
    // The slots are free again: scrapes work.
    assert.equal((await scrape(server.port)).status, 200);
  } finally {
    for (const t of timers) clearInterval(t);
    server.close();
  }
});
