#!/usr/bin/env node
// Offline checks of the vigil chart's and manifests' output (run by tests/k8s/run).
//
//   check.js schema SCHEMA VALUES.json          values against values.schema.json (ajv, draft-07)
//   check.js chart RENDERED.yaml VALUES.json NOTES.txt OUTDIR [monitoring-api]
//                                                every object against the Kubernetes API
//                                                schemas, then the chart's promises
//                                                (monitoring-api: rendered with
//                                                --api-versions monitoring.coreos.com/v1)
//   check.js manifests RENDERED.yaml OUTDIR      the same for `kubectl kustomize` output
//                                                (and for a chart built on vigil-lib)
//   check.js component RENDERED.yaml OUTDIR "WANT..." "UNTOUCHED..."
//                                                the vigil-sidecar component's output
//   check.js dashboard DASHBOARD.json            the Grafana dashboard's shape and queries
//   check.js readme SCHEMA VALUES.yaml FILE.md   the values table in FILE.md (docs/chart-values.md) is the generated one
//   check.js readme-table SCHEMA VALUES.yaml     print that table
//
// OUTDIR receives config.json (the ConfigMap's, for `vigil validate`),
// config.env (dummy values for its ${VAR}s) and, when a PrometheusRule was
// rendered, rules.yaml (for promtool). Exit 1 with one line a failure.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const YAML = require('yaml');

