// /metrics after real traffic (plain, stream, error, fallback): parsed and linted by Prometheus'
// own `promtool check metrics`, and every value checked against what was sent (SPEC section 5).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import {
  startMockUpstream, startGateway, baseConfig, chat, httpRequest, sseData, metricValue,
  UPSTREAM_KEY, ADMIN_KEY,
} from './lib/harness.mjs';

// A tenant name with every character the exposition format must escape.
const WEIRD_TENANT = 'we"ird\\na\nme';
const WEIRD_ESCAPED = 'we\\"ird\\\\na\\nme';
const WEIRD_KEY = 'sk-weird-1';
const FAST_RETRY = { attempts: 1, backoff: '10ms', max_backoff: '100ms' };

const SPEC_FAMILIES = {
  switchboard_requests_total: 'counter',
  switchboard_request_duration_seconds: 'histogram',
  switchboard_time_to_first_token_seconds: 'histogram',
  switchboard_gateway_overhead_seconds: 'histogram',
  switchboard_tokens_total: 'counter',
  switchboard_cost_usd_total: 'counter',
  switchboard_upstream_attempts_total: 'counter',
  switchboard_fallbacks_total: 'counter',
  switchboard_rate_limited_total: 'counter',
  switchboard_guardrail_actions_total: 'counter',
  switchboard_circuit_open: 'gauge',
  switchboard_upstream_connections: 'gauge',
  switchboard_budget_remaining_usd: 'gauge',
  switchboard_config_reloads_total: 'counter',
  switchboard_otlp_spans_exported_total: 'counter',
  switchboard_otlp_spans_failed_total: 'counter',
  switchboard_otlp_spans_dropped_total: 'counter',
};

let mock;
let gw;
let exposition;
const sent = { input: 0, output: 0, cost: 0, requests: 0 };

function promtool(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is required (Debian package prometheus): ${r.error.message}`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

function count(res, usage) {
  sent.input += usage.prompt_tokens;
  sent.output += usage.completion_tokens;
  sent.cost += (usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1e6;
}

before(async () => {
  mock = await startMockUpstream();
  const config = baseConfig(mock.baseURL);
  config.providers.failing = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY], headers: { 'x-mock-status': '503' },
  };
  config.models.failing = { provider: 'failing', model: 'mock-failing', price: { input: 1, output: 1 } };
  config.routes = {
    'r-down': { targets: [{ model: 'failing' }], retry: FAST_RETRY },
    'r-fb': { targets: [{ model: 'failing' }], fallbacks: ['gpt-test'], retry: FAST_RETRY },
  };
  config.tenants.acme.models.push('r-down', 'r-fb');
  config.tenants[WEIRD_TENANT] = { keys: [WEIRD_KEY], models: ['gpt-test'] };
  gw = await startGateway(config);

  const ask = async (body, opts) => {
    sent.requests++;
    return chat(gw, { messages: [{ role: 'user', content: 'how many tokens is this' }], ...body }, opts);
  };
  for (let i = 0; i < 3; i++) {
    const r = await ask({ model: 'gpt-test' }, { headers: { 'x-switchboard-workflow': 'summarize' } });
    assert.equal(r.status, 200, r.body);
    count(r, r.json.usage);
  }
  for (let i = 0; i < 2; i++) {
    const r = await ask({ model: 'gpt-test', stream: true, stream_options: { include_usage: true } });
    assert.equal(r.status, 200, r.body);
    const last = sseData(r.body).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)).findLast((c) => c.usage);
    count(r, last.usage);
  }
  const down = await ask({ model: 'r-down' });
  assert.equal(down.status, 502, down.body);
  const fb = await ask({ model: 'r-fb' });
  assert.equal(fb.status, 200, fb.body);
  count(fb, fb.json.usage);
  const weird = await ask({ model: 'gpt-test' }, { key: WEIRD_KEY });
  assert.equal(weird.status, 200, weird.body);
  const unknown = await ask({ model: 'no-such-model' });
  assert.equal(unknown.status, 404);

  const res = await httpRequest(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  exposition = res.body;
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

test('promtool is a real check: it rejects a malformed exposition and lints a bad counter name', () => {
  assert.notEqual(promtool('# TYPE x counter\nx{a="b} 1\n').code, 0);
  const lint = promtool('# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n');
  assert.notEqual(lint.code, 0);
  assert.match(lint.output, /_total/);
});

test('the exposition after real traffic passes promtool check metrics', () => {
  const { code, output } = promtool(exposition);
  assert.equal(code, 0, `promtool check metrics:\n${output}`);
  assert.equal(output.trim(), '', 'no lint findings');
});

test('every SPEC family is exposed with HELP and TYPE, even before it has a sample', () => {
  for (const [name, type] of Object.entries(SPEC_FAMILIES)) {
    assert.match(exposition, new RegExp(`^# HELP ${name} \\S`, 'm'), `HELP for ${name}`);
    assert.ok(exposition.includes(`\n# TYPE ${name} ${type}\n`), `TYPE ${type} for ${name}`);
  }
});

