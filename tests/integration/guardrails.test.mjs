// Guardrails end to end: input redaction and blocking (the provider never called), output redaction
// and withholding on whole and streamed responses (matches split across chunks), attachment by
// tenant and route, webhook and OpenAI-moderation classifiers (allow, block, error, timeout),
// metrics and trace records that never carry the matched text.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startMockUpstream, startFakeUpstream, startGateway, baseConfig, chat, httpRequest, sseData,
  metricValue, CLIENT_KEY, UPSTREAM_KEY, ADMIN_KEY,
} from './lib/harness.mjs';
import { writeFileSync } from 'node:fs';
import { startClassifier } from './fakes/classifier.mjs';

const EMAIL = 'alice.smith@example.com';
const CARD = '4111 1111 1111 1111';

/**
 * An OpenAI-compatible upstream that echoes the last user message, streamed in pieces of `piece`
 * characters (so an email or a card number arrives split across chunks).
 */
async function startSplittingUpstream({ piece = 3 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const body = JSON.parse(raw);
      requests.push(body);
      if (req.headers.authorization !== `Bearer ${UPSTREAM_KEY}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'bad key', type: 'invalid_request_error', code: 'invalid_api_key', param: null } }));
      }
      const last = body.messages.at(-1);
      const text = typeof last.content === 'string' ? last.content : last.content.map((p) => p.text).join('');
      const base = { id: 'chatcmpl-split', created: 1700000000, model: body.model };
      const usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({
          ...base, object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage,
        }));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta, finish) => `data: ${JSON.stringify({
        ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }, null));
      for (let i = 0; i < text.length; i += piece) res.write(chunk({ content: text.slice(i, i + piece) }, null));
      res.write(chunk({}, 'stop'));
      if (body.stream_options?.include_usage) {
        res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    requests,
    baseURL: `http://127.0.0.1:${server.address().port}/v1`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** Parsed chunks of an SSE body, and whether it ended with [DONE]. */
function chunksOf(body) {
  const data = sseData(body);
  return { done: data.at(-1) === '[DONE]', chunks: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)) };
}

function contentOf(chunks) {
  return chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
}

async function metrics(gw) {
  return (await httpRequest(`${gw.url}/metrics`)).body;
}

// ------------------------------------------------------------------------------------------------

describe('input stage', () => {
  let mock;
  let fake;
  let gw;

  before(async () => {
    mock = await startMockUpstream();
    fake = await startFakeUpstream();
    const config = baseConfig(mock.baseURL);
    config.providers.rec = { type: 'openai-compatible', base_url: fake.baseURL(), keys: [UPSTREAM_KEY] };
    config.models['rec-test'] = { provider: 'rec', model: 'fake-model', price: { input: 1, output: 1 } };
    config.models['rec-emb'] = { provider: 'rec', model: 'fake-embed', kind: 'embedding', price: { input: 1, output: 0 } };
    config.routes = { 'guarded-route': { targets: [{ model: 'gpt-test' }] } };
    config.routes['guarded-route'].guardrails = ['route-only'];
    config.guardrails = {
      'pii-in': { type: 'pii', entities: ['email', 'credit_card', 'secret'], stages: ['input'], action: 'redact' },
      banned: { type: 'keywords', words: ['forbidden phrase'], stages: ['input'], action: 'block' },
      'tenant-only': { type: 'regex', patterns: ['(?i)beta-secret-[0-9]+'], stages: ['input'], action: 'block', apply: 'attached' },
      'route-only': { type: 'keywords', words: ['routeword'], stages: ['input'], action: 'block', apply: 'attached' },
      audit: { type: 'pii', entities: ['ipv4'], stages: ['input'], action: 'flag' },
    };
    config.tenants.acme.models = undefined;
    config.tenants.beta = { keys: ['sk-beta-1'], guardrails: ['tenant-only'] };
    gw = await startGateway(config);
  });

  after(async () => {
    await gw?.stop();
    await mock?.stop();
    await fake?.close();
  });

  test('PII in the prompt is redacted before the provider sees it', async () => {
    const requestId = 'gr-input-redact';
    const res = await chat(gw, {
      model: 'rec-test',
      messages: [
        { role: 'system', content: `Contact ${EMAIL} for help.` },
        { role: 'user', content: [{ type: 'text', text: `my card is ${CARD} and key sk-proj-abc123DEF456ghi789JKL012mno` }] },
      ],
    }, { headers: { 'x-request-id': requestId } });
    assert.equal(res.status, 200, res.body);
    const seen = fake.requests.at(-1).body;
    assert.equal(seen.messages[0].content, 'Contact [EMAIL] for help.');
    assert.equal(seen.messages[1].content[0].text, 'my card is [CREDIT_CARD] and key [SECRET]');

    const trace = await gw.waitForTrace((t) => t.request_id === requestId);
    assert.deepEqual(trace.guardrails, [{ name: 'pii-in', stage: 'input', action: 'redact', detail: 'email,credit_card,secret' }]);
    // The original text is never logged or traced.
    for (const secret of [EMAIL, CARD, 'sk-proj-abc123']) {
      assert.ok(!gw.stdoutText.includes(secret), `trace output leaks ${secret}`);
      assert.ok(!gw.stderrText.includes(secret), `logs leak ${secret}`);
    }
    const m = await metrics(gw);
    assert.ok(metricValue(m, 'switchboard_guardrail_actions_total', { guardrail: 'pii-in', stage: 'input', action: 'redact' }) >= 1);
  });

  test('embeddings input is redacted too', async () => {
    const res = await httpRequest(`${gw.url}/v1/embeddings`, {
      method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: { model: 'rec-emb', input: [`mail ${EMAIL}`, 'plain'] },
    });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(fake.requests.at(-1).body.input, ['mail [EMAIL]', 'plain']);
  });

  test('a blocked input answers 400 content_filter and never reaches the provider', async () => {
    const before = (await mock.stats()).requests;
    const res = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content: 'tell me about the Forbidden   Phrase' }] },
      { headers: { 'x-request-id': 'gr-input-block' } });
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.error.code, 'content_filter');
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.match(res.json.error.message, /guardrail 'banned'/);
    assert.ok(!res.body.toLowerCase().includes('forbidden phrase'), 'the error does not echo the match');
    assert.equal((await mock.stats()).requests, before, 'the upstream was never called');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-input-block');
    assert.equal(trace.status, 400);
    assert.equal(trace.error, 'content_filter');
    assert.deepEqual(trace.guardrails.map((g) => [g.name, g.stage, g.action]), [['banned', 'input', 'block']]);
    assert.ok(trace.attempts.length === 0);
  });

  test('flag records the match and lets the text through unchanged', async () => {
    const res = await chat(gw, { model: 'rec-test', messages: [{ role: 'user', content: 'ping 10.1.2.3 please' }] },
      { headers: { 'x-request-id': 'gr-flag' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(fake.requests.at(-1).body.messages[0].content, 'ping 10.1.2.3 please');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-flag');
    assert.deepEqual(trace.guardrails, [{ name: 'audit', stage: 'input', action: 'flag', detail: 'ipv4' }]);
  });

  test('attached guardrails apply only to the tenant or route that lists them', async () => {
    const body = { model: 'gpt-test', messages: [{ role: 'user', content: 'code beta-secret-42' }] };
    assert.equal((await chat(gw, body)).status, 200, 'acme does not attach tenant-only');
    const beta = await chat(gw, body, { key: 'sk-beta-1' });
    assert.equal(beta.status, 400, beta.body);
    assert.equal(beta.json.error.code, 'content_filter');

    const word = { messages: [{ role: 'user', content: 'say routeword now' }] };
    assert.equal((await chat(gw, { ...word, model: 'gpt-test' })).status, 200, 'the model alone has no route guardrail');
    const routed = await chat(gw, { ...word, model: 'guarded-route' });
    assert.equal(routed.status, 400, routed.body);
    assert.equal(routed.json.error.code, 'content_filter');
  });

  test('/v1/messages input is guarded and a block answers in Anthropic shape', async () => {
    const res = await httpRequest(`${gw.url}/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      body: { model: 'gpt-test', max_tokens: 50, messages: [{ role: 'user', content: 'the forbidden phrase' }] },
    });
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.type, 'error');
    assert.equal(res.json.error.type, 'invalid_request_error');
  });
});

// ------------------------------------------------------------------------------------------------

describe('output stage', () => {
  let split;
  let gw;

  before(async () => {
    split = await startSplittingUpstream({ piece: 3 });
    const config = baseConfig(split.baseURL);
    config.providers.up.base_url = split.baseURL;
    config.models['echo'] = { provider: 'up', model: 'echo-model', price: { input: 1, output: 1 } };
    config.guardrails = {
      pii: { type: 'pii', entities: ['email', 'credit_card', 'phone'], stages: ['output'], action: 'redact' },
      stop: { type: 'keywords', words: ['project falcon'], stages: ['output'], action: 'block' },
    };
    config.tenants.acme.models = undefined;
    gw = await startGateway(config);
  });

  after(async () => {
    await gw?.stop();
    await split?.close();
  });

  test('a plain completion is redacted', async () => {
    const res = await chat(gw, { model: 'echo', messages: [{ role: 'user', content: `write to ${EMAIL} or call (415) 555-2671` }] },
      { headers: { 'x-request-id': 'gr-out-plain' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.choices[0].message.content, 'write to [EMAIL] or call [PHONE]');
    assert.equal(res.json.choices[0].finish_reason, 'stop');
    assert.equal(res.json.usage.completion_tokens, 7, 'usage passes through');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-out-plain');
    assert.deepEqual(trace.guardrails, [{ name: 'pii', stage: 'output', action: 'redact', detail: 'email,phone' }]);
  });

  test('a blocked plain completion answers 200 with content_filter and the content withheld', async () => {
    const res = await chat(gw, { model: 'echo', messages: [{ role: 'user', content: 'the Project Falcon launch codes' }] });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.choices[0].finish_reason, 'content_filter');
    assert.equal(res.json.choices[0].message.content, null);
    assert.ok(!res.body.includes('Falcon'));
  });

  test('a stream is redacted even when matches are split across chunks', async () => {
    const text = `Reach ${EMAIL} or pay with ${CARD} today, thanks.`;
    const res = await chat(gw, { model: 'echo', stream: true, messages: [{ role: 'user', content: text }] },
      { headers: { 'x-request-id': 'gr-out-stream' } });
    assert.equal(res.status, 200, res.body);
    const { chunks, done } = chunksOf(res.body);
    assert.ok(done, 'ends with [DONE]');
    assert.equal(contentOf(chunks), 'Reach [EMAIL] or pay with [CREDIT_CARD] today, thanks.');
    for (const c of chunks) {
      const piece = c.choices?.[0]?.delta?.content ?? '';
      for (const fragment of ['alice', 'smith', 'example', '4111', '1111']) {
        assert.ok(!piece.includes(fragment), `chunk leaks ${fragment}: ${JSON.stringify(piece)}`);
      }
    }
    assert.ok(chunks.length > 5, 'still streamed in several chunks');
    assert.equal(chunks.at(-1).choices.at(-1)?.finish_reason ?? chunks.at(-2).choices[0].finish_reason, 'stop');
    assert.ok(!chunks.some((c) => c.usage), 'usage only when the client asked');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-out-stream');
    assert.deepEqual(trace.guardrails, [{ name: 'pii', stage: 'output', action: 'redact', detail: 'email,credit_card' }]);
    assert.equal(trace.usage.output, 7, 'usage still accounted');
  });

  test('a stream with usage requested gets it after the released text', async () => {
    const res = await chat(gw, {
      model: 'echo', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `mail ${EMAIL}` }],
    });
    const { chunks, done } = chunksOf(res.body);
    assert.ok(done);
    assert.equal(contentOf(chunks), 'mail [EMAIL]');
    assert.equal(chunks.at(-1).usage.completion_tokens, 7);
  });

  test('a block ends the stream with finish_reason content_filter, then [DONE]', async () => {
    const res = await chat(gw, { model: 'echo', stream: true, messages: [{ role: 'user', content: 'All good so far. The project falcon plan is here and more text follows.' }] },
      { headers: { 'x-request-id': 'gr-out-stream-block' } });
    assert.equal(res.status, 200);
    const { chunks, done } = chunksOf(res.body);
    assert.ok(done, 'ends with [DONE]');
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'content_filter');
    assert.equal(last.id, 'chatcmpl-split');
    const content = contentOf(chunks);
    assert.ok(content.startsWith('All good so far.'), content);
    assert.ok(!/falcon|fal\b/i.test(content), `nothing of the match is released: ${content}`);
    assert.ok(!content.includes('more text'), content);
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-out-stream-block');
    assert.deepEqual(trace.guardrails.map((g) => [g.name, g.action]), [['stop', 'block']]);
    assert.equal(trace.status, 200);
  });

  test('an Anthropic client gets the redacted stream in its own events', async () => {
    const res = await httpRequest(`${gw.url}/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      body: { model: 'echo', max_tokens: 50, stream: true, messages: [{ role: 'user', content: `hi ${EMAIL} bye` }] },
    });
    assert.equal(res.status, 200, res.body);
    const text = sseData(res.body).map((d) => JSON.parse(d))
      .filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('');
    assert.equal(text, 'hi [EMAIL] bye');
    assert.ok(!res.body.includes('alice'));
  });

  test('output guardrail actions are counted', async () => {
    const m = await metrics(gw);
    assert.ok(metricValue(m, 'switchboard_guardrail_actions_total', { guardrail: 'pii', stage: 'output', action: 'redact' }) >= 3);
    assert.ok(metricValue(m, 'switchboard_guardrail_actions_total', { guardrail: 'stop', stage: 'output', action: 'block' }) >= 2);
  });
});

