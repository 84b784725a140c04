// Slow-loris guard: a client that never finishes its headers is dropped after header_timeout,
// and does not hold up anyone else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, baseConfig, httpRequest, chat } from './lib/harness.mjs';

const HEADER_TIMEOUT_MS = 1000;
const MARGIN_MS = 1500; // a loaded 2-core machine
let gw;
const sockets = new Set();

before(async () => {
  // Only the in-process mock provider is used here; the upstream URL is never called.
  const config = baseConfig('http://127.0.0.1:9/v1');
  config.tenants.acme.models.push('local-test');
  gw = await startGateway(config);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await gw?.stop();
});

/** Open a raw socket, send `first`, optionally keep trickling; resolve with when it was closed. */
function slowClient(first, { trickle } = {}) {
  const sock = net.connect(gw.port, '127.0.0.1');
  sockets.add(sock);
  sock.setNoDelay(true);
  const started = Date.now();
  let received = '';
  let timer;
  const closed = new Promise((resolve) => {
    sock.on('data', (d) => { received += d; });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      sockets.delete(sock);
      resolve({ afterMs: Date.now() - started, received });
    });
  });
  sock.on('connect', () => {
    sock.write(first);
    if (trickle) timer = setInterval(() => { if (!sock.destroyed) sock.write(trickle); }, 200);
  });
  return closed;
}

test('half a request line then silence: the gateway closes within header_timeout', async () => {
  const closed = slowClient('GET /healthz HT');
  // Meanwhile, ordinary requests are served normally.
  for (let i = 0; i < 5; i++) {
    const res = await httpRequest(`${gw.url}/healthz`);
    assert.equal(res.status, 200);
  }
  const { afterMs, received } = await closed;
  assert.ok(afterMs >= HEADER_TIMEOUT_MS - 200, `closed too early (${afterMs} ms): not the header timeout`);
  assert.ok(afterMs <= HEADER_TIMEOUT_MS + MARGIN_MS, `closed after ${afterMs} ms`);
  assert.doesNotMatch(received, /^HTTP\/1\.1 200/, 'an incomplete request is never answered 200');
});

test('headers trickled byte by byte are still cut off at header_timeout (total, not per read)', async () => {
  const closed = slowClient('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', { trickle: 'x' });
  const { afterMs } = await closed;
  assert.ok(afterMs <= HEADER_TIMEOUT_MS + MARGIN_MS, `trickling client kept the connection ${afterMs} ms`);
});

test('many silent connections do not starve normal traffic', async () => {
  const closing = Array.from({ length: 50 }, () => slowClient('POST /v1/chat/completions HTTP/1.1\r\nHo'));
  const started = Date.now();
  const res = await chat(gw, { model: 'local-test', messages: [{ role: 'user', content: 'still here' }] });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.json.choices[0].message.content, 'echo: still here');
  assert.ok(Date.now() - started < HEADER_TIMEOUT_MS, 'served without waiting for the slow clients');
  const results = await Promise.all(closing);
  const slowest = Math.max(...results.map((r) => r.afterMs));
  assert.ok(slowest <= HEADER_TIMEOUT_MS + MARGIN_MS, `slowest silent connection closed after ${slowest} ms`);
  const health = await httpRequest(`${gw.url}/healthz`);
  assert.equal(health.status, 200);
});

test('a connection opened but never written to is closed too', async () => {
  const sock = net.connect(gw.port, '127.0.0.1');
  sockets.add(sock);
  const started = Date.now();
  const afterMs = await new Promise((resolve) => {
    sock.on('error', () => {});
    sock.on('close', () => resolve(Date.now() - started));
  });
  sockets.delete(sock);
  assert.ok(afterMs <= HEADER_TIMEOUT_MS + MARGIN_MS, `idle fresh connection kept ${afterMs} ms`);
});
