// TLS both ways: providers behind a private CA (trusted, untrusted, wrong host name) and the gateway
// serving HTTPS itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startFakeUpstream, startGateway, baseConfig, makeTestPki, chat, httpRequest, waitFor, CLIENT_KEY,
} from './lib/harness.mjs';

let pki;
let good; // HTTPS fake upstream with a cert for localhost signed by the test CA
let wrong; // HTTPS fake upstream with a cert for wrong.example signed by the test CA
let gw;

const ask = (model) => chat(gw, { model, messages: [{ role: 'user', content: 'over tls' }] });

before(async () => {
  pki = makeTestPki();
  good = await startFakeUpstream({ tls: pki.localhost });
  wrong = await startFakeUpstream({ tls: pki.wrong });
  const config = baseConfig('http://127.0.0.1:9/v1');
  const retry = { attempts: 1 };
  config.providers = {
    trusted: { type: 'openai-compatible', base_url: good.baseURL('localhost'), keys: ['upstream-key-1'],
      tls: { ca_file: pki.caFile, verify: true } },
    system_store: { type: 'openai-compatible', base_url: good.baseURL('localhost'), keys: ['upstream-key-1'] },
    wrong_host: { type: 'openai-compatible', base_url: wrong.baseURL('localhost'), keys: ['upstream-key-1'],
      tls: { ca_file: pki.caFile, verify: true } },
    unverified: { type: 'openai-compatible', base_url: wrong.baseURL('localhost'), keys: ['upstream-key-1'],
      tls: { verify: false } },
  };
  config.models = Object.fromEntries(Object.keys(config.providers).map((p) => [
    `m-${p}`, { provider: p, model: 'fake-model', price: { input: 1, output: 1 } },
  ]));
  config.routes = Object.fromEntries(Object.keys(config.providers).map((p) => [
    `r-${p}`, { targets: [{ model: `m-${p}` }], retry },
  ]));
  config.tenants = { acme: { keys: [CLIENT_KEY] } };
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await good?.close();
  await wrong?.close();
  pki?.cleanup();
});

test('an upstream whose cert is signed by the configured ca_file is reached over TLS', async () => {
  const before = good.requests.length;
  const res = await ask('m-trusted');
  assert.equal(res.status, 200, res.body);
  assert.equal(res.json.choices[0].message.content, 'fake: over tls');
  assert.equal(res.headers['x-switchboard-provider'], 'trusted');
  assert.equal(good.requests.length, before + 1, 'the TLS upstream saw the request');
  assert.equal(good.requests.at(-1).headers.authorization, 'Bearer upstream-key-1');
  assert.equal(good.requests.at(-1).servername, 'localhost', 'SNI names the upstream host');
});

test('without ca_file the private CA is not trusted: 502 upstream_error, nothing sent', async () => {
  const before = good.requests.length;
  const handshakeFailures = good.tlsErrors.length;
  const res = await ask('m-system_store');
  assert.equal(res.status, 502, res.body);
  assert.equal(res.json.error.type, 'upstream_error');
  assert.equal(res.json.error.code, 'upstream_error');
  assert.equal(good.requests.length, before, 'no request went over the untrusted connection');
  // The failure is the TLS handshake (the client rejected the cert), not anything else.
  await waitFor(() => good.tlsErrors.length > handshakeFailures, { what: 'a failed TLS handshake' });
});

test('a cert for another host name is refused even from a trusted CA: 502', async () => {
  const res = await ask('m-wrong_host');
  assert.equal(res.status, 502, res.body);
  assert.equal(res.json.error.code, 'upstream_error');
  assert.equal(wrong.requests.length, 0, 'no request went to the mismatched host');
  await waitFor(() => wrong.tlsErrors.length > 0, { what: 'a failed TLS handshake' });
});

test('verify: false accepts the mismatched cert (explicit opt-out)', async () => {
  const res = await ask('m-unverified');
  assert.equal(res.status, 200, res.body);
  assert.equal(wrong.requests.length, 1);
});

test('the gateway serves HTTPS with server.tls and the client verifies it with the test CA', async () => {
  const config = baseConfig('http://127.0.0.1:9/v1');
  config.server.tls = { cert_file: pki.localhost.cert, key_file: pki.localhost.key };
  config.tenants.acme.models.push('local-test');
  const gw2 = await startGateway(config);
  try {
    const port = gw2.port;
    const health = await httpRequest(`https://localhost:${port}/healthz`, { ca: pki.ca });
    assert.equal(health.status, 200);
    const res = await httpRequest(`https://localhost:${port}/v1/chat/completions`, {
      method: 'POST', ca: pki.ca, headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: { model: 'local-test', messages: [{ role: 'user', content: 'served over tls' }] },
    });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.choices[0].message.content, 'echo: served over tls');
    // A client that does not trust the test CA refuses the connection.
    await assert.rejects(httpRequest(`https://localhost:${port}/healthz`), /self[- ]signed|unable to verify|certificate/i);
    // Plain HTTP on the TLS port gets no HTTP answer.
    const plain = await httpRequest(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 5000 }).catch((e) => e);
    assert.ok(plain instanceof Error || plain.status !== 200, 'plain HTTP is not served on the TLS port');
  } finally {
    await gw2.stop();
  }
});