// ------------------------------------------------------------------------------------------------

describe('remote classifiers', () => {
  let mock;
  let split;
  let classifier;
  let gw;

  before(async () => {
    mock = await startMockUpstream();
    split = await startSplittingUpstream({ piece: 4 });
    classifier = await startClassifier({ key: 'mod-key-1' });
    const config = baseConfig(mock.baseURL);
    config.providers.split = { type: 'openai-compatible', base_url: split.baseURL, keys: [UPSTREAM_KEY] };
    config.models['echo'] = { provider: 'split', model: 'echo-model', price: { input: 1, output: 1 } };
    const hook = (behaviour, extra = {}) => ({
      type: 'webhook', url: `${classifier.url}/check/${behaviour}`, timeout: '300ms', stages: ['input'],
      action: 'block', apply: 'attached', ...extra,
    });
    config.guardrails = {
      'hook-allow': hook('allow'),
      'hook-block': hook('block'),
      'hook-error-allow': hook('error', { on_error: 'allow' }),
      'hook-error-block': hook('error', { on_error: 'block' }),
      'hook-hang': hook('hang', { on_error: 'block' }),
      'hook-auto-in': hook('auto', { action: 'redact' }),
      'hook-auto-out': hook('auto', { action: 'block', stages: ['output'] }),
      moderation: {
        type: 'openai-moderation', url: `${classifier.url}/v1`, key: 'mod-key-1', model: 'omni-moderation-latest',
        stages: ['input'], action: 'block', apply: 'attached',
      },
    };
    config.routes = {};
    for (const name of Object.keys(config.guardrails)) {
      const target = name === 'hook-auto-out' || name === 'hook-auto-in' ? 'echo' : 'gpt-test';
      config.routes[`r-${name}`] = { targets: [{ model: target }], guardrails: [name], retry: { attempts: 1 } };
    }
    config.tenants.acme.models = undefined;
    gw = await startGateway(config);
  });

  after(async () => {
    await gw?.stop();
    await mock?.stop();
    await split?.close();
    await classifier?.close();
  });

  const ask = (route, content, { body = {}, ...opts } = {}) =>
    chat(gw, { model: `r-${route}`, messages: [{ role: 'user', content }], ...body }, opts);

  test('an allowing webhook lets the request through and saw the SPEC fields', async () => {
    const res = await ask('hook-allow', 'hello there');
    assert.equal(res.status, 200, res.body);
    const call = classifier.calls.findLast((c) => c.path === '/check/allow');
    assert.equal(call.body.stage, 'input');
    assert.equal(call.body.text, 'hello there');
    assert.equal(call.body.model, 'r-hook-allow');
    assert.equal(call.body.tenant, 'acme');
  });

  test('a blocking webhook stops the input before the provider', async () => {
    const before = (await mock.stats()).requests;
    const res = await ask('hook-block', 'anything', { headers: { 'x-request-id': 'gr-hook-block' } });
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.error.code, 'content_filter');
    assert.equal((await mock.stats()).requests, before);
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-hook-block');
    assert.deepEqual(trace.guardrails, [{ name: 'hook-block', stage: 'input', action: 'block', detail: 'off-topic' }]);
  });

  test('a webhook error follows on_error: allow passes, block refuses', async () => {
    const allowed = await ask('hook-error-allow', 'hi', { headers: { 'x-request-id': 'gr-hook-err-allow' } });
    assert.equal(allowed.status, 200, allowed.body);
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-hook-err-allow');
    assert.deepEqual(trace.guardrails, [{ name: 'hook-error-allow', stage: 'input', action: 'error', detail: 'error: http_500 (allowed)' }]);
    const blocked = await ask('hook-error-block', 'hi');
    assert.equal(blocked.status, 400, blocked.body);
    assert.equal(blocked.json.error.code, 'content_filter');
  });

  test('a webhook that hangs is cut off at its timeout', async () => {
    const before = (await mock.stats()).requests;
    const t0 = Date.now();
    const res = await ask('hook-hang', 'hi', { headers: { 'x-request-id': 'gr-hook-hang' } });
    const elapsed = Date.now() - t0;
    assert.equal(res.status, 400, res.body);
    assert.ok(elapsed >= 250 && elapsed < 2000, `answered after ${elapsed} ms (timeout 300 ms)`);
    assert.equal((await mock.stats()).requests, before);
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-hook-hang');
    assert.deepEqual(trace.guardrails, [{ name: 'hook-hang', stage: 'input', action: 'block', detail: 'error: timeout' }]);
    // The gateway still serves while the classifier keeps hanging.
    assert.equal((await ask('hook-allow', 'still alive')).status, 200);
  });

  test('a redacting webhook rewrites the input it was sent', async () => {
    const res = await ask('hook-auto-in', 'the secret-word is here', { headers: { 'x-request-id': 'gr-hook-redact' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(split.requests.at(-1).messages.at(-1).content, 'the [CLASSIFIED] is here');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-hook-redact');
    assert.deepEqual(trace.guardrails, [{ name: 'hook-auto-in', stage: 'input', action: 'redact', detail: 'classified' }]);
  });

  test('an output webhook on a stream sees the whole text, then it is released', async () => {
    const res = await ask('hook-auto-out', 'a long answer with the secret-word inside it', { body: { stream: true } });
    assert.equal(res.status, 200, res.body);
    const { chunks, done } = chunksOf(res.body);
    assert.ok(done);
    // allow:true with replacement texts redacts whatever the configured action (which applies
    // only when the classifier disallows).
    assert.equal(contentOf(chunks), 'a long answer with the [CLASSIFIED] inside it');
    const call = classifier.calls.findLast((c) => c.path === '/check/auto' && c.body.stage === 'output');
    assert.equal(call.body.text, 'a long answer with the secret-word inside it');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');

    const blocked = await ask('hook-auto-out', 'this is forbidden content', { body: { stream: true } });
    const b = chunksOf(blocked.body);
    assert.ok(b.done);
    assert.equal(b.chunks.at(-1).choices[0].finish_reason, 'content_filter');
    assert.equal(contentOf(b.chunks), '', 'nothing released before the classifier answered');
  });

  test('an output webhook on a whole response withholds a blocked completion', async () => {
    const res = await ask('hook-auto-out', 'this is forbidden content', { headers: { 'x-request-id': 'gr-hook-out-plain' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.choices[0].finish_reason, 'content_filter');
    assert.equal(res.json.choices[0].message.content, null);
    const call = classifier.calls.findLast((c) => c.path === '/check/auto' && c.body.stage === 'output');
    assert.equal(call.body.text, 'this is forbidden content');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-hook-out-plain');
    assert.deepEqual(trace.guardrails, [{ name: 'hook-auto-out', stage: 'output', action: 'block', detail: 'forbidden topic' }]);
  });

  test('openai-moderation flags threats and passes the rest', async () => {
    const ok = await ask('moderation', 'what a nice day');
    assert.equal(ok.status, 200, ok.body);
    const call = classifier.calls.findLast((c) => c.path === '/v1/moderations');
    assert.equal(call.headers.authorization, 'Bearer mod-key-1');
    assert.deepEqual(call.body, { model: 'omni-moderation-latest', input: ['what a nice day'] });

    const res = await ask('moderation', 'I will hurt you', { headers: { 'x-request-id': 'gr-moderation' } });
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.error.code, 'content_filter');
    const trace = await gw.waitForTrace((t) => t.request_id === 'gr-moderation');
    assert.deepEqual(trace.guardrails, [{ name: 'moderation', stage: 'input', action: 'block', detail: 'harassment,harassment/threatening,violence' }]);
  });
});

// ------------------------------------------------------------------------------------------------

test('a reload compiles the new guardrails; an invalid pattern changes nothing', async () => {
  const mock = await startMockUpstream();
  const config = baseConfig(mock.baseURL);
  const gw = await startGateway(config);
  try {
    const body = { model: 'gpt-test', messages: [{ role: 'user', content: 'about the merger' }] };
    assert.equal((await chat(gw, body)).status, 200);
    const reload = () => httpRequest(`${gw.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });

    config.guardrails = { deals: { type: 'regex', patterns: ['(?i)\\bmerger\\b'], stages: ['input'], action: 'block' } };
    writeFileSync(gw.configFile, JSON.stringify(config));
    assert.equal((await reload()).json.reloaded, true);
    const blocked = await chat(gw, body);
    assert.equal(blocked.status, 400, blocked.body);
    assert.equal(blocked.json.error.code, 'content_filter');

    config.guardrails.deals.patterns = ['(?<=x)merger'];
    writeFileSync(gw.configFile, JSON.stringify(config));
    const refused = await reload();
    assert.equal(refused.json.reloaded, false);
    assert.match(refused.json.errors.join('\n'), /guardrails\.deals\.patterns\[0\]: invalid regular expression/);
    assert.equal((await chat(gw, body)).status, 400, 'the previous guardrails stay in force');
  } finally {
    await gw.stop();
    await mock.stop();
  }
});
