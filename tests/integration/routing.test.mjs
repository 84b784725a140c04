// Policy routing, retry, fallback, key rotation and circuit breakers (SPEC sections 3 and 4),
// against the real binary and `--mock-upstream` processes steered per provider by x-mock-* headers.
// Every scenario checks what the client received, which attempts were made (trace record), and that
// no upstream connection leaked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startMockUpstream, startGateway, baseConfig, chat, httpRequest, sseData, metricValue, waitFor,
  ADMIN_KEY, UPSTREAM_KEY,
} from './lib/harness.mjs';

let mock; // the upstream almost every provider points at
let pubMock; // a second process: the only place "public" models of the privacy test live

before(async () => {
  [mock, pubMock] = await Promise.all([startMockUpstream(), startMockUpstream()]);
});

after(async () => {
  await Promise.all([mock?.stop(), pubMock?.stop()]);
});

const TIMEOUTS = { connect: '1s', first_byte: '300ms', total: '5s' };
const FAST_RETRY = { attempts: 2, backoff: '10ms', max_backoff: '200ms' };
let seq = 0;
const rid = (what) => `routing-${what}-${++seq}-${process.pid}`;
const msgs = (content = 'hello routing') => [{ role: 'user', content }];

/** An openai-compatible provider on `baseURL` (default: the shared mock) steered by `headers`. */
function provider(headers = {}, { baseURL = mock.baseURL, keys = [UPSTREAM_KEY], ...rest } = {}) {
  return { type: 'openai-compatible', base_url: baseURL, keys, headers, timeouts: TIMEOUTS, ...rest };
}

/**
 * baseConfig plus `providers`, `models` and `routes`; a provider `good` (the healthy mock) and
 * model `good` always exist. The tenant may use every model and route.
 */
function config({ providers = {}, models = {}, routes = {}, policies } = {}) {
  const cfg = baseConfig(mock.baseURL);
  cfg.providers.good = provider();
  Object.assign(cfg.providers, providers);
  cfg.models.good = { provider: 'good', model: 'mock-good', price: { input: 1, output: 1 } };
  Object.assign(cfg.models, models);
  cfg.routes = routes;
  if (policies) cfg.policies = policies;
  cfg.tenants.acme.models = [...new Set([...cfg.tenants.acme.models, ...Object.keys(cfg.models),
    ...Object.keys(routes)])];
  return cfg;
}