const failures = [];
function fail(msg) { failures.push(msg); }
function expect(cond, msg) { if (!cond) fail(msg); return cond; }
function finish(what) {
  if (failures.length) {
    for (const f of failures) console.error(`FAIL ${f}`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------- models

const modelModules = {
  'v1': 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

function loadDocs(file) {
  const text = fs.readFileSync(file, 'utf8');
  const docs = YAML.parseAllDocuments(text);
  const objs = [];
  for (const d of docs) {
    if (d.errors.length) { fail(`${file}: YAML: ${d.errors[0].message}`); continue; }
    const o = d.toJSON();
    if (o === null || o === undefined) continue;
    objs.push(o);
  }
  return objs;
}

function validateModels(objs, where) {
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata && o.metadata.name}`;
    if (!expect(o.apiVersion && o.kind && o.metadata && o.metadata.name, `${where}: object without apiVersion/kind/metadata.name`)) continue;
    const mod = modelModules[o.apiVersion];
    if (!expect(mod, `${where}: ${id}: no model for apiVersion ${o.apiVersion}`)) continue;
    const Model = require(mod)[o.kind];
    if (!expect(Model, `${where}: ${id}: no model for kind ${o.kind} in ${o.apiVersion}`)) continue;
    try {
      new Model(o).validate();
    } catch (e) {
      fail(`${where}: ${id} is not a valid ${o.apiVersion} ${o.kind}: ${e.message}`);
    }
    expect(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.metadata.name) && o.metadata.name.length <= 63,
      `${where}: ${id}: name is not a DNS label of at most 63 characters`);
    const labelSets = [o.metadata.labels, o.spec && o.spec.template && o.spec.template.metadata && o.spec.template.metadata.labels,
      o.spec && o.spec.selector && (o.spec.selector.matchLabels || (o.kind === 'Service' ? o.spec.selector : undefined))];
    for (const labels of labelSets) {
      for (const [k, v] of Object.entries(labels || {})) {
        expect(typeof v === 'string' && v.length <= 63 && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v),
          `${where}: ${id}: label ${k}=${JSON.stringify(v)} is not a valid label value`);
      }
    }
  }
}

// ---------------------------------------------------------------- vigil config (the config file)

const TOP_KEYS = ['listen', 'drain_seconds', 'admin_token_file', 'log_format', 'defaults', 'fleet', 'kubernetes_events', 'kubernetes_api', 'checks'];
const FLEET_KEYS = ['peers', 'port', 'interval_ms', 'sample', 'timeout_ms', 'min_pods', 'token_file'];
const TIMING_KEYS = ['interval_ms', 'timeout_ms', 'unhealthy_threshold', 'healthy_threshold', 'jitter_percent', 'breaker'];
const BREAKER_KEYS = ['failure_threshold', 'recovery_timeout_ms', 'success_threshold'];
const CHECK_KEYS = ['name', 'kind', 'role', 'required', 'liveness', 'when_widespread', 'widespread_ratio', ...TIMING_KEYS];
const TLS_KEYS = ['tls', 'cert_expiry_warn_days'];
const KIND_KEYS = {
  redis: ['url', 'expect_role', 'max_memory_ratio', 'slow_ms', ...TLS_KEYS],
  postgres: ['url', 'require_primary', 'max_replication_lag_s', 'keep_open', 'statement_timeout_ms', ...TLS_KEYS],
  tcp: ['address'],
  http: ['url', 'expect_body_contains', 'expect_status', ...TLS_KEYS],
};
const ROLES = ['cache', 'pubsub', 'flags', 'queue', 'session', 'lock', 'idempotency', 'rate-limit', 'database', 'app'];

function unknownKeys(obj, allowed) { return Object.keys(obj || {}).filter((k) => !allowed.includes(k)); }

// Checks the config JSON for keys vigil refuses, and returns the ${VAR}s it
// uses; vars.files lists the files it reads (${file:/path}, tls.*_file).
function checkConfig(cfg, where) {
  const vars = new Set();
  vars.files = [];
  expect(unknownKeys(cfg, TOP_KEYS).length === 0, `${where}: unknown top-level keys ${unknownKeys(cfg, TOP_KEYS)}`);
  if (cfg.defaults) {
    expect(unknownKeys(cfg.defaults, TIMING_KEYS).length === 0, `${where}: unknown keys in defaults: ${unknownKeys(cfg.defaults, TIMING_KEYS)}`);
    expect(unknownKeys(cfg.defaults.breaker, BREAKER_KEYS).length === 0, `${where}: unknown keys in defaults.breaker`);
  }
  if (cfg.fleet !== undefined) {
    const f = cfg.fleet;
    expect(unknownKeys(f, FLEET_KEYS).length === 0, `${where}: unknown keys in fleet: ${unknownKeys(f, FLEET_KEYS)}`);
    expect((typeof f.peers === 'string' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(f.peers))
      || (Array.isArray(f.peers) && f.peers.length > 0 && f.peers.every((p) => /^[^\s:/]+:[0-9]{1,5}$/.test(p))),
    `${where}: fleet.peers ${JSON.stringify(f.peers)} is neither a DNS name nor a list of "host:port"`);
    const range = (k, lo, hi) => f[k] === undefined || (Number.isInteger(f[k]) && f[k] >= lo && f[k] <= hi);
    for (const [k, lo, hi] of [['port', 1, 65535], ['interval_ms', 500, 3600000], ['sample', 1, 1000], ['timeout_ms', 50, 60000], ['min_pods', 1, 100000]]) {
      expect(range(k, lo, hi), `${where}: fleet.${k} ${f[k]} is not a whole number in ${lo}..${hi}`);
    }
    expect((f.timeout_ms === undefined ? 500 : f.timeout_ms) < (f.interval_ms === undefined ? 5000 : f.interval_ms), `${where}: fleet.timeout_ms is not below fleet.interval_ms`);
    if (f.token_file) vars.files.push({ at: `${where}: fleet.token_file`, path: f.token_file });
  }
  expect(Array.isArray(cfg.checks) && cfg.checks.length > 0, `${where}: no checks`);
  const names = new Set();
  (cfg.checks || []).forEach((c, i) => {
    const at = `${where}: checks[${i}]`;
    expect(/^[a-z0-9-]{1,63}$/.test(c.name), `${at}.name ${JSON.stringify(c.name)} does not match [a-z0-9-]{1,63}`);
    expect(!names.has(c.name), `${at}.name ${c.name} is used twice`);
    names.add(c.name);
    if (!expect(KIND_KEYS[c.kind], `${at}.kind ${JSON.stringify(c.kind)} unknown`)) return;
    expect(ROLES.includes(c.role), `${at}.role ${JSON.stringify(c.role)} unknown`);
    const bad = unknownKeys(c, [...CHECK_KEYS, ...KIND_KEYS[c.kind]]);
    expect(bad.length === 0, `${at}: keys vigil does not know for a ${c.kind} check: ${bad}`);
    expect(unknownKeys(c.breaker, BREAKER_KEYS).length === 0, `${at}.breaker: unknown keys`);
    expect(c.when_widespread === undefined || ['unready', 'stay_ready'].includes(c.when_widespread), `${at}.when_widespread ${JSON.stringify(c.when_widespread)} is not unready or stay_ready`);
    expect(c.widespread_ratio === undefined || (typeof c.widespread_ratio === 'number' && c.widespread_ratio > 0 && c.widespread_ratio <= 1), `${at}.widespread_ratio is not in (0, 1]`);
    if (c.url) {
      const m = /^[a-z+]+:\/\/([^/@]*)@/.exec(c.url);
      if (m && m[1].includes(':')) {
        const pw = m[1].slice(m[1].indexOf(':') + 1);
        expect(/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(pw), `${at}.url holds a literal password, not a \${VAR}`);
      }
      const kw = /(^|\s)password\s*=\s*(\S*)/.exec(c.url);
      expect(!kw || /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(kw[2]), `${at}.url holds a literal password=, not a \${VAR}`);
      for (const v of c.url.matchAll(/\$\{([^}]*)\}/g)) {
        if (v[1].startsWith('file:')) vars.files.push({ at: `${at}.url`, path: v[1].slice(5) });
        else vars.add(v[1]);
      }
    }
    if (c.tls) {
      expect(unknownKeys(c.tls, ['ca_file', 'server_name', 'cert_file', 'key_file', 'insecure_skip_verify']).length === 0, `${at}.tls: unknown keys`);
      for (const k of ['ca_file', 'cert_file', 'key_file']) if (c.tls[k]) vars.files.push({ at: `${at}.tls.${k}`, path: c.tls[k], system: true });
    }
  });
  return vars;
}

// ---------------------------------------------------------------- pod checks

function containersOf(spec) {
  return [...(spec.initContainers || []), ...(spec.containers || [])];
}

function checkHardened(podSpec, where, tokenMounted = false) {
  const psc = podSpec.securityContext || {};
  // vigil.kubernetesEvents mounts the token (checkEvents); nothing else does.
  expect(podSpec.automountServiceAccountToken === tokenMounted, `${where}: automountServiceAccountToken is not ${tokenMounted}`);
  expect(psc.seccompProfile && psc.seccompProfile.type === 'RuntimeDefault', `${where}: pod seccompProfile is not RuntimeDefault`);
  for (const c of containersOf(podSpec)) {
    const sc = c.securityContext || {};
    const cw = `${where}: container ${c.name}`;
    expect(sc.allowPrivilegeEscalation === false, `${cw}: allowPrivilegeEscalation is not false`);
    expect(sc.readOnlyRootFilesystem === true, `${cw}: readOnlyRootFilesystem is not true`);
    expect(sc.privileged !== true, `${cw}: privileged`);
    expect(sc.capabilities && (sc.capabilities.drop || []).includes('ALL'), `${cw}: capabilities do not drop ALL`);
    expect(!(sc.capabilities && sc.capabilities.add && sc.capabilities.add.length), `${cw}: capabilities added`);
    expect(sc.runAsNonRoot === true || (psc.runAsNonRoot === true && sc.runAsNonRoot !== false), `${cw}: not runAsNonRoot`);
    const uid = sc.runAsUser !== undefined ? sc.runAsUser : psc.runAsUser;
    expect(uid === undefined || uid > 0, `${cw}: runs as uid 0`);
    expect(c.image && /[:@]/.test(c.image.split('/').pop()) && !/:latest$/.test(c.image), `${cw}: image ${c.image} is not pinned to a tag or digest`);
  }
}

function probePort(p) {
  const h = p.httpGet || p.tcpSocket;
  return h ? h.port : undefined;
}

// The kubelet-facing promises: probes at vigil's port and paths, drain fits
// in the grace period, Downward API, config mounted. Returns the vigil
// container and the config's checks.
function checkVigilPod(podSpec, opts, where) {
  const { vigilPort, native, drainSeconds, probes } = opts;
  const vigilInit = (podSpec.initContainers || []).find((c) => c.name === 'vigil');
  const vigilMain = (podSpec.containers || []).find((c) => c.name === 'vigil');
  let vigil;
  if (native) {
    expect(vigilInit && !vigilMain, `${where}: vigil is not (only) an init container although nativeSidecar is on`);
    expect(vigilInit && vigilInit.restartPolicy === 'Always', `${where}: native sidecar without restartPolicy: Always`);
    vigil = vigilInit;
  } else {
    expect(vigilMain && !vigilInit, `${where}: vigil is not (only) a regular container`);
    expect(!vigilMain || vigilMain.restartPolicy === undefined, `${where}: regular vigil container has a restartPolicy`);
    vigil = vigilMain;
  }
  if (!vigil) return null;
  expect((vigil.ports || []).some((p) => p.containerPort === vigilPort), `${where}: vigil does not declare containerPort ${vigilPort}`);
  const args = (vigil.command || []).concat(vigil.args || []);
  expect(args[0] === 'run' && args.includes('--config'), `${where}: vigil is not started as "run --config FILE": ${JSON.stringify(args)}`);
  const configFile = args[args.indexOf('--config') + 1];
  const mount = (vigil.volumeMounts || []).find((m) => configFile && configFile.startsWith(m.mountPath.replace(/\/?$/, '/')));
  expect(mount, `${where}: no volume mounted where --config ${configFile} is`);
  const vol = mount && (podSpec.volumes || []).find((v) => v.name === mount.name);
  expect(vol && vol.configMap && vol.configMap.name, `${where}: --config ${configFile} is not from a ConfigMap volume`);
  expect(!mount || !mount.subPath, `${where}: the config is mounted with subPath, which never sees ConfigMap updates`);

  const env = Object.fromEntries((vigil.env || []).map((e) => [e.name, e]));
  for (const [name, field] of [['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace'], ['NODE_NAME', 'spec.nodeName']]) {
    const e = env[name];
    expect(e && e.valueFrom && e.valueFrom.fieldRef && e.valueFrom.fieldRef.fieldPath === field, `${where}: vigil env ${name} is not the Downward API ${field}`);
  }

  // The pod's probes: on the app container(s), at vigil's port.
  const apps = (podSpec.containers || []).filter((c) => c.name !== 'vigil');
  expect(apps.length > 0, `${where}: no application container`);
  for (const app of apps) {
    for (const [kind, pathWanted] of [['livenessProbe', '/livez'], ['readinessProbe', '/readyz'], ['startupProbe', '/startupz']]) {
      if (probes && probes[kind] === false) continue;
      const p = app[kind];
      if (!expect(p, `${where}: app container ${app.name} has no ${kind}`)) continue;
      expect(probePort(p) === vigilPort, `${where}: ${app.name}.${kind} is not on vigil's port ${vigilPort} (${JSON.stringify(probePort(p))})`);
      expect(p.httpGet && p.httpGet.path === pathWanted, `${where}: ${app.name}.${kind} path is not ${pathWanted}`);
      expect((p.timeoutSeconds || 1) >= 1 && (p.periodSeconds || 10) >= 1, `${where}: ${app.name}.${kind} has bad timing`);
    }
    const ps = app.lifecycle && app.lifecycle.preStop;
    const sleep = ps ? (ps.sleep ? ps.sleep.seconds : (ps.exec && ps.exec.command[0] === 'sleep' ? Number(ps.exec.command[1]) : NaN)) : 0;
    expect(!Number.isNaN(sleep), `${where}: ${app.name} preStop is neither a sleep action nor "sleep N"`);
    const grace = podSpec.terminationGracePeriodSeconds === undefined ? 30 : podSpec.terminationGracePeriodSeconds;
    expect(grace > sleep + drainSeconds,
      `${where}: terminationGracePeriodSeconds ${grace} does not exceed preStop ${sleep} s + drain ${drainSeconds} s`);
  }
  // vigil's own liveness must not be /livez: that follows the app's checks.
  if (vigil.livenessProbe && vigil.livenessProbe.httpGet) {
    expect(vigil.livenessProbe.httpGet.path !== '/livez', `${where}: vigil's own livenessProbe uses /livez (restarts vigil when the app fails)`);
  }
  return { vigil, configMapName: vol && vol.configMap && vol.configMap.name, env };
}

// Every file the config reads is under one of the vigil container's mounts
// (a tls file may also be in the image's /etc/ssl).
function checkFilesMounted(vars, vigil, where) {
  const mounts = (vigil.volumeMounts || []).map((m) => m.mountPath.replace(/\/?$/, '/'));
  for (const f of vars.files || []) {
    const ok = mounts.some((m) => f.path.startsWith(m)) || (f.system && f.path.startsWith('/etc/ssl/'));
    expect(ok, `${where}: ${f.at} reads ${f.path}, which no volume of the vigil container provides`);
  }
}

// Every ${VAR} of the config is in vigil's env; Secrets come by reference.
function checkSecretsWiring(vars, env, where) {
  const entries = {};
  for (const v of vars) {
    const e = env[v];
    if (!expect(e, `${where}: \${${v}} in the config is not in vigil's env (vigil refuses it at start-up)`)) continue;
    expect(e.valueFrom && (e.valueFrom.secretKeyRef || e.valueFrom.fieldRef), `${where}: \${${v}} is not taken from a Secret (secretKeyRef) or the Downward API`);
    if (e.valueFrom && e.valueFrom.secretKeyRef) entries[v] = e.valueFrom.secretKeyRef;
  }
  return entries;
}

function writeConfigOut(outDir, configText, vars) {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'config.json'), configText);
  // Dummy values so that vigil validate can expand ${VAR}.
  fs.writeFileSync(path.join(outDir, 'config.env'), [...vars].map((v) => `${v}=dummy-${v.toLowerCase()}\n`).join(''));
}

