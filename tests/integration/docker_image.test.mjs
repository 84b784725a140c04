// docker/Dockerfile without a Docker daemon: the build stage installs what .ci/deps installs to
// build, the runtime stage installs the Debian package of every library `ldd build/switchboard`
// lists, the image runs as non-root and probes itself with `switchboard --healthcheck`, whose
// behaviour (exit codes, timeout, HTTPS) is tested here against real servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { BIN, startGateway, baseConfig, makeTestPki } from './lib/harness.mjs';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const dockerfile = readFileSync(resolve(ROOT, 'docker/Dockerfile'), 'utf8');

/** Instructions per stage: [{from, lines: [{op, args}]}], continuation lines joined, comments dropped. */
function parseDockerfile(text) {
  const logical = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (!line && !current)) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
    } else {
      logical.push((current + line).trim());
      current = '';
    }
  }
  const stages = [];
  for (const l of logical.filter(Boolean)) {
    const [, op, args] = /^(\w+)\s*(.*)$/.exec(l);
    if (op.toUpperCase() === 'FROM') stages.push({ from: args, lines: [] });
    else if (stages.length) stages.at(-1).lines.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

/** Package names of every `apt-get install` in a stage. */
function aptPackages(stage) {
  const out = [];
  for (const { op, args } of stage.lines.filter((l) => l.op === 'RUN')) {
    for (const cmd of args.split(/&&|;/)) {
      const m = /apt-get\s+install\s+(.*)/.exec(cmd);
      if (m) out.push(...m[1].split(/\s+/).filter((w) => w && !w.startsWith('-')));
    }
  }
  return out;
}

const stages = parseDockerfile(dockerfile);
const [build, runtime] = stages;

test('two stages on Debian bookworm: a builder and a slim runtime', () => {
  assert.equal(stages.length, 2);
  assert.match(dockerfile, /^ARG DEBIAN_RELEASE=bookworm$/m);
  assert.match(build.from, /^debian:\$\{DEBIAN_RELEASE\} AS build$/);
  assert.equal(runtime.from, 'debian:${DEBIAN_RELEASE}-slim');
  const runs = build.lines.filter((l) => l.op === 'RUN').map((l) => l.args).join('\n');
  assert.match(runs, /bash \.ci\/build -DSWITCHBOARD_BUILD_TESTS=OFF/, 'built by the CI build script');
});

test('the build stage installs every build package .ci/deps installs', () => {
  const deps = readFileSync(resolve(ROOT, '.ci/deps'), 'utf8');
  const list = /^packages=\(([^)]*)\)/m.exec(deps)[1].replace(/#.*$/gm, '').split(/\s+/).filter(Boolean);
  // What the image does not need: it builds without tests and without a compiler cache.
  const notForTheImage = {
    ccache: 'compiler cache for developers', git: 'not used by the build',
    openssl: 'the CLI makes the test PKI', 'libgtest-dev': 'tests are off',
    'redis-server': 'test fixture', prometheus: 'promtool for tests',
  };
  const have = new Set(aptPackages(build));
  const missing = list.filter((p) => !(p in notForTheImage) && !have.has(p));
  assert.deepEqual(missing, [], 'packages .ci/deps installs that the Dockerfile build stage lacks');
  assert.ok(list.length > 10, `parsed .ci/deps packages: ${list.join(' ')}`);
});

test('the runtime stage installs the package of every library ldd lists, and no -dev package', (t) => {
  if (spawnSync('dpkg', ['--version']).status !== 0) return t.skip('no dpkg on this machine');
  const ldd = execFileSync('ldd', [BIN]).toString();
  const libs = [...ldd.matchAll(/=>\s+(\/\S+)/g)].map((m) => m[1]);
  assert.ok(libs.length >= 5, ldd);
  const owners = new Set();
  for (const lib of libs) {
    // dpkg -S knows the path the package shipped; try the resolved file and the link.
    const tries = [realpathSync(lib), lib, lib.replace(/^\/lib\//, '/usr/lib/'), realpathSync(lib).replace(/^\/lib\//, '/usr/lib/')];
    const found = tries.map((p) => spawnSync('dpkg', ['-S', p])).find((r) => r.status === 0);
    assert.ok(found, `no Debian package owns ${lib}`);
    owners.add(found.stdout.toString().split(':')[0]);
  }
  const installed = new Set(aptPackages(runtime));
  const fromBase = new Set(['libc6']); // in every Debian image
  const missing = [...owners].filter((p) => !installed.has(p) && !fromBase.has(p));
  assert.deepEqual(missing, [], `runtime packages missing for: ${[...owners].join(' ')}`);
  assert.ok(installed.has('ca-certificates'), 'CA certificates for TLS to providers');
  assert.deepEqual([...installed].filter((p) => p.endsWith('-dev')), []);
});

test('the runtime image: only the binary from the builder, non-root, self-probing health check', () => {
  const ops = (op) => runtime.lines.filter((l) => l.op === op).map((l) => l.args);
  assert.deepEqual(ops('COPY').filter((a) => a.startsWith('--from')),
    ['--from=build /src/build/switchboard /usr/local/bin/switchboard']);
  const user = ops('USER');
  assert.equal(user.length, 1);
  assert.match(user[0], /^[1-9]\d*:[1-9]\d*$/, 'a numeric non-root uid:gid (runAsNonRoot can check it)');
  assert.match(dockerfile, /useradd --system --uid 10001/);
  const [health] = ops('HEALTHCHECK');
  const cmd = JSON.parse(/CMD\s+(\[.*\])/.exec(health)[1]);
  assert.deepEqual(cmd.slice(0, 2), ['/usr/local/bin/switchboard', '--healthcheck']);
  const expose = Number(ops('EXPOSE')[0]);
  assert.equal(new URL(cmd[2]).port, String(expose), 'the probe hits the exposed port');
  // The default config the image ships listens on that port too.
  const config = readFileSync(resolve(ROOT, 'config/switchboard.yaml'), 'utf8');
  assert.match(config, new RegExp(`listen: "\\$\\{SWITCHBOARD_LISTEN:-0\\.0\\.0\\.0:${expose}\\}"`));
  assert.deepEqual(JSON.parse(ops('ENTRYPOINT')[0]), ['/usr/local/bin/switchboard']);
});

test('.dockerignore lets in exactly what the build stage copies', () => {
  const ignore = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '**', 'everything else (build/, node_modules, results) stays out');
  const allowed = ignore.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, ''));
  const sources = [...build.lines, ...runtime.lines].filter((l) => l.op === 'COPY' && !l.args.startsWith('--from'))
    .map((l) => l.args.split(/\s+/).slice(0, -1)).flat();
  for (const src of sources) {
    const s = src.replace(/\/$/, '');
    assert.ok(s === '.' || allowed.some((a) => s === a || s.startsWith(`${a}/`)), `COPY ${src} is not excluded`);
  }
});

