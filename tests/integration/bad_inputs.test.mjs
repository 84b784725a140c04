// Malformed, unauthorised and oversized requests are answered by the gateway and never reach upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startMockUpstream, startFakeUpstream, startGateway, baseConfig, httpRequest, chat,
  CLIENT_KEY, UPSTREAM_KEY,
} from './lib/harness.mjs';

let mock;
let gw;

before(async () => {
  mock = await startMockUpstream();
  gw = await startGateway(baseConfig(mock.baseURL));
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const msgs = [{ role: 'user', content: 'hi' }];
const auth = { authorization: `Bearer ${CLIENT_KEY}` };

function assertOpenAIError(res, status, type, code) {
  assert.equal(res.status, status, `status for ${res.body}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.ok(res.json?.error, `OpenAI error shape: ${res.body}`);
  assert.equal(res.json.error.type, type);
  assert.equal(res.json.error.code, code);
  assert.equal(typeof res.json.error.message, 'string');
  assert.ok(res.json.error.message.length > 0);
  assert.ok('param' in res.json.error, 'error has a param field');
}

// Each case: the request, and the error the client must see. None may reach the upstream.
const cases = [
  ['malformed JSON', { body: '{"model": "gpt-test", "messages": [' }, 400, 'invalid_request_error', 'invalid_request'],
  ['messages is a string', { body: { model: 'gpt-test', messages: 'hi' } }, 400, 'invalid_request_error', 'invalid_request'],
  ['stream is a string', { body: { model: 'gpt-test', messages: msgs, stream: 'yes' } }, 400, 'invalid_request_error', 'invalid_request'],
  ['max_tokens is negative', { body: { model: 'gpt-test', messages: msgs, max_tokens: -1 } }, 400, 'invalid_request_error', 'invalid_request'],
  ['messages missing', { body: { model: 'gpt-test' } }, 400, 'invalid_request_error', 'invalid_request'],
  ['model missing', { body: { messages: msgs } }, 400, 'invalid_request_error', 'invalid_request'],
  ['body is a JSON array', { body: '[]' }, 400, 'invalid_request_error', 'invalid_request'],
  ['unknown model', { body: { model: 'no-such-model', messages: msgs } }, 404, 'invalid_request_error', 'model_not_found'],
  ['no key', { key: null, body: { model: 'gpt-test', messages: msgs } }, 401, 'authentication_error', 'invalid_api_key'],
  ['wrong key', { key: 'sk-wrong', body: { model: 'gpt-test', messages: msgs } }, 401, 'authentication_error', 'invalid_api_key'],
  ['model not allowed for the tenant', { body: { model: 'local-test', messages: msgs } }, 403, 'permission_error', 'model_not_allowed'],
];

for (const [name, req, status, type, code] of cases) {
  test(`chat with ${name} -> ${status} ${code}, upstream untouched`, async () => {
    const seenBefore = (await mock.stats()).requests;
    const res = await chat(gw, req.body, { key: req.key === undefined ? CLIENT_KEY : req.key });
    assertOpenAIError(res, status, type, code);
    if (code === 'invalid_api_key') {
      assert.match(res.headers['www-authenticate'] ?? 'Bearer', /Bearer/i);
    }
    assert.equal((await mock.stats()).requests, seenBefore, 'the upstream saw no request');
  });
}

test('x-api-key with a wrong key is rejected like a wrong bearer key', async () => {
  const res = await httpRequest(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'x-api-key': 'sk-wrong' }, body: { model: 'gpt-test', messages: msgs },
  });
  assertOpenAIError(res, 401, 'authentication_error', 'invalid_api_key');
});

test('embeddings with input missing -> 400, upstream untouched', async () => {
  const seenBefore = (await mock.stats()).requests;
  const res = await httpRequest(`${gw.url}/v1/embeddings`, {
    method: 'POST', headers: auth, body: { model: 'emb-test' },
  });
  assertOpenAIError(res, 400, 'invalid_request_error', 'invalid_request');
  assert.equal((await mock.stats()).requests, seenBefore);
});

test('a body over max_request_bytes (64KiB) -> 413 request_too_large, upstream untouched', async () => {
  const seenBefore = (await mock.stats()).requests;
  const big = 'a'.repeat(70 * 1024);
  const res = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content: big }] });
  assertOpenAIError(res, 413, 'invalid_request_error', 'request_too_large');
  assert.equal((await mock.stats()).requests, seenBefore);
});

test('a body just under max_request_bytes is accepted', async () => {
  const content = 'word '.repeat(12 * 1024); // ~60 KiB
  const res = await chat(gw, { model: 'gpt-test', messages: [{ role: 'user', content }] });
  assert.equal(res.status, 200, res.body);
});

// Writes raw bytes to the gateway and collects what it answers until it closes.
function rawExchange(write) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(gw.port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (c) => { data += c; });
    sock.on('end', () => resolve(data));
    sock.on('close', () => resolve(data));
    sock.on('error', (err) => (data ? resolve(data) : reject(err)));
    sock.setTimeout(10_000, () => { sock.destroy(); reject(new Error('no answer')); });
    write(sock);
  });
}

const chatHead = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
  `authorization: Bearer ${CLIENT_KEY}\r\ncontent-type: application/json\r\n`;

test('an oversized chunked body (no content-length) -> 413 request_too_large', async () => {
  const seenBefore = (await mock.stats()).requests;
  const body = JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'b'.repeat(80 * 1024) }] });
  const response = await rawExchange((sock) => {
    sock.write(`${chatHead}connection: close\r\ntransfer-encoding: chunked\r\n\r\n`);
    for (let i = 0; i < body.length; i += 8192) {
      const part = body.slice(i, i + 8192);
      sock.write(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
    }
    sock.write('0\r\n\r\n');
  });
  assert.match(response, /^HTTP\/1\.1 413 /, response.slice(0, 200));
  assert.match(response, /"code":"request_too_large"/);
  assert.equal((await mock.stats()).requests, seenBefore);
});

// What a proxy must refuse (RFC 9112): each gets an OpenAI-shaped 400, and nothing goes upstream.
for (const [name, bytes, message] of [
  ['a bad chunk size in the body',
    `${chatHead}transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 'malformed HTTP request body'],
  ['an obs-fold header line', `${chatHead}x-folded: a\r\n b\r\ncontent-length: 2\r\n\r\n{}`,
    'malformed HTTP request'],
  ['Content-Length and Transfer-Encoding together',
    `${chatHead}content-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}`, 'malformed HTTP request'],
  ['a request Transfer-Encoding not ending in chunked',
    `${chatHead}transfer-encoding: gzip\r\n\r\n{}`, 'malformed HTTP request'],
  ['a bare LF line end', `${chatHead}x-a: 1\ncontent-length: 2\r\n\r\n{}`, 'malformed HTTP request'],
]) {
  test(`${name} -> 400 invalid_request, upstream untouched`, async () => {
    const seenBefore = (await mock.stats()).requests;
    const response = await rawExchange((sock) => sock.write(bytes));
    assert.match(response, /^HTTP\/1\.1 400 /, response.slice(0, 200));
    const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.code, 'invalid_request');
    assert.equal(body.error.message, message);
    assert.equal((await mock.stats()).requests, seenBefore);
  });
}