// Two label maps with the same keys and values, in any order.
function sameMap(a, b) {
  const sorted = (m) => JSON.stringify(Object.entries(m || {}).sort());
  return sorted(a) === sorted(b);
}

function selectorMatches(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);
}

// ---------------------------------------------------------------- chart

function checkChart(renderedFile, valuesFile, notesFile, outDir, monitoringApi) {
  const where = path.basename(renderedFile);
  const values = JSON.parse(fs.readFileSync(valuesFile, 'utf8'));
  const rendered = fs.readFileSync(renderedFile, 'utf8');
  const objs = loadDocs(renderedFile);
  validateModels(objs, where);
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const V = values.vigil;
  const notesText = fs.readFileSync(notesFile, 'utf8');

  const deployments = byKind('Deployment');
  const dashLabel = values.dashboards && values.dashboards.label;
  const isDashboard = (o) => dashLabel && ((o.metadata.labels || {})[dashLabel] !== undefined);
  const cms = byKind('ConfigMap').filter((o) => !isDashboard(o));
  // The fleet's headless peers Service is checked apart (checkFleet).
  const isPeers = (o) => (o.metadata.labels || {})['app.kubernetes.io/component'] === 'fleet-peers';
  const services = byKind('Service').filter((o) => !isPeers(o));
  if (!expect(deployments.length === 1 && cms.length === 1 && services.length === 1,
    `${where}: want one Deployment, ConfigMap and Service, got ${deployments.length}/${cms.length}/${services.length}`)) return finish(where);
  const dep = deployments[0];
  const cm = cms[0];
  const svc = services[0];
  const pod = dep.spec.template;

  // ConfigMap: vigil's config, nothing else, no secret material.
  const configText = cm.data && cm.data['config.json'];
  let cfg = {};
  try { cfg = JSON.parse(configText); } catch (e) { fail(`${where}: ConfigMap config.json is not JSON: ${e.message}`); }
  expect(Object.keys(cm.data || {}).join() === 'config.json', `${where}: ConfigMap holds more than config.json`);
  const vars = checkConfig(cfg, `${where}: config.json`);
  expect(cfg.listen === `0.0.0.0:${V.port}`, `${where}: config listen ${cfg.listen} is not 0.0.0.0:${V.port}`);
  expect(cfg.drain_seconds === V.drainSeconds, `${where}: config drain_seconds ${cfg.drain_seconds} is not vigil.drainSeconds`);
  expect(cfg.log_format === V.logFormat, `${where}: config log_format is not vigil.logFormat`);
  for (const c of V.checks || []) {
    for (const k of ['existingSecret', 'existingSecretKey', 'secretEnv']) {
      if (c[k] !== undefined) expect(!configText.includes(`"${k}"`), `${where}: chart-only key ${k} reached the ConfigMap`);
    }
  }
  expect(byKind('Secret').length === 0, `${where}: the chart renders a Secret (passwords must come from existing Secrets)`);

  // Pod.
  checkHardened(pod.spec, `${where}: Deployment`, !!(values.vigil.kubernetesEvents && values.vigil.kubernetesEvents.enabled));
  const probes = {};
  for (const k of ['livenessProbe', 'readinessProbe', 'startupProbe']) if (!values[k]) probes[k] = false;
  const r = checkVigilPod(pod.spec, { vigilPort: V.port, native: !!V.nativeSidecar, drainSeconds: cfg.drain_seconds || 0, probes }, `${where}: Deployment`);
  if (r) {
    expect(r.configMapName === cm.metadata.name, `${where}: the pod mounts ConfigMap ${r.configMapName}, the chart renders ${cm.metadata.name}`);
    const refs = checkSecretsWiring(vars, r.env, `${where}: Deployment`);
    checkFilesMounted(vars, r.vigil, `${where}: Deployment`);
    for (const c of V.checks || []) {
      if (!c.existingSecret) continue;
      const envName = c.secretEnv || `${c.name.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
      const ref = refs[envName];
      expect(ref && ref.name === c.existingSecret && ref.key === (c.existingSecretKey || 'password'),
        `${where}: check ${c.name}: env ${envName} is not secretKeyRef ${c.existingSecret}/${c.existingSecretKey || 'password'}`);
      const rc = (cfg.checks || []).find((x) => x.name === c.name);
      expect(rc && rc.url.includes(`\${${envName}}`), `${where}: check ${c.name}: url in the ConfigMap does not use \${${envName}}`);
    }
    if (V.admin && V.admin.existingSecret) {
      const vol = (pod.spec.volumes || []).find((v) => v.secret && v.secret.secretName === V.admin.existingSecret);
      const m = vol && (r.vigil.volumeMounts || []).find((x) => x.name === vol.name);
      const item = vol && (vol.secret.items || []).find((i) => i.key === V.admin.existingSecretKey);
      expect(m && item && cfg.admin_token_file === `${m.mountPath}/${item.path}`,
        `${where}: admin_token_file ${cfg.admin_token_file} is not the mounted Secret ${V.admin.existingSecret}/${V.admin.existingSecretKey}`);
    } else {
      expect(cfg.admin_token_file === undefined, `${where}: admin_token_file set without vigil.admin.existingSecret`);
    }
  }
  // checksum/config: the sha256 of the config the ConfigMap holds.
  const ann = pod.metadata.annotations || {};
  if (V.rollOnConfigChange) {
    const sum = crypto.createHash('sha256').update(configText.replace(/\n$/, '')).digest('hex');
    expect(ann['checksum/config'] === sum, `${where}: checksum/config ${ann['checksum/config']} is not the sha256 of config.json (${sum})`);
  }

  // app.env goes through tpl: no template text reaches the pod.
  const appC = pod.spec.containers.find((c) => c.name === values.app.name);
  for (const e of (appC && appC.env) || []) {
    expect(!/\{\{|\}\}/.test(e.value || ''), `${where}: app env ${e.name} still holds template text: ${e.value}`);
  }
  for (const e of values.app.env || []) {
    if (/\{\{/.test(e.value || '')) {
      expect(((appC && appC.env) || []).some((x) => x.name === e.name && x.value), `${where}: app env ${e.name} (tpl) not rendered`);
    }
  }

  // Labels, Service, selectors.
  const sel = dep.spec.selector.matchLabels;
  expect(selectorMatches(sel, pod.metadata.labels), `${where}: Deployment selector does not match its pod labels`);
  expect(JSON.stringify(svc.spec.selector) === JSON.stringify(sel), `${where}: Service selector differs from the Deployment's`);
  const vport = (svc.spec.ports || []).find((p) => p.name === 'vigil');
  expect(vport && vport.targetPort === V.port, `${where}: Service port "vigil" does not target ${V.port}`);
  const hport = (svc.spec.ports || []).find((p) => p.name === 'http');
  const appPorts = pod.spec.containers.flatMap((c) => (c.name === 'vigil' ? [] : c.ports || []));
  expect(hport && appPorts.some((p) => p.name === hport.targetPort || p.containerPort === hport.targetPort),
    `${where}: Service port "http" targets ${hport && hport.targetPort}, which no app container declares`);
  for (const p of byKind('Pod')) {
    expect(!selectorMatches(svc.spec.selector, p.metadata.labels), `${where}: Service selects the test pod ${p.metadata.name}`);
  }

  // ServiceAccount.
  const sas = byKind('ServiceAccount');
  if (values.serviceAccount.create) {
    expect(sas.length === 1 && sas[0].metadata.name === pod.spec.serviceAccountName && sas[0].automountServiceAccountToken === false,
      `${where}: ServiceAccount missing, misnamed or automounting its token`);
  }

  // helm test hook: pinned image, GETs /health on the Service's vigil port.
  const tests = byKind('Pod').filter((p) => ((p.metadata.annotations || {})['helm.sh/hook'] || '').split(',').includes('test'));
  if (values.tests.enabled) {
    if (expect(tests.length === 1, `${where}: want one helm test pod, got ${tests.length}`)) {
      const t = tests[0];
      checkHardened(t.spec, `${where}: test pod`);
      const cmd = t.spec.containers[0].command.concat(t.spec.containers[0].args || []).join(' ');
      expect(cmd.includes(`http://${svc.metadata.name}:${vport && vport.port}/health`), `${where}: the test pod does not GET /health on the Service: ${cmd}`);
      expect(t.spec.restartPolicy === 'Never', `${where}: the test pod restarts`);
    }
  }

  // NOTES.txt: the selector and names it prints are the chart's.
  const notes = notesText;
  const l = /-l "([^"]+)"/.exec(notes);
  if (expect(l, `${where}: NOTES.txt has no -l "selector"`)) {
    const nsel = Object.fromEntries(l[1].split(',').map((kv) => kv.split('=')));
    expect(JSON.stringify(nsel) === JSON.stringify(sel), `${where}: NOTES.txt selector ${l[1]} is not the Deployment's`);
  }
  expect(notes.includes(`svc/${svc.metadata.name} `), `${where}: NOTES.txt does not port-forward to svc/${svc.metadata.name}`);
  expect(notes.includes('/health'), `${where}: NOTES.txt does not say how to see /health`);
  expect(!notes.includes('<no value>'), `${where}: NOTES.txt has <no value>`);

  // ServiceMonitor, PodMonitor and PrometheusRule: only with the operator's API.
  const sms = byKind('ServiceMonitor');
  const pms = byKind('PodMonitor');
  const prs = byKind('PrometheusRule');
  const api = monitoringApi === 'monitoring-api';
  expect(sms.length === (values.serviceMonitor.enabled && api ? 1 : 0), `${where}: ServiceMonitor count ${sms.length} does not follow serviceMonitor.enabled and the API's presence (${api})`);
  expect(pms.length === (values.podMonitor.enabled && api ? 1 : 0), `${where}: PodMonitor count ${pms.length} does not follow podMonitor.enabled and the API's presence (${api})`);
  expect(prs.length === (values.prometheusRule.enabled && api ? 1 : 0), `${where}: PrometheusRule count ${prs.length} does not follow prometheusRule.enabled and the API's presence (${api})`);
  if (!api && (values.serviceMonitor.enabled || values.podMonitor.enabled || values.prometheusRule.enabled)) {
    expect(notesText.includes('monitoring.coreos.com/v1'), `${where}: monitors enabled without the API, and NOTES.txt does not say why none was rendered`);
  }
  const sameList = (a, b) => JSON.stringify(a || []) === JSON.stringify(b || []);
  for (const sm of sms) {
    expect(selectorMatches(sm.spec.selector.matchLabels, svc.metadata.labels), `${where}: ServiceMonitor does not select the Service`);
    const ep = sm.spec.endpoints[0];
    expect(ep.port === 'vigil' && ep.path === '/metrics', `${where}: ServiceMonitor does not scrape port vigil /metrics`);
    expect((sm.spec.jobLabel || '') === values.serviceMonitor.jobLabel, `${where}: ServiceMonitor jobLabel is not serviceMonitor.jobLabel`);
    expect(sameList(sm.spec.targetLabels, values.serviceMonitor.targetLabels), `${where}: ServiceMonitor targetLabels differ from the values`);
    expect(sameList(sm.spec.podTargetLabels, values.serviceMonitor.podTargetLabels), `${where}: ServiceMonitor podTargetLabels differ from the values`);
  }
  for (const pm of pms) {
    expect(selectorMatches(pm.spec.selector.matchLabels, pod.metadata.labels), `${where}: PodMonitor does not select the pods`);
    const ep = pm.spec.podMetricsEndpoints[0];
    const vigilC = containersOf(pod.spec).find((c) => c.name === 'vigil');
    expect(ep.port === 'vigil' && ep.path === '/metrics' && vigilC && (vigilC.ports || []).some((p) => p.name === 'vigil'),
      `${where}: PodMonitor does not scrape vigil's named port "vigil" at /metrics`);
    expect(sameList(pm.spec.namespaceSelector.matchNames, [dep.metadata.namespace]), `${where}: PodMonitor looks outside the release namespace`);
    expect((pm.spec.jobLabel || '') === values.podMonitor.jobLabel, `${where}: PodMonitor jobLabel is not podMonitor.jobLabel`);
    expect(sameList(pm.spec.podTargetLabels, values.podMonitor.podTargetLabels), `${where}: PodMonitor podTargetLabels differ from the values`);
  }
  // The job label the alerts must select: the ServiceMonitor's (the Service's
  // name or its jobLabel's value), else the PodMonitor's (<ns>/<name> or its
  // jobLabel's value on the pods).
  let wantJob = svc.metadata.name;
  if (values.serviceMonitor.enabled || !values.podMonitor.enabled) {
    if (values.serviceMonitor.jobLabel) wantJob = svc.metadata.labels[values.serviceMonitor.jobLabel];
  } else if (values.podMonitor.jobLabel) {
    wantJob = pod.metadata.labels[values.podMonitor.jobLabel];
  } else {
    wantJob = `${values.podMonitor.namespace || dep.metadata.namespace}/${dep.metadata.name}`;
  }
  for (const pr of prs) {
    const rules = pr.spec.groups.flatMap((g) => g.rules);
    // cond is matched against the expression's first line; `held` alerts
    // are held back while their check (or, per pod, a check) is widespread,
    // when VigilDependencyDownEverywhere is on.
    const everywhereOn = values.prometheusRule.alerts.dependencyDownEverywhere.enabled !== false;
    const want = {
      VigilCircuitBreakerOpen: { metric: 'vigil_circuit_breaker_state', cond: /== 2$/, sev: 'critical', for: '1m', held: 'namespace, pod, check' },
      VigilCheckFailuresHigh: { metric: 'vigil_check_failures_total', cond: /rate\(.*\[1m\]\)\) \* 60 > 10$/, sev: 'warning', held: 'namespace, pod, check' },
      VigilCheckFlapping: { metric: 'vigil_check_flapping', cond: /vigil_check_flapping\{[^}]*\}\) == 1$/, sev: 'warning', for: '5m', held: 'namespace, pod, check' },
      VigilPodNotReady: { metric: 'vigil_ready', cond: /== 0$/, for: '5m', held: 'namespace, pod' },
      VigilDegraded: { metric: 'vigil_health_status', cond: /status="degraded"\}\) == 1$/, for: '15m', held: 'namespace, pod' },
      VigilAbsent: { metric: 'vigil_build_info', cond: /^absent\(vigil_build_info\{[^}]*\}\)$/, for: '5m' },
      VigilConfigReloadFailed: { metric: 'vigil_config_reload_failures_total', cond: /increase\(vigil_config_reload_failures_total\{.*\[10m\]\)\) > 0\)/ },
      VigilDependencyDownEverywhere: { metric: 'vigil_check_scope', cond: /^\($/, full: /scope="widespread"\}\) == 1\n\)\n\* on \(namespace, check\) group_left \(kind, role\)/, sev: 'critical', for: '1m' },
      VigilDependencyDownOnSomePods: { metric: 'vigil_check_scope', cond: /^max by \(namespace, check, pod, node\) \(vigil_check_scope\{[^}]*scope="local"\}\) == 1$/, sev: 'warning', for: '5m' },
    };
    for (const [name, w] of Object.entries(want)) {
      const key = { VigilCircuitBreakerOpen: 'circuitBreakerOpen', VigilCheckFailuresHigh: 'checkFailures', VigilCheckFlapping: 'checkFlapping', VigilPodNotReady: 'notReady', VigilDegraded: 'degraded', VigilAbsent: 'absent', VigilConfigReloadFailed: 'configReloadFailed', VigilDependencyDownEverywhere: 'dependencyDownEverywhere', VigilDependencyDownOnSomePods: 'dependencyDownOnSomePods' }[name];
      const rule = rules.find((x) => x.alert === name);
      if (values.prometheusRule.alerts[key].enabled === false) { expect(!rule, `${where}: ${name} rendered although disabled`); continue; }
      if (!expect(rule, `${where}: PrometheusRule lacks ${name}`)) continue;
      const first = rule.expr.split('\n')[0];
      expect(rule.expr.includes(w.metric) && w.cond.test(first) && (!w.full || w.full.test(rule.expr)), `${where}: ${name} expr is ${rule.expr}`);
      if (w.held) {
        const held = rule.expr.includes(`\nunless on (${w.held}) `) && rule.expr.includes('scope="widespread"');
        expect(held === everywhereOn, `${where}: ${name} ${held ? 'is held back although VigilDependencyDownEverywhere is off' : 'is not held back while a check is widespread'}: ${rule.expr}`);
      }
      if (w.sev) expect(rule.labels.severity === w.sev, `${where}: ${name} severity ${rule.labels.severity} is not ${w.sev}`);
      if (w.for) expect(rule.for === w.for, `${where}: ${name} for ${rule.for} is not ${w.for}`);
      expect(rule.expr.includes(`job="${wantJob}"`) || values.prometheusRule.selector,
        `${where}: ${name} does not select the monitor's job ${wantJob}: ${rule.expr}`);
    }
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'rules.yaml'), YAML.stringify({ groups: pr.spec.groups }));
  }

  checkChartExtras(objs, values, { where, dep, pod, svc, V });
  checkFleet(objs, values, cfg, { where, dep, pod, V, vigilC: r && r.vigil, sms });
  checkEvents(objs, values, cfg, { where, pod, V });

  // No unrendered template or Helm leftovers.
  expect(!rendered.includes('<no value>'), `${where}: "<no value>" in the output`);
  writeConfigOut(outDir, configText || '', vars);
  finish(where);
}

