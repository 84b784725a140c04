// Tenant rate limits and budgets at their exact boundaries, spend attribution and /admin/spend,
// a streamed call and a mid-stream hang-up each charged exactly once, state kept across reloads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import {
  startMockUpstream, startGateway, baseConfig, httpRequest, chat, sseData, metricValue, ADMIN_KEY,
} from './lib/harness.mjs';

const KEYS = { rpm: 'sk-rl-1', tpm: 'sk-tk-1', bud: 'sk-bud-1', spend: 'sk-sp-1', hang: 'sk-hang-1' };
const LONG_TEXT = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
let mock;
let gw;
let config;
let broken;  // answers 200, then drops the connection before any body byte

function tenant(key, extra = {}) {
  return { keys: [key], models: ['gpt-test', 'slow-test', 'flaky'], ...extra };
}

before(async () => {
  mock = await startMockUpstream();
  broken = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': req.url.includes('chat') ? 'application/json' : 'text/plain', 'content-length': '500' });
      res.flushHeaders();
      setTimeout(() => res.socket.destroy(), 20);
    });
  });
  await new Promise((r) => broken.listen(0, '127.0.0.1', r));
  config = baseConfig(mock.baseURL);
  config.providers.broken = {
    type: 'openai-compatible', base_url: `http://127.0.0.1:${broken.address().port}/v1`, keys: ['k'],
  };
  config.models['broken-m'] = { provider: 'broken', model: 'x', price: { input: 1000, output: 1000 } };
  config.routes = { 'flaky': { targets: [{ model: 'broken-m' }], fallbacks: ['gpt-test'], retry: { attempts: 1 } } };
  config.providers.slow = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: ['upstream-key-1'],
    headers: { 'x-mock-tokens-per-second': '20', 'x-mock-response': LONG_TEXT },
  };
  config.models['slow-test'] = { provider: 'slow', model: 'mock-model', price: { input: 1, output: 3 } };
  config.tenants = {
    ...config.tenants,
    rl: tenant(KEYS.rpm, { rate_limit: { rpm: 3 } }),
    tk: tenant(KEYS.tpm, { rate_limit: { tpm: 40 } }),
    bud: tenant(KEYS.bud, { budget: { usd: 0.00001, period: 'monthly' } }),
    sp: tenant(KEYS.spend, { defaults: { workflow: 'triage' } }),
    hang: tenant(KEYS.hang),
  };
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
  broken?.close();
});

const hi = (extra = {}) => ({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], ...extra });

async function metrics() {
  return (await httpRequest(`${gw.url}/metrics`)).body;
}

