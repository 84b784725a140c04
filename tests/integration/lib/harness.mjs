// Start and stop the real switchboard binary, its --mock-upstream, node fake upstreams and test PKI.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import https from 'node:https';

const here = fileURLToPath(new URL('.', import.meta.url));

// CTest sets SWITCHBOARD_BIN; by hand the default is the build tree next to this checkout.
export const BIN = process.env.SWITCHBOARD_BIN
  ? resolve(process.env.SWITCHBOARD_BIN)
  : resolve(here, '../../../build/switchboard');

export const CLIENT_KEY = 'sk-acme-123';
export const UPSTREAM_KEY = 'upstream-key-1';
export const ADMIN_KEY = 'admin-secret';

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;

// Every child we spawn, so a failing test (or a crash of the runner) never leaves one behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export function tempDir(prefix = 'switchboard-it-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Poll `probe` (sync or async) until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor(probe, { timeoutMs = 5000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (last instanceof Error ? `: ${last.message}` : ''));
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function splitLines(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) onLine(line);
    }
  });
  stream.on('end', () => { if (buf.trim()) onLine(buf); });
}

function parseOrRaw(line) {
  try { return JSON.parse(line); } catch { return { raw: line }; }
}

/**
 * Spawn the binary with `args`; resolve once a stderr log line's msg matches `readyPattern`
 * (capture group 1 is HOST:PORT). Logs (stderr) and stdout lines are collected as they arrive.
 */
