// OTLP/HTTP JSON trace export (SPEC section 6): spans checked field by field at a strict fake
// collector, sampling, shutdown flush, and that a hanging or failing collector never slows requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startMockUpstream, startFakeUpstream, startGateway, baseConfig, chat, httpRequest, metricValue,
  waitFor, CLIENT_KEY, UPSTREAM_KEY, ADMIN_KEY,
} from './lib/harness.mjs';
import { startOtlpCollector } from './fakes/otlp_collector.mjs';

const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_PARENT = '00f067aa0ba902b7';
const OTLP_SECRET = 'otlp-token-s3cr3t-value';
const FAST = { OTEL_BSP_SCHEDULE_DELAY: '100' };

let mock;
let fake;
let collector;
let gw;

function otlpConfig(endpoint, extra = {}) {
  const config = baseConfig(mock.baseURL);
  config.observability.traces.otlp = { endpoint, headers: { authorization: `Bearer ${OTLP_SECRET}`, 'X-Scope-OrgID': 'team-a' }, ...extra };
  return config;
}

async function scrape(g) {
  const res = await httpRequest(`${g.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(res.status, 200);
  return res.body;
}

before(async () => {
  mock = await startMockUpstream();
  fake = await startFakeUpstream();
  collector = await startOtlpCollector();
  const config = otlpConfig(collector.url);
  config.observability.log.level = 'debug'; // the most talkative level must not print the header
  config.providers.rec = { type: 'openai-compatible', base_url: fake.baseURL(), keys: [UPSTREAM_KEY] };
  config.providers.rejecting = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY], headers: { 'x-mock-status': '401' },
  };
  config.models['rec-test'] = { provider: 'rec', model: 'fake-model', price: { input: 1, output: 2 } };
  config.models['rejecting-test'] = { provider: 'rejecting', model: 'mock-model', price: { input: 1, output: 1 } };
  config.routes = { 'rejecting-route': { targets: [{ model: 'rejecting-test' }], retry: { attempts: 1 } } };
  config.tenants.acme.models.push('rec-test', 'rejecting-route');
  gw = await startGateway(config, { env: FAST });
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
  await fake?.close();
  await collector?.close();
});

const spanFor = (c, pred, what = 'span') => waitFor(() => c.spans.find(pred), { timeoutMs: 5000, what });

test('the fake collector rejects what a real collector rejects', async () => {
  const post = (headers, body) => httpRequest(`${collector.url}/v1/traces`, { method: 'POST', headers, body });
  assert.equal((await post({ 'content-type': 'text/plain' }, '{}')).status, 415);
  assert.equal((await post({ 'content-type': 'application/json' }, '{"resourceSpans":')).status, 400);
  const span = { traceId: 'xyz', spanId: '00f067aa0ba902b7', name: 'x', startTimeUnixNano: '1', endTimeUnixNano: '2' };
  const bad = { resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] };
  assert.equal((await post({ 'content-type': 'application/json' }, bad)).status, 400);
  span.traceId = INCOMING_TRACE;
  span.attributes = [{ key: 'n', value: { intValue: 'twelve' } }];
  assert.equal((await post({ 'content-type': 'application/json' }, bad)).status, 400);
  span.attributes = [{ key: 'n', value: { intValue: '12' } }];
  assert.equal((await post({ 'content-type': 'application/json' }, bad)).status, 200);
  collector.spans.length = 0;
});

test('a request becomes one OTLP span: ids from traceparent, GenAI attributes, times, status', async () => {
  const requestId = 'otlp-fields-1';
  const res = await chat(gw, { model: 'rec-test', messages: [{ role: 'user', content: 'count these five words' }] }, {
    headers: {
      'x-request-id': requestId, traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01`,
      'x-switchboard-workflow': 'summarize', 'x-switchboard-user': 'user-7',
    },
  });
  assert.equal(res.status, 200, res.body);
  const record = await gw.waitForTrace((t) => t.request_id === requestId);
  const span = await spanFor(collector, (s) => s.attrs['switchboard.request_id'] === requestId);

  // Where and how it was sent.
  const sent = collector.requests.find((r) => r.raw.includes(requestId));
  assert.equal(sent.url, '/v1/traces', 'an endpoint without a path gets /v1/traces');
  assert.equal(sent.headers['content-type'], 'application/json');
  assert.equal(sent.headers.authorization, `Bearer ${OTLP_SECRET}`, 'configured headers are sent');
  assert.equal(sent.headers['x-scope-orgid'], 'team-a');
  const body = JSON.parse(sent.raw);
  assert.equal(typeof body.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano, 'string', 'fixed64 as a string');

  // Resource and scope.
  assert.equal(span.resource['service.name'], 'switchboard');
  assert.match(span.resource['service.version'], /^\d+\.\d+\.\d+/);
  assert.equal(span.scope.name, 'switchboard');

  // Ids: the client's trace, the client's span as parent, the gateway's own span (also sent upstream).
  assert.equal(span.traceId, INCOMING_TRACE);
  assert.equal(span.parentSpanId, INCOMING_PARENT);
  assert.equal(span.spanId, record.span_id);
  const forwarded = fake.requests.at(-1).headers.traceparent;
  assert.equal(forwarded, `00-${INCOMING_TRACE}-${span.spanId}-01`, 'the upstream call is a child of this span');
  assert.equal(span.name, 'chat rec-test');
  assert.equal(span.kind, 2, 'SPAN_KIND_SERVER');

  // Times agree with the trace record.
  const start = BigInt(span.startTimeUnixNano);
  const end = BigInt(span.endTimeUnixNano);
  assert.ok(end >= start);
  const startMs = Number(start / 1000000n);
  assert.ok(Math.abs(startMs - Date.parse(record.time)) <= 1, `start ${startMs} vs record time ${record.time}`);
  assert.ok(Math.abs(Number(end - start) / 1e6 - record.duration_ms) < 0.01, 'duration matches the record');
  assert.ok(Math.abs(startMs - Date.now()) < 60_000, 'start is wall-clock time');

  // GenAI semantic conventions.
  const a = span.attrs;
  assert.equal(a['gen_ai.operation.name'], 'chat');
  assert.equal(a['gen_ai.provider.name'], 'rec', 'an openai-compatible provider is named by its config name');
  assert.equal(a['gen_ai.request.model'], 'rec-test');
  assert.equal(a['gen_ai.response.model'], 'fake-model');
  assert.equal(a['gen_ai.usage.input_tokens'], res.json.usage.prompt_tokens);
  assert.equal(a['gen_ai.usage.output_tokens'], res.json.usage.completion_tokens);
  const intAttr = span.attributes.find((x) => x.key === 'gen_ai.usage.input_tokens');
  assert.equal(typeof intAttr.value.intValue, 'string', 'int64 as a string');

  // Switchboard attributes, equal to the trace record.
  assert.equal(a['switchboard.tenant'], 'acme');
  assert.equal(a['switchboard.workflow'], 'summarize');
  assert.equal(a['switchboard.user'], 'user-7');
  assert.equal(a['switchboard.route'], record.route);
  assert.equal(a['switchboard.provider'], 'rec');
  assert.equal(a['switchboard.model'], 'rec-test');
  assert.equal(a['switchboard.stream'], false);
  assert.equal(a['switchboard.status'], 200);
  assert.equal(a['http.response.status_code'], 200);
  assert.equal(a['switchboard.attempts'], 1);
  assert.ok(Math.abs(a['switchboard.cost_usd'] - record.cost_usd) < 1e-15);
  assert.ok(a['switchboard.cost_usd'] > 0);
  assert.equal(a['switchboard.error'], undefined);
  assert.equal(a['error.type'], undefined);
  assert.deepEqual(span.status, { code: 1 });
});