// ---- switchboard --healthcheck -----------------------------------------------------------------

/** Async: the servers answering it run in this process, so the event loop must keep turning. */
function healthcheck(url) {
  return new Promise((resolvePromise) => {
    execFile(BIN, ['--healthcheck', url], { timeout: 10_000 }, (err, _stdout, stderr) => {
      resolvePromise({ code: err ? err.code : 0, stderr });
    });
  });
}

test('--healthcheck: 0 on a 200, 1 on other statuses, refused connections and silence, 2 on a bad URL', async () => {
  const gw = await startGateway(baseConfig('http://127.0.0.1:9/v1'));
  const silent = net.createServer(() => {}); // accepts, never answers
  const unavailable = http.createServer((req, res) => { res.writeHead(503); res.end('draining'); });
  await Promise.all([silent, unavailable].map((s) => new Promise((r) => s.listen(0, '127.0.0.1', r))));
  try {
    assert.deepEqual(await healthcheck(`${gw.url}/healthz`), { code: 0, stderr: '' });
    assert.equal((await healthcheck(`http://localhost:${gw.port}/readyz`)).code, 0, 'host names resolve');
    const notFound = await healthcheck(`${gw.url}/nope`);
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /HTTP\/1\.1 404/);
    const busy = await healthcheck(`http://127.0.0.1:${unavailable.address().port}/readyz`);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /503/);
    const started = Date.now();
    const hang = await healthcheck(`http://127.0.0.1:${silent.address().port}/healthz`);
    assert.equal(hang.code, 1);
    assert.match(hang.stderr, /no answer within 3000 ms/);
    assert.ok(Date.now() - started < 6000);
    await gw.stop();
    const refused = await healthcheck(`${gw.url}/healthz`);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused/i);
    for (const bad of ['127.0.0.1:8080/healthz', 'ftp://x/y', 'http://:80/']) {
      assert.equal((await healthcheck(bad)).code, 2, bad);
    }
  } finally {
    await gw.stop();
    silent.close();
    unavailable.close();
  }
});

test('--healthcheck over HTTPS (a TLS-serving gateway; the certificate is not checked)', async () => {
  const pki = makeTestPki();
  const config = baseConfig('http://127.0.0.1:9/v1');
  config.server.tls = { cert_file: pki.wrong.cert, key_file: pki.wrong.key }; // even a wrong name
  const gw = await startGateway(config);
  try {
    assert.match(gw.url, /^https:/);
    assert.equal((await healthcheck(`${gw.url}/healthz`)).code, 0);
    assert.equal((await healthcheck(`http://127.0.0.1:${gw.port}/healthz`)).code, 1, 'plain HTTP to a TLS port fails');
  } finally {
    await gw.stop();
    pki.cleanup();
  }
});