test('request counts by tenant, workflow, route, provider, model and status', () => {
  const m = (labels) => metricValue(exposition, 'switchboard_requests_total', labels);
  assert.equal(m({ tenant: 'acme', workflow: 'summarize', route: 'gpt-test', provider: 'up', model: 'gpt-test', status: '200' }), 3);
  assert.equal(m({ tenant: 'acme', workflow: 'default', route: 'gpt-test', provider: 'up', model: 'gpt-test', status: '200' }), 2);
  assert.equal(m({ tenant: 'acme', route: 'r-down', status: '502' }), 1);
  assert.equal(m({ tenant: 'acme', route: 'r-fb', provider: 'up', model: 'gpt-test', status: '200' }), 1);
  assert.equal(m({ tenant: 'acme', route: '', status: '404' }), 1);
  assert.equal(m({ tenant: WEIRD_ESCAPED, status: '200' }), 1, 'the escaped tenant label');
  assert.equal(m({}), sent.requests);
});

test('tokens and cost add up to what the upstream reported at the configured prices', () => {
  const t = (type) => metricValue(exposition, 'switchboard_tokens_total', { tenant: 'acme', provider: 'up', model: 'gpt-test', token_type: type });
  assert.ok(sent.input > 0 && sent.output > 0);
  assert.equal(t('input'), sent.input);
  assert.equal(t('output'), sent.output);
  assert.equal(metricValue(exposition, 'switchboard_tokens_total', { token_type: 'cached_input' }), undefined, 'no cache reads happened');
  const cost = metricValue(exposition, 'switchboard_cost_usd_total', { tenant: 'acme', provider: 'up', model: 'gpt-test' });
  assert.ok(Math.abs(cost - sent.cost) < 1e-12, `cost ${cost} vs ${sent.cost}`);
});

test('attempts and fallbacks', () => {
  assert.equal(metricValue(exposition, 'switchboard_upstream_attempts_total', { provider: 'failing', model: 'failing', status: '503' }), 2);
  assert.equal(metricValue(exposition, 'switchboard_upstream_attempts_total', { provider: 'up', model: 'gpt-test', status: '200' }), 7);
  assert.equal(metricValue(exposition, 'switchboard_fallbacks_total', { route: 'r-fb', reason: 'http_503' }), 1);
  assert.equal(metricValue(exposition, 'switchboard_fallbacks_total', { route: 'r-down' }), undefined, 'no fallback without a next candidate');
});