async function metrics(gw) {
  const res = await httpRequest(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  return res.body;
}

const metric = async (gw, name, labels) => metricValue(await metrics(gw), name, labels) ?? 0;

function admin(gw, path, { method = 'GET', body, headers = {}, key = ADMIN_KEY } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  return httpRequest(`${gw.url}${path}`, { method, headers: h, body });
}

/**
 * No upstream connection leaked: the gateway reports no active upstream connection, and every
 * upstream's open connections are exactly the gateway's idle pool for it (plus the stats socket).
 */
async function assertNoLeaks(gw, cfg, upstreams = [mock, pubMock]) {
  let last = '';
  try {
    await waitFor(async () => {
      const text = await metrics(gw);
      const active = metricValue(text, 'switchboard_upstream_connections', { state: 'active' }) ?? 0;
      const seen = [`active=${active}`];
      let ok = active === 0;
      for (const up of upstreams) {
        const names = Object.entries(cfg.providers)
          .filter(([, p]) => p.base_url === up.baseURL).map(([n]) => n);
        const idle = names.reduce((sum, n) =>
          sum + (metricValue(text, 'switchboard_upstream_connections', { provider: n, state: 'idle' }) ?? 0), 0);
        const open = up.openConnections ? up.openConnections() : (await up.stats()).connections_open - 1;
        seen.push(`${up.baseURL}: open=${open} idle-in-pool=${idle}`);
        ok &&= open === idle;
      }
      last = seen.join(', ');
      return ok;
    }, { timeoutMs: 6000, intervalMs: 50, what: 'upstream connections to settle' });
  } catch (err) {
    assert.fail(`upstream connections leaked: ${last} (${err.message})`);
  }
}

/** Run `fn(gw)` on a fresh gateway for `cfg`, then check for leaks and stop it. */
async function withGateway(cfg, fn, upstreams) {
  const gw = await startGateway(cfg);
  try {
    await fn(gw);
    await assertNoLeaks(gw, cfg, upstreams);
  } finally {
    await gw.stop();
  }
}

/** A chat request tagged with a fresh x-request-id; resolves with the response and its trace. */
async function ask(gw, model, { stream = false, headers = {}, content, extra = {} } = {}) {
  const requestId = rid(model);
  const res = await chat(gw, { model, messages: msgs(content), ...(stream ? { stream } : {}), ...extra },
    { headers: { 'x-request-id': requestId, ...headers } });
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  return { res, trace, requestId };
}

function assertAttempts(trace, res, expected) {
  const got = trace.attempts.map((a) => [a.model, a.status, a.error]);
  assert.deepEqual(got, expected, `attempts: ${JSON.stringify(trace.attempts)}`);
  assert.equal(res.headers['x-switchboard-attempts'], String(expected.length), 'x-switchboard-attempts');
  for (const a of trace.attempts) {
    assert.equal(typeof a.ms, 'number');
    assert.ok(a.ms >= 0);
  }
}

function assertOpenAIError(res, status, type, code) {
  assert.equal(res.status, status, res.body);
  assert.ok(res.json?.error, `OpenAI error shape: ${res.body}`);
  assert.equal(res.json.error.type, type, res.body);
  assert.equal(res.json.error.code, code, res.body);
}

const requestsSeen = async (up = mock) => (await up.stats()).requests;

// -------------------------------------------------------------------------------------------------

test('connection refused on the first target falls back to the second', async () => {
  const cfg = config({
    providers: { refused: provider({}, { baseURL: 'http://127.0.0.1:1/v1' }) },
    models: { refused: { provider: 'refused', model: 'nobody-home', price: { input: 1, output: 1 } } },
    routes: { 'r-refused': { targets: [{ model: 'refused' }, { model: 'good' }], strategy: 'priority', retry: { ...FAST_RETRY, attempts: 1 } } },
  });
  await withGateway(cfg, async (gw) => {
    const { res, trace } = await ask(gw, 'r-refused');
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.choices[0].message.content, 'echo: hello routing');
    assert.equal(res.headers['x-switchboard-model'], 'good');
    assert.equal(res.headers['x-switchboard-provider'], 'good');
    assertAttempts(trace, res, [['refused', 0, 'connect_error'], ['good', 200, null]]);
    assert.equal(trace.status, 200);
    assert.equal(trace.route, 'r-refused');
    assert.equal(await metric(gw, 'switchboard_fallbacks_total', { route: 'r-refused' }), 1);
  });
});

for (const status of [503, 500, 502, 504, 529]) {
  test(`upstream ${status} is retried on the same model, then falls back; fallbacks_total counts it`, async () => {
    const route = `r-${status}`;
    const cfg = config({
      providers: { failing: provider({ 'x-mock-status': String(status) }) },
      models: { failing: { provider: 'failing', model: 'mock-failing', price: { input: 1, output: 1 } } },
      routes: { [route]: { targets: [{ model: 'failing' }], fallbacks: ['good'], retry: FAST_RETRY } },
    });
    await withGateway(cfg, async (gw) => {
      const labels = { route, reason: `http_${status}` };
      assert.equal(await metric(gw, 'switchboard_fallbacks_total', labels), 0);
      const before = await requestsSeen();
      const { res, trace } = await ask(gw, route);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['x-switchboard-model'], 'good');
      assertAttempts(trace, res, [
        ['failing', status, `http_${status}`], ['failing', status, `http_${status}`], ['good', 200, null]]);
      assert.equal(await requestsSeen() - before, 3, 'two calls to the failing model, one to the fallback');
      assert.equal(await metric(gw, 'switchboard_fallbacks_total', labels), 1);
      assert.equal(await metric(gw, 'switchboard_upstream_attempts_total',
        { provider: 'failing', model: 'failing', status: String(status) }), 2);
    });
  });
}

test('every candidate failing with 503 answers 502 upstream_error after every attempt', async () => {
  const cfg = config({
    providers: { failing: provider({ 'x-mock-status': '503' }), failing2: provider({ 'x-mock-status': '500' }) },
    models: {
      failing: { provider: 'failing', model: 'mock-failing', price: { input: 1, output: 1 } },
      failing2: { provider: 'failing2', model: 'mock-failing', price: { input: 1, output: 1 } },
    },
    routes: { 'r-all-down': { targets: [{ model: 'failing' }], fallbacks: ['failing2'], retry: FAST_RETRY } },
  });
  await withGateway(cfg, async (gw) => {
    const { res, trace } = await ask(gw, 'r-all-down');
    assertOpenAIError(res, 502, 'upstream_error', 'upstream_error');
    assertAttempts(trace, res, [
      ['failing', 503, 'http_503'], ['failing', 503, 'http_503'],
      ['failing2', 500, 'http_500'], ['failing2', 500, 'http_500']]);
    assert.equal(trace.status, 502);
    assert.equal(trace.error, 'upstream_error');
  });
});