// The dashboard ConfigMap, the PodDisruptionBudget, the NetworkPolicy and
// vigil's extra volumes follow their values.
function checkChartExtras(objs, values, { where, dep, pod, svc, V }) {
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const ns = dep.metadata.namespace;

  const D = values.dashboards;
  const dashCms = byKind('ConfigMap').filter((o) => (o.metadata.labels || {})[D.label] !== undefined);
  expect(dashCms.length === (D.enabled ? 1 : 0), `${where}: dashboard ConfigMap count ${dashCms.length} does not follow dashboards.enabled`);
  for (const cm of dashCms) {
    expect(cm.metadata.labels[D.label] === D.labelValue, `${where}: dashboard label ${D.label}=${cm.metadata.labels[D.label]}, want ${D.labelValue}`);
    expect(cm.metadata.namespace === (D.namespace || ns), `${where}: dashboard ConfigMap in namespace ${cm.metadata.namespace}, want ${D.namespace || ns}`);
    for (const [k, v] of Object.entries(D.annotations || {})) expect((cm.metadata.annotations || {})[k] === v, `${where}: dashboard annotation ${k} missing`);
    const keys = Object.keys(cm.data || {});
    expect(keys.length === 1 && keys[0].endsWith('.json'), `${where}: the dashboard ConfigMap holds ${keys}, want one .json`);
    const want = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'charts', 'vigil', 'dashboards', 'vigil.json'), 'utf8'));
    let got = null;
    try { got = JSON.parse(cm.data[keys[0]]); } catch (e) { fail(`${where}: the dashboard in the ConfigMap is not JSON: ${e.message}`); }
    expect(got && JSON.stringify(got) === JSON.stringify(want), `${where}: the dashboard in the ConfigMap differs from charts/vigil/dashboards/vigil.json`);
  }

  const P = values.podDisruptionBudget;
  const pdbs = byKind('PodDisruptionBudget');
  expect(pdbs.length === (P.enabled ? 1 : 0), `${where}: PodDisruptionBudget count ${pdbs.length} does not follow podDisruptionBudget.enabled`);
  for (const pdb of pdbs) {
    expect(selectorMatches(pdb.spec.selector.matchLabels, pod.metadata.labels) && JSON.stringify(pdb.spec.selector.matchLabels) === JSON.stringify(dep.spec.selector.matchLabels),
      `${where}: PodDisruptionBudget does not select the Deployment's pods`);
    if (P.maxUnavailable !== '' && P.maxUnavailable !== undefined) {
      expect(pdb.spec.maxUnavailable === P.maxUnavailable && pdb.spec.minAvailable === undefined, `${where}: PDB maxUnavailable ${pdb.spec.maxUnavailable}, want ${P.maxUnavailable} alone`);
    } else {
      expect(pdb.spec.minAvailable === P.minAvailable && pdb.spec.maxUnavailable === undefined, `${where}: PDB minAvailable ${pdb.spec.minAvailable}, want ${P.minAvailable} alone`);
      expect(typeof P.minAvailable !== 'number' || P.minAvailable < dep.spec.replicas, `${where}: PDB minAvailable ${P.minAvailable} blocks every drain of ${dep.spec.replicas} replicas`);
    }
  }

  const N = values.networkPolicy;
  const nps = byKind('NetworkPolicy');
  expect(nps.length === (N.enabled ? 1 : 0), `${where}: NetworkPolicy count ${nps.length} does not follow networkPolicy.enabled`);
  for (const np of nps) {
    const sp = np.spec;
    expect(selectorMatches(sp.podSelector.matchLabels, pod.metadata.labels), `${where}: NetworkPolicy does not select the pods`);
    const hasPort = (rule, port, proto) => (rule.ports || []).some((p) => p.port === port && (p.protocol || 'TCP') === proto);
    const vigilRule = (sp.ingress || []).find((r) => hasPort(r, V.port, 'TCP'));
    if (expect(vigilRule, `${where}: NetworkPolicy has no ingress rule for vigil's port ${V.port}`)) {
      const from = vigilRule.from || [];
      const testPods = byKind('Pod');
      for (const t of testPods) {
        expect(from.some((f) => !f.namespaceSelector && f.podSelector && selectorMatches(f.podSelector.matchLabels, t.metadata.labels)),
          `${where}: the NetworkPolicy keeps the helm test pod ${t.metadata.name} from vigil's port`);
      }
      expect(from.length === 1 + testPods.length && JSON.stringify(from[0].namespaceSelector) === JSON.stringify(N.ingress.vigilFrom.namespaceSelector)
        && JSON.stringify(from[0].podSelector) === JSON.stringify(N.ingress.vigilFrom.podSelector),
      `${where}: vigil's port is open to ${JSON.stringify(from)}, not networkPolicy.ingress.vigilFrom`);
    }
    // Fleet: the release's own pods reach each other's vigil port (ingress,
    // and egress when egress is restricted); without fleet, no such rule.
    const ownPods = (peers) => (peers || []).some((f) => !f.namespaceSelector && !f.ipBlock && f.podSelector
      && sameMap(f.podSelector.matchLabels, dep.spec.selector.matchLabels));
    const fleetIn = (sp.ingress || []).some((r) => hasPort(r, V.port, 'TCP') && ownPods(r.from));
    expect(fleetIn === !!(values.fleet && values.fleet.enabled), `${where}: NetworkPolicy ingress from the release's pods to vigil's port ${fleetIn ? 'present without' : 'missing with'} fleet.enabled`);
    if (N.egress.enabled) {
      const fleetOut = (sp.egress || []).some((r) => hasPort(r, V.port, 'TCP') && ownPods(r.to));
      expect(fleetOut === !!(values.fleet && values.fleet.enabled), `${where}: NetworkPolicy egress to the release's pods on vigil's port ${fleetOut ? 'present without' : 'missing with'} fleet.enabled`);
    }
    const appRule = (sp.ingress || []).find((r) => hasPort(r, values.app.port, 'TCP'));
    expect(appRule, `${where}: NetworkPolicy shuts the app's own port ${values.app.port}`);
    const types = sp.policyTypes || [];
    expect(types.includes('Ingress') && types.includes('Egress') === !!N.egress.enabled, `${where}: policyTypes ${types} do not follow networkPolicy.egress.enabled`);
    if (N.egress.enabled) {
      const eg = sp.egress || [];
      if (N.egress.dns) {
        expect(eg.some((r) => hasPort(r, 53, 'UDP') && hasPort(r, 53, 'TCP') && !r.to), `${where}: NetworkPolicy egress lacks DNS (53 UDP and TCP)`);
      }
      for (const d of N.egress.dependencies || []) {
        expect(eg.some((r) => hasPort(r, d.port, d.protocol || 'TCP')), `${where}: NetworkPolicy egress lacks dependency port ${d.port}`);
      }
    }
  }

  // vigil's extra volumes and mounts: in the vigil container, backed by a pod volume.
  const vigilC = containersOf(pod.spec).find((c) => c.name === 'vigil');
  for (const m of V.extraVolumeMounts || []) {
    const got = vigilC && (vigilC.volumeMounts || []).find((x) => x.name === m.name && x.mountPath === m.mountPath);
    expect(got && (got.readOnly || false) === (m.readOnly || false), `${where}: vigil.extraVolumeMounts ${m.name} at ${m.mountPath} is not on the vigil container as given`);
    expect((pod.spec.volumes || []).some((v) => v.name === m.name), `${where}: no pod volume ${m.name} for vigil's mount`);
  }
  for (const v of V.extraVolumes || []) {
    expect((pod.spec.volumes || []).some((x) => JSON.stringify(x) === JSON.stringify(v)), `${where}: vigil.extraVolumes ${v.name} is not a pod volume as given`);
  }
  const apps = (pod.spec.containers || []).filter((c) => c.name !== 'vigil');
  for (const a of apps) {
    for (const m of a.volumeMounts || []) {
      expect(!(V.extraVolumeMounts || []).some((x) => x.name === m.name && !(values.app.extraVolumeMounts || []).some((y) => y.name === m.name)),
        `${where}: vigil's volume ${m.name} is mounted into the app container ${a.name}`);
    }
  }
}

