// Hot reload (SPEC section 1): SIGHUP, POST /admin/reload and the config file watcher swap the
// routes while streams are open; streams finish intact, kept-alive client connections and the
// upstream pools of unchanged providers survive; a broken file changes nothing and says where.
// Also a Kubernetes-style ConfigMap update (the `..data` symlink swapped by rename).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, symlinkSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN, startMockUpstream, startGateway, baseConfig, chat, httpRequest, metricValue, waitFor,
  tempDir, ADMIN_KEY, CLIENT_KEY, UPSTREAM_KEY,
} from './lib/harness.mjs';

let mock;

before(async () => { mock = await startMockUpstream(); });
after(async () => { await mock?.stop(); });

const ALPHA = Array.from({ length: 30 }, (_, i) => `alpha${i}`).join(' ');
const BRAVO = Array.from({ length: 30 }, (_, i) => `bravo${i}`).join(' ');
const TOKENS_PER_SECOND = 15; // 30 words: a stream stays open for about 2 s

/** Two providers on the mock upstream, each answering its own text slowly; route `chat` -> `target`. */
function config(target, { watch = false, extraServer = {} } = {}) {
  const cfg = baseConfig(mock.baseURL);
  cfg.server = { ...cfg.server, threads: 1, ...extraServer };
  if (watch) cfg.server.watch_config = true;
  const slow = (text) => ({
    type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY],
    headers: { 'x-mock-response': text, 'x-mock-tokens-per-second': String(TOKENS_PER_SECOND) },
  });
  cfg.providers = { pa: slow(ALPHA), pb: slow(BRAVO) };
  cfg.models = {
    'm-a': { provider: 'pa', model: 'mock-a', price: { input: 1, output: 1 } },
    'm-b': { provider: 'pb', model: 'mock-b', price: { input: 1, output: 1 } },
  };
  cfg.routes = { chat: { targets: [target] } };
  cfg.tenants.acme.models = ['m-a', 'm-b', 'chat'];
  return cfg;
}

const yaml = (cfg) => JSON.stringify(cfg, null, 2) + '\n';

