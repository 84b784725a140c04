// Hedged requests (`hedge.after`): a second candidate races a slow first one; the first to answer
// wins, the loser's upstream call is cancelled and its connection closed, both are traced.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startMockUpstream, startGateway, baseConfig, chat, sseData, waitFor, httpRequest, metricValue,
} from './lib/harness.mjs';

let mock;
let gw;

function provider(latencyMs) {
  return {
    type: 'openai-compatible', base_url: mock.baseURL, keys: ['upstream-key-1'],
    headers: latencyMs ? { 'x-mock-latency-ms': String(latencyMs) } : {},
  };
}

before(async () => {
  mock = await startMockUpstream();
  const config = baseConfig(mock.baseURL);
  Object.assign(config.providers, { slow: provider(3000), fast: provider(0), mid: provider(400) });
  const price = { input: 1, output: 1 };
  Object.assign(config.models, {
    'slow-m': { provider: 'slow', model: 'mock-model', price },
    'fast-m': { provider: 'fast', model: 'mock-model', price },
    'mid-m': { provider: 'mid', model: 'mock-model', price },
  });
  config.routes = {
    'hedged': { targets: [{ model: 'slow-m' }, { model: 'fast-m' }], strategy: 'priority', hedge: { after: '150ms' } },
    'hedged-first-wins': { targets: [{ model: 'mid-m' }, { model: 'slow-m' }], strategy: 'priority', hedge: { after: '100ms' } },
    'hedged-not-needed': { targets: [{ model: 'fast-m' }, { model: 'slow-m' }], strategy: 'priority', hedge: { after: '500ms' } },
  };
  config.tenants.acme.models.push('hedged', 'hedged-first-wins', 'hedged-not-needed');
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const ask = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'race' }], ...extra });

test('a slow first candidate is overtaken by the hedge, which answers; the slow call is cancelled', async () => {
  const started = Date.now();
  const res = await chat(gw, ask('hedged'), { headers: { 'x-request-id': 'hedge-plain' } });
  const took = Date.now() - started;
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['x-switchboard-provider'], 'fast');
  assert.equal(res.json.choices[0].message.content, 'echo: race');
  assert.ok(took < 1500, `answered in ${took} ms, not after the slow candidate's 3 s`);
  const trace = await gw.waitForTrace((t) => t.request_id === 'hedge-plain');
  assert.deepEqual(trace.attempts.map((a) => [a.provider, a.error]), [['fast', null], ['slow', 'hedge_cancelled']]);
  assert.equal(trace.provider, 'fast');
  assert.equal(trace.status, 200);
  // The slow provider had the whole request when it was cancelled: it was working on it and
  // bills the prompt, estimated; the request's cost is the winner's usage plus that.
  const [won, lost] = trace.attempts;
  assert.equal(won.billed_usd, undefined);
  assert.ok(lost.billed_usd > 0, `the loser's prompt is charged: ${JSON.stringify(lost)}`);
  const winnerCost = (trace.usage.input + trace.usage.output) / 1e6; // $1/M in and out
  assert.ok(Math.abs(trace.cost_usd - (winnerCost + lost.billed_usd)) < 1e-12,
    `cost ${trace.cost_usd} = ${winnerCost} + ${lost.billed_usd}`);
  // The cancelled call's connection is closed at once, not kept busy or returned to the pool.
  const slowConnections = async (state) => metricValue((await httpRequest(`${gw.url}/metrics`)).body,
    'switchboard_upstream_connections', { provider: 'slow', state }) ?? 0;
  await waitFor(async () => (await slowConnections('active')) === 0,
    { timeoutMs: 500, what: 'no active connection to the slow provider' });
  assert.equal(await slowConnections('idle'), 0, 'the cancelled connection is not pooled');
  const metrics = (await httpRequest(`${gw.url}/metrics`)).body;
  assert.equal(metricValue(metrics, 'switchboard_fallbacks_total', { route: 'hedged', reason: 'hedge' }), 1);
});

test('a streamed hedge relays the winner\'s stream whole', async () => {
  const res = await chat(gw, ask('hedged', { stream: true }), { headers: { 'x-request-id': 'hedge-stream' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-switchboard-provider'], 'fast');
  const data = sseData(res.body);
  assert.equal(data.at(-1), '[DONE]');
  const text = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, 'echo: race');
  const trace = await gw.waitForTrace((t) => t.request_id === 'hedge-stream');
  assert.deepEqual(trace.attempts.map((a) => [a.provider, a.error]), [['fast', null], ['slow', 'hedge_cancelled']]);
});

test('when the first candidate answers after the hedge started, it wins and the hedge is cancelled', async () => {
  const res = await chat(gw, ask('hedged-first-wins'), { headers: { 'x-request-id': 'hedge-first' } });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['x-switchboard-provider'], 'mid');
  const trace = await gw.waitForTrace((t) => t.request_id === 'hedge-first');
  assert.deepEqual(trace.attempts.map((a) => [a.provider, a.error]), [['mid', null], ['slow', 'hedge_cancelled']]);
  assert.ok(trace.duration_ms < 1500, `${trace.duration_ms} ms`);
});

test('no hedge when the first candidate answers in time', async () => {
  const before = (await mock.stats()).requests;
  const res = await chat(gw, ask('hedged-not-needed'), { headers: { 'x-request-id': 'hedge-none' } });
  assert.equal(res.status, 200);
  const trace = await gw.waitForTrace((t) => t.request_id === 'hedge-none');
  assert.deepEqual(trace.attempts.map((a) => a.provider), ['fast']);
  assert.equal((await mock.stats()).requests - before, 1, 'one upstream call only');
});