test('streams, embeddings and failures carry their operation, stream flag and ERROR status', async () => {
  const streamed = await chat(gw, { model: 'gpt-test', stream: true, messages: [{ role: 'user', content: 'a b c' }] }, {
    headers: { 'x-request-id': 'otlp-stream' },
  });
  assert.equal(streamed.status, 200);
  const emb = await httpRequest(`${gw.url}/v1/embeddings`, {
    method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-request-id': 'otlp-emb' },
    body: { model: 'emb-test', input: 'hello world' },
  });
  assert.equal(emb.status, 200, emb.body);
  const failed = await chat(gw, { model: 'rejecting-route', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': 'otlp-fail' },
  });
  assert.ok(failed.status >= 400, `status ${failed.status}`);
  const unknown = await chat(gw, { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': 'otlp-404' },
  });
  assert.equal(unknown.status, 404);

  const s = await spanFor(collector, (x) => x.attrs['switchboard.request_id'] === 'otlp-stream');
  assert.equal(s.attrs['switchboard.stream'], true);
  assert.equal(typeof s.attrs['switchboard.ttft_ms'], 'number');
  assert.equal(s.attrs['gen_ai.usage.input_tokens'], 3);
  assert.equal(s.attrs['gen_ai.response.model'], 'mock-model');
  assert.equal(s.parentSpanId, undefined, 'no traceparent: a root span');

  const e = await spanFor(collector, (x) => x.attrs['switchboard.request_id'] === 'otlp-emb');
  assert.equal(e.attrs['gen_ai.operation.name'], 'embeddings');
  assert.equal(e.name, 'embeddings emb-test');

  const f = await spanFor(collector, (x) => x.attrs['switchboard.request_id'] === 'otlp-fail');
  assert.equal(f.status.code, 2);
  assert.equal(f.attrs['switchboard.status'], failed.status);
  assert.equal(f.attrs['switchboard.attempts'], 1);
  assert.ok(f.attrs['error.type'], 'error.type is set');
  assert.equal(f.status.message, f.attrs['switchboard.error']);

  const n = await spanFor(collector, (x) => x.attrs['switchboard.request_id'] === 'otlp-404');
  assert.equal(n.status.code, 2);
  assert.equal(n.attrs['switchboard.status'], 404);
  assert.equal(n.attrs['switchboard.attempts'], 0);
  assert.equal(n.attrs['gen_ai.provider.name'], undefined);

  const text = await scrape(gw);
  assert.ok(metricValue(text, 'switchboard_otlp_spans_exported_total') >= 5);
  assert.equal(metricValue(text, 'switchboard_otlp_spans_dropped_total'), 0);
  assert.equal(metricValue(text, 'switchboard_otlp_spans_failed_total'), 0);
});