async function metrics(gw) {
  const res = await httpRequest(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  return res.body;
}
const reloads = async (gw, result) =>
  metricValue(await metrics(gw), 'switchboard_config_reloads_total', { result }) ?? 0;

const adminReload = (gw) => httpRequest(`${gw.url}/admin/reload`, {
  method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` },
});

/** The text `model` answers with now (a plain, fast request). */
async function answerOf(gw, model = 'chat', opts = {}) {
  const res = await chat(gw, { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, opts);
  assert.equal(res.status, 200, res.body);
  return res.json.choices[0].message.content;
}

/**
 * A streamed chat request; `started` resolves on the first SSE bytes, `done` with the assembled
 * content and whether the stream ended with a finish_reason and [DONE].
 */
function openStream(gw, model = 'chat') {
  let onStart;
  const started = new Promise((r) => { onStart = r; });
  const done = new Promise((resolve, reject) => {
    const payload = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'go' }] });
    const req = http.request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      },
    }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { raw += c; onStart(); });
      res.on('end', () => {
        const data = raw.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim());
        let content = '';
        let finish = null;
        for (const d of data) {
          if (d === '[DONE]') continue;
          const chunk = JSON.parse(d);
          const choice = chunk.choices?.[0];
          if (choice?.delta?.content) content += choice.delta.content;
          if (choice?.finish_reason) finish = choice.finish_reason;
        }
        resolve({ status: res.statusCode, content, finish, doneMarker: data.at(-1) === '[DONE]' });
      });
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('stream timed out')));
    req.on('error', reject);
    req.end(payload);
  });
  return { started, done };
}

/**
 * Open `n` slow streams on the current route (answering `before`), run `reload` while all are
 * open, then check every stream finished intact with the old answer and new requests see `after`.
 */
async function reloadDuringStreams(gw, { before: oldText, after: newText, reload, n = 5 }) {
  const successBefore = await reloads(gw, 'success');
  const streams = Array.from({ length: n }, () => openStream(gw));
  await Promise.all(streams.map((s) => s.started));
  const openBefore = metricValue(await metrics(gw), 'switchboard_upstream_connections', { state: 'active' });
  assert.equal(openBefore, n, 'all streams are open upstream when the reload happens');

  await reload();
  await waitFor(async () => (await reloads(gw, 'success')) === successBefore + 1,
    { timeoutMs: 5000, what: 'reload counted' });
  // The new route answers while the old streams are still running.
  assert.equal(await answerOf(gw), newText.split(' ').slice(0, 2).join(' '));
  const stillActive = metricValue(await metrics(gw), 'switchboard_upstream_connections', { state: 'active' });
  assert.ok(stillActive >= 1, `old streams still in flight after the reload (active=${stillActive})`);

  for (const r of await Promise.all(streams.map((s) => s.done))) {
    assert.equal(r.status, 200);
    assert.equal(r.content, oldText, 'a stream opened before the reload finishes on its own route, intact');
    assert.equal(r.finish, 'stop');
    assert.ok(r.doneMarker, 'stream ends with [DONE]');
  }
  assert.equal(await reloads(gw, 'success'), successBefore + 1, 'exactly one reload per change');
}

test('SIGHUP and /admin/reload swap routes during open streams; connections and unchanged pools kept', async () => {
  const gw = await startGateway(config('m-a'));
  try {
    // One kept-alive client connection, opened before the reloads; `sockets` collects every socket
    // the agent ever used.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    agent.on('free', (socket) => sockets.add(socket));
    assert.equal(await answerOf(gw, 'chat', { agent }), 'alpha0 alpha1');
    assert.equal(await answerOf(gw, 'm-b'), 'bravo0 bravo1'); // warms pb's pool too
    const openedBefore = (await mock.stats()).connections_opened;

    writeFileSync(gw.configFile, yaml(config('m-b')));
    await reloadDuringStreams(gw, { before: ALPHA, after: BRAVO, reload: () => gw.proc.kill('SIGHUP') });

    writeFileSync(gw.configFile, yaml(config('m-a')));
    await reloadDuringStreams(gw, {
      before: BRAVO, after: ALPHA,
      reload: async () => {
        const res = await adminReload(gw);
        assert.equal(res.status, 200, res.body);
        assert.deepEqual(res.json, { reloaded: true, errors: [] });
      },
    });

    // The client's kept-alive connection from before both reloads still serves.
    const res = await chat(gw, { model: 'm-a', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }, { agent });
    assert.equal(res.status, 200);
    assert.equal(sockets.size, 1, 'the same client connection served before and after the reloads');
    agent.destroy();

    // Routes changed, providers did not: their pools were kept, so sequential requests to both
    // providers after the reloads reuse idle upstream connections (the streams above returned
    // theirs to the pool; each stream needed its own, so count what the pools hold).
    const pooled = metricValue(await metrics(gw), 'switchboard_upstream_connections', { state: 'idle' });
    const openedAfterStreams = (await mock.stats()).connections_opened;
    assert.ok(pooled >= 2, `idle pooled connections kept (idle=${pooled})`);
    assert.equal(await answerOf(gw, 'm-a'), 'alpha0 alpha1');
    assert.equal(await answerOf(gw, 'm-b'), 'bravo0 bravo1');
    assert.equal((await mock.stats()).connections_opened, openedAfterStreams,
      'no new upstream connection for unchanged providers after a reload');
    assert.ok(openedAfterStreams > openedBefore);

    // A provider whose connection settings change gets a fresh pool.
    const changed = config('m-a');
    changed.providers.pa.timeouts = { connect: '2s', first_byte: '7s', total: '33s' };
    writeFileSync(gw.configFile, yaml(changed));
    assert.equal((await adminReload(gw)).status, 200);
    await answerOf(gw, 'm-a');
    assert.equal((await mock.stats()).connections_opened, openedAfterStreams + 1,
      'the changed provider opened a new connection');
    await answerOf(gw, 'm-b');
    assert.equal((await mock.stats()).connections_opened, openedAfterStreams + 1,
      'the unchanged provider still reuses its pool');
  } finally {
    await gw.stop();
  }
});

test('a reload that rotates tenant keys takes effect at once; wrong keys stay 401', async () => {
  // One thread, so every request meets the same per-thread cache of authenticated keys.
  const gw = await startGateway(config('m-a'));
  try {
    const body = { model: 'm-a', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
    for (let i = 0; i < 3; i++) assert.equal((await chat(gw, body)).status, 200, 'the key works (and is cached)');
    for (const key of ['sk-acme-12', 'sk-acme-1234', 'sk-acme-124', 'x'.repeat(300)]) {
      const res = await chat(gw, body, { key });
      assert.equal(res.status, 401, `wrong key ${key.slice(0, 20)} refused`);
      assert.equal(res.json.error.code, 'invalid_api_key');
    }

    // Rotate: the old key moves out, a new one (and a long one, past the cache's slot size) comes in.
    const rotated = config('m-a');
    const longKey = 'sk-long-' + 'k'.repeat(400);
    rotated.tenants.acme.keys = ['sk-acme-456', longKey];
    writeFileSync(gw.configFile, yaml(rotated));
    assert.equal((await adminReload(gw)).status, 200);

    const old = await chat(gw, body);
    assert.equal(old.status, 401, 'the removed key is refused right after the reload');
    assert.equal(old.json.error.code, 'invalid_api_key');
    for (let i = 0; i < 2; i++) {
      assert.equal((await chat(gw, body, { key: 'sk-acme-456' })).status, 200, 'the new key works');
      assert.equal((await chat(gw, body, { key: longKey })).status, 200, 'a long key works');
    }
    assert.equal((await chat(gw, body, { key: 'sk-acme-457' })).status, 401);
    assert.equal((await chat(gw, body, { key: longKey + 'x' })).status, 401);
    assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes('sk-acme-456')), 'no key in the logs');

    // The key moves to another tenant: requests are attributed to the new owner at once.
    const moved = config('m-a');
    moved.tenants.acme.keys = ['sk-acme-999'];
    moved.tenants.beta = { keys: ['sk-acme-456'], models: ['m-a'] };
    writeFileSync(gw.configFile, yaml(moved));
    assert.equal((await adminReload(gw)).status, 200);
    assert.equal((await chat(gw, body, { key: 'sk-acme-456' })).status, 200);
    const exposition = await metrics(gw);
    assert.ok(metricValue(exposition, 'switchboard_requests_total', { tenant: 'beta', status: '200' }) === 1,
      'the moved key is counted under its new tenant');
  } finally {
    await gw.stop();
  }
});

test('a broken file changes nothing: /admin/reload names FILE:LINE:COL, old routes served, error counted', async () => {
  const gw = await startGateway(config('m-a'));
  try {
    const errorsBefore = await reloads(gw, 'error');
    const broken = config('m-b');
    broken.routes.chat.targets = ['no-such-model'];
    broken.server.threads = 'two'; // a second error: every error is reported at once
    writeFileSync(gw.configFile, yaml(broken));

    const res = await adminReload(gw);
    assert.equal(res.status, 400);
    assert.equal(res.json.reloaded, false);
    assert.equal(res.json.errors.length, 2, JSON.stringify(res.json.errors));
    const esc = gw.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const key of ['server\\.threads', 'routes\\.chat']) {
      assert.ok(res.json.errors.some((e) => new RegExp(`^${esc}:\\d+:\\d+: ${key}`).test(e)),
        `an error names ${key} at FILE:LINE:COL: ${JSON.stringify(res.json.errors)}`);
    }
    assert.ok(!res.json.errors.join('\n').includes(UPSTREAM_KEY), 'no secret in the errors');
    assert.equal(await reloads(gw, 'error'), errorsBefore + 1);
    assert.equal(await reloads(gw, 'success'), 0);
    assert.equal(await answerOf(gw), 'alpha0 alpha1', 'old routes still served');
    assert.ok(gw.logs.some((l) => /reload rejected: .*routes\.chat/.test(l.msg ?? '')), 'error logged');

    // SIGHUP with the same broken file: also rejected, also counted.
    gw.proc.kill('SIGHUP');
    await waitFor(async () => (await reloads(gw, 'error')) === errorsBefore + 2, { what: 'SIGHUP error counted' });
    assert.equal(await answerOf(gw), 'alpha0 alpha1');
    const ready = await httpRequest(`${gw.url}/readyz`);
    assert.equal(ready.status, 200, 'still ready after failed reloads');
  } finally {
    await gw.stop();
  }
});

test('the watcher (server.watch_config) reloads on change during streams, reports a broken file once', async () => {
  const gw = await startGateway(config('m-a', { watch: true }));
  try {
    assert.equal(await answerOf(gw), 'alpha0 alpha1');
    await reloadDuringStreams(gw, {
      before: ALPHA, after: BRAVO,
      reload: () => writeFileSync(gw.configFile, yaml(config('m-b', { watch: true }))),
    });

    // A broken edit: one error (not one per poll), old routes kept.
    const errorsBefore = await reloads(gw, 'error');
    const broken = yaml(config('m-a', { watch: true })).replace('"drain_timeout": "10s"', '"drain_timeout": "ten"');
    writeFileSync(gw.configFile, broken);
    await waitFor(async () => (await reloads(gw, 'error')) === errorsBefore + 1, { what: 'watcher error counted' });
    await new Promise((r) => setTimeout(r, 2500)); // two more polls
    assert.equal(await reloads(gw, 'error'), errorsBefore + 1, 'a broken file is reported once');
    assert.equal(await answerOf(gw), 'bravo0 bravo1');
    assert.ok(gw.logs.some((l) => /reload rejected: .*:\d+:\d+: server\.drain_timeout/.test(l.msg ?? '')));

    // Fixing it reloads.
    writeFileSync(gw.configFile, yaml(config('m-a', { watch: true })));
    await waitFor(async () => (await answerOf(gw)) === 'alpha0 alpha1', { timeoutMs: 5000, what: 'fixed file loaded' });
  } finally {
    await gw.stop();
  }
});

/** Lay out a directory like the kubelet does for a ConfigMap volume; `swap` publishes new content. */
function configMapDir(root, text) {
  let version = 0;
  const publish = (content) => {
    const dir = `..${Date.now()}_${++version}`;
    mkdirSync(join(root, dir));
    writeFileSync(join(root, dir, 'switchboard.yaml'), content);
    // Atomic swap: a new symlink renamed over `..data`, as the kubelet's AtomicWriter does.
    symlinkSync(dir, join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
    return dir;
  };
  let current = publish(text);
  symlinkSync('..data/switchboard.yaml', join(root, 'switchboard.yaml'));
  return {
    file: join(root, 'switchboard.yaml'),
    swap(content) {
      const old = current;
      current = publish(content);
      rmSync(join(root, old), { recursive: true, force: true }); // the kubelet removes the old one
    },
  };
}

test('a ConfigMap-style ..data symlink swap is picked up by --watch-config', async () => {
  const root = tempDir('switchboard-cm-');
  const cm = configMapDir(root, yaml(config('m-a')));
  // --watch-config on the command line: the YAML does not ask for watching.
  const proc = spawn(BIN, ['--config', cm.file, '--watch-config'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { stderr += c; });
  proc.stdout.resume();
  const exited = new Promise((r) => proc.on('exit', r));
  try {
    const port = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1],
      { timeoutMs: 15_000, what: `gateway listening: ${stderr}` });
    const gw = { url: `http://127.0.0.1:${port}` };
    assert.equal(await answerOf(gw), 'alpha0 alpha1');

    cm.swap(yaml(config('m-b')));
    await waitFor(async () => (await answerOf(gw)) === 'bravo0 bravo1', { timeoutMs: 5000, what: 'swap picked up' });
    assert.equal(await reloads(gw, 'success'), 1);
    assert.match(stderr, /config watch: .*switchboard\.yaml changed, reloading/);
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(root, { recursive: true, force: true });
  }
});

test('server.watch_config is validated like every key', async () => {
  const { execFileSync } = await import('node:child_process');
  const dir = tempDir();
  const file = join(dir, 'bad.yaml');
  const cfg = config('m-a');
  cfg.server.watch_config = 'sometimes';
  writeFileSync(file, yaml(cfg));
  let failure;
  try {
    execFileSync(BIN, ['--check-config', file], { stdio: 'pipe' });
  } catch (err) {
    failure = err;
  }
  assert.equal(failure?.status, 1);
  assert.match(failure.stderr.toString(), /bad\.yaml:\d+:\d+: server\.watch_config: /);
  cfg.server.watch_config = true;
  writeFileSync(file, yaml(cfg));
  assert.match(execFileSync(BIN, ['--check-config', file]).toString(), /: ok/);
  rmSync(dir, { recursive: true, force: true });
});
