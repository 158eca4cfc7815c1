// The human status page at "/": one self-contained HTML document (no external
// assets, so it works in an air-gapped cluster through `kubectl port-forward`)
// that polls /health?events every 2 s. Per check: its status and for how long,
// a strip of its last runs (hover for time and latency), and below the table
// the recent state changes. Status is spelled out in words and symbols, so
// colour is never the only signal. Everything from the agent is put in the
// page as text (textContent), never as markup: a reason comes from a
// dependency and may hold anything. The work per refresh is bounded by the
// agent's rings: checks x 20 runs, plus 50 events. With "health_details":
// "status" it shows only what /health gives: no kind, latency, breaker,
// strip or error text. With a fleet (docs/fleet.md) it also polls /fleet: a
// line a check ("db: failing on 3 of 10 pods, all on node-b (local)") and a
// table with a row a pod and a column a check. A pod's "ready alone" is its
// local verdict, the one pods tell each other (never fleet-adjusted).
#include "agent/http/status_page.h"

namespace vigil {

namespace {

// The document without its script: markup and style.
constexpr const char kMarkup[] = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil status</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#111;background:#fff}
h1{font-size:1.3rem;margin:0 0 .5rem}h2{font-size:1.05rem;margin:1.5rem 0 .4rem}
#overall{font-size:1.6rem;font-weight:700;padding:.3rem .8rem;border-radius:4px;display:inline-block}
.ok,.pass{background:#d7f5dd}.degraded,.warn{background:#fff1c2}
.error,.fail,.starting{background:#ffd6d6}.unknown{background:#eee}
table{border-collapse:collapse;margin-top:1rem;min-width:60%}
th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#eee}td.err{max-width:30rem;word-break:break-word}
td.st{white-space:nowrap}.for{display:block;font-size:.85em;color:#333}
.strip{display:flex;gap:2px;align-items:flex-end;height:18px}
.run{display:inline-block;width:8px;height:18px;border-radius:1px}
.run.pass{background:#2e9d48}.run.warn{background:#e0a800}.run.fail{background:#d32f2f}
.run.empty{background:#e4e4e4}
#events{border-collapse:collapse;min-width:60%}
small,.muted{color:#555}
</style>
</head>
<body>
<h1>vigil</h1>
<div id="overall" role="status" aria-live="polite">loading&hellip;</div>
<p><small id="meta"></small></p>
<table>
<thead><tr><th>check</th><th>status</th><th>last runs (oldest &rarr; newest)</th><th>latency</th>
<th>kind / role</th><th>required</th><th>breaker</th><th>last error</th></tr></thead>
<tbody id="rows"></tbody>
</table>
<section id="fleet" hidden>
<h2>Fleet</h2>
<ul id="fleet-summary"></ul>
<table id="fleet-table">
<thead><tr id="fleet-head"></tr></thead>
<tbody id="fleet-rows"></tbody>
</table>
</section>
<h2>Recent changes</h2>
<table id="events">
<thead><tr><th>when</th><th>check</th><th>change</th><th>reason</th></tr></thead>
<tbody id="changes"><tr><td colspan="4" class="muted">none yet</td></tr></tbody>
</table>
<p><small>Refreshes every 2 s from <a href="/health?events">/health?events</a> &middot;
<a href="/events">/events</a> &middot; <a href="/readyz?verbose">/readyz?verbose</a> &middot;
<a href="/metrics">/metrics</a> &middot; <span id="updated"></span></small></p>
)HTML";

// The script: polls /health?events (and /fleet) and fills the tables.
constexpr const char kScript[] = R"HTML(<script>
"use strict";
const SYM={ok:"\u2714 OK",degraded:"\u26A0 DEGRADED",error:"\u2716 ERROR",starting:"\u2026 STARTING",
pass:"\u2714 pass",warn:"\u26A0 warn",fail:"\u2716 fail",unknown:"? unknown"};
const RUNS=20,MAXTEXT=300;
let skew=0;
function el(tag,text,cls){const e=document.createElement(tag);if(text!==undefined)e.textContent=text;if(cls)e.className=cls;return e;}
function cell(tr,text,cls){const td=el("td",text,cls);tr.appendChild(td);return td;}
function clip(s){s=String(s);return s.length>MAXTEXT?s.slice(0,MAXTEXT)+"\u2026":s;}
function ago(ms){
  const s=Math.max(0,Math.round(ms/1000));
  if(s<60)return s+" s";
  const m=Math.floor(s/60);if(m<60)return m+" min";
  const h=Math.floor(m/60);if(h<24)return h+" h "+(m%60)+" min";
  return Math.floor(h/24)+" d "+(h%24)+" h";
}
function since(iso){const t=Date.parse(iso);return isNaN(t)?"":ago(Date.now()-skew-t);}
function clock(iso){const d=new Date(iso);return isNaN(d)?String(iso):d.toLocaleTimeString();}
function strip(runs){
  const box=el("div",undefined,"strip");
  const list=Array.isArray(runs)?runs.slice(-RUNS):[];
  const counts={pass:0,warn:0,fail:0};
  for(let i=list.length;i<RUNS;i++)box.appendChild(el("span",undefined,"run empty"));
  for(const r of list){
    const o=r.outcome==="pass"||r.outcome==="warn"?r.outcome:"fail";counts[o]++;
    const s=el("span",undefined,"run "+o);
    s.title=clock(r.time)+"  "+o+"  "+Number(r.latency_ms).toFixed(2)+" ms";
    box.appendChild(s);
  }
  box.setAttribute("role","img");
  box.setAttribute("aria-label","last "+list.length+" runs: "+counts.pass+" pass, "+counts.warn+" warn, "+counts.fail+" fail");
  return box;
}
function renderChecks(h){
  const tb=document.getElementById("rows");tb.textContent="";
  for(const [name,c] of Object.entries(h.checks||{})){
    const tr=el("tr");
    cell(tr,name);
    const st=cell(tr,SYM[c.status]||c.status,"st "+c.status);
    if(c.since)st.appendChild(el("span","for "+since(c.since),"for"));
    if(c.flapping)st.appendChild(el("span","\u21C5 flapping","for"));
    if(c.blocked_by)st.appendChild(el("span","blocked by "+c.blocked_by,"for"));
    if(c.fleet&&c.fleet.scope!=="none")st.appendChild(el("span",c.fleet.scope+": "+c.fleet.failing+" of "+c.fleet.pods+" pods","for"));
    const td=cell(tr);td.appendChild(strip(c.recent));
    cell(tr,typeof c.latency_ms==="number"?c.latency_ms.toFixed(2)+" ms":"");
    cell(tr,c.kind?c.kind+" / "+c.role:"\u2014");
    cell(tr,c.required?"yes":"no");
    cell(tr,c.circuit||"",c.circuit==="closed"?"pass":c.circuit?"fail":"");
    const err=cell(tr,c.last_error?clip(c.last_error):"\u2014","err");
    if(c.last_error)err.title=String(c.last_error);
    tb.appendChild(tr);
  }
}
function renderEvents(events){
  if(!Array.isArray(events))return;
  const tb=document.getElementById("changes");tb.textContent="";
  if(events.length===0){const tr=el("tr");const td=cell(tr,"none yet","muted");td.colSpan=4;tb.appendChild(tr);return;}
  for(const e of events){
    const tr=el("tr");
    const when=cell(tr,since(e.time)+" ago");when.title=String(e.time);
    cell(tr,e.check);
    cell(tr,(SYM[e.from]||e.from)+" \u2192 "+(SYM[e.to]||e.to),"st "+e.to);
    cell(tr,e.reason?clip(e.reason):"","err");
    tb.appendChild(tr);
  }
}
function scopeLine(name,c,pods){
  const nodes=new Set();
  for(const p of pods){if(p.checks&&p.checks[name]==="fail"&&p.node)nodes.add(p.node);}
  if(c.failing===0)return name+": passing on all "+c.pods+" pods";
  let where="";
  if(nodes.size===1)where=", all on "+[...nodes][0];
  return name+": failing on "+c.failing+" of "+c.pods+" pods"+where+" ("+c.scope+")";
}
function renderFleet(f){
  const box=document.getElementById("fleet");
  if(!f||!f.enabled){box.hidden=true;return;}
  box.hidden=false;
  const pods=Array.isArray(f.pods)?f.pods:[];
  const names=Object.keys(f.checks||{});
  const ul=document.getElementById("fleet-summary");ul.textContent="";
  ul.appendChild(el("li",pods.length+" pods answering (this one included), "+(f.peers_known||0)+" peers known"));
  for(const n of names)ul.appendChild(el("li",scopeLine(n,f.checks[n],pods)));
  const head=document.getElementById("fleet-head");head.textContent="";
  for(const t of ["pod","node","ready alone","answer age"])head.appendChild(el("th",t));
  for(const n of names)head.appendChild(el("th",n));
  const tb=document.getElementById("fleet-rows");tb.textContent="";
  for(const p of pods){
    const tr=el("tr");
    cell(tr,(p.name||p.address||"?")+(p.self?" (this pod)":""));
    cell(tr,p.node||"\u2014");
    cell(tr,p.ready?"yes":"no",p.ready?"pass":"fail");
    cell(tr,p.self?"\u2014":ago((p.age_s||0)*1000));
    for(const n of names){const st=p.checks?p.checks[n]:undefined;cell(tr,st?(SYM[st]||st):"\u2014","st "+(st||""));}
    tb.appendChild(tr);
  }
}
async function refreshFleet(){
  try{const r=await fetch("/fleet",{cache:"no-store"});renderFleet(await r.json());}catch(e){}
}
async function refresh(){
  try{
    const r=await fetch("/health?events",{cache:"no-store"});
    const h=await r.json();
    if(h.time){const t=Date.parse(h.time);if(!isNaN(t))skew=Date.now()-t;}
    const o=document.getElementById("overall");
    o.textContent=(SYM[h.status]||h.status)+(h.draining?" (draining)":"");
    o.className=h.status;
    document.getElementById("meta").textContent="ready: "+(h.ready?"yes":"no")+" \u00b7 version "+h.version+
      " \u00b7 up "+ago((h.uptime_s||0)*1000)+(h.pod&&h.pod.name?" \u00b7 pod "+h.pod.name:"");
    renderChecks(h);
    renderEvents(h.events);
    await refreshFleet();
    document.getElementById("updated").textContent="updated "+new Date().toLocaleTimeString();
  }catch(e){
    const o=document.getElementById("overall");o.textContent="\u2716 vigil unreachable";o.className="error";
  }
}
refresh();setInterval(refresh,2000);
</script>
</body>
</html>
)HTML";

}  // namespace

std::string RenderStatusPage() { return std::string(kMarkup) + kScript; }

}  // namespace vigil