test('429 with Retry-After: the retry uses the next key; the limited key cools down', async () => {
  // A node upstream that rate-limits exactly one key, so the rotation is visible.
  const limited = await startKeyedUpstream({ limitedKey: 'key-limited', retryAfter: '1' });
  const cfg = config({
    providers: { keyed: provider({}, { baseURL: limited.baseURL, keys: ['key-limited', 'key-fine'] }) },
    models: { keyed: { provider: 'keyed', model: 'keyed-model', price: { input: 1, output: 1 } } },
    routes: { 'r-429': { targets: [{ model: 'keyed' }], fallbacks: ['good'], retry: { attempts: 2, backoff: '10ms', max_backoff: '2s' } } },
  });
  try {
    await withGateway(cfg, async (gw) => {
      const pending = ask(gw, 'r-429');
      // While the gateway waits out Retry-After, the admin view shows the first key cooling down.
      const providers = await waitFor(async () => {
        const r = await admin(gw, '/admin/providers');
        assert.equal(r.status, 200, r.body);
        return r.json.providers.keyed.keys[0].state === 'cooling_down' ? r.json.providers.keyed : null;
      }, { timeoutMs: 3000, what: 'the 429 key to show cooling_down' });
      assert.equal(providers.keys[1].state, 'active');
      assert.ok(providers.keys[0].cooldown_ms > 0 && providers.keys[0].cooldown_ms <= 1000,
        `cooldown_ms ${providers.keys[0].cooldown_ms}`);
      const { res, trace } = await pending;
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['x-switchboard-model'], 'keyed', 'answered by the same model, second key');
      assertAttempts(trace, res, [['keyed', 429, 'http_429'], ['keyed', 200, null]]);
      const [first, second] = trace.attempts;
      assert.equal(first.key_id, providers.keys[0].key_id, 'the limited key was tried first');
      assert.equal(second.key_id, providers.keys[1].key_id);
      assert.notEqual(first.key_id, second.key_id, 'distinct keys');
      assert.deepEqual(limited.requests.map((r) => r.key), ['key-limited', 'key-fine']);
      assert.ok(second.ms >= 0 && trace.duration_ms >= 900, `Retry-After (1 s) was honoured: ${trace.duration_ms} ms`);
    }, [mock, limited]);
  } finally {
    await limited.close();
  }
});

test('429 with a Retry-After over max_backoff moves on at once; cooling keys are skipped', async () => {
  const cfg = config({
    providers: {
      limited: provider({ 'x-mock-status': '429', 'x-mock-retry-after': '5' }, { keys: ['rl-key-1', 'rl-key-2'] }),
    },
    models: { limited: { provider: 'limited', model: 'mock-limited', price: { input: 1, output: 1 } } },
    routes: { 'r-429-long': { targets: [{ model: 'limited' }], fallbacks: ['good'], retry: FAST_RETRY } },
  });
  await withGateway(cfg, async (gw) => {
    const first = await ask(gw, 'r-429-long');
    assert.equal(first.res.status, 200, first.res.body);
    assertAttempts(first.trace, first.res, [['limited', 429, 'http_429'], ['good', 200, null]]);
    assert.ok(first.trace.duration_ms < 2000, 'no wait for a 5 s Retry-After');
    const keyA = first.trace.attempts[0].key_id;

    const view = (await admin(gw, '/admin/providers')).json.providers.limited.keys;
    const a = view.find((k) => k.key_id === keyA);
    const b = view.find((k) => k.key_id !== keyA);
    assert.equal(a.state, 'cooling_down');
    assert.ok(a.cooldown_ms > 3000, `cools down for Retry-After: ${a.cooldown_ms}`);
    assert.equal(b.state, 'active');

    const second = await ask(gw, 'r-429-long');
    assert.equal(second.res.status, 200);
    assertAttempts(second.trace, second.res, [['limited', 429, 'http_429'], ['good', 200, null]]);
    assert.equal(second.trace.attempts[0].key_id, b.key_id, 'the cooling key is skipped');

    // Both keys cooling: the provider is not called at all.
    const before = await requestsSeen();
    const third = await ask(gw, 'r-429-long');
    assert.equal(third.res.status, 200);
    assertAttempts(third.trace, third.res, [['good', 200, null]]);
    assert.equal(await requestsSeen() - before, 1);
    assert.ok(await metric(gw, 'switchboard_fallbacks_total', { route: 'r-429-long', reason: 'rate_limited' }) >= 2);
  });
});

