// A client that hangs up mid-stream: the upstream call is cancelled and its connection released,
// the request is recorded as 499, and nothing (connections, memory) leaks over many hang-ups.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startMockUpstream, startGateway, baseConfig, httpRequest, chat, waitFor, metricValue, rssKiB, CLIENT_KEY,
} from './lib/harness.mjs';

const LONG_TEXT = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' '); // 12 s at 10 tokens/s
let mock;
let gw;
let baselineOpen; // the mock's open connections with no stream in flight (our stats socket)

before(async () => {
  mock = await startMockUpstream();
  const config = baseConfig(mock.baseURL);
  config.providers.slow = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: ['upstream-key-1'],
    headers: { 'x-mock-tokens-per-second': '10', 'x-mock-response': LONG_TEXT },
  };
  config.models['slow-test'] = { provider: 'slow', model: 'mock-model', price: { input: 1, output: 1 } };
  config.tenants.acme.models.push('slow-test');
  gw = await startGateway(config);
  baselineOpen = (await mock.stats()).connections_open;
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

/** Start a slow stream, wait for `chunks` content chunks, then destroy the socket. */
function streamAndHangUp(requestId, chunks = 2) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      model: 'slow-test', stream: true, messages: [{ role: 'user', content: 'talk for a long time' }],
    });
    const req = http.request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json',
        'content-length': Buffer.byteLength(body), 'x-request-id': requestId,
      },
    }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream answered ${res.statusCode}`));
        return;
      }
      let seen = 0;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        seen = (text.match(/"content":"[^"]+"/g) ?? []).length;
        if (seen >= chunks) {
          req.destroy();
          resolve(text);
        }
      });
      res.on('end', () => reject(new Error('stream ended before the client hung up')));
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.setTimeout(15_000, () => { req.destroy(); reject(new Error('no chunks')); });
    req.end(body);
  });
}

async function activeUpstreamConnections() {
  const metrics = await httpRequest(`${gw.url}/metrics`);
  assert.equal(metrics.status, 200);
  return metricValue(metrics.body, 'switchboard_upstream_connections', { state: 'active' });
}

test('a client hang-up mid-stream releases the upstream connection and is traced as 499', async () => {
  const requestId = 'hangup-single-1';
  const streaming = streamAndHangUp(requestId);
  // The stream holds one upstream connection while it runs.
  await waitFor(async () => (await mock.stats()).connections_open > baselineOpen,
    { what: 'the upstream stream connection' });
  const text = await streaming;
  assert.match(text, /word0/, 'the client received content before hanging up');
  const hungUpAt = Date.now();

  await waitFor(async () => (await mock.stats()).connections_open <= baselineOpen,
    { timeoutMs: 2000, what: 'the upstream connection to close after the client left' });
  assert.ok(Date.now() - hungUpAt <= 2000);

  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.equal(trace.status, 499);
  assert.equal(trace.error, 'client_disconnected');
  assert.equal(trace.stream, true);
  assert.equal(trace.provider, 'slow');
  assert.ok(trace.duration_ms < 5000, `the request ended when the client left (${trace.duration_ms} ms)`);

  // Still healthy.
  assert.equal((await httpRequest(`${gw.url}/healthz`)).status, 200);
  const res = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content: 'after hang-up' }] });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.json.choices[0].message.content, 'echo: after hang-up');
});

test('thirty hang-ups leak no upstream connection and no memory', async (t) => {
  // Warm up allocators and pools before taking the memory baseline.
  await Promise.all(Array.from({ length: 5 }, (_, i) => streamAndHangUp(`hangup-warm-${i}`)));
  await waitFor(async () => (await activeUpstreamConnections()) === 0,
    { timeoutMs: 3000, what: 'no active upstream connection after warm-up' });
  await waitFor(async () => (await mock.stats()).connections_open <= baselineOpen + 1,
    { timeoutMs: 3000, what: 'the warm-up upstream connections to close' });
  // Our stats socket, plus the idle pooled connection the first test's plain request left.
  const settledOpen = (await mock.stats()).connections_open;
  const rssBefore = rssKiB(gw.pid);

  for (let batch = 0; batch < 3; batch++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => streamAndHangUp(`hangup-${batch}-${i}`)));
  }

  await waitFor(async () => (await mock.stats()).connections_open <= settledOpen,
    { timeoutMs: 3000, what: 'the upstream connections to close' });
  // The gauge exists and says no upstream connection is still busy.
  await waitFor(async () => (await activeUpstreamConnections()) === 0,
    { timeoutMs: 3000, what: 'switchboard_upstream_connections{state="active"} == 0' });

  for (let batch = 0; batch < 3; batch++) {
    for (let i = 0; i < 10; i++) {
      const t = await gw.waitForTrace((r) => r.request_id === `hangup-${batch}-${i}`);
      assert.equal(t.status, 499, `hangup-${batch}-${i}`);
    }
  }

  const rssAfter = rssKiB(gw.pid);
  t.diagnostic(`gateway RSS ${rssBefore} KiB -> ${rssAfter} KiB after 30 hang-ups`);
  assert.ok(rssAfter < 2 * rssBefore + 20 * 1024, `RSS grew from ${rssBefore} KiB to ${rssAfter} KiB`);
  assert.equal((await httpRequest(`${gw.url}/healthz`)).status, 200);
  assert.equal(gw.exitInfo, null, 'the gateway is still running');
});
