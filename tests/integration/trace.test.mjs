// The per-request trace record (SPEC section 6), W3C traceparent handling, x-request-id, and that
// provider keys never reach traces or logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import {
  startMockUpstream, startFakeUpstream, startGateway, baseConfig, chat, httpRequest, sseData,
  waitFor, tempDir, CLIENT_KEY, UPSTREAM_KEY,
} from './lib/harness.mjs';

const FIELDS = ['trace_id', 'span_id', 'time', 'request_id', 'tenant', 'workflow', 'user', 'endpoint',
  'requested_model', 'route', 'policies', 'provider', 'model', 'stream', 'status', 'error', 'attempts',
  'ttft_ms', 'duration_ms', 'overhead_ms', 'usage', 'cost_usd', 'guardrails'];
const INCOMING_TRACE = '0af7651916cd43dd8448eb211c80319c';
const INCOMING_PARENT = 'b7ad6b7169203331';

let mock;
let fake;
let gw;

before(async () => {
  mock = await startMockUpstream();
  fake = await startFakeUpstream();
  const config = baseConfig(mock.baseURL);
  config.observability.log.level = 'debug'; // the most talkative setting must still not leak keys
  config.providers.rec = { type: 'openai-compatible', base_url: fake.baseURL(), keys: [UPSTREAM_KEY] };
  config.providers.rejecting = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY], headers: { 'x-mock-status': '401' },
  };
  config.models['rec-test'] = { provider: 'rec', model: 'fake-model', price: { input: 1, output: 1 } };
  config.models['rejecting-test'] = { provider: 'rejecting', model: 'mock-model', price: { input: 1, output: 1 } };
  config.providers.rejecting2 = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY + '-2'], headers: { 'x-mock-status': '401' },
  };
  config.models['rejecting-test-2'] = { provider: 'rejecting2', model: 'mock-model', price: { input: 1, output: 1 } };
  config.routes = {
    'rejecting-route': { targets: [{ model: 'rejecting-test' }], retry: { attempts: 1 } },
    'rejecting-route-2': { targets: [{ model: 'rejecting-test-2' }], retry: { attempts: 1 } },
  };
  config.tenants.acme.models.push('rec-test', 'rejecting-route', 'rejecting-route-2');
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
  await fake?.close();
});

test('one request writes one trace record with every SPEC field and the right values', async () => {
  const requestId = 'trace-fields-1';
  const res = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content: 'price this request please' }] }, {
    headers: { 'x-request-id': requestId, 'x-switchboard-workflow': 'summarize', 'x-switchboard-user': 'user-42' },
  });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['x-request-id'], requestId, 'x-request-id is echoed');

  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  for (const f of FIELDS) assert.ok(f in trace, `trace has ${f}`);
  assert.match(trace.trace_id, /^[0-9a-f]{32}$/);
  assert.match(trace.span_id, /^[0-9a-f]{16}$/);
  assert.equal(trace.trace_id, res.headers['x-switchboard-trace-id']);
  assert.ok(!Number.isNaN(Date.parse(trace.time)), `time is a timestamp: ${trace.time}`);
  assert.equal(trace.tenant, 'acme');
  assert.equal(trace.workflow, 'summarize');
  assert.equal(trace.user, 'user-42');
  assert.equal(trace.endpoint, '/v1/chat/completions');
  assert.equal(trace.requested_model, 'gpt-test');
  assert.equal(trace.provider, 'up');
  assert.equal(trace.model, 'gpt-test');
  assert.equal(trace.stream, false);
  assert.equal(trace.status, 200);
  assert.equal(trace.error, null);

  assert.equal(trace.attempts.length, 1);
  const [attempt] = trace.attempts;
  assert.equal(attempt.provider, 'up');
  assert.equal(attempt.model, 'gpt-test');
  assert.equal(attempt.status, 200);
  assert.equal(typeof attempt.ms, 'number');
  assert.ok(attempt.ms >= 0);
  assert.match(attempt.key_id, /^\w{4,32}$/, 'key_id is a short id');
  assert.ok(!UPSTREAM_KEY.includes(attempt.key_id) && attempt.key_id !== UPSTREAM_KEY, 'key_id is not the key');

  // Usage and cost match what the upstream reported and the configured prices (1.0 / 2.0 per 1M).
  const usage = res.json.usage;
  assert.equal(trace.usage.input, usage.prompt_tokens);
  assert.equal(trace.usage.output, usage.completion_tokens);
  const expected = (usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1e6;
  assert.ok(expected > 0);
  assert.ok(Math.abs(trace.cost_usd - expected) < 1e-12, `cost_usd ${trace.cost_usd} vs ${expected}`);
  assert.ok(Math.abs(Number(res.headers['x-switchboard-cost-usd']) - expected) < 1e-9);
  assert.ok(trace.duration_ms >= attempt.ms * 0.5, 'durations are consistent');

  // Exactly one record for the request.
  await new Promise((r) => setTimeout(r, 200)); // give a duplicate the chance to show up
  assert.equal(gw.traces.filter((t) => t.request_id === requestId).length, 1);
});