for (const status of [400, 404, 422]) {
  test(`upstream ${status} is returned as it is: one attempt, no retry, no fallback`, async () => {
    const cfg = config({
      providers: { picky: provider({ 'x-mock-status': String(status) }) },
      models: { picky: { provider: 'picky', model: 'mock-picky', price: { input: 1, output: 1 } } },
      routes: { 'r-client-error': { targets: [{ model: 'picky' }], fallbacks: ['good'], retry: FAST_RETRY } },
    });
    await withGateway(cfg, async (gw) => {
      const before = await requestsSeen();
      const { res, trace } = await ask(gw, 'r-client-error');
      assert.equal(res.status, status, res.body);
      assert.deepEqual(res.json, {
        error: { message: `mock forced status ${status}`, type: 'server_error', code: '', param: null },
      }, 'the upstream body passes through unchanged');
      assertAttempts(trace, res, [['picky', status, `http_${status}`]]);
      assert.equal(trace.status, status);
      assert.equal(await requestsSeen() - before, 1, 'exactly one upstream call');
      assert.equal(await metric(gw, 'switchboard_fallbacks_total', { route: 'r-client-error' }), 0);
    });
  });
}

test('no first byte within first_byte: timeout, then fallback; without a fallback 504', async () => {
  const cfg = config({
    providers: { slow: provider({ 'x-mock-latency-ms': '2000' }) },
    models: { slow: { provider: 'slow', model: 'mock-slow', price: { input: 1, output: 1 } } },
    routes: {
      'r-slow': { targets: [{ model: 'slow' }], fallbacks: ['good'], retry: { ...FAST_RETRY, attempts: 1 } },
      'r-slow-only': { targets: [{ model: 'slow' }], retry: { ...FAST_RETRY, attempts: 1 } },
    },
  });
  await withGateway(cfg, async (gw) => {
    const fell = await ask(gw, 'r-slow');
    assert.equal(fell.res.status, 200, fell.res.body);
    assert.equal(fell.res.headers['x-switchboard-model'], 'good');
    assertAttempts(fell.trace, fell.res, [['slow', 0, 'timeout'], ['good', 200, null]]);
    const ms = fell.trace.attempts[0].ms;
    assert.ok(ms >= 250 && ms < 1500, `the attempt was cut at first_byte (300 ms): ${ms}`);
    assert.equal(await metric(gw, 'switchboard_fallbacks_total', { route: 'r-slow', reason: 'timeout' }), 1);

    const only = await ask(gw, 'r-slow-only');
    assertOpenAIError(only.res, 504, 'upstream_error', 'upstream_timeout');
    assertAttempts(only.trace, only.res, [['slow', 0, 'timeout']]);
    assert.equal(only.trace.status, 504);
    assert.ok(only.trace.duration_ms < 1500, `answered at the timeout: ${only.trace.duration_ms}`);
  });
});

test('connection reset before the response (non-stream) is retried and failed over', async () => {
  const cfg = config({
    providers: { flaky: provider({ 'x-mock-reset-after': '0' }) },
    models: { flaky: { provider: 'flaky', model: 'mock-flaky', price: { input: 1, output: 1 } } },
    routes: {
      'r-reset': { targets: [{ model: 'flaky' }], fallbacks: ['good'], retry: FAST_RETRY },
      'r-reset-only': { targets: [{ model: 'flaky' }], retry: { ...FAST_RETRY, attempts: 1 } },
    },
  });
  await withGateway(cfg, async (gw) => {
    const { res, trace } = await ask(gw, 'r-reset');
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.choices[0].message.content, 'echo: hello routing');
    assert.equal(trace.attempts.length, 3, JSON.stringify(trace.attempts));
    for (const a of trace.attempts.slice(0, 2)) {
      assert.equal(a.model, 'flaky');
      assert.match(a.error ?? '', /connection_reset|protocol_error/, JSON.stringify(a));
    }
    assert.deepEqual([trace.attempts[2].model, trace.attempts[2].status], ['good', 200]);
    assert.equal(res.headers['x-switchboard-attempts'], '3');

    const only = await ask(gw, 'r-reset-only');
    assertOpenAIError(only.res, 502, 'upstream_error', 'upstream_error');
    assert.equal(only.trace.attempts.length, 1);
  });
});

