// state.backend: redis with a real redis-server: three gateways share one tenant's rate limit and
// budget exactly; Redis killed mid-run (requests keep flowing on local limits, /readyz and metrics
// say so) and restarted (replicas reconnect, spend totals reconcile to every request once); a
// Redis that stalls for a second never holds requests for that long.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import {
  startMockUpstream, startGateway, baseConfig, httpRequest, chat, metricValue, waitFor, tempDir,
  makeTestPki, ADMIN_KEY,
} from './lib/harness.mjs';

const REDIS = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';
const KEYS = { rpm: 'sk-srl-1', rpm2: 'sk-srl2-1', bud: 'sk-sbud-1', flow: 'sk-sflow-1', health: 'sk-shealth-1', bye: 'sk-sbye-1' };
const RPM = 10;
const COST = 0.000005; // per call: 1 prompt token x $1/M + 2 output tokens x $2/M
const BUDGET_CALLS = 6;

let mock;
let redisPort;
let redisDir;
let redis;
let sharedConfig;
const gws = [];

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function cli(...args) {
  return execFileSync(REDIS_CLI, ['-p', String(redisPort), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** redis-server on `redisPort`; the AOF (fsync always) keeps what was written across a SIGKILL. */
async function startRedis() {
  const proc = spawn(REDIS, [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--dir', redisDir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--enable-debug-command', 'yes',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c) => { out += c; });
  proc.stderr.on('data', (c) => { out += c; });
  const exited = new Promise((r) => proc.on('exit', r));
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
    try { return cli('PING') === 'PONG'; } catch { return false; }
  }, { timeoutMs: 10_000, what: 'redis-server' });
  return { proc, exited, kill: async (sig = 'SIGKILL') => { proc.kill(sig); await exited; } };
}

function tenant(key, extra = {}) {
  return { keys: [key], models: ['gpt-test'], ...extra };
}

before(async () => {
  redisPort = await freePort();
  redisDir = tempDir('switchboard-redis-');
  redis = await startRedis();
  mock = await startMockUpstream();
  const config = baseConfig(mock.baseURL);
  config.state = { backend: 'redis', redis: { url: `redis://127.0.0.1:${redisPort}/3`, key_prefix: 'sbtest:' } };
  config.tenants = {
    ...config.tenants,
    srl: tenant(KEYS.rpm, { rate_limit: { rpm: RPM } }),
    srl2: tenant(KEYS.rpm2, { rate_limit: { rpm: RPM } }),
    sbud: tenant(KEYS.bud, { budget: { usd: COST * BUDGET_CALLS, period: 'monthly' } }),
    sflow: tenant(KEYS.flow, { rate_limit: { rpm: 100000 }, budget: { usd: 1000, period: 'daily' } }),
    shealth: { keys: [KEYS.health], models: ['lim-test', 'brk-test'] },
    sbye: tenant(KEYS.bye, { budget: { usd: 1000, period: 'monthly' } }),
  };
  // One provider whose only key is always rate limited, one that always fails.
  config.providers.lim = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: ['lim-key-1'],
    headers: { 'x-mock-status': '429', 'x-mock-retry-after': '30' },
  };
  config.providers.brk = {
    type: 'openai-compatible', base_url: mock.baseURL, keys: ['brk-key-1'],
    headers: { 'x-mock-status': '500' },
  };
  config.models['lim-test'] = { provider: 'lim', model: 'mock-model', price: { input: 1, output: 2 } };
  config.models['brk-test'] = { provider: 'brk', model: 'mock-model', price: { input: 1, output: 2 } };
  sharedConfig = config;
  for (let i = 0; i < 3; i++) gws.push(await startGateway(config));
  // Every replica's connections are up before the first request.
  for (const gw of gws) await waitFor(async () => !(await readyz(gw)).state?.degraded, { what: 'redis connected' });
});

after(async () => {
  await Promise.all(gws.map((g) => g.stop()));
  await mock?.stop();
  await redis?.kill('SIGTERM');
});

const hi = () => ({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });

async function readyz(gw) {
  const res = await httpRequest(`${gw.url}/readyz`);
  assert.equal(res.status, 200, res.body);
  return res.json;
}

