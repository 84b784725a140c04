// SIGTERM drains: no new work, /readyz 503, in-flight streams finish intact, then exit 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startMockUpstream, startGateway, baseConfig, httpRequest, sseData, waitFor, CLIENT_KEY,
} from './lib/harness.mjs';

const WORDS = Array.from({ length: 20 }, (_, i) => `w${i}`);
const started = [];

after(async () => {
  for (const p of started.reverse()) await p.stop('SIGKILL');
});

async function setUp({ drainTimeout = '10s', words = WORDS } = {}) {
  const mock = await startMockUpstream();
  started.push(mock);
  const config = baseConfig(mock.baseURL);
  config.server.drain_timeout = drainTimeout;
  config.providers.slow = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: ['upstream-key-1'],
    headers: { 'x-mock-tokens-per-second': '10', 'x-mock-response': words.join(' ') },
  };
  config.models['slow-test'] = { provider: 'slow', model: 'mock-model', price: { input: 1, output: 1 } };
  config.tenants.acme.models.push('slow-test');
  const gw = await startGateway(config);
  started.push(gw);
  return { mock, gw };
}

/** Start a stream; `firstChunk` resolves on the first content delta, `done` with the whole body. */
function openStream(gw) {
  let onFirst;
  const firstChunk = new Promise((r) => { onFirst = r; });
  const done = new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'slow-test', stream: true, messages: [{ role: 'user', content: 'go' }] });
    const req = http.request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; if (/"content":"[^"]+"/.test(text)) onFirst(); });
      res.on('end', () => resolve({ status: res.statusCode, text, complete: res.complete }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return { firstChunk, done };
}

function contentOf(sseText) {
  let text = '';
  for (const d of sseData(sseText)) {
    if (d === '[DONE]') continue;
    text += JSON.parse(d).choices[0]?.delta?.content ?? '';
  }
  return text;
}

/** GET /readyz on a fresh connection: 'refused' if the listener no longer accepts, else the status. */
async function readyzOnNewConnection(gw) {
  try {
    return (await httpRequest(`${gw.url}/readyz`, { timeoutMs: 3000 })).status;
  } catch (err) {
    if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') return 'refused';
    throw err;
  }
}

test('SIGTERM mid-stream: readiness drops, the stream completes with [DONE], exit code 0', async (t) => {
  const { gw } = await setUp();
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const ready = await httpRequest(`${gw.url}/readyz`, { agent: keepAlive });
    assert.equal(ready.status, 200, 'ready before the drain');

    const stream = openStream(gw);
    await stream.firstChunk;
    const signalledAt = Date.now();
    gw.proc.kill('SIGTERM');

    // New work is turned away: the listener stops accepting (SPEC 1: "stop accepting").
    await waitFor(async () => (await readyzOnNewConnection(gw)) === 'refused',
      { timeoutMs: 3000, what: 'the listener to stop accepting after SIGTERM' });

    // On the connection that was already open, /readyz answers 503 (or the connection is closed).
    const onOpen = await httpRequest(`${gw.url}/readyz`, { agent: keepAlive, timeoutMs: 3000 })
      .then((r) => r.status, (err) => err.code ?? 'error');
    t.diagnostic(`/readyz on an already-open connection during the drain: ${onOpen}`);
    assert.ok(onOpen === 503 || typeof onOpen === 'string', `/readyz answered ${onOpen} while draining`);

    const { status, text, complete } = await stream.done;
    assert.equal(status, 200);
    assert.ok(complete, 'the chunked response was terminated properly');
    const data = sseData(text);
    assert.equal(data.at(-1), '[DONE]', 'the stream ends with [DONE]');
    assert.equal(contentOf(text), WORDS.join(' '), 'all the content arrived');
    assert.ok(Date.now() - signalledAt >= 1000, 'the stream really was in flight during the drain');

    const { code, signal } = await gw.waitExit();
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(Date.now() - signalledAt < 8000, 'exit follows the last stream, not the drain timeout');
    assert.ok(gw.logs.some((l) => /drain/i.test(l.msg ?? '')), 'the drain is logged');
  } finally {
    keepAlive.destroy();
  }
});

test('SIGTERM with idle connections only exits promptly with code 0', async () => {
  const { gw } = await setUp();
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 2 });
  try {
    assert.equal((await httpRequest(`${gw.url}/healthz`, { agent: keepAlive })).status, 200);
    const signalledAt = Date.now();
    gw.proc.kill('SIGTERM');
    const { code } = await gw.waitExit();
    assert.equal(code, 0);
    assert.ok(Date.now() - signalledAt < 3000, `an idle keep-alive connection held the drain for ${Date.now() - signalledAt} ms`);
  } finally {
    keepAlive.destroy();
  }
});

test('a stream that outlasts drain_timeout is cut off and the process still exits 0', async () => {
  const words = Array.from({ length: 100 }, (_, i) => `x${i}`); // ~10 s
  const { gw } = await setUp({ drainTimeout: '1s', words });
  const stream = openStream(gw);
  const outcome = stream.done.catch((err) => ({ error: err }));
  await stream.firstChunk;
  const signalledAt = Date.now();
  gw.proc.kill('SIGTERM');
  const { code } = await gw.waitExit();
  const elapsed = Date.now() - signalledAt;
  assert.equal(code, 0);
  assert.ok(elapsed >= 800 && elapsed < 4000, `exited ${elapsed} ms after SIGTERM with drain_timeout 1s`);
  const result = await outcome;
  if (!result.error) assert.notEqual(contentOf(result.text), words.join(' '), 'the stream was cut short');
});
