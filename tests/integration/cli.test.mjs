// The command line: --version, and --check-config's exit codes and FILE:LINE:COL error lines.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, tempDir } from './lib/harness.mjs';

const dir = tempDir('switchboard-cli-');
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args, env = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 15_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: (r.stdout + r.stderr).split('\n').filter(Boolean) };
}

function write(name, text) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The SPEC's error line: FILE:LINE:COL: key.path: message */
const errorLine = (file) => new RegExp(`^${escape(file)}:(\\d+):(\\d+): ([\\w.\\[\\]-]+): (.+)$`);

const GOOD = `
server:
  listen: "127.0.0.1:0"
  header_timeout: 2s
  max_request_bytes: 1MiB
providers:
  demo: {type: mock}
models:
  demo-model: {provider: demo, model: demo, price: {input: 0.1, output: 0.2}}
tenants:
  acme:
    keys: ["sk-acme"]
    rate_limit: {rpm: 600}
`;

test('--version prints a version and exits 0', () => {
  const r = run(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\b\d+\.\d+\.\d+\b/);
});

test('--check-config on a valid file exits 0', () => {
  const file = write('good.yaml', GOOD);
  const r = run(['--check-config', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('--check-config reports a typo, a bad duration and missing providers, one line each', () => {
  const file = write('broken.yaml', [
    'server:', //                          1
    '  listen: "127.0.0.1:0"', //          2
    '  header_timeout: 10 seconds', //     3
    'models:', //                          4
    '  m: {provider: demo, model: x}', //  5
    'tenants:', //                         6
    '  acme:', //                          7
    '    keys: ["k"]', //                  8
    '    rate_limit: {rmp: 600}', //       9
    '',
  ].join('\n'));
  const r = run(['--check-config', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const re = errorLine(file);
  const errors = r.lines.map((l) => re.exec(l)).filter(Boolean);
  assert.ok(errors.length >= 3, `expected at least 3 error lines, got:\n${r.lines.join('\n')}`);
  for (const l of r.lines) assert.match(l, re, 'every output line is FILE:LINE:COL: key.path: message');

  const byPath = (p) => errors.find((m) => m[3] === p);
  const typo = byPath('tenants.acme.rate_limit.rmp');
  assert.ok(typo, 'the typo is reported at its key path');
  assert.equal(typo[1], '9', 'on the line where it is written');
  assert.match(typo[4], /did you mean "?rpm"?/i);

  const duration = byPath('server.header_timeout');
  assert.ok(duration, 'the bad duration is reported');
  assert.equal(duration[1], '3');
  assert.match(duration[4], /duration/i);

  assert.ok(errors.some((m) => m[3] === 'providers' && /missing|required/i.test(m[4])), 'missing providers is reported');
});

test('--check-config suggests the nearest key for a top-level typo', () => {
  const file = write('typo.yaml', GOOD.replace('server:', 'sever:'));
  const r = run(['--check-config', file]);
  assert.equal(r.code, 1);
  const m = r.lines.map((l) => errorLine(file).exec(l)).find(Boolean);
  assert.ok(m, r.lines.join('\n'));
  assert.match(m[4], /did you mean "?server"?/i);
});

test('--check-config names a missing environment variable', () => {
  const file = write('env.yaml', GOOD.replace('"sk-acme"', '"${SWITCHBOARD_IT_SURELY_UNSET}"'));
  const r = run(['--check-config', file], { SWITCHBOARD_IT_SURELY_UNSET: undefined });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.lines.some((l) => errorLine(file).test(l) && l.includes('SWITCHBOARD_IT_SURELY_UNSET')), r.lines.join('\n'));
  const ok = run(['--check-config', file], { SWITCHBOARD_IT_SURELY_UNSET: 'sk-from-env' });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
});

test('--check-config on a missing file exits 1', () => {
  const r = run(['--check-config', join(dir, 'does-not-exist.yaml')]);
  assert.equal(r.code, 1);
});

test('--config with an invalid file refuses to start', () => {
  const file = write('broken-run.yaml', GOOD.replace('2s', 'soon'));
  const r = run(['--config', file]);
  assert.notEqual(r.code, 0);
  assert.ok(!r.lines.some((l) => /listening on/.test(l)), 'it never listened');
  assert.ok(r.lines.some((l) => l.includes('server.header_timeout')), r.lines.join('\n'));
});