async function spend(gw, query) {
  const res = await httpRequest(`${gw.url}/admin/spend?${query}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(res.status, 200, res.body);
  return res.json;
}

async function metrics(gw) {
  return (await httpRequest(`${gw.url}/metrics`)).body;
}

test('three replicas admit exactly the rpm limit between them, not three times it', async () => {
  const before = (await mock.stats()).requests;
  const results = await Promise.all(Array.from({ length: 3 * RPM }, (_, i) => chat(gws[i % 3], hi(), { key: KEYS.rpm })));
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 429);
  assert.equal(ok, RPM, `admitted ${ok} of ${results.length}: ${results.map((r) => r.status).join(',')}`);
  assert.equal(refused.length, 2 * RPM);
  for (const r of refused) assert.equal(r.json.error.code, 'rate_limit_exceeded');
  assert.ok(Number(refused[0].headers['retry-after']) >= 1);
  assert.equal((await mock.stats()).requests - before, RPM, 'refused requests never reached the provider');
  // Each refusal is counted once, by the replica that refused it. Which replica's requests reach
  // Redis first is up to the scheduler, so only the sum is fixed.
  let counted = 0;
  for (const gw of gws) counted += metricValue(await metrics(gw), 'switchboard_rate_limited_total', { tenant: 'srl', reason: 'rpm' }) ?? 0;
  assert.equal(counted, 2 * RPM);
});

test('the rpm limit is shared, not split: one replica may use all of it, the others then refuse', async () => {
  // A limit split three ways would refuse gws[0] after RPM / 3 requests.
  for (let i = 0; i < RPM; i++) {
    const res = await chat(gws[0], hi(), { key: KEYS.rpm2 });
    assert.equal(res.status, 200, `request ${i + 1} of ${RPM}: ${res.body}`);
  }
  for (const gw of gws.slice(1)) {
    const res = await chat(gw, hi(), { key: KEYS.rpm2 });
    assert.equal(res.status, 429, res.body);
    assert.equal(res.json.error.code, 'rate_limit_exceeded');
    assert.equal(metricValue(await metrics(gw), 'switchboard_rate_limited_total', { tenant: 'srl2', reason: 'rpm' }), 1);
  }
  assert.equal(metricValue(await metrics(gws[0]), 'switchboard_rate_limited_total', { tenant: 'srl2', reason: 'rpm' }), undefined);
});

test('a budget is shared: combined spend stops at it, and /admin/spend on any replica shows all of it', async () => {
  const statuses = [];
  // Concurrent, round-robin: reservations are shared too, so no replica overspends.
  const results = await Promise.all(Array.from({ length: 4 * BUDGET_CALLS }, (_, i) => chat(gws[i % 3], hi(), { key: KEYS.bud })));
  for (const r of results) statuses.push(r.status);
  const ok = results.filter((r) => r.status === 200).length;
  assert.equal(ok, BUDGET_CALLS, `statuses ${statuses.join(',')}`);
  for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.json.error.code, 'budget_exceeded');
  await waitFor(async () => {
    const views = await Promise.all(gws.map((gw) => spend(gw, 'group_by=tenant&tenant=sbud')));
    return views.every((v) => v.backend === 'redis' && v.total.requests === BUDGET_CALLS &&
      Math.abs(v.total.cost_usd - COST * BUDGET_CALLS) < 1e-12);
  }, { what: 'every replica to report the shared spend' });
  assert.equal(cli('-n', '3', 'EXISTS', 'sbtest:budget:sbud:m' + new Date().toISOString().slice(0, 7)), '1');
});

test('a key cool-down (upstream 429) and an opened circuit on one replica apply on the others', async () => {
  const calls = async () => (await mock.stats()).requests;
  const ask = (gw, model) => chat(gw, { ...hi(), model }, { key: KEYS.health });
  let before = await calls();
  const first = await ask(gws[0], 'lim-test');
  assert.notEqual(first.status, 200);
  assert.equal(await calls() - before, 1, 'one upstream 429, then the key cools down for 30 s');
  await new Promise((r) => setTimeout(r, 300)); // pub/sub delivery
  before = await calls();
  for (const gw of [gws[1], gws[2]]) {
    const res = await ask(gw, 'lim-test');
    assert.notEqual(res.status, 200);
    assert.match(res.json.error.message, /no usable key/);
  }
  assert.equal(await calls() - before, 0, 'the other replicas never used the cooling key');

  // Five failures open brk-test's circuit on replica 0 (two tries per request).
  for (let i = 0; i < 3; i++) assert.notEqual((await ask(gws[0], 'brk-test')).status, 200);
  await new Promise((r) => setTimeout(r, 300));
  before = await calls();
  for (const gw of [gws[1], gws[2]]) {
    const res = await ask(gw, 'brk-test');
    assert.equal(res.json.error.code, 'no_healthy_upstream', res.body);
  }
  assert.equal(await calls() - before, 0, 'the open circuit kept the other replicas off the provider');
});

test('redis killed mid-run: requests keep flowing, /readyz and metrics say degraded; restarted: totals reconcile', async () => {
  const sent = async (n, tag) => {
    const res = await Promise.all(Array.from({ length: n }, (_, i) =>
      chat(gws[i % 3], hi(), { key: KEYS.flow, headers: { 'x-request-id': `${tag}-${i}` } })));
    for (const r of res) assert.equal(r.status, 200, r.body);
    for (let i = 0; i < n; i++) await gws[i % 3].waitForTrace((t) => t.request_id === `${tag}-${i}`);
  };
  await sent(9, 'pre');
  await redis.kill('SIGKILL');
  const t0 = Date.now();
  await sent(12, 'down');
  assert.ok(Date.now() - t0 < 3000, `requests during the outage took ${Date.now() - t0} ms`);
  for (const gw of gws) {
    await waitFor(async () => /redis unreachable/.test((await readyz(gw)).state?.degraded ?? ''), { what: '/readyz degraded' });
    const m = await metrics(gw);
    assert.equal(metricValue(m, 'switchboard_state_backend_up'), 0);
    assert.ok(metricValue(m, 'switchboard_state_backend_unsynced') > 0, 'settlements kept for replay');
    assert.ok(metricValue(m, 'switchboard_state_backend_errors_total', { operation: 'admit', reason: 'down' }) > 0);
  }
  const degradedView = await spend(gws[0], 'group_by=tenant&tenant=sflow');
  assert.match(degradedView.degraded ?? '', /redis unreachable/);
  const logs = gws[0].logs.filter((l) => /state backend: redis .* unreachable/.test(l.msg ?? ''));
  assert.equal(logs.length, 1, 'logged once per state change, not per request');
  assert.ok(!gws[0].stderrText.includes('password'));

  redis = await startRedis();
  for (const gw of gws) {
    await waitFor(async () => !(await readyz(gw)).state?.degraded, { timeoutMs: 10_000, what: '/readyz clean again' });
    assert.equal(metricValue(await metrics(gw), 'switchboard_state_backend_up'), 1);
    assert.equal(metricValue(await metrics(gw), 'switchboard_state_backend_unsynced'), 0);
  }
  await sent(6, 'post');
  await waitFor(async () => {
    const views = await Promise.all(gws.map((gw) => spend(gw, 'group_by=tenant&tenant=sflow')));
    return views.every((v) => !v.degraded && v.total.requests === 27 &&
      Math.abs(v.total.cost_usd - 27 * COST) < 1e-12);
  }, { what: 'every request counted exactly once' });
  assert.equal(Number(cli('-n', '3', 'HGET', `sbtest:budget:sflow:d${new Date().toISOString().slice(0, 10)}`, 'spent')).toFixed(9),
    (27 * COST).toFixed(9), 'the shared budget was charged for the outage too');
});

test('a redis stall (DEBUG SLEEP 1) never holds a request for the stall', async () => {
  const sleeper = spawn(REDIS_CLI, ['-p', String(redisPort), 'DEBUG', 'SLEEP', '1']);
  const done = new Promise((r) => sleeper.on('exit', r));
  await new Promise((r) => setTimeout(r, 50));
  const times = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
    const t = Date.now();
    const res = await chat(gws[i % 3], hi(), { key: KEYS.flow });
    assert.equal(res.status, 200, res.body);
    return Date.now() - t;
  }));
  await done;
  assert.ok(Math.max(...times) < 600, `request latencies during the stall: ${times.join(',')} ms`);
  const m = await metrics(gws[0]);
  assert.ok(metricValue(m, 'switchboard_state_backend_errors_total', { operation: 'admit', reason: 'timeout' }) > 0);
});

test('a replica that shuts down right after answering still lands its settlements in redis', async () => {
  const extra = await startGateway(sharedConfig);
  await waitFor(async () => !(await readyz(extra)).state?.degraded, { what: 'redis connected' });
  const res = await Promise.all(Array.from({ length: 20 }, () => chat(extra, hi(), { key: KEYS.bye })));
  for (const r of res) assert.equal(r.status, 200, r.body);
  const exit = await extra.stop('SIGTERM');
  assert.equal(exit.code, 0);
  const view = await spend(gws[0], 'group_by=tenant&tenant=sbye');
  assert.equal(view.total.requests, 20);
});

test('rediss://: two replicas share a limit through a TLS-only redis-server they verify', async () => {
  const pki = makeTestPki();
  const tlsPort = await freePort();
  const proc = spawn(REDIS, [
    '--port', '0', '--tls-port', String(tlsPort), '--bind', '127.0.0.1', '--save', '',
    '--tls-cert-file', pki.localhost.cert, '--tls-key-file', pki.localhost.key,
    '--tls-ca-cert-file', pki.caFile, '--tls-auth-clients', 'no',
  ], { stdio: 'ignore' });
  const exited = new Promise((r) => proc.on('exit', r));
  const replicas = [];
  try {
    const config = structuredClone(sharedConfig);
    config.state = {
      backend: 'redis',
      redis: { url: `rediss://localhost:${tlsPort}/4`, key_prefix: 'sbtls:', tls: { ca_file: pki.caFile } },
    };
    config.tenants = { stls: tenant('sk-stls-1', { rate_limit: { rpm: 2 } }) };
    for (let i = 0; i < 2; i++) replicas.push(await startGateway(config));
    for (const gw of replicas) {
      await waitFor(async () => !(await readyz(gw)).state?.degraded, { timeoutMs: 10_000, what: 'redis over TLS connected' });
    }
    const statuses = [];
    for (const gw of [replicas[0], replicas[1], replicas[0], replicas[1]]) {
      statuses.push((await chat(gw, hi(), { key: 'sk-stls-1' })).status);
    }
    assert.deepEqual(statuses, [200, 200, 429, 429], 'the rpm limit of 2 is shared over TLS');
  } finally {
    await Promise.all(replicas.map((g) => g.stop()));
    proc.kill('SIGKILL');
    await exited;
    pki.cleanup();
  }
});
