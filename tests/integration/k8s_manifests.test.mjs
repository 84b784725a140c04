// docker/k8s: every manifest validates offline against the Kubernetes API schemas (kubernetes-models,
// prometheus-operator models for the ServiceMonitor) with unknown fields reported, and the objects
// agree with each other and with the gateway config in the ConfigMap (which passes --check-config).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { BIN, tempDir } from './lib/harness.mjs';

const K8S = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../docker/k8s');

const GROUPS = {
  v1: core, 'apps/v1': apps, 'policy/v1': policy, 'autoscaling/v2': autoscaling,
  'monitoring.coreos.com/v1': monitoring,
};

function modelFor(doc) {
  const Model = GROUPS[doc?.apiVersion]?.[doc?.kind];
  if (!Model) throw new Error(`no schema model for apiVersion ${doc?.apiVersion} kind ${doc?.kind}`);
  return Model;
}

/** Throws with the schema's message if `doc` is not a valid object of its kind. */
function validate(doc) {
  new (modelFor(doc))(doc).validate();
}

/**
 * The compiled schemas accept unknown fields (the API server with strict field validation does
 * not), so probe each key: a known field rejects at least one of these ill-typed values; an
 * unknown one (a typo such as `readinesProbe`) accepts them all.
 */
const PROBES = ['x', 1.5, true, [[]]];
function unknownFields(doc) {
  const Model = modelFor(doc);
  const unknown = [];
  const walk = (node, path) => {
    if (!node || typeof node !== 'object') return;
    for (const key of Object.keys(node)) {
      const at = [...path, key];
      if (at.length > 1 || !['apiVersion', 'kind'].includes(key)) {
        const known = PROBES.some((probe) => {
          const copy = structuredClone(doc);
          let parent = copy;
          for (const k of at.slice(0, -1)) parent = parent[k];
          parent[key] = probe;
          try { new Model(copy).validate(); return false; } catch { return true; }
        });
        if (!known) { unknown.push(at.join('.')); continue; }
      }
      walk(node[key], at);
    }
  };
  walk(doc, []);
  return unknown;
}