// Every histogram series: cumulative buckets, +Inf equal to _count, _sum present.
function histogramSeries(name) {
  const series = new Map();
  for (const line of exposition.split('\n')) {
    const m = /^(\w+?)(_bucket|_sum|_count)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    let labels = m[3] ?? '';
    let le;
    if (m[2] === '_bucket') {
      const lm = /(?:^|,)le="([^"]+)"$/.exec(labels);
      le = lm[1];
      labels = labels.slice(0, lm.index);
    }
    if (!series.has(labels)) series.set(labels, { buckets: [], sum: undefined, count: undefined });
    const s = series.get(labels);
    if (m[2] === '_bucket') s.buckets.push([le === '+Inf' ? Infinity : Number(le), Number(m[4])]);
    if (m[2] === '_sum') s.sum = Number(m[4]);
    if (m[2] === '_count') s.count = Number(m[4]);
  }
  for (const [labels, s] of series) {
    assert.ok(s.buckets.length > 1, `${name}{${labels}} has buckets`);
    assert.equal(s.buckets.at(-1)[0], Infinity, `${name}{${labels}} ends with +Inf`);
    for (let i = 1; i < s.buckets.length; i++) {
      assert.ok(s.buckets[i][0] > s.buckets[i - 1][0] && s.buckets[i][1] >= s.buckets[i - 1][1], `${name}{${labels}} cumulative`);
    }
    assert.equal(s.buckets.at(-1)[1], s.count, `${name}{${labels}} +Inf == _count`);
    assert.ok(s.sum >= 0);
  }
  return series;
}

test('histograms count every request, with cumulative buckets and LLM-sized bounds', () => {
  const duration = histogramSeries('switchboard_request_duration_seconds');
  assert.equal(duration.get('route="gpt-test",provider="up",model="gpt-test"').count, 6);
  assert.equal(duration.get('route="r-fb",provider="up",model="gpt-test"').count, 1);
  const bounds = duration.get('route="gpt-test",provider="up",model="gpt-test"').buckets.map(([le]) => le);
  assert.ok(bounds.includes(600), 'duration buckets reach 10 minutes');

  const ttft = histogramSeries('switchboard_time_to_first_token_seconds');
  assert.equal(ttft.get('provider="up",model="gpt-test"').count, 7);
  const ttftBounds = ttft.get('provider="up",model="gpt-test"').buckets.map(([le]) => le);
  assert.ok(ttftBounds.includes(0.05) && ttftBounds.includes(60), 'TTFT buckets span 50 ms .. 60 s');

  const overhead = histogramSeries('switchboard_gateway_overhead_seconds');
  assert.equal(overhead.get('').count, sent.requests, 'every request, answered or refused');
  assert.ok(overhead.get('').sum < duration.get('route="gpt-test",provider="up",model="gpt-test"').sum + 1);
});

test('observability.metrics.enabled: false answers 404 at /metrics and counts nothing; a reload turns it on', async () => {
  const config = baseConfig(mock.baseURL);
  config.observability.metrics = { enabled: false };
  const off = await startGateway(config);
  try {
    const hi = { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await chat(off, hi)).status, 200);
    const res = await httpRequest(`${off.url}/metrics`);
    assert.equal(res.status, 404, res.body);
    assert.equal(res.json.error.code, 'not_found');
    assert.match(res.json.error.message, /observability\.metrics\.enabled: false/);
    // The trace still records the request: only metrics are off.
    await off.waitForTrace((t) => t.status === 200 && t.model === 'gpt-test');

    config.observability.metrics = { enabled: true };
    writeFileSync(off.configFile, JSON.stringify(config, null, 2));
    const reload = await httpRequest(`${off.url}/admin/reload`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(reload.status, 200, reload.body);
    assert.equal((await chat(off, hi)).status, 200);
    const on = await httpRequest(`${off.url}/metrics`);
    assert.equal(on.status, 200, on.body);
    const labels = { tenant: 'acme', workflow: 'default', route: 'gpt-test', provider: 'up', model: 'gpt-test', status: '200' };
    assert.equal(metricValue(on.body, 'switchboard_requests_total', labels), 1, 'only the request after the reload');
  } finally {
    await off.stop();
  }
});