test('the OTLP header values never reach the logs', async () => {
  assert.ok(gw.stderrText.includes('exporting traces to'), 'the exporter logs its endpoint');
  assert.ok(!gw.stderrText.includes(OTLP_SECRET));
  assert.ok(!gw.stdoutText.includes(OTLP_SECRET));
});

test('sample_ratio keeps a trace by its id, the same way every time', async () => {
  const c = await startOtlpCollector();
  const g = await startGateway(otlpConfig(c.url, { sample_ratio: 0.5 }), { env: FAST });
  try {
    // The rightmost 56 bits decide: all zeros is below the 0.5 threshold, all f's above.
    const kept = `${'ab'.repeat(9)}ffffffffffffff`;
    const dropped = `${'ab'.repeat(9)}00000000000000`;
    for (let i = 0; i < 3; i++) {
      for (const [id, tag] of [[kept, 'kept'], [dropped, 'dropped']]) {
        const r = await chat(g, { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }, {
          headers: { traceparent: `00-${id}-${INCOMING_PARENT}-01`, 'x-request-id': `${tag}-${i}` },
        });
        assert.equal(r.status, 200);
      }
    }
    await waitFor(() => c.spans.length >= 3, { what: 'three sampled spans' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.spans.length, 3);
    assert.ok(c.spans.every((s) => s.traceId === kept));
    // Both still have their trace-file record.
    assert.equal(g.traces.filter((t) => t.trace_id === dropped).length, 3);
  } finally {
    await g.stop();
    await c.close();
  }
});

test('an endpoint with a path is used as is; spans still queued at shutdown are flushed', async () => {
  const c = await startOtlpCollector();
  // A long schedule delay: nothing would be sent before the shutdown.
  const g = await startGateway(otlpConfig(`${c.url}/v1/traces`), { env: { OTEL_BSP_SCHEDULE_DELAY: '60000' } });
  for (let i = 0; i < 3; i++) {
    const r = await chat(g, { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': `flush-${i}` } });
    assert.equal(r.status, 200);
  }
  assert.equal(c.spans.length, 0);
  const t0 = Date.now();
  const { code } = await g.stop();
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 5000, 'shutdown is prompt');
  assert.deepEqual(c.spans.map((s) => s.attrs['switchboard.request_id']).sort(), ['flush-0', 'flush-1', 'flush-2']);
  assert.equal(c.requests[0].url, '/v1/traces');
  await c.close();
});

test('a collector answering 503 costs spans, counted as failed and logged without the header', async () => {
  const c = await startOtlpCollector({ status: 503 });
  const g = await startGateway(otlpConfig(c.url), { env: FAST });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await chat(g, { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(r.status, 200);
    }
    await waitFor(async () => metricValue(await scrape(g), 'switchboard_otlp_spans_failed_total') === 5,
      { what: '5 failed spans' });
    const text = await scrape(g);
    assert.equal(metricValue(text, 'switchboard_otlp_spans_exported_total'), 0);
    const warn = g.logs.find((l) => /otlp export .* failed/.test(l.msg ?? ''));
    assert.ok(warn, 'the failure is logged');
    assert.match(warn.msg, /HTTP 503/);
    assert.ok(!g.stderrText.includes(OTLP_SECRET));
  } finally {
    await g.stop();
    await c.close();
  }
});

async function timeRequests(g, total, concurrency) {
  const latencies = [];
  const statuses = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      next++;
      const s = performance.now();
      const r = await chat(g, { model: 'gpt-test', messages: [{ role: 'user', content: 'hello there' }] });
      latencies.push(performance.now() - s);
      statuses.push(r.status);
    }
  }));
  latencies.sort((x, y) => x - y);
  return { wall: performance.now() - t0, p50: latencies[Math.floor(total / 2)], max: latencies.at(-1), statuses };
}