/** Every document of every YAML file in docker/k8s, with its file name. */
function loadAll() {
  const docs = [];
  for (const file of readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const d of YAML.parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${file}: YAML errors`);
      const doc = d.toJS();
      if (doc) docs.push({ file, doc });
    }
  }
  return docs;
}

const all = loadAll();
const manifests = all.filter(({ doc }) => doc.kind !== 'Kustomization');
const find = (kind, name) => {
  const hit = manifests.find(({ doc }) => doc.kind === kind && (!name || doc.metadata.name === name));
  assert.ok(hit, `a ${kind}${name ? ` named ${name}` : ''} in docker/k8s`);
  return hit.doc;
};
const gatewayDeployment = () => find('Deployment', 'switchboard');
const container = () => gatewayDeployment().spec.template.spec.containers.find((c) => c.name === 'switchboard');
const gatewayConfig = () => YAML.parse(find('ConfigMap', 'switchboard-config').data['switchboard.yaml']);

/** A config duration ("30s", "1m30s", "250ms") in seconds. */
function seconds(text) {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m;
  let consumed = '';
  while ((m = re.exec(text))) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
    consumed += m[0];
  }
  assert.equal(consumed, text, `duration ${text}`);
  return total;
}

const cpuCores = (q) => (String(q).endsWith('m') ? Number(String(q).slice(0, -1)) / 1000 : Number(q));
const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

test('every manifest validates against its API schema, with no unknown field', () => {
  const kinds = manifests.map(({ doc }) => `${doc.apiVersion}/${doc.kind}`).sort();
  for (const want of ['apps/v1/Deployment', 'v1/Service', 'v1/ConfigMap', 'v1/Secret',
    'autoscaling/v2/HorizontalPodAutoscaler', 'policy/v1/PodDisruptionBudget',
    'monitoring.coreos.com/v1/ServiceMonitor']) {
    assert.ok(kinds.includes(want), `docker/k8s has a ${want} (has ${kinds.join(', ')})`);
  }
  assert.equal(kinds.filter((k) => k === 'apps/v1/Deployment').length, 2, 'gateway and redis Deployments');
  for (const { file, doc } of manifests) {
    assert.doesNotThrow(() => validate(doc), `${file}: ${doc.kind}/${doc.metadata?.name}`);
    assert.deepEqual(unknownFields(doc), [], `${file}: ${doc.kind}/${doc.metadata?.name} has unknown fields`);
  }
});

test('the validator rejects broken manifests', () => {
  const broken = structuredClone(gatewayDeployment());
  broken.spec.replicas = 'two';
  assert.throws(() => validate(broken), /replicas must be integer/);

  const port = structuredClone(find('Service', 'switchboard'));
  port.spec.ports[0].port = '8080';
  assert.throws(() => validate(port), /port must be integer/);

  const typo = structuredClone(gatewayDeployment());
  const c = typo.spec.template.spec.containers[0];
  c.readinesProbe = c.readinessProbe;
  delete c.readinessProbe;
  assert.deepEqual(unknownFields(typo), ['spec.template.spec.containers.0.readinesProbe']);

  const sm = structuredClone(find('ServiceMonitor'));
  sm.spec.endpoints = 'http';
  assert.throws(() => validate(sm), /endpoints must be array/);

  assert.throws(() => validate({ apiVersion: 'apps/v2', kind: 'Deployment' }), /no schema model/);
});

test('kustomization.yaml lists every manifest file and only those', () => {
  const kustomization = all.find(({ doc }) => doc.kind === 'Kustomization')?.doc;
  assert.ok(kustomization, 'docker/k8s/kustomization.yaml');
  const files = [...new Set(manifests.map(({ file }) => file))].sort();
  assert.deepEqual([...kustomization.resources].sort(), files);
  assert.ok(manifests.every(({ doc }) => !doc.metadata.namespace), 'the namespace comes from kustomization');
  const image = container().image.split(':')[0];
  assert.ok(kustomization.images.some((i) => i.name === image), 'the images entry names the container image');
});

test("the ConfigMap's switchboard.yaml passes --check-config with the Secret's keys mounted", () => {
  const deployment = gatewayDeployment();
  const c = container();
  const configPath = c.args[c.args.indexOf('--config') + 1];
  const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.name, m]));
  const volumes = Object.fromEntries(deployment.spec.template.spec.volumes.map((v) => [v.name, v]));
  const cmVolume = Object.values(volumes).find((v) => v.configMap?.name === 'switchboard-config');
  const cmMount = c.volumeMounts.find((m) => m.name === cmVolume.name);
  assert.equal(dirname(configPath), cmMount.mountPath, '--config points into the ConfigMap mount');
  assert.equal(cmMount.subPath, undefined, 'no subPath: a subPath mount never sees ConfigMap updates');
  const configText = find('ConfigMap', 'switchboard-config').data[configPath.split('/').pop()];
  assert.ok(configText, `the ConfigMap has the key ${configPath.split('/').pop()}`);

  const secret = find('Secret', 'switchboard-keys');
  const secretVolume = Object.values(volumes).find((v) => v.secret?.secretName === secret.metadata.name);
  const secretDir = mounts[secretVolume.name].mountPath;
  const referenced = [...configText.matchAll(/\$\{file:([^}]+)\}/g)].map((m) => m[1]);
  assert.ok(referenced.length >= 3, 'keys come from the mounted Secret');
  for (const file of referenced) {
    assert.equal(dirname(file), secretDir, `${file} is in the Secret mount`);
    assert.ok(file.split('/').pop() in secret.stringData, `the Secret has ${file.split('/').pop()}`);
  }
  assert.ok(!/\$\{(?!file:)/.test(configText), 'no env vars needed');

  // Lay the Secret out like the kubelet does, point the config at it, and check.
  const dir = tempDir('switchboard-k8s-');
  try {
    mkdirSync(join(dir, 'secrets'));
    for (const [k, v] of Object.entries(secret.stringData)) writeFileSync(join(dir, 'secrets', k), v);
    const file = join(dir, 'switchboard.yaml');
    writeFileSync(file, configText.replaceAll(`${secretDir}/`, `${join(dir, 'secrets')}/`));
    const out = execFileSync(BIN, ['--check-config', file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    assert.match(out, /: ok/);
    // And it really is strict: the same file with one typo is rejected.
    writeFileSync(file, readFileSync(file, 'utf8').replace('drain_timeout:', 'drain_timeot:'));
    assert.throws(() => execFileSync(BIN, ['--check-config', file], { stdio: 'pipe' }), /drain_timeot/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probes, ports and selectors agree with the config and each other', () => {
  const config = gatewayConfig();
  const listenPort = Number(config.server.listen.split(':').pop());
  const c = container();
  const named = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
  const portOf = (p) => (typeof p === 'number' ? p : named[p]);
  assert.equal(portOf('http'), listenPort, 'containerPort http = server.listen port');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    assert.equal(portOf(probe.httpGet.port), listenPort, 'probe port = server.listen port');
  }

  const podLabels = gatewayDeployment().spec.template.metadata.labels;
  assert.ok(matches(gatewayDeployment().spec.selector.matchLabels, podLabels));
  const service = find('Service', 'switchboard');
  assert.ok(matches(service.spec.selector, podLabels), 'Service selects the gateway pods');
  assert.equal(portOf(service.spec.ports[0].targetPort), listenPort);
  assert.ok(matches(find('PodDisruptionBudget').spec.selector.matchLabels, podLabels));
  const sm = find('ServiceMonitor');
  assert.ok(matches(sm.spec.selector.matchLabels, service.metadata.labels), 'ServiceMonitor selects the Service');
  assert.ok(sm.spec.endpoints.every((e) => service.spec.ports.some((p) => p.name === e.port) && e.path === '/metrics'));
  const hpa = find('HorizontalPodAutoscaler');
  assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ['Deployment', 'switchboard']);
  assert.ok(hpa.spec.minReplicas > find('PodDisruptionBudget').spec.minAvailable, 'a disruption leaves one serving');
  assert.ok(c.resources.requests.cpu, 'the HPA needs a CPU request');

  // Shared state points at the Redis Service.
  assert.equal(config.state.backend, 'redis');
  const redisUrl = new URL(config.state.redis.url);
  const redis = find('Service', redisUrl.hostname);
  assert.equal(redis.spec.ports[0].port, Number(redisUrl.port));
  const redisPods = find('Deployment', 'switchboard-redis').spec.template.metadata.labels;
  assert.ok(matches(redis.spec.selector, redisPods));
});

test('shutdown: the grace period covers the preStop sleep plus the drain; threads fit the CPU limit', () => {
  const config = gatewayConfig();
  const spec = gatewayDeployment().spec.template.spec;
  const c = container();
  const preStop = c.lifecycle.preStop.exec.command;
  assert.equal(preStop[0], 'sleep');
  const drain = seconds(config.server.drain_timeout ?? '30s');
  assert.ok(spec.terminationGracePeriodSeconds > Number(preStop[1]) + drain,
    `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} > ${preStop[1]} + ${drain}`);
  assert.equal(config.server.watch_config, true, 'ConfigMap edits are reloaded in place');
  assert.ok(config.server.threads >= 1 && config.server.threads <= cpuCores(c.resources.limits.cpu),
    'server.threads set and within the CPU limit (0 would use the node\'s core count)');
  assert.ok(spec.securityContext.runAsNonRoot && spec.securityContext.runAsUser === 10001,
    'runs as the image\'s non-root user');
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
});
