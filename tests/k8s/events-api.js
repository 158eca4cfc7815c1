#!/usr/bin/env node
// A stand-in for the Kubernetes API's Events routes, for vigil's tests
// (tests/e2e/kubernetes_events_test.cc): HTTPS on 127.0.0.1 with the
// certificate it is given, serving
//   POST  /apis/events.k8s.io/v1/namespaces/{ns}/events          (create)
//   PATCH /apis/events.k8s.io/v1/namespaces/{ns}/events/{name}   (merge patch)
// Every object is validated against the events.k8s.io/v1 Event schema of the
// npm kubernetes-models package and the API server's own rules for new
// Events (pkg/apis/core/validation/events.go: reportingController a
// qualified name, series.count >= 2, no deprecated fields, ...): an invalid
// one is answered 422 and recorded with its errors. Every request must carry
// the bearer token currently in --token-file.
//
//   events-api.js --cert C --key K --token-file T --dir D
//
// D/port receives the port once listening; D/mode is read on every request:
// "ok" (default), "409", "429", "500" (answered to every request) or "hang"
// (never answered). D/requests.jsonl gets one line a request: method, path,
// token, content type, status, body, errors.
'use strict';

const fs = require('fs');
const https = require('https');
const path = require('path');
const { Event } = require('kubernetes-models/events.k8s.io/v1');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const dir = args.dir;
const events = new Map();  // "ns/name" -> Event object

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

function mode() {
  try { return fs.readFileSync(path.join(dir, 'mode'), 'utf8').trim() || 'ok'; } catch (e) { return 'ok'; }
}

// The schema's complaints and the API server's, as a list of strings.
function validate(o, ns) {
  const errors = [];
  try { new Event(o).validate(); } catch (e) { errors.push(`schema: ${e.message}`); }
  const m = o.metadata || {};
  if (o.apiVersion !== 'events.k8s.io/v1' || o.kind !== 'Event') errors.push('apiVersion/kind');
  if (!m.name || m.name.length > 253 || !DNS_SUBDOMAIN.test(m.name)) errors.push(`metadata.name ${m.name}`);
  if (m.namespace !== undefined && m.namespace !== ns) errors.push('metadata.namespace does not match the path');
  if (!MICRO_TIME.test(o.eventTime || '')) errors.push(`eventTime ${o.eventTime} is not a MicroTime`);
  const rc = o.reportingController || '';
  if (!rc || rc.length > 316 || !QUALIFIED_NAME.test(rc)) errors.push(`reportingController ${rc} is not a qualified name`);
  for (const f of ['reportingInstance', 'action', 'reason']) {
    if (!o[f] || o[f].length > 128) errors.push(`${f} missing or over 128`);
  }
  if (o.note !== undefined && Buffer.byteLength(o.note) > 1024) errors.push('note over 1 KiB');
  if (o.type !== 'Normal' && o.type !== 'Warning') errors.push(`type ${o.type}`);
  for (const f of ['deprecatedFirstTimestamp', 'deprecatedLastTimestamp', 'deprecatedCount', 'deprecatedSource']) {
    if (o[f] !== undefined) errors.push(`${f} must be unset`);
  }
  const r = o.regarding || {};
  if (r.kind !== 'Pod' || r.apiVersion !== 'v1' || !r.name || r.namespace !== ns) errors.push('regarding is not a Pod of this namespace');
  if (o.series) {
    if (!(o.series.count >= 2)) errors.push('series.count should be at least 2');
    if (!MICRO_TIME.test(o.series.lastObservedTime || '')) errors.push('series.lastObservedTime is not a MicroTime');
  }
  return errors;
}

// RFC 7386.
function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = (target && typeof target === 'object' && !Array.isArray(target)) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]; else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function record(entry) {
  fs.appendFileSync(path.join(dir, 'requests.jsonl'), JSON.stringify(entry) + '\n');
}

function answer(res, entry, status, obj) {
  entry.status = status;
  record(entry);
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(obj || { kind: 'Status', apiVersion: 'v1', code: status }));
}

function handle(req, res, text) {
  const url = new URL(req.url, 'https://x');
  const auth = req.headers.authorization || '';
  const entry = { method: req.method, path: url.pathname, token: auth.replace(/^Bearer /, ''),
    contentType: req.headers['content-type'] || '', time: Date.now() / 1000, errors: [] };
  try { entry.body = text ? JSON.parse(text) : null; } catch (e) { entry.errors.push('body is not JSON'); }
  const m = mode();
  if (m === 'hang') { entry.status = 0; record(entry); return; }  // never answered
  const want = fs.readFileSync(args['token-file'], 'utf8').trim();
  if (auth !== `Bearer ${want}`) return answer(res, entry, 401);
  if (m === '429' || m === '500') return answer(res, entry, Number(m));
  const match = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(url.pathname);
  if (!match || entry.errors.length) return answer(res, entry, match ? 400 : 404);
  const [, ns, name] = match;
  if (req.method === 'POST' && !name) {
    if (m === '409') return answer(res, entry, 409);
    if (entry.body && entry.body.metadata) entry.body.metadata.namespace = entry.body.metadata.namespace || ns;
    entry.errors = validate(entry.body || {}, ns);
    if (entry.errors.length) return answer(res, entry, 422);
    const key = `${ns}/${entry.body.metadata.name}`;
    if (events.has(key)) return answer(res, entry, 409);
    events.set(key, entry.body);
    return answer(res, entry, 201, entry.body);
  }
  if (req.method === 'PATCH' && name) {
    if (entry.contentType !== 'application/merge-patch+json') return answer(res, entry, 415);
    const old = events.get(`${ns}/${name}`);
    if (!old) return answer(res, entry, 404);
    const next = mergePatch(old, entry.body);
    entry.errors = validate(next, ns);
    if (entry.errors.length) return answer(res, entry, 422);
    events.set(`${ns}/${name}`, next);
    entry.result = next;
    return answer(res, entry, 200, next);
  }
  return answer(res, entry, 405);
}

const server = https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(path.join(dir, 'port.tmp'), String(server.address().port));
  fs.renameSync(path.join(dir, 'port.tmp'), path.join(dir, 'port'));
});
process.on('SIGTERM', () => process.exit(0));
