#!/usr/bin/env node
// Runs every query of the Grafana dashboard against a Prometheus (run by
// tests/k8s/dashboard-test, which feeds it a real vigil's metrics).
//
//   dashboard-queries.js DASHBOARD.json PROMETHEUS_URL
//
// Every panel's targets[].expr (rows' nested panels too) and every query
// variable's label_values(...) query, with the dashboard's variables
// substituted as Grafana would for "All" ($namespace, $pod, $check -> .*,
// $__rate_interval -> 1m, $__range -> 5m, $__interval -> 15s), goes through
// /api/v1/query; each must succeed and return a non-empty result. Prints one
// line a query; exits 1 if any fails.
'use strict';

const fs = require('fs');

const [dashFile, promUrl] = process.argv.slice(2);
if (!dashFile || !promUrl) {
  console.error('usage: dashboard-queries.js DASHBOARD.json PROMETHEUS_URL');
  process.exit(64);
}
const dash = JSON.parse(fs.readFileSync(dashFile, 'utf8'));

const builtins = { __rate_interval: '1m', __range: '5m', __interval: '15s', __range_s: '300', __interval_ms: '15000' };
const variables = (dash.templating && dash.templating.list) || [];

function substitute(expr) {
  let out = expr;
  // Longest names first, so that $__range_s is not read as $__range + "_s".
  const names = [...Object.keys(builtins), ...variables.map((v) => v.name)].sort((a, b) => b.length - a.length);
  for (const name of names) {
    const value = name in builtins ? builtins[name] : (variables.find((v) => v.name === name).allValue || '.*');
    out = out.split(`\${${name}}`).join(value).split(`[[${name}]]`).join(value).split(`$${name}`).join(value);
  }
  return out;
}

function allPanels(list) {
  return (list || []).flatMap((p) => [p, ...allPanels(p.panels)]);
}

const queries = [];
for (const p of allPanels(dash.panels)) {
  for (const t of p.targets || []) {
    if (t.expr) queries.push({ what: `panel "${p.title}" ${t.refId}`, expr: substitute(t.expr) });
    else queries.push({ what: `panel "${p.title}" ${t.refId}`, error: 'target without expr' });
  }
}
for (const v of variables) {
  if (v.type !== 'query') continue;
  const q = typeof v.query === 'string' ? v.query : v.query.query;
  const m = /^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(q);
  if (!m) { queries.push({ what: `variable ${v.name}`, error: `not label_values(...): ${q}` }); continue; }
  queries.push({ what: `variable ${v.name}`, expr: `count by (${m[2]}) (${substitute(m[1])})`, label: m[2] });
}

async function run() {
  let failed = 0;
  if (!queries.some((q) => q.what.startsWith('panel'))) { console.log('FAIL the dashboard has no panel queries'); failed++; }
  for (const q of queries) {
    if (q.error) { console.log(`FAIL ${q.what}: ${q.error}`); failed++; continue; }
    let body;
    try {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q.expr)}`, { signal: AbortSignal.timeout(10000) });
      body = await res.json();
    } catch (e) {
      console.log(`FAIL ${q.what}: ${e.message}\n     ${q.expr}`); failed++; continue;
    }
    const result = body.data && body.data.result;
    if (body.status !== 'success') {
      console.log(`FAIL ${q.what}: ${body.errorType}: ${body.error}\n     ${q.expr}`); failed++;
    } else if (!Array.isArray(result) || result.length === 0) {
      console.log(`FAIL ${q.what}: empty result\n     ${q.expr}`); failed++;
    } else if (q.label && !result.some((r) => r.metric[q.label])) {
      console.log(`FAIL ${q.what}: no series has the label ${q.label}\n     ${q.expr}`); failed++;
    } else {
      const sample = result.slice(0, 3).map((r) => `${JSON.stringify(r.metric)}=${r.value[1]}`).join(' ');
      console.log(`ok   ${q.what}: ${result.length} series, e.g. ${sample}`);
    }
  }
  console.log(`dashboard queries: ${queries.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
run();