test('a stream reset before its first byte fails over transparently', async () => {
  const cfg = config({
    providers: { flaky: provider({ 'x-mock-reset-after': '0' }) },
    models: { flaky: { provider: 'flaky', model: 'mock-flaky', price: { input: 1, output: 1 } } },
    routes: { 'r-stream-reset': { targets: [{ model: 'flaky' }], fallbacks: ['good'], retry: { ...FAST_RETRY, attempts: 1 } } },
  });
  await withGateway(cfg, async (gw) => {
    const { res, trace } = await ask(gw, 'r-stream-reset', { stream: true, content: 'one two three' });
    assert.equal(res.status, 200, res.body);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['x-switchboard-model'], 'good');
    const events = sseData(res.body);
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(!res.body.includes('"error"'), `no error in the stream: ${res.body}`);
    const text = events.slice(0, -1).map((e) => JSON.parse(e))
      .map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'echo: one two three', 'a complete answer from the fallback');
    assert.equal(trace.attempts.length, 2, JSON.stringify(trace.attempts));
    assert.equal(trace.attempts[0].model, 'flaky');
    assert.match(trace.attempts[0].error ?? '', /connection_reset|protocol_error/);
    assert.deepEqual([trace.attempts[1].model, trace.attempts[1].status, trace.attempts[1].error], ['good', 200, null]);
    assert.equal(res.headers['x-switchboard-attempts'], '2');
    assert.equal(trace.status, 200);
  });
});

test('a stream reset after its first byte ends with an in-band error, no retry', async () => {
  const cfg = config({
    // Paced events (100 ms apart) so the first ones certainly reach the gateway before the reset.
    providers: { cut: provider({ 'x-mock-reset-after': '3', 'x-mock-tokens-per-second': '10' }) },
    models: { cut: { provider: 'cut', model: 'mock-cut', price: { input: 1, output: 1 } } },
    routes: { 'r-stream-cut': { targets: [{ model: 'cut' }], fallbacks: ['good'], retry: FAST_RETRY } },
  });
  await withGateway(cfg, async (gw) => {
    const before = await requestsSeen();
    const { res, trace } = await ask(gw, 'r-stream-cut', { stream: true, content: 'one two three four five six' });
    assert.equal(res.status, 200, 'the head went out with the first byte');
    assert.equal(res.headers['x-switchboard-model'], 'cut');
    assert.equal(res.headers['x-switchboard-attempts'], '1');
    const events = sseData(res.body);
    assert.ok(!events.includes('[DONE]'), `no [DONE] after an interrupted stream: ${res.body}`);
    const last = JSON.parse(events.at(-1));
    assert.ok(last.error, `the last event is an error: ${events.at(-1)}`);
    assert.equal(typeof last.error.message, 'string');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.ok(chunks.length >= 1 && chunks.length <= 3, `the first events arrived: ${res.body}`);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(trace.attempts.length, 1, JSON.stringify(trace.attempts));
    assert.equal(trace.attempts[0].model, 'cut');
    assert.equal(trace.status, 502);
    assert.equal(await requestsSeen() - before, 1, 'no retry once bytes reached the client');
    assert.equal(await metric(gw, 'switchboard_fallbacks_total', { route: 'r-stream-cut' }), 0);
  });
});

test('a confidential request never fails over to a public provider', async () => {
  const cfg = config({
    providers: {
      private: provider({ 'x-mock-status': '503' }, { privacy: ['private'] }),
      public: provider({}, { baseURL: pubMock.baseURL, privacy: ['public'] }),
    },
    models: {
      'm-private': { provider: 'private', model: 'mock-private', price: { input: 1, output: 1 } },
      'm-public': { provider: 'public', model: 'mock-public', price: { input: 1, output: 1 } },
      'm-public-fb': { provider: 'public', model: 'mock-public-2', price: { input: 1, output: 1 } },
    },
    routes: {
      'r-conf': { targets: [{ model: 'm-private' }, { model: 'm-public' }], strategy: 'priority', fallbacks: ['m-public-fb'], retry: FAST_RETRY },
    },
    policies: [{ name: 'confidential-stays-private', when: { header: { 'x-switchboard-privacy': 'confidential' } }, require: { privacy: ['private'] } }],
  });
  await withGateway(cfg, async (gw) => {
    // Control: an ordinary request fails over to the public provider.
    const ordinary = await ask(gw, 'r-conf');
    assert.equal(ordinary.res.status, 200, ordinary.res.body);
    assert.equal(ordinary.res.headers['x-switchboard-model'], 'm-public');
    assert.deepEqual(ordinary.trace.policies, []);

    const pubBefore = await requestsSeen(pubMock);
    const privBefore = await requestsSeen(mock);
    const { res, trace } = await ask(gw, 'r-conf', { headers: { 'x-switchboard-privacy': 'confidential' } });
    assert.equal(await requestsSeen(pubMock) - pubBefore, 0, 'the public upstream never saw the request');
    // The private candidate is tried (and fails): the client learns the upstream failed, not that
    // no route exists.
    assertOpenAIError(res, 502, 'upstream_error', 'upstream_error');
    assertAttempts(trace, res, [['m-private', 503, 'http_503'], ['m-private', 503, 'http_503']]);
    assert.deepEqual(trace.policies, ['confidential-stays-private']);
    assert.equal(await requestsSeen(mock) - privBefore, 2);
  });
});