async function spawnServer(args, { readyPattern, env = {}, name }) {
  const proc = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const logs = [];
  const stdoutLines = [];
  let stderrText = '';
  let stdoutText = '';
  const exited = new Promise((res) => {
    proc.on('exit', (code, signal) => { live.delete(proc); res({ code, signal }); });
  });
  let onReady;
  const ready = new Promise((res) => { onReady = res; });
  splitLines(proc.stderr, (line) => {
    stderrText += line + '\n';
    const entry = parseOrRaw(line);
    logs.push(entry);
    const m = readyPattern.exec(entry.msg ?? entry.raw ?? '');
    if (m) onReady(m[1]);
  });
  splitLines(proc.stdout, (line) => {
    stdoutText += line + '\n';
    stdoutLines.push(line);
  });
  proc.on('error', (err) => { stderrText += `spawn error: ${err.message}\n`; });

  let timer;
  const address = await Promise.race([
    ready,
    exited.then(({ code, signal }) => {
      throw new Error(`${name} exited before listening (code ${code}, signal ${signal}):\n${stderrText}`);
    }),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${name} did not report listening within ${READY_TIMEOUT_MS} ms:\n${stderrText}`)), READY_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  const port = Number(address.slice(address.lastIndexOf(':') + 1));

  let exitInfo = null;
  exited.then((info) => { exitInfo = info; });
  return {
    proc,
    port,
    logs,
    stdoutLines,
    get stderrText() { return stderrText; },
    get stdoutText() { return stdoutText; },
    get exitInfo() { return exitInfo; },
    waitExit: () => exited,
    /** Signal the process and wait for it to exit; SIGKILL if it does not within the timeout. */
    async stop(signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS) {
      if (exitInfo || proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const info = await exited;
      clearTimeout(timer);
      return info;
    },
  };
}

/** `switchboard --mock-upstream 127.0.0.1:0`, with a `stats()` reader that keeps one stable connection. */
export async function startMockUpstream({ env } = {}) {
  const server = await spawnServer(['--mock-upstream', '127.0.0.1:0'], {
    readyPattern: /mock upstream listening on (\S+:\d+)/,
    env,
    name: 'mock upstream',
  });
  const url = `http://127.0.0.1:${server.port}`;
  // One keep-alive socket for stats, so reading them adds exactly one stable connection to the count.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const stop = server.stop;
  return Object.assign(server, {
    url,
    baseURL: `${url}/v1`,
    async stats() {
      const res = await httpRequest(`${url}/mock/stats`, { agent });
      return JSON.parse(res.body);
    },
    async stop(signal) {
      agent.destroy();
      return stop(signal);
    },
  });
}

/** Very small YAML writer: JSON is valid YAML, so objects are written as JSON. */
function toYaml(config) {
  return typeof config === 'string' ? config : JSON.stringify(config, null, 2) + '\n';
}

/**
 * Run the gateway on `config` (object or YAML text). Trace lines (stdout, JSON) land in `traces`,
 * log lines (stderr, JSON) in `logs`.
 */
export async function startGateway(config, { env, dir = tempDir() } = {}) {
  const file = join(dir, 'switchboard.yaml');
  writeFileSync(file, toYaml(config));
  const server = await spawnServer(['--config', file], {
    readyPattern: /^listening on (\S+:\d+)/,
    env,
    name: 'gateway',
  });
  const scheme = /\(.*https/.test(server.logs.find((l) => /^listening on/.test(l.msg ?? ''))?.msg ?? '')
    ? 'https' : 'http';
  const traces = () => server.stdoutLines.map(parseOrRaw);
  // defineProperty, not Object.assign: assign would copy a getter's current value, not the getter.
  Object.defineProperty(server, 'traces', { get: traces, enumerable: true });
  return Object.assign(server, {
    configFile: file,
    url: `${scheme}://127.0.0.1:${server.port}`,
    pid: server.proc.pid,
    /** Wait for the trace record matching `pred` (traces are written asynchronously). */
    waitForTrace(pred, timeoutMs = 5000) {
      return waitFor(() => traces().find(pred), { timeoutMs, what: 'trace record' });
    },
  });
}

/** The config every test starts from: one openai-compatible provider, one in-process mock. */
export function baseConfig(upstreamBaseURL, overrides = {}) {
  const config = {
    server: {
      listen: '127.0.0.1:0', threads: 2, max_request_bytes: '64KiB',
      header_timeout: '1s', idle_timeout: '5s', drain_timeout: '10s',
    },
    auth: { mode: 'keys', admin_keys: [ADMIN_KEY] },
    observability: { log: { level: 'info', format: 'json' }, traces: { file: '-' } },
    providers: {
      up: { type: 'openai-compatible', base_url: upstreamBaseURL, keys: [UPSTREAM_KEY] },
      local: { type: 'mock' },
    },
    models: {
      'gpt-test': { provider: 'up', model: 'mock-model', price: { input: 1.0, output: 2.0 } },
      'emb-test': { provider: 'up', model: 'mock-embed', kind: 'embedding', price: { input: 0.1, output: 0 } },
      'local-test': { provider: 'local', model: 'local-model', price: { input: 1.0, output: 1.0 } },
    },
    tenants: {
      acme: { keys: [CLIENT_KEY], models: ['gpt-test', 'emb-test'] },
    },
  };
  return { ...config, ...overrides };
}

/**
 * A plain node HTTP request (no pooling unless `agent` is given). Resolves with
 * {status, headers, body, json}; `body` may be a string or an object (sent as JSON).
 */
export function httpRequest(url, { method = 'GET', headers = {}, body, agent = false, ca, timeoutMs = 15_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const payload = body === undefined ? undefined
      : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const h = { ...headers };
    if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) {
      h['content-type'] = 'application/json';
    }
    if (payload !== undefined) h['content-length'] = Buffer.byteLength(payload);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(u, { method, headers: h, agent, ca, servername: u.hostname === '127.0.0.1' ? undefined : u.hostname }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(data); } catch { json = undefined; }
        resolvePromise({ status: res.statusCode, headers: res.headers, body: data, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** POST a chat completion as tenant acme (or with `key`). */
export function chat(gw, body, { key = CLIENT_KEY, headers = {}, ...rest } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  return httpRequest(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: h, body, ...rest });
}

/** Parse an SSE body into its data payloads (strings). */
export function sseData(text) {
  return text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim());
}

/** Sum of a Prometheus metric's samples whose labels include every `labels` pair. */
export function metricValue(exposition, name, labels = {}) {
  let sum = 0;
  let found = false;
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[3] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) {
      sum += Number(m[4]);
      found = true;
    }
  }
  return found ? sum : undefined;
}

/** Resident set size of a process in KiB, from /proc. */
export function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)[1]);
}

