// Time to first token with and without a streaming output guardrail (the hold-back's cost).
// Starts --mock-upstream and two gateways (no guardrails; a PII output guardrail on every
// stream), then sends the same streamed requests to both, one at a time, alternating.
// Run: node bench/guardrail_ttft.mjs [requests=200] [tokens_per_second=0,50]
import http from 'node:http';
import { startMockUpstream, startGateway, baseConfig, CLIENT_KEY } from '../tests/integration/lib/harness.mjs';

const requests = Number(process.argv[2] ?? 200);
const rates = (process.argv[3] ?? '0,50').split(',').map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// Resolves with ms until the first chunk carrying content, and the whole stream.
function ttft(url, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first = -1;
    let text = '';
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'POST', agent,
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if (first < 0 && /"content":"[^"]/.test(text)) first = Number(process.hrtime.bigint() - t0) / 1e6;
      });
      res.on('end', () => resolve({ first, total: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

const mock = await startMockUpstream();
const gateways = {};
for (const [name, guarded] of [['off', false], ['pii', true]]) {
  const config = baseConfig(mock.baseURL);
  config.server.threads = 1;
  config.observability.traces.file = '';
  if (guarded) {
    config.guardrails = { pii: { type: 'pii', stages: ['output'], action: 'redact' } };
  }
  config.providers = {};
  config.models = {};
  for (const rate of rates) {
    config.providers[`up${rate}`] = {
      type: 'openai-compatible', base_url: mock.baseURL, keys: ['k'],
      headers: { 'x-mock-tokens-per-second': String(rate) },
    };
    config.models[`m${rate}`] = { provider: `up${rate}`, model: 'mock', price: { input: 1, output: 1 } };
  }
  config.tenants.acme.models = undefined;
  gateways[name] = await startGateway(config);
}

const prompt = 'Please summarise the following support ticket about a billing problem in two short sentences for the account manager.';
console.log(`${requests} streamed requests per cell, ${prompt.split(' ').length}-word echo reply`);
for (const rate of rates) {
  const body = { model: `m${rate}`, stream: true, messages: [{ role: 'user', content: prompt }] };
  const results = { off: [], pii: [] };
  for (let i = 0; i < 20; i++) for (const g of Object.values(gateways)) await ttft(g.url, body); // warm-up
  for (let i = 0; i < requests; i++) {
    for (const [name, g] of Object.entries(gateways)) results[name].push(await ttft(g.url, body));
  }
  for (const [name, r] of Object.entries(results)) {
    const first = r.map((x) => x.first);
    console.log(`tokens/s ${String(rate || 'max').padEnd(4)} guardrail ${name.padEnd(4)} ` +
      `TTFT p50 ${pct(first, 0.5).toFixed(3)} ms  p99 ${pct(first, 0.99).toFixed(3)} ms  ` +
      `total p50 ${pct(r.map((x) => x.total), 0.5).toFixed(3)} ms`);
  }
}
for (const g of Object.values(gateways)) await g.stop();
await mock.stop();
agent.destroy();