// vigil.kubernetesEvents.enabled: kubernetes_events in the config, a Role
// allowing exactly create and patch on events.k8s.io events, its RoleBinding
// to the pod's ServiceAccount, and the token mounted. Without it: none.
function checkEvents(objs, values, cfg, { where, pod, V }) {
  const on = !!(V.kubernetesEvents && V.kubernetesEvents.enabled);
  const roles = objs.filter((o) => o.kind === 'Role');
  const bindings = objs.filter((o) => o.kind === 'RoleBinding');
  expect(cfg.kubernetes_events === (on ? true : undefined), `${where}: config kubernetes_events is ${cfg.kubernetes_events} with vigil.kubernetesEvents.enabled ${on}`);
  expect(pod.spec.automountServiceAccountToken === (on || !!values.automountServiceAccountToken),
    `${where}: automountServiceAccountToken ${pod.spec.automountServiceAccountToken} with vigil.kubernetesEvents.enabled ${on}`);
  if (!on) {
    expect(roles.length === 0 && bindings.length === 0, `${where}: a Role or RoleBinding without vigil.kubernetesEvents.enabled`);
    return;
  }
  if (!expect(roles.length === 1 && bindings.length === 1, `${where}: want one Role and one RoleBinding, got ${roles.length} and ${bindings.length}`)) return;
  expect(JSON.stringify(roles[0].rules) === JSON.stringify([{ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] }]),
    `${where}: the Role's rules are ${JSON.stringify(roles[0].rules)}, want create and patch on events.k8s.io events only`);
  const b = bindings[0];
  expect(b.roleRef.kind === 'Role' && b.roleRef.name === roles[0].metadata.name, `${where}: the RoleBinding does not refer to the Role`);
  expect(b.subjects.length === 1 && b.subjects[0].kind === 'ServiceAccount' && b.subjects[0].name === pod.spec.serviceAccountName,
    `${where}: the RoleBinding's subject is not the pod's ServiceAccount ${pod.spec.serviceAccountName}`);
}

