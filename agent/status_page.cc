// The human status page at "/": one self-contained HTML document (no external
// assets, so it works in an air-gapped cluster through `kubectl port-forward`)
// that polls /health every 3 s and shows only what /health gives (with
// "health_details": "status": no kind, latency, breaker or error text).
// Status is spelled out in words and symbols, so colour is never the only
// signal.
#include "agent/api.h"

namespace vigil {

std::string RenderStatusPage() {
  return R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#111;background:#fff}
h1{font-size:1.3rem;margin:0 0 .5rem}
#overall{font-size:1.6rem;font-weight:700;padding:.3rem .8rem;border-radius:4px;display:inline-block}
.ok,.pass{background:#d7f5dd}.degraded,.warn{background:#fff1c2}
.error,.fail,.starting,.unknown{background:#ffd6d6}
table{border-collapse:collapse;margin-top:1rem;min-width:60%}
th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#eee}td.err{max-width:32rem;word-break:break-word}
small{color:#555}
</style>
</head>
<body>
<h1>vigil</h1>
<div id="overall" role="status" aria-live="polite">loading&hellip;</div>
<p><small id="meta"></small></p>
<table>
<thead><tr><th>check</th><th>status</th><th>kind / role</th><th>required</th><th>latency</th>
<th>breaker</th><th>since</th><th>last error</th></tr></thead>
<tbody id="rows"></tbody>
</table>
<p><small>Refreshes every 3 s from <a href="/health">/health</a> &middot;
<a href="/readyz?verbose">/readyz?verbose</a> &middot; <a href="/metrics">/metrics</a></small></p>
<script>
const SYM={ok:"\u2714 OK",degraded:"\u26A0 DEGRADED",error:"\u2716 ERROR",starting:"\u2026 STARTING",
pass:"\u2714 pass",warn:"\u26A0 warn",fail:"\u2716 fail",unknown:"? unknown"};
function cell(tr,text,cls){const td=document.createElement("td");td.textContent=text;if(cls)td.className=cls;tr.appendChild(td);}
async function refresh(){
  try{
    const r=await fetch("/health",{cache:"no-store"});
    const h=await r.json();
    const o=document.getElementById("overall");
    o.textContent=(SYM[h.status]||h.status)+(h.draining?" (draining)":"");
    o.className=h.status;
    document.getElementById("meta").textContent="ready: "+(h.ready?"yes":"no")+" \u00b7 version "+h.version+
      " \u00b7 up "+h.uptime_s+" s"+(h.pod&&h.pod.name?" \u00b7 pod "+h.pod.name:"");
    const tb=document.getElementById("rows");tb.textContent="";
    for(const [name,c] of Object.entries(h.checks||{})){
      const tr=document.createElement("tr");
      cell(tr,name);cell(tr,SYM[c.status]||c.status,c.status);cell(tr,c.kind?c.kind+" / "+c.role:"\u2014");
      cell(tr,c.required?"yes":"no");cell(tr,typeof c.latency_ms==="number"?c.latency_ms.toFixed(2)+" ms":"\u2014");
      cell(tr,c.circuit||"\u2014",c.circuit?(c.circuit==="closed"?"pass":"fail"):"");cell(tr,c.since);
      cell(tr,c.last_error||"\u2014","err");tb.appendChild(tr);
    }
  }catch(e){
    const o=document.getElementById("overall");o.textContent="\u2716 vigil unreachable";o.className="error";
  }
}
refresh();setInterval(refresh,3000);
</script>
</body>
</html>
)HTML";
}

}  // namespace vigil