// Models for the constraint tests: privacy labels, quality and price differ.
const CONSTRAINED_MODELS = {
  'm-public': { provider: 'good', model: 'mock-public', privacy: ['public'], quality: 90, price: { input: 1, output: 1 } },
  'm-private-hq': { provider: 'good', model: 'mock-private-hq', privacy: ['private'], quality: 80, price: { input: 2, output: 2 } },
  'm-private-lq': { provider: 'good', model: 'mock-private-lq', privacy: ['private'], quality: 30, price: { input: 0.5, output: 0.5 } },
  'm-pricey': { provider: 'good', model: 'mock-pricey', privacy: ['private'], quality: 95, price: { input: 1000, output: 1000 } },
};
// A policy matched by the simulated tenant, so explain has a policy and a requirement to show.
const ACME_PRIVATE_POLICY = [{ name: 'acme-stays-private', when: { tenant: ['acme'] }, require: { privacy: ['private'] } }];

test('422 no_route names every removed candidate and the constraint that removed it', async () => {
  const cfg = config({
    models: CONSTRAINED_MODELS,
    routes: { 'r-strict': { targets: [{ model: 'm-public' }, { model: 'm-pricey' }], fallbacks: ['m-private-lq'] } },
  });
  await withGateway(cfg, async (gw) => {
    const before = await requestsSeen();
    // The privacy label comes straight from the header here (SPEC 3: the header is a source of the
    // privacy constraint); the policy route to the same constraint is the confidential test above.
    const { res, trace } = await ask(gw, 'r-strict', {
      headers: { 'x-switchboard-privacy': 'private', 'x-switchboard-max-cost-usd': '0.001', 'x-switchboard-min-quality': '50' },
      extra: { max_tokens: 10 },
    });
    assertOpenAIError(res, 422, 'invalid_request_error', 'no_route');
    const m = res.json.error.message;
    assert.match(m, /m-public \(privacy: requires \[private\], model has \[public\]\)/, m);
    assert.match(m, /m-pricey \(cost: estimated \$[\d.]+ exceeds \$0\.001\)/, m);
    assert.match(m, /m-private-lq \(quality: 30 is below 50\)/, m);
    assert.equal(trace.status, 422);
    assert.deepEqual(trace.attempts, []);
    assert.equal(await requestsSeen() - before, 0, 'nobody was called');

    // Each constraint alone removes only its candidate.
    const cheapOnly = await ask(gw, 'r-strict', { headers: { 'x-switchboard-max-cost-usd': '0.001' }, extra: { max_tokens: 10 } });
    assert.equal(cheapOnly.res.status, 200, cheapOnly.res.body);
    assert.equal(cheapOnly.res.headers['x-switchboard-model'], 'm-public');
    const privateOnly = await ask(gw, 'r-strict', { headers: { 'x-switchboard-privacy': 'private' } });
    assert.equal(privateOnly.res.headers['x-switchboard-model'], 'm-pricey');
    const qualityOnly = await ask(gw, 'r-strict', { headers: { 'x-switchboard-privacy': 'private', 'x-switchboard-min-quality': '96' } });
    assertOpenAIError(qualityOnly.res, 422, 'invalid_request_error', 'no_route');
    assert.match(qualityOnly.res.json.error.message, /m-pricey \(quality: 95 is below 96\)/);
  });
});