// fleet.enabled: the headless peers Service (every pod of the release, ready
// or not, vigil's port only, under a port name no monitor scrapes), the
// config's fleet key naming it, the token Secret mounted where token_file
// points. Without it: neither.
function checkFleet(objs, values, cfg, { where, dep, pod, V, vigilC, sms }) {
  const F = values.fleet || {};
  const peers = objs.filter((o) => o.kind === 'Service' && (o.metadata.labels || {})['app.kubernetes.io/component'] === 'fleet-peers');
  if (!F.enabled) {
    expect(peers.length === 0, `${where}: a peers Service without fleet.enabled`);
    expect(cfg.fleet === undefined, `${where}: config has fleet without fleet.enabled`);
    return;
  }
  if (!expect(peers.length === 1, `${where}: want one peers Service with fleet.enabled, got ${peers.length}`)) return;
  const ps = peers[0];
  const ns = dep.metadata.namespace;
  expect(ps.metadata.name === `${dep.metadata.name.slice(0, 57).replace(/-+$/, '')}-peers`, `${where}: peers Service ${ps.metadata.name} is not <fullname>-peers`);
  expect(ps.metadata.namespace === ns, `${where}: peers Service not in the release namespace`);
  expect(ps.spec.clusterIP === 'None', `${where}: peers Service is not headless (clusterIP ${ps.spec.clusterIP})`);
  expect(ps.spec.publishNotReadyAddresses === true, `${where}: peers Service does not publish unready pods (publishNotReadyAddresses)`);
  expect(sameMap(ps.spec.selector, dep.spec.selector.matchLabels), `${where}: peers Service does not select the release's pods (the Deployment's selector)`);
  const ports = ps.spec.ports || [];
  expect(ports.length === 1 && ports[0].port === V.port && ports[0].targetPort === V.port && (ports[0].protocol || 'TCP') === 'TCP',
    `${where}: peers Service ports ${JSON.stringify(ports)}, want vigil's port ${V.port} only`);
  for (const sm of sms) {
    const scraped = sm.spec.endpoints.map((e) => e.port);
    expect(!ports.some((p) => scraped.includes(p.name)) || !selectorMatches(sm.spec.selector.matchLabels, ps.metadata.labels),
      `${where}: the ServiceMonitor would scrape every pod again through the peers Service`);
  }
  const f = cfg.fleet;
  if (!expect(f, `${where}: fleet.enabled but the config has no fleet key`)) return;
  expect(f.peers === `${ps.metadata.name}.${ns}.svc.${values.clusterDomain}`, `${where}: config fleet.peers ${f.peers}, want ${ps.metadata.name}.${ns}.svc.${values.clusterDomain}`);
  for (const k of ['interval_ms', 'sample', 'timeout_ms', 'min_pods']) expect(f[k] === F[k], `${where}: config fleet.${k} ${f[k]} is not fleet.${k} ${F[k]}`);
  expect(f.port === undefined || f.port === V.port, `${where}: config fleet.port ${f.port} is not vigil's port`);
  const secret = F.token && F.token.existingSecret;
  if (secret) {
    const vol = (pod.spec.volumes || []).find((v) => v.secret && v.secret.secretName === secret && (v.secret.items || []).some((i) => i.key === 'token'));
    const m = vol && vigilC && (vigilC.volumeMounts || []).find((x) => x.name === vol.name);
    const item = vol && vol.secret.items.find((i) => i.key === 'token');
    expect(m && m.readOnly && f.token_file === `${m.mountPath}/${item.path}`, `${where}: fleet token_file ${f.token_file} is not the mounted Secret ${secret}/token`);
    for (const c of pod.spec.containers) {
      if (c.name !== 'vigil') expect(!(c.volumeMounts || []).some((x) => vol && x.name === vol.name), `${where}: the fleet token is mounted into ${c.name}`);
    }
  } else {
    expect(f.token_file === undefined, `${where}: fleet token_file without fleet.token.existingSecret`);
  }
}

// ---------------------------------------------------------------- kustomize output

