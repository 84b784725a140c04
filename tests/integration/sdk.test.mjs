// The real `openai` npm SDK pointed at the gateway: chat, streaming, embeddings, models, SDK errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { startMockUpstream, startGateway, baseConfig, CLIENT_KEY } from './lib/harness.mjs';

const OTHER_KEY = 'sk-other-456';
let mock;
let gw;
let client;

before(async () => {
  mock = await startMockUpstream();
  const config = baseConfig(mock.baseURL);
  config.tenants.other = { keys: [`sha256:${createHash('sha256').update(OTHER_KEY).digest('hex')}`] };
  gw = await startGateway(config);
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 15_000 });
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

test('chat completion through the SDK echoes the prompt and reports usage and gateway headers', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hello from the sdk' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, 'echo: hello from the sdk');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.ok(data.usage.prompt_tokens > 0, 'prompt tokens reported');
  assert.ok(data.usage.completion_tokens > 0, 'completion tokens reported');
  assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);

  assert.equal(response.headers.get('x-switchboard-provider'), 'up');
  assert.equal(response.headers.get('x-switchboard-model'), 'gpt-test');
  assert.equal(response.headers.get('x-switchboard-attempts'), '1');
  assert.match(response.headers.get('x-request-id') ?? '', /\S/);
  assert.match(response.headers.get('x-switchboard-trace-id') ?? '', /^[0-9a-f]{32}$/);
  const expectedCost = (data.usage.prompt_tokens * 1.0 + data.usage.completion_tokens * 2.0) / 1e6;
  assert.ok(Math.abs(Number(response.headers.get('x-switchboard-cost-usd')) - expectedCost) < 1e-9,
    `cost header ${response.headers.get('x-switchboard-cost-usd')} vs ${expectedCost}`);
});

test('streamed chat chunks concatenate to the full text and carry no usage unless asked', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-test', stream: true, messages: [{ role: 'user', content: 'one two three four five' }],
  });
  let text = '';
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'echo: one two three four five');
  assert.ok(chunks.length >= 3, `expected several chunks, got ${chunks.length}`);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'), 'a chunk finishes with stop');
  // The gateway always asks upstream for usage; the client did not, so it must not see that chunk.
  const usageChunks = chunks.filter((c) => c.usage != null && c.choices.length === 0);
  assert.deepEqual(usageChunks, [], 'no usage-only chunk without stream_options.include_usage');
  assert.ok(chunks.every((c) => c.usage == null), 'no chunk carries usage');
});

test('streamed chat with include_usage ends with a usage chunk', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-test', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'count these words please' }],
  });
  const chunks = [];
  let text = '';
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'echo: count these words please');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage, 'last chunk has usage');
  assert.equal(last.usage.prompt_tokens, 4);
  assert.equal(last.usage.completion_tokens, 5);
  assert.equal(last.usage.total_tokens, 9);
  assert.equal(chunks.filter((c) => c.usage != null).length, 1, 'exactly one usage chunk');
});

test('embeddings through the SDK (float format) return one vector per input', async () => {
  const res = await client.embeddings.create({
    model: 'emb-test', input: ['alpha beta', 'gamma'], encoding_format: 'float',
  });
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, 2);
  for (const [i, item] of res.data.entries()) {
    assert.equal(item.index, i);
    assert.ok(Array.isArray(item.embedding) && item.embedding.length > 0);
    assert.ok(item.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
  }
  assert.ok(res.usage.prompt_tokens > 0);
});

test('embeddings with the SDK defaults (base64 on the wire) decode to numeric vectors', async () => {
  // The SDK asks for encoding_format=base64 and decodes it; an upstream that ignores the format
  // would hand the SDK a JSON array where it expects a base64 string.
  const floats = await client.embeddings.create({
    model: 'emb-test', input: 'hello world', encoding_format: 'float',
  });
  const res = await client.embeddings.create({ model: 'emb-test', input: 'hello world' });
  assert.equal(res.data.length, 1);
  const expected = floats.data[0].embedding;
  const vec = Array.from(res.data[0].embedding);
  assert.equal(vec.length, expected.length,
    `base64-decoded vector has ${vec.length} dims, float one has ${expected.length}`);
  vec.forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 1e-6, `dim ${i}: ${x} vs ${expected[i]}`));
});

test('models.list shows exactly the models the tenant may use', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['emb-test', 'gpt-test']);
});

test('a tenant configured with a sha256 key hash authenticates and sees every model', async () => {
  const other = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: OTHER_KEY, maxRetries: 0 });
  const ids = [];
  for await (const m of other.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['emb-test', 'gpt-test', 'local-test']);
  const res = await other.chat.completions.create({
    model: 'local-test', messages: [{ role: 'user', content: 'hashed key works' }],
  });
  assert.equal(res.choices[0].message.content, 'echo: hashed key works');
});

test('a wrong key surfaces as the SDK AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err.constructor.name}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      assert.equal(err.type, 'authentication_error');
      return true;
    });
});

test('an unknown model surfaces as the SDK NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err.constructor.name}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
});