// ---------------------------------------------------------------------------------------------
// Test PKI: a CA, a server certificate for localhost/127.0.0.1, and one for the wrong host name.

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function issue(dir, name, subjectAltName, cn) {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${subjectAltName}`,
    '',
  ].join('\n'));
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', ext, '-out', `${name}.pem`], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/** Create the test PKI with the openssl CLI. Returns file paths plus the PEM text of the CA. */
export function makeTestPki(dir = tempDir('switchboard-pki-')) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Switchboard Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const localhost = issue(dir, 'localhost', 'DNS:localhost,IP:127.0.0.1', 'localhost');
  const wrong = issue(dir, 'wrong', 'DNS:wrong.example', 'wrong.example');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem')),
    localhost,
    wrong,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------
// A strict OpenAI-compatible fake upstream in node (HTTP or HTTPS) that records every request.

function words(s) {
  return String(s ?? '').split(/\s+/).filter(Boolean).length;
}

function lastUserText(body) {
  const msgs = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i].role === 'user') {
      const c = msgs[i].content;
      return typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text ?? '').join(' ') : '';
    }
  }
  return '';
}

function openaiError(res, status, message, type, code) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, code, param: null } }));
}

function answerChat(res, body, reply) {
  const text = reply ?? `fake: ${lastUserText(body)}`;
  const usage = { prompt_tokens: words(lastUserText(body)), completion_tokens: words(text) };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const id = `chatcmpl-fake-${Math.random().toString(16).slice(2)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model;
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage,
    }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chunk = (delta, finish, extra = {}) => `data: ${JSON.stringify({
    id, object: 'chat.completion.chunk', created, model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra,
  })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '' }, null));
  for (const [i, w] of text.split(' ').entries()) res.write(chunk({ content: (i ? ' ' : '') + w }, null));
  res.write(chunk({}, 'stop'));
  if (body.stream_options?.include_usage) {
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}

/**
 * Start a fake provider. `tls: {cert, key}` (file paths) makes it HTTPS. Every request is
 * recorded in `requests` as {method, url, headers, body}. `reply` fixes the completion text.
 */
export async function startFakeUpstream({ tls, reply } = {}) {
  const requests = [];
  const handler = (req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      let body;
      try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, raw, servername: req.socket.servername });
      // Strict like the real API.
      const auth = req.headers.authorization ?? '';
      if (!/^Bearer \S+$/.test(auth)) {
        return openaiError(res, 401, "You didn't provide an API key.", 'invalid_request_error', 'invalid_api_key');
      }
      if (req.method === 'POST' && !(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return openaiError(res, 400, 'content-type must be application/json', 'invalid_request_error', null);
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
          return openaiError(res, 400, 'model and messages are required', 'invalid_request_error', null);
        }
        return answerChat(res, body, reply);
      }
      if (req.method === 'POST' && req.url === '/v1/embeddings') {
        const inputs = Array.isArray(body?.input) ? body.input : [body?.input];
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({
          object: 'list', model: body.model,
          data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3] })),
          usage: { prompt_tokens: inputs.reduce((n, s) => n + words(s), 0), total_tokens: 0 },
        }));
      }
      return openaiError(res, 404, `Unknown request URL: ${req.method} ${req.url}`, 'invalid_request_error', 'unknown_url');
    });
  };
  const server = tls
    ? https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler)
    : http.createServer(handler);
  const tlsErrors = [];
  server.on('tlsClientError', (err) => tlsErrors.push(err));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const scheme = tls ? 'https' : 'http';
  return {
    port,
    requests,
    tlsErrors,
    url: `${scheme}://127.0.0.1:${port}`,
    /** The base URL as a provider sees it, with the host name `host` (localhost for TLS tests). */
    baseURL: (host = '127.0.0.1') => `${scheme}://${host}:${port}/v1`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}