test('a streamed request is traced with stream: true and the usage the client did not ask for', async () => {
  const requestId = 'trace-stream-1';
  const res = await chat(gw, { model: 'gpt-test', stream: true, messages: [{ role: 'user', content: 'a b c' }] }, {
    headers: { 'x-request-id': requestId },
  });
  assert.equal(res.status, 200);
  assert.equal(sseData(res.body).at(-1), '[DONE]');
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.equal(trace.stream, true);
  assert.equal(trace.status, 200);
  assert.equal(trace.workflow, 'default', 'no header -> default workflow');
  assert.equal(trace.usage.input, 3);
  assert.equal(trace.usage.output, 4); // "echo: a b c"
  assert.ok(Math.abs(trace.cost_usd - (3 * 1.0 + 4 * 2.0) / 1e6) < 1e-12);
  assert.equal(typeof trace.ttft_ms, 'number');
});

test('the body user field is the trace user when no header is given', async () => {
  const requestId = 'trace-user-body';
  const res = await chat(gw, { model: 'gpt-test', user: 'body-user', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': requestId },
  });
  assert.equal(res.status, 200);
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.equal(trace.user, 'body-user');
});

test('a valid traceparent keeps its trace id and is forwarded upstream', async () => {
  const requestId = 'trace-parent-1';
  const res = await chat(gw, { model: 'rec-test', messages: [{ role: 'user', content: 'propagate' }] }, {
    headers: { 'x-request-id': requestId, traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01` },
  });
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['x-switchboard-trace-id'], INCOMING_TRACE);
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.equal(trace.trace_id, INCOMING_TRACE);
  assert.notEqual(trace.span_id, INCOMING_PARENT, 'the gateway has its own span');

  const upstream = fake.requests.at(-1);
  const forwarded = upstream.headers.traceparent;
  assert.ok(forwarded, 'traceparent reached the upstream');
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(forwarded);
  assert.ok(m, `forwarded traceparent is well-formed: ${forwarded}`);
  assert.equal(m[1], INCOMING_TRACE, 'same trace id upstream');
  assert.equal(m[2], trace.span_id, "the upstream's parent is the gateway's span (W3C: a participating hop)");
  assert.equal(m[3], '01', 'the sampled flag is kept');
});

test('an invalid traceparent is replaced by a fresh trace id', async () => {
  const requestId = 'trace-parent-bad';
  const res = await chat(gw, { model: 'rec-test', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': requestId, traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' },
  });
  assert.equal(res.status, 200);
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.match(trace.trace_id, /^[0-9a-f]{32}$/);
  assert.notEqual(trace.trace_id, '0'.repeat(32));
  const forwarded = fake.requests.at(-1).headers.traceparent ?? '';
  assert.ok(!forwarded.includes('0'.repeat(32)), `the invalid id is not forwarded: ${forwarded}`);
});

test('without x-request-id the gateway generates one, echoes it and traces it', async () => {
  const a = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] });
  const b = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] });
  const id = a.headers['x-request-id'];
  assert.match(id ?? '', /^\S{8,}$/);
  assert.notEqual(id, b.headers['x-request-id'], 'ids are unique');
  await gw.waitForTrace((t) => t.request_id === id);
});

test('a rejected request is traced with its error status', async () => {
  const requestId = 'trace-denied';
  const res = await chat(gw, { model: 'local-test', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': requestId },
  });
  assert.equal(res.status, 403);
  assert.equal(res.headers['x-request-id'], requestId, 'echoed on errors too');
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.equal(trace.status, 403);
  assert.equal(trace.tenant, 'acme');
  assert.deepEqual(trace.attempts, []);
});

test('the provider key never appears in traces or logs, even when the provider rejects it', async () => {
  const requestId = 'trace-key-rejected';
  const res = await chat(gw, { model: 'rejecting-route', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': requestId },
  });
  assert.ok(res.status >= 400, `a 401 from upstream is an error for the client: ${res.status}`);
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.ok(trace.attempts.length >= 1);
  assert.equal(trace.attempts[0].status, 401);
  assert.match(trace.attempts[0].key_id, /^\w{4,32}$/);

  // Let the logs for that rejection land, then search everything the gateway wrote.
  await new Promise((r) => setTimeout(r, 300));
  const everything = gw.stdoutText + gw.stderrText;
  assert.ok(everything.length > 0);
  assert.ok(!everything.includes(UPSTREAM_KEY), 'the provider key appears in the gateway output');
  assert.ok(!everything.includes(CLIENT_KEY), 'the client key appears in the gateway output');
});

test('a provider key rejected with 401 is logged by its key id only (SPEC 3)', async () => {
  const requestId = 'trace-key-logged';
  await chat(gw, { model: 'rejecting-route-2', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': requestId },
  });
  const trace = await gw.waitForTrace((t) => t.request_id === requestId);
  assert.equal(trace.attempts.length, 1);
  const keyId = trace.attempts[0].key_id;
  const line = await waitFor(() => gw.logs.find((l) => JSON.stringify(l).includes(keyId)),
    { timeoutMs: 2000, what: `a log line naming key id ${keyId}` });
  assert.ok(!JSON.stringify(line).includes(UPSTREAM_KEY));
  assert.ok(['warn', 'warning', 'error'].includes(line.level), `logged at ${line.level}`);

  // The key is out of rotation: the next request makes no call with it and says why.
  const again = await chat(gw, { model: 'rejecting-route-2', messages: [{ role: 'user', content: 'x' }] }, {
    headers: { 'x-request-id': requestId + '-again' },
  });
  assert.equal(again.status, 502);
  const second = await gw.waitForTrace((t) => t.request_id === requestId + '-again');
  assert.deepEqual(second.attempts, []);
  assert.match(again.json.error.message, /no usable key/);
});

test('SIGHUP reopens the trace file: a rotator renames it and the gateway starts a new one', async () => {
  const dir = tempDir();
  const file = join(dir, 'traces.jsonl');
  const config = baseConfig(mock.baseURL);
  config.observability.traces.file = file;
  const rotating = await startGateway(config, { dir });
  const recordsIn = (path) => (existsSync(path) ? readFileSync(path, 'utf8') : '')
    .split('\n').filter((l) => l).map((l) => JSON.parse(l).request_id);
  const ask = async (requestId) => {
    const res = await chat(rotating, { model: 'gpt-test', messages: [{ role: 'user', content: 'rotate me' }] }, {
      headers: { 'x-request-id': requestId },
    });
    assert.equal(res.status, 200, res.body);
  };
  try {
    await ask('before-rotation');
    await waitFor(() => recordsIn(file).includes('before-rotation'), { what: 'the first record in the file' });
    renameSync(file, file + '.1');
    await ask('after-rename');  // the gateway still writes to the renamed file until it reopens
    await waitFor(() => recordsIn(file + '.1').includes('after-rename'), { what: 'the record in the renamed file' });
    rotating.proc.kill('SIGHUP');
    await waitFor(() => existsSync(file), { what: 'a new trace file at the configured path' });
    await ask('after-reopen');
    await waitFor(() => recordsIn(file).includes('after-reopen'), { what: 'the record in the new file' });
    assert.deepEqual(recordsIn(file + '.1'), ['before-rotation', 'after-rename'], 'the rotated file is complete');
    assert.deepEqual(recordsIn(file), ['after-reopen'], 'the new file has only what came after');
  } finally {
    await rotating.stop();
  }
});