test('an unknown path -> 404 not_found', async () => {
  const res = await httpRequest(`${gw.url}/v1/nothing-here`, { headers: auth });
  assertOpenAIError(res, 404, 'invalid_request_error', 'not_found');
});

test('the wrong method on an endpoint -> 405', async () => {
  const seenBefore = (await mock.stats()).requests;
  const get = await httpRequest(`${gw.url}/v1/chat/completions`, { headers: auth });
  assert.equal(get.status, 405, get.body);
  assert.ok(get.json?.error?.type, `OpenAI error shape: ${get.body}`);
  assert.match(get.headers.allow ?? 'POST', /POST/);
  const del = await httpRequest(`${gw.url}/v1/models`, { method: 'DELETE', headers: auth });
  assert.equal(del.status, 405, del.body);
  assert.equal((await mock.stats()).requests, seenBefore);
});

test("the client's key is never forwarded upstream; the provider key is", async () => {
  const fake = await startFakeUpstream();
  const gw2 = await startGateway(baseConfig(fake.baseURL()));
  try {
    const viaBearer = await chat(gw2, { model: 'gpt-test', messages: msgs });
    assert.equal(viaBearer.status, 200, viaBearer.body);
    const viaXApiKey = await httpRequest(`${gw2.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'x-api-key': CLIENT_KEY }, body: { model: 'gpt-test', messages: msgs },
    });
    assert.equal(viaXApiKey.status, 200, viaXApiKey.body);
    assert.equal(fake.requests.length, 2);
    for (const r of fake.requests) {
      assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.equal(r.headers['x-api-key'], undefined, 'x-api-key is not passed through');
      const all = JSON.stringify(r.headers) + r.raw;
      assert.ok(!all.includes(CLIENT_KEY), `client key leaked upstream: ${all}`);
    }
  } finally {
    await gw2.stop();
    await fake.close();
  }
});