async function spend(query) {
  return httpRequest(`${gw.url}/admin/spend?${query}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
}

/** A chat call that waits for its trace record, so the settlement is done before the next call. */
async function settled(body, key, requestId, headers = {}) {
  const res = await chat(gw, body, { key, headers: { 'x-request-id': requestId, ...headers } });
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  return { res, trace };
}

test('rpm: exactly the limit is admitted, then 429 rate_limit_exceeded with Retry-After', async () => {
  const before = (await mock.stats()).requests;
  for (let i = 0; i < 3; i++) {
    const res = await chat(gw, hi(), { key: KEYS.rpm });
    assert.equal(res.status, 200, res.body);
  }
  const refused = await chat(gw, hi(), { key: KEYS.rpm });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error.type, 'rate_limit_error');
  assert.equal(refused.json.error.code, 'rate_limit_exceeded');
  const retryAfter = Number(refused.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 20, `Retry-After ${refused.headers['retry-after']}`);
  assert.equal((await mock.stats()).requests - before, 3, 'the refused request never reached the provider');
  assert.equal(metricValue(await metrics(), 'switchboard_rate_limited_total', { tenant: 'rl', reason: 'rpm' }), 1);
});

test('tpm: the estimate is reserved at admission and the real usage settled after', async () => {
  // "hi" is estimated at 5 prompt tokens; max_tokens 30 makes 35 of the 40 per minute.
  const a = await settled(hi({ max_tokens: 30 }), KEYS.tpm, 'tpm-a');
  assert.equal(a.res.status, 200, a.res.body);
  assert.equal(a.trace.usage.input + a.trace.usage.output, 3);  // 32 tokens come back
  // Only admitted because the first call's unused 32 tokens were returned.
  const b = await settled(hi({ max_tokens: 30 }), KEYS.tpm, 'tpm-b');
  assert.equal(b.res.status, 200, b.res.body);
  // 34 left: a 40-token estimate is refused.
  const c = await chat(gw, hi({ max_tokens: 35 }), { key: KEYS.tpm });
  assert.equal(c.status, 429, c.body);
  assert.equal(c.json.error.code, 'rate_limit_exceeded');
  assert.match(c.json.error.message, /40 tokens per minute/);
  const retryAfter = Number(c.headers['retry-after']);
  assert.ok(retryAfter >= 8 && retryAfter <= 10, `6 tokens at 40/min take 9 s; Retry-After ${retryAfter}`);
  assert.equal(metricValue(await metrics(), 'switchboard_rate_limited_total', { tenant: 'tk', reason: 'tpm' }), 1);
});

test('budget: an estimate equal to what remains passes, then budget_exceeded before any provider call', async () => {
  const before = (await mock.stats()).requests;
  // Each call costs 1 prompt token x $1/M + 2 output tokens x $2/M = $0.000005, estimated the same.
  const first = await settled(hi(), KEYS.bud, 'bud-1');
  assert.equal(first.res.status, 200, first.res.body);
  assert.equal(first.trace.cost_usd, 0.000005);
  assert.equal(first.res.headers['x-switchboard-cost-usd'], '0.00000500');
  const second = await settled(hi(), KEYS.bud, 'bud-2');
  assert.equal(second.res.status, 200, 'an estimate of exactly the remaining $0.000005 is admitted');
  const third = await chat(gw, hi(), { key: KEYS.bud });
  assert.equal(third.status, 429, third.body);
  assert.equal(third.json.error.type, 'insufficient_quota');
  assert.equal(third.json.error.code, 'budget_exceeded');
  assert.equal(third.headers['retry-after'], undefined);
  assert.equal((await mock.stats()).requests - before, 2, 'no provider was called for the refused request');
  const exposition = await metrics();
  assert.equal(metricValue(exposition, 'switchboard_rate_limited_total', { tenant: 'bud', reason: 'budget' }), 1);
  assert.ok(Math.abs(metricValue(exposition, 'switchboard_budget_remaining_usd', { tenant: 'bud' })) < 1e-12);
});

test('a reload keeps what was spent, and a raised budget admits again', async () => {
  const reload = () => httpRequest(`${gw.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal((await reload()).status, 200);
  assert.equal((await chat(gw, hi(), { key: KEYS.bud })).json?.error?.code, 'budget_exceeded');

  config.tenants.bud.budget.usd = 0.000015;
  writeFileSync(gw.configFile, JSON.stringify(config, null, 2));
  assert.equal((await reload()).status, 200);
  const res = await chat(gw, hi(), { key: KEYS.bud });
  assert.equal(res.status, 200, res.body);
  config.tenants.bud.budget.usd = 0.00001;
  writeFileSync(gw.configFile, JSON.stringify(config, null, 2));
  assert.equal((await reload()).status, 200);
});

test('a streamed call is counted once, at the cost of the usage the client did not ask for', async () => {
  const costBefore = metricValue(await metrics(), 'switchboard_cost_usd_total', { tenant: 'sp' }) ?? 0;
  const res = await chat(gw, hi({ stream: true, user: 'user-42' }), {
    key: KEYS.spend, headers: { 'x-request-id': 'sp-stream' },
  });
  assert.equal(res.status, 200);
  const data = sseData(res.body);
  assert.equal(data.at(-1), '[DONE]');
  assert.ok(!data.slice(0, -1).some((d) => JSON.parse(d).usage), 'no usage chunk: the client did not ask');
  const trace = await gw.waitForTrace((t) => t.request_id === 'sp-stream');
  assert.equal(trace.cost_usd, 0.000005);
  assert.equal(trace.usage.estimated, undefined);
  assert.equal(trace.workflow, 'triage');
  assert.equal(trace.user, 'user-42');
  const exposition = await metrics();
  assert.ok(Math.abs(metricValue(exposition, 'switchboard_cost_usd_total', { tenant: 'sp' }) - costBefore - 0.000005) < 1e-12);
  assert.equal(metricValue(exposition, 'switchboard_requests_total', { tenant: 'sp', status: '200' }), 1);
  assert.equal(metricValue(exposition, 'switchboard_tokens_total', { tenant: 'sp', token_type: 'output' }), 2);

  const spent = await spend('group_by=user&tenant=sp&since=1h');
  assert.equal(spent.status, 200, spent.body);
  assert.deepEqual(spent.json.groups.map((g) => [g.user, g.requests]), [['user-42', 1]]);
  assert.equal(spent.json.groups[0].cost_usd, 0.000005);
  assert.deepEqual(spent.json.groups[0].tokens, { input: 1, output: 2, cached_input: 0, cache_write: 0 });
});

test('a client hanging up mid-stream is charged once for what was generated, marked estimated', async () => {
  const body = JSON.stringify({ model: 'slow-test', stream: true, messages: [{ role: 'user', content: 'talk' }] });
  await new Promise((resolve, reject) => {
    const req = http.request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: {
        authorization: `Bearer ${KEYS.hang}`, 'content-type': 'application/json',
        'content-length': Buffer.byteLength(body), 'x-request-id': 'hang-1',
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if ((text.match(/"content":"[^"]+"/g) ?? []).length >= 4) { req.destroy(); resolve(); }
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.setTimeout(10_000, () => reject(new Error('no chunks')));
    req.end(body);
  });
  const trace = await gw.waitForTrace((t) => t.request_id === 'hang-1');
  assert.equal(trace.status, 499);
  assert.equal(trace.usage.estimated, true);
  assert.ok(trace.usage.output >= 4 && trace.usage.output < 100, `output ${trace.usage.output}`);
  assert.equal(trace.usage.input, 5, 'the prompt is estimated too');
  assert.ok(trace.cost_usd > 0);
  // Give a second charge the chance to happen, then check there was exactly one.
  await new Promise((r) => setTimeout(r, 300));
  const spent = await spend('group_by=tenant&tenant=hang');
  assert.equal(spent.json.total.requests, 1);
  assert.ok(Math.abs(spent.json.total.cost_usd - trace.cost_usd) < 1e-12);
  const cost = metricValue(await metrics(), 'switchboard_cost_usd_total', { tenant: 'hang' });
  assert.ok(Math.abs(cost - trace.cost_usd) < 1e-12, `metric ${cost} vs trace ${trace.cost_usd}`);
});

test('/admin/spend groups by workflow and model, and refuses bad parameters and non-admins', async () => {
  await chat(gw, hi(), { key: KEYS.spend, headers: { 'x-switchboard-workflow': 'billing', 'x-request-id': 'sp-w' } });
  await gw.waitForTrace((t) => t.request_id === 'sp-w');
  const byWorkflow = await spend('group_by=workflow&tenant=sp');
  assert.equal(byWorkflow.status, 200);
  assert.deepEqual(byWorkflow.json.groups.map((g) => g.workflow).sort(), ['billing', 'triage']);
  assert.equal(byWorkflow.json.backend, 'memory');
  assert.match(byWorkflow.json.since, /^\d{4}-\d{2}-01T00:00:00Z$/, 'the default window is this month');

  const byModel = await spend('group_by=model');
  assert.ok(byModel.json.groups.some((g) => g.model === 'slow-test'));
  const total = byModel.json.groups.reduce((s, g) => s + g.requests, 0);
  assert.equal(byModel.json.total.requests, total);

  const future = await spend('since=2199-01-01');
  assert.equal(future.json.total.requests, 0);

  const bad = await spend('group_by=colour');
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /group_by must be one of/);
  assert.equal((await spend('since=yesterday')).status, 400);
  const noKey = await httpRequest(`${gw.url}/admin/spend`);
  assert.equal(noKey.status, 401);
  const tenantKey = await httpRequest(`${gw.url}/admin/spend`, { headers: { authorization: `Bearer ${KEYS.spend}` } });
  assert.equal(tenantKey.status, 401, 'a tenant key is not an admin key');
  assert.equal(tenantKey.json.error.code, 'admin_key_required');
  // The admin key is read like a tenant key: "bearer" in either case, or x-api-key.
  for (const headers of [{ authorization: `bearer ${ADMIN_KEY}` }, { 'x-api-key': ADMIN_KEY }]) {
    const res = await httpRequest(`${gw.url}/admin/spend`, { headers });
    assert.equal(res.status, 200, `${JSON.stringify(Object.keys(headers))}: ${res.body}`);
  }
});

test('an attempt the provider accepted and then failed is charged its prompt, under its own model', async () => {
  const costOf = async (model) => metricValue(await metrics(), 'switchboard_cost_usd_total', { tenant: 'sp', model }) ?? 0;
  const brokenBefore = await costOf('broken-m');
  for (const stream of [false, true]) {
    const id = `billed-${stream}`;
    const res = await chat(gw, { model: 'flaky', stream, messages: [{ role: 'user', content: 'hi' }] },
      { key: KEYS.spend, headers: { 'x-request-id': id } });
    assert.equal(res.status, 200, res.body);
    const trace = await gw.waitForTrace((t) => t.request_id === id);
    assert.deepEqual(trace.attempts.map((a) => [a.model, a.status]), [['broken-m', 200], ['gpt-test', 200]]);
    // "hi" is estimated at 5 prompt tokens: 5 x $1000/M on the broken model, plus the answer.
    assert.equal(trace.attempts[0].billed_usd, 0.005);
    assert.equal(trace.attempts[1].billed_usd, undefined);
    assert.ok(Math.abs(trace.cost_usd - (0.005 + 0.000005)) < 1e-12, `cost ${trace.cost_usd}`);
    if (!stream) assert.equal(res.headers['x-switchboard-cost-usd'], '0.00500500');
  }
  assert.ok(Math.abs((await costOf('broken-m')) - brokenBefore - 0.01) < 1e-12, 'billed under the model that billed it');
});