function checkManifests(renderedFile, outDir) {
  const where = path.basename(renderedFile);
  const objs = loadDocs(renderedFile);
  validateModels(objs, where);
  const dep = objs.find((o) => o.kind === 'Deployment');
  const cm = objs.find((o) => o.kind === 'ConfigMap');
  const isPeers = (o) => (o.metadata.labels || {})['app.kubernetes.io/component'] === 'fleet-peers';
  const svc = objs.find((o) => o.kind === 'Service' && !isPeers(o));
  if (!expect(dep && cm && svc, `${where}: want a Deployment, a ConfigMap and a Service`)) return finish(where);
  const configText = cm.data['config.json'];
  let cfg = {};
  try { cfg = JSON.parse(configText); } catch (e) { fail(`${where}: config.json is not JSON: ${e.message}`); }
  const vars = checkConfig(cfg, `${where}: config.json`);
  const port = Number((cfg.listen || '').split(':').pop());
  checkHardened(dep.spec.template.spec, `${where}: Deployment`);
  const native = (dep.spec.template.spec.initContainers || []).some((c) => c.name === 'vigil');
  const r = checkVigilPod(dep.spec.template.spec, { vigilPort: port, native, drainSeconds: cfg.drain_seconds === undefined ? 5 : cfg.drain_seconds }, `${where}: Deployment`);
  if (r) {
    expect(r.configMapName === cm.metadata.name, `${where}: the pod mounts ConfigMap ${r.configMapName}, kustomize renders ${cm.metadata.name}`);
    checkSecretsWiring(vars, r.env, `${where}: Deployment`);
    checkFilesMounted(vars, r.vigil, `${where}: Deployment`);
  }
  const sel = dep.spec.selector.matchLabels;
  expect(selectorMatches(sel, dep.spec.template.metadata.labels), `${where}: Deployment selector does not match its pod labels`);
  expect(JSON.stringify(svc.spec.selector) === JSON.stringify(sel), `${where}: Service selector differs from the Deployment's`);
  expect((svc.spec.ports || []).some((p) => p.targetPort === port || p.targetPort === 'vigil'), `${where}: Service does not expose vigil's port`);
  // Fleet (a chart on vigil-lib): the peers Service selects the pods, the config names it.
  const peers = objs.filter((o) => o.kind === 'Service' && isPeers(o));
  if (cfg.fleet !== undefined || peers.length) {
    if (expect(peers.length === 1, `${where}: config fleet wants one peers Service, got ${peers.length}`)) {
      const ps = peers[0];
      expect(ps.spec.clusterIP === 'None' && ps.spec.publishNotReadyAddresses === true, `${where}: peers Service is not headless with publishNotReadyAddresses`);
      expect(sameMap(ps.spec.selector, sel), `${where}: peers Service does not select the Deployment's pods`);
      const ports = ps.spec.ports || [];
      expect(ports.length === 1 && ports[0].port === port && ports[0].targetPort === port, `${where}: peers Service ports ${JSON.stringify(ports)}, want ${port} only`);
      expect(cfg.fleet && cfg.fleet.peers === `${ps.metadata.name}.${ps.metadata.namespace}.svc.cluster.local`, `${where}: config fleet.peers ${cfg.fleet && cfg.fleet.peers} does not name the peers Service`);
    }
  }
  writeConfigOut(outDir, configText, vars);
  finish(where);
}

// ---------------------------------------------------------------- kustomize component

// The vigil-sidecar component's output: WANT (space-separated workload
// names) got vigil, UNTOUCHED did not.
// KINDS (default "Deployment StatefulSet") are the kinds WANT must cover.
// A config with "fleet" needs the vigil-fleet component's peers Service.
function checkComponent(renderedFile, outDir, wantNames, untouchedNames, wantKinds) {
  const where = path.basename(renderedFile);
  const objs = loadDocs(renderedFile);
  validateModels(objs, where);
  const workloads = objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const cms = objs.filter((o) => o.kind === 'ConfigMap' && /^(.*-)?vigil-config-[a-z0-9]+$/.test(o.metadata.name));
  if (!expect(cms.length === 1, `${where}: want one generated vigil-config ConfigMap, got ${cms.map((c) => c.metadata.name)}`)) return finish(where);
  const cm = cms[0];
  let cfg = {};
  try { cfg = JSON.parse(cm.data['config.json']); } catch (e) { fail(`${where}: config.json is not JSON: ${e.message}`); }
  const vars = checkConfig(cfg, `${where}: config.json`);
  const port = Number((cfg.listen || '').split(':').pop());
  expect(port === 8086, `${where}: config listen ${cfg.listen} is not on 8086, where the component's probes point`);
  const want = wantNames.split(/\s+/).filter(Boolean);
  const untouched = untouchedNames.split(/\s+/).filter(Boolean);
  const kinds = new Set();
  for (const name of want) {
    const w = workloads.find((o) => o.metadata.name === name);
    if (!expect(w, `${where}: no workload ${name}`)) continue;
    kinds.add(w.kind);
    const id = `${where}: ${w.kind}/${name}`;
    const spec = w.spec.template.spec;
    const cs = spec.containers || [];
    expect(cs.length >= 2 && cs[0].name !== 'vigil' && cs[cs.length - 1].name === 'vigil',
      `${id}: containers are ${cs.map((c) => c.name)}; want the app first and vigil appended`);
    expect(cs.filter((c) => c.name === 'vigil').length === 1, `${id}: vigil injected more than once`);
    expect(!(spec.initContainers || []).some((c) => c.name === 'vigil'), `${id}: vigil among the init containers`);
    const app = cs[0];
    for (const [kind, p] of [['startupProbe', '/startupz'], ['livenessProbe', '/livez'], ['readinessProbe', '/readyz']]) {
      const pr = app[kind];
      expect(pr && pr.httpGet && pr.httpGet.path === p && pr.httpGet.port === port && !pr.tcpSocket && !pr.exec,
        `${id}: app container ${app.name}.${kind} is not GET ${p} on vigil's ${port}: ${JSON.stringify(pr)}`);
    }
    for (const other of cs.slice(1, -1)) {
      for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        expect(!(other[kind] && other[kind].httpGet && other[kind].httpGet.port === port), `${id}: container ${other.name} got vigil's ${kind}`);
      }
    }
    const v = cs[cs.length - 1];
    const sc = v.securityContext || {};
    expect(sc.runAsNonRoot === true && sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false
      && sc.capabilities && (sc.capabilities.drop || []).includes('ALL') && sc.seccompProfile && sc.seccompProfile.type === 'RuntimeDefault'
      && sc.privileged !== true && (sc.runAsUser === undefined || sc.runAsUser > 0),
    `${id}: the vigil container is not hardened on its own: ${JSON.stringify(sc)}`);
    const r = v.resources || {};
    expect(r.requests && r.requests.memory && r.limits && r.limits.memory, `${id}: vigil without memory request and limit`);
    expect(v.image && /[:@]/.test(v.image.split('/').pop()), `${id}: vigil image ${v.image} not pinned`);
    expect((v.ports || []).some((p) => p.containerPort === port && p.name === 'vigil'), `${id}: vigil does not declare port ${port}`);
    const env = Object.fromEntries((v.env || []).map((e) => [e.name, e]));
    for (const [n, f] of [['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace'], ['NODE_NAME', 'spec.nodeName']]) {
      expect(env[n] && env[n].valueFrom && env[n].valueFrom.fieldRef && env[n].valueFrom.fieldRef.fieldPath === f, `${id}: vigil env ${n} is not the Downward API ${f}`);
    }
    expect(v.livenessProbe && v.livenessProbe.httpGet && v.livenessProbe.httpGet.path === '/metrics', `${id}: vigil's own liveness is not /metrics`);
    const args = v.args || [];
    const cfgFile = args[args.indexOf('--config') + 1];
    const m = (v.volumeMounts || []).find((x) => cfgFile && cfgFile.startsWith(x.mountPath.replace(/\/?$/, '/')));
    expect(m && !m.subPath && m.readOnly === true, `${id}: --config ${cfgFile} is not on a read-only directory mount`);
    const vol = m && (spec.volumes || []).find((x) => x.name === m.name);
    expect(vol && vol.configMap && vol.configMap.name === cm.metadata.name, `${id}: the config volume is not the generated ConfigMap ${cm.metadata.name}`);
    for (const mm of app.volumeMounts || []) expect(mm.name !== (m && m.name), `${id}: the app mounts vigil's config`);
    checkSecretsWiring(vars, env, id);
    checkFilesMounted(vars, v, id);
    const grace = spec.terminationGracePeriodSeconds === undefined ? 30 : spec.terminationGracePeriodSeconds;
    expect(grace > (cfg.drain_seconds === undefined ? 5 : cfg.drain_seconds), `${id}: terminationGracePeriodSeconds ${grace} does not cover vigil's drain`);
  }
  const kindsWanted = (wantKinds || 'Deployment StatefulSet').split(/\s+/).filter(Boolean);
  expect(kindsWanted.every((k) => kinds.has(k)), `${where}: the injected workloads are not ${kindsWanted.join(' and ')} (${[...kinds]})`);
  // Fleet: the peers Service lists every injected pod and no other, and the
  // config names it (in its namespace).
  const peers = objs.filter((o) => o.kind === 'Service' && (o.metadata.labels || {})['app.kubernetes.io/component'] === 'fleet-peers');
  if (cfg.fleet !== undefined || peers.length) {
    if (expect(peers.length === 1, `${where}: the config has fleet, want one peers Service (components/vigil-fleet), got ${peers.length}`)) {
      const ps = peers[0];
      expect(ps.spec.clusterIP === 'None' && ps.spec.publishNotReadyAddresses === true, `${where}: peers Service is not headless with publishNotReadyAddresses`);
      const ports = ps.spec.ports || [];
      expect(ports.length === 1 && ports[0].port === port && ports[0].targetPort === port && ports[0].name !== 'vigil', `${where}: peers Service ports ${JSON.stringify(ports)}, want only ${port}, not named vigil`);
      for (const name of want) {
        const w = workloads.find((o) => o.metadata.name === name);
        expect(w && selectorMatches(ps.spec.selector, w.spec.template.metadata.labels), `${where}: peers Service does not select the pods of ${name}`);
      }
      for (const name of untouched) {
        const w = workloads.find((o) => o.metadata.name === name);
        expect(!w || !selectorMatches(ps.spec.selector, w.spec.template.metadata.labels), `${where}: peers Service selects the pods of ${name}, which has no vigil`);
      }
      const ns = ps.metadata.namespace || 'default';
      expect(cfg.fleet && cfg.fleet.peers === `${ps.metadata.name}.${ns}.svc.cluster.local`, `${where}: config fleet.peers ${cfg.fleet && cfg.fleet.peers}, want ${ps.metadata.name}.${ns}.svc.cluster.local`);
    }
  }
  for (const name of untouched) {
    const w = workloads.find((o) => o.metadata.name === name);
    if (!expect(w, `${where}: no workload ${name}`)) continue;
    const spec = w.spec.template.spec;
    expect(!containersOf(spec).some((c) => c.name === 'vigil') && !(spec.volumes || []).some((x) => x.name === 'vigil-config'),
      `${where}: ${w.kind}/${name} was not selected but got vigil`);
    for (const c of spec.containers) {
      for (const k of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        expect(!(c[k] && c[k].httpGet && c[k].httpGet.port === port), `${where}: ${w.kind}/${name} was not selected but ${c.name} got vigil's ${k}`);
      }
    }
  }
  writeConfigOut(outDir, cm.data['config.json'], vars);
  finish(where);
}