test('POST /admin/route/explain returns the decision without calling anyone; admin key required', async () => {
  const cfg = config({
    models: CONSTRAINED_MODELS,
    routes: {
      'r-explain': {
        targets: [{ model: 'm-private-lq' }, { model: 'm-public' }, { model: 'm-private-hq' }],
        strategy: 'best-quality', fallbacks: ['m-pricey'],
      },
      'r-strict': { targets: [{ model: 'm-public' }, { model: 'm-pricey' }], fallbacks: ['m-private-lq'] },
    },
    policies: ACME_PRIVATE_POLICY,
  });
  await withGateway(cfg, async (gw) => {
    const before = await requestsSeen();
    const body = { model: 'r-explain', messages: msgs(), max_tokens: 10 };
    const res = await admin(gw, '/admin/route/explain', {
      method: 'POST', body, headers: { 'x-switchboard-tenant': 'acme' },
    });
    assert.equal(res.status, 200, res.body);
    const d = res.json;
    assert.equal(d.routable, true);
    assert.equal(d.route, 'r-explain');
    assert.equal(d.strategy, 'best-quality');
    assert.deepEqual(d.policies, ['acme-stays-private']);
    assert.deepEqual(d.required.privacy, ['private']);
    assert.deepEqual(d.removed, [{ model: 'm-public', reason: 'privacy: requires [private], model has [public]' }]);
    assert.deepEqual(d.order, ['m-private-hq', 'm-private-lq', 'm-pricey']);
    assert.deepEqual(d.candidates.map((c) => [c.model, c.provider, c.fallback, c.quality]), [
      ['m-private-hq', 'good', false, 80], ['m-private-lq', 'good', false, 30], ['m-pricey', 'good', true, 95]]);
    for (const c of d.candidates) assert.ok(c.estimated_cost_usd > 0);

    const blocked = await admin(gw, '/admin/route/explain', {
      method: 'POST', body: { model: 'r-strict', messages: msgs(), max_tokens: 10 },
      headers: { 'x-switchboard-tenant': 'acme', 'x-switchboard-max-cost-usd': '0.001', 'x-switchboard-min-quality': '50' },
    });
    assert.equal(blocked.status, 200, blocked.body);
    assert.equal(blocked.json.routable, false);
    assert.equal(blocked.json.status, 422);
    assert.equal(blocked.json.error.code, 'no_route');
    assert.match(blocked.json.error.message, /m-public \(privacy.*m-pricey \(cost.*m-private-lq \(quality/);

    for (const key of [null, 'sk-acme-123', 'not-the-admin-key']) {
      const denied = await admin(gw, '/admin/route/explain', { method: 'POST', body, key });
      assert.equal(denied.status, 401, `key ${key}: ${denied.body}`);
      assert.ok(denied.json?.error, denied.body);
    }
    assert.equal(await requestsSeen() - before, 0, 'explain called nobody');
  });
});

test('5 consecutive failures open the circuit: the next request is 503 no_healthy_upstream, upstream untouched', async () => {
  const cfg = config({
    providers: { dead: provider({ 'x-mock-status': '503' }) },
    models: { dead: { provider: 'dead', model: 'mock-dead', price: { input: 1, output: 1 } } },
    routes: { 'r-dead': { targets: [{ model: 'dead' }], retry: { ...FAST_RETRY, attempts: 1 } } },
  });
  await withGateway(cfg, async (gw) => {
    assert.equal(await metric(gw, 'switchboard_circuit_open', { provider: 'dead', model: 'dead' }), 0);
    for (let i = 0; i < 5; i++) {
      const { res, trace } = await ask(gw, 'r-dead');
      assertOpenAIError(res, 502, 'upstream_error', 'upstream_error');
      assertAttempts(trace, res, [['dead', 503, 'http_503']]);
    }
    const before = await requestsSeen();
    const { res, trace } = await ask(gw, 'r-dead');
    assertOpenAIError(res, 503, 'upstream_error', 'no_healthy_upstream');
    assert.deepEqual(trace.attempts, []);
    assert.equal(trace.status, 503);
    assert.equal(await requestsSeen() - before, 0, 'the open circuit calls nobody');
    assert.equal(await metric(gw, 'switchboard_circuit_open', { provider: 'dead', model: 'dead' }), 1);
    assert.equal(await metric(gw, 'switchboard_circuit_open', { provider: 'good', model: 'good' }), 0);
    const view = (await admin(gw, '/admin/providers')).json.providers.dead.models.dead;
    assert.equal(view.circuit, 'open');
    assert.equal(view.consecutive_failures, 5);
    // The plain model name is an implicit route over the same model: also refused without a call.
    const direct = await ask(gw, 'dead');
    assertOpenAIError(direct.res, 503, 'upstream_error', 'no_healthy_upstream');
    assert.equal(await requestsSeen() - before, 0);
  });
});

/** Run `n` requests with `concurrency` in flight; resolves with the served model of each. */
async function servedModels(gw, model, n, concurrency = 1) {
  const out = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await chat(gw, { model, messages: msgs(`request ${i}`) });
      assert.equal(res.status, 200, res.body);
      out[i] = res.headers['x-switchboard-model'];
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

test('strategies: weighted 3:1 share, round-robin alternates, lowest-cost and best-quality pick', async () => {
  const cfg = config({
    models: {
      ...CONSTRAINED_MODELS,
      'w-a': { provider: 'good', model: 'mock-a', price: { input: 1, output: 1 } },
      'w-b': { provider: 'good', model: 'mock-b', price: { input: 1, output: 1 } },
    },
    routes: {
      'r-weighted': { targets: [{ model: 'w-a', weight: 3 }, { model: 'w-b', weight: 1 }], strategy: 'weighted' },
      'r-rr': { targets: [{ model: 'w-a' }, { model: 'w-b' }], strategy: 'round-robin' },
      // The winner is listed last, so priority order alone would pick the other one.
      'r-cheap': { targets: [{ model: 'm-private-hq' }, { model: 'm-private-lq' }], strategy: 'lowest-cost' },
      'r-best': { targets: [{ model: 'm-private-lq' }, { model: 'm-private-hq' }], strategy: 'best-quality' },
    },
  });
  await withGateway(cfg, async (gw) => {
    const weighted = await servedModels(gw, 'r-weighted', 400, 8);
    const shareA = weighted.filter((m) => m === 'w-a').length / weighted.length;
    assert.equal(weighted.filter((m) => m === 'w-a' || m === 'w-b').length, 400);
    assert.ok(Math.abs(shareA - 0.75) <= 0.07, `share served by w-a: ${shareA}`);

    const rr = await servedModels(gw, 'r-rr', 10);
    for (let i = 1; i < rr.length; i++) assert.notEqual(rr[i], rr[i - 1], `round-robin alternates: ${rr}`);
    assert.deepEqual(new Set(rr), new Set(['w-a', 'w-b']));

    assert.deepEqual(new Set(await servedModels(gw, 'r-cheap', 5)), new Set(['m-private-lq']));
    assert.deepEqual(new Set(await servedModels(gw, 'r-best', 5)), new Set(['m-private-hq']));

    // x-switchboard-optimize reorders the survivors.
    const res = await chat(gw, { model: 'r-best', messages: msgs() }, { headers: { 'x-switchboard-optimize': 'cost' } });
    assert.equal(res.headers['x-switchboard-model'], 'm-private-lq');
  });
});

test('key rotation spreads sequential requests over every key of a provider', async () => {
  const keys = ['rot-key-1', 'rot-key-2', 'rot-key-3'];
  const cfg = config({
    providers: { rot: provider({}, { keys }) },
    models: { rot: { provider: 'rot', model: 'mock-rot', price: { input: 1, output: 1 } } },
  });
  await withGateway(cfg, async (gw) => {
    const ids = [];
    for (let i = 0; i < 30; i++) {
      const requestId = rid('rot');
      const res = await chat(gw, { model: 'rot', messages: msgs() }, { headers: { 'x-request-id': requestId } });
      assert.equal(res.status, 200, res.body);
      ids.push(requestId);
    }
    const counts = new Map();
    for (const requestId of ids) {
      const trace = await gw.waitForTrace((t) => t.request_id === requestId);
      assert.equal(trace.attempts.length, 1);
      const id = trace.attempts[0].key_id;
      assert.ok(!keys.some((k) => k.includes(id) || id.includes(k)), 'key_id is not the key');
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.equal(counts.size, 3, `key ids used: ${JSON.stringify([...counts])}`);
    for (const [id, n] of counts) assert.ok(n >= 5, `key ${id} used ${n} times`);
    const view = (await admin(gw, '/admin/providers')).json.providers.rot.keys;
    assert.deepEqual(new Set(view.map((k) => k.key_id)), new Set(counts.keys()));
  });
});

// -------------------------------------------------------------------------------------------------

/**
 * An OpenAI-compatible node upstream that answers 429 (with `retryAfter`) to `limitedKey` and
 * a chat completion to every other key. Counts its open connections for the leak check.
 */
async function startKeyedUpstream({ limitedKey, retryAfter }) {
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      requests.push({ url: req.url, key });
      if (key === limitedKey) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': retryAfter });
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_error', code: null, param: null } }));
        return;
      }
      const body = JSON.parse(raw);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-keyed', object: 'chat.completion', created: 0, model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'keyed ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      }));
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    requests,
    baseURL: `http://127.0.0.1:${port}/v1`,
    openConnections: () => sockets.size,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}
