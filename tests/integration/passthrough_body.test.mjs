// The request body an OpenAI-wire provider receives: the client's bytes as they were when the
// gateway changed nothing but could, re-serialised JSON whenever it changed (or might have).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, startGateway, baseConfig, chat, httpRequest, CLIENT_KEY } from './lib/harness.mjs';

let fake;
let gw;

before(async () => {
  fake = await startFakeUpstream();
  const config = baseConfig(fake.baseURL());
  config.providers.up = { type: 'openai-compatible', base_url: fake.baseURL(), keys: ['upstream-key-1'] };
  config.models['mock-model'] = { provider: 'up', price: { input: 1, output: 1 } };  // name = provider id
  config.models['emb-same'] = { provider: 'up', kind: 'embedding', price: { input: 1, output: 0 } };
  config.tenants.acme.models.push('mock-model', 'emb-same');
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await fake?.close();
});

async function send(raw) {
  const before = fake.requests.length;
  const res = await chat(gw, raw);
  assert.equal(res.status, 200, res.body);
  assert.equal(fake.requests.length, before + 1);
  return fake.requests.at(-1);
}

test('the client\'s bytes go upstream as they are when the model name is the provider id', async () => {
  const raw = '{ "messages" : [ {"role":"user","content":"caf\\u00e9 1.50"} ],\n  "model":"mock-model", "temperature": 0.50 }';
  const got = await send(raw);
  assert.equal(got.raw, raw, 'spacing, escapes, key order and number spelling kept');
});

test('a stream that already asks for usage is forwarded as is too', async () => {
  const raw = '{"model":"mock-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}';
  const got = await send(raw);
  assert.equal(got.raw, raw);
});

test('a different provider model id replaces only the model value; the other bytes stay', async () => {
  // The model name differs from the provider id: "gpt-test" -> "mock-model".
  const got = await send('{"model":"gpt-test",  "messages":[{"role":"user","content":"x"}]}');
  assert.equal(got.body.model, 'mock-model');
  assert.equal(got.raw, '{"model":"mock-model",  "messages":[{"role":"user","content":"x"}]}');
});

test('a stream without stream_options gets include_usage put in front, the rest as sent', async () => {
  const raw = '{"model":"gpt-test", "stream":true,"messages":[{"role":"user","content":"x"}]}';
  const got = await send(raw);
  assert.equal(got.raw, '{"stream_options":{"include_usage":true},"model":"mock-model", "stream":true,"messages":[{"role":"user","content":"x"}]}');
});

test('a stream whose stream_options lacks include_usage is re-serialised with it', async () => {
  for (const so of ['{}', '{"include_usage":false}', 'null']) {
    const got = await send(`{"model":"mock-model",  "stream":true,"stream_options":${so},"messages":[{"role":"user","content":"x"}]}`);
    assert.deepEqual(got.body.stream_options, { include_usage: true });
    assert.doesNotMatch(got.raw, / {2}/);
  }
});

test('a body with two "model" keys is never forwarded as is', async () => {
  const raw = '{"model":"not-allowed","model":"mock-model","messages":[{"role":"user","content":"x"}]}';
  const got = await send(raw);
  assert.notEqual(got.raw, raw);
  assert.equal((got.raw.match(/"model"/g) ?? []).length, 1);
  assert.equal(got.body.model, 'mock-model');
});

test('embeddings are forwarded as is too', async () => {
  const raw = '{"input": ["a b", "c"], "model": "emb-same"}';
  const before = fake.requests.length;
  const res = await httpRequest(`${gw.url}/v1/embeddings`, {
    method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: raw,
  });
  assert.equal(res.status, 200, res.body);
  assert.equal(fake.requests.length, before + 1);
  assert.equal(fake.requests.at(-1).raw, raw);
});