// ---------------------------------------------------------------- Grafana dashboard

function checkDashboard(file) {
  const where = path.basename(file);
  let d;
  try { d = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { fail(`${where}: not JSON: ${e.message}`); return finish(where); }
  expect(d.title && d.uid && typeof d.schemaVersion === 'number', `${where}: no title, uid or schemaVersion`);
  const vars = (d.templating && d.templating.list) || [];
  const ds = vars.find((v) => v.name === 'datasource');
  expect(ds && ds.type === 'datasource' && ds.query === 'prometheus', `${where}: no "datasource" variable of type datasource (prometheus)`);
  for (const n of ['namespace', 'pod', 'check']) {
    const v = vars.find((x) => x.name === n);
    expect(v && v.type === 'query' && v.datasource && v.datasource.uid === '${datasource}' && v.includeAll && v.allValue === '.*',
      `${where}: no query variable ${n} on \${datasource} with All = .*`);
  }
  const panels = [];
  const walk = (list) => (list || []).forEach((p) => { panels.push(p); walk(p.panels); });
  walk(d.panels);
  const ids = panels.map((p) => p.id);
  expect(new Set(ids).size === ids.length, `${where}: panel ids are not unique`);
  const exprs = [];
  for (const p of panels.filter((x) => x.type !== 'row')) {
    expect((p.targets || []).length > 0, `${where}: panel "${p.title}" has no query`);
    expect(p.datasource && p.datasource.uid === '${datasource}', `${where}: panel "${p.title}" is not on \${datasource}`);
    for (const t of p.targets || []) {
      expect(t.expr, `${where}: panel "${p.title}" ${t.refId} has no expr`);
      exprs.push(t.expr || '');
    }
  }
  const all = exprs.join('\n');
  for (const [what, re] of [
    ['vigil_check_up per pod and check', /by \(pod, check\) \(vigil_check_up\{/],
    ['vigil_health_status', /vigil_health_status\{/],
    ['p50 of the check histogram', /histogram_quantile\(0\.5, sum by \(le, check\) \(rate\(vigil_check_duration_seconds_bucket\{[^}]*\}\[\$__rate_interval\]\)\)\)/],
    ['p99 of the check histogram', /histogram_quantile\(0\.99, sum by \(le, check\) \(rate\(vigil_check_duration_seconds_bucket\{[^}]*\}\[\$__rate_interval\]\)\)\)/],
    ['vigil_circuit_breaker_state', /vigil_circuit_breaker_state\{/],
    ['failures by check and reason', /sum by \(check, reason\) \(rate\(vigil_check_failures_total\{/],
    ['vigil_config_reloads_total', /vigil_config_reloads_total\{/],
    ['vigil_config_reload_failures_total', /vigil_config_reload_failures_total\{/],
    ['the fleet pods', /vigil_fleet_pods\{/],
    ['failing pods by check', /max by \(check\) \(vigil_fleet_check_failing_pods\{/],
    ['scope by check', /by \(check, scope\) \(vigil_check_scope\{/],
  ]) expect(re.test(all), `${where}: no panel query with ${what}`);
  const fleetRow = panels.find((p) => p.type === 'row' && p.title === 'Fleet');
  expect(fleetRow, `${where}: no "Fleet" row`);
  for (const e of exprs) {
    if (/vigil_|process_/.test(e)) expect(/namespace=~"\$namespace", pod=~"\$pod"/.test(e), `${where}: a query ignores $namespace/$pod: ${e}`);
  }
  finish(where);
}

// ---------------------------------------------------------------- values schema

function checkSchema(schemaFile, valuesFile) {
  const Ajv = require('ajv');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
  const values = JSON.parse(fs.readFileSync(valuesFile, 'utf8'));
  if (!validate(values)) {
    // The shortest messages first: "if/then" wrappers say less than their causes.
    const msgs = [...new Set(validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}${e.params && e.params.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : ''}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${e.params && e.params.missingProperty ? '' : ''}`))];
    for (const m of msgs) console.error(`schema: ${m}`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------- README table

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.replace('#/definitions/', '');
    return { ...root.definitions[name], description: schema.description || root.definitions[name].description };
  }
  return schema;
}

function typeOf(s) {
  if (s.oneOf) return s.oneOf.map((x) => (x.$ref ? x.$ref.split('/').pop() : x.type)).join(' or ');
  const t = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  return s.enum ? `${t} (${s.enum.join(', ')})` : t;
}

function tableRows(schema, values, root, prefix) {
  const rows = [];
  for (const [key, raw] of Object.entries(schema.properties || {})) {
    const s = resolve(raw, root);
    const name = prefix ? `${prefix}.${key}` : key;
    const v = values === undefined || values === null ? undefined : values[key];
    if (v === undefined) continue; // the schema allows it, values.yaml does not set it
    if (s.type === 'object' && s.properties && v && typeof v === 'object' && Object.keys(v).length) {
      rows.push(...tableRows(s, v, root, name));
    } else {
      const def = `\`${JSON.stringify(v)}\``;
      rows.push(`| \`${name}\` | ${typeOf(s)} | ${def.replace(/\|/g, '\\|')} | ${(s.description || '').replace(/\|/g, '\\|')} |`);
    }
  }
  return rows;
}

function readmeTable(schemaFile, valuesYamlFile) {
  const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
  const values = YAML.parse(fs.readFileSync(valuesYamlFile, 'utf8'));
  return ['| Key | Type | Default | Description |', '|---|---|---|---|', ...tableRows(schema, values, schema, '')].join('\n') + '\n';
}

function checkReadme(schemaFile, valuesYamlFile, readmeFile) {
  const readme = fs.readFileSync(readmeFile, 'utf8');
  const m = /<!-- values-table-start -->\n([\s\S]*?)<!-- values-table-end -->/.exec(readme);
  if (!expect(m, `${readmeFile}: no <!-- values-table-start --> ... <!-- values-table-end --> block`)) return finish('README');
  const want = readmeTable(schemaFile, valuesYamlFile);
  if (m[1] !== want) {
    fail(`${readmeFile}: the values table is stale; regenerate it with: node tests/k8s/check.js readme-table ${schemaFile} ${valuesYamlFile}`);
  }
  finish('README');
}

// ---------------------------------------------------------------- main

const [cmd, ...args] = process.argv.slice(2);
switch (cmd) {
  case 'schema': checkSchema(args[0], args[1]); break;
  case 'chart': checkChart(args[0], args[1], args[2], args[3], args[4]); break;
  case 'manifests': checkManifests(args[0], args[1]); break;
  case 'component': checkComponent(args[0], args[1], args[2] || '', args[3] || '', args[4] || ''); break;
  case 'dashboard': checkDashboard(args[0]); break;
  case 'readme': checkReadme(args[0], args[1], args[2]); break;
  case 'readme-table': process.stdout.write(readmeTable(args[0], args[1])); break;
  default:
    console.error('usage: check.js schema|chart|manifests|readme|readme-table ...');
    process.exit(64);
}