test('a collector that never answers does not slow requests; the overflow is dropped and counted', async () => {
  const hanging = await startOtlpCollector({ mode: 'hang' });
  // Small queue and batch so the overflow shows after a few hundred requests; a 10 s export
  // timeout, so a design that waited on the collector would stall far beyond the bounds below.
  const env = {
    OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_BSP_MAX_QUEUE_SIZE: '32', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '8',
    OTEL_BSP_EXPORT_TIMEOUT: '10000',
  };
  const plainConfig = baseConfig(mock.baseURL);
  plainConfig.observability.traces.file = '';
  const plain = await startGateway(plainConfig);
  const g = await startGateway(otlpConfig(hanging.url), { env });
  try {
    const total = 300;
    await timeRequests(plain, 40, 4); // warm both
    await timeRequests(g, 40, 4);
    const base = await timeRequests(plain, total, 4);
    const hung = await timeRequests(g, total, 4);
    assert.ok(hung.statuses.every((s) => s === 200), 'every request succeeds');
    assert.ok(hanging.connections >= 1 && hanging.requests.length >= 1, 'the exporter did reach the collector');
    assert.ok(hung.max < 3000, `slowest request ${hung.max.toFixed(1)} ms`);
    assert.ok(hung.wall < base.wall * 3 + 500,
      `${total} requests took ${hung.wall.toFixed(0)} ms with a hanging collector vs ${base.wall.toFixed(0)} ms without`);
    console.log(`# latency p50 ${base.p50.toFixed(2)} -> ${hung.p50.toFixed(2)} ms, wall ${base.wall.toFixed(0)} -> ${hung.wall.toFixed(0)} ms`);

    // Everything beyond the queue (32) and the batch stuck in the POST (8) is dropped, counted.
    const sent = total + 40;
    const dropped = await waitFor(async () => {
      const v = metricValue(await scrape(g), 'switchboard_otlp_spans_dropped_total');
      return v >= sent - 40 ? v : false;
    }, { what: 'dropped spans counted' });
    assert.ok(dropped <= sent, `dropped ${dropped} of ${sent}`);
    assert.equal(metricValue(await scrape(g), 'switchboard_otlp_spans_exported_total'), 0);

    // Shutdown gives up on the hanging POST within its deadline.
    const t0 = Date.now();
    const { code } = await g.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 6000, `shutdown took ${Date.now() - t0} ms`);
  } finally {
    await g.stop();
    await plain.stop();
    await hanging.close();
  }
});

test('an OTLP header with a control character is a config error that does not echo the value', async () => {
  const config = otlpConfig('http://127.0.0.1:9');
  config.observability.traces.otlp.headers = { authorization: `Bearer ${OTLP_SECRET}\r\nx-injected: 1` };
  await assert.rejects(startGateway(config), (err) => {
    assert.match(err.message, /otlp\.headers: the value of authorization has control characters/);
    assert.ok(!err.message.includes(OTLP_SECRET));
    return true;
  });
});
