#!/usr/bin/env python3
"""vigil benchmark driver (issue 6, SPEC section 7). Started by tests/bench/run,
which installs the packages, runs `npm ci` for the peers and builds a Release
binary first. Python standard library only.

Everything it starts listens on loopback, or inside network namespaces it
creates itself: `vb-d<tag>` holds the session Redis behind a veth pair on a
private /24 (so that it can be black-holed with iptables inside the
namespace), `vb-p<tag>` has only `lo` up and holds the peers (lightship, which
binds 0.0.0.0, its own two Redis servers, an app stand-in and
prometheus-redis-exporter). Every loop is bounded in count and time; every
process is stopped, and both namespaces deleted, on the way out.

Also helper modes, run inside a namespace through `ip netns exec`:
  --poll URL want timeout   wait until GET URL answers 200 (want=up) or not
  --scrape URL n timeout    time n GETs of URL, each on a new connection
  --app-listener PORT secs  accept and close TCP connections (the "app")
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


def log(msg):
    sys.stderr.write("\033[1m--> %s\033[0m\n" % msg)
    sys.stderr.flush()


def now():
    return time.monotonic()


# --------------------------------------------------------------------------
# helper modes (they run inside a namespace; they print one JSON line)


def http_get(host, port, path, timeout):
    """One GET on a new connection, as the kubelet does. Returns (status, seconds)."""
    t0 = now()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.30", "Accept": "*/*"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, now() - t0
    finally:
        conn.close()


def split_url(url):
    m = re.match(r"http://([^/:]+):(\d+)(/.*)$", url)
    if not m:
        raise SystemExit("bad url " + url)
    return m.group(1), int(m.group(2)), m.group(3)


def helper_poll(url, want, timeout_s):
    host, port, path = split_url(url)
    print(json.dumps({"ready": now()}), flush=True)
    deadline = now() + float(timeout_s)
    polls = 0
    status = None
    while now() < deadline:  # bounded by the deadline
        polls += 1
        try:
            status, _ = http_get(host, port, path, 1.0)
        except OSError:
            status = 0
        if (want == "up") == (status == 200):
            print(json.dumps({"t": now(), "status": status, "polls": polls}), flush=True)
            return 0
        time.sleep(0.005)
    print(json.dumps({"t": None, "status": status, "polls": polls}), flush=True)
    return 1


def helper_scrape(url, n, timeout_s):
    host, port, path = split_url(url)
    out = []
    for _ in range(int(n)):
        try:
            status, dt = http_get(host, port, path, float(timeout_s))
        except OSError as e:
            status, dt = "error: %s" % e.__class__.__name__, None
        out.append({"status": status, "ms": None if dt is None else round(dt * 1000, 3)})
    print(json.dumps(out), flush=True)
    return 0


def app_listener(port, lifetime_s, stop=None, host="127.0.0.1"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(128)
    s.settimeout(0.5)
    end = now() + float(lifetime_s)
    while now() < end and not (stop and stop.is_set()):
        try:
            c, _ = s.accept()
            c.close()
        except OSError:
            pass
    s.close()


# --------------------------------------------------------------------------
# processes, ports, /proc


class Procs:
    """Everything started, stopped by pid (never by name) at the end."""

    def __init__(self, pidfile=None):
        self.procs = []  # (name, Popen)
        self.pidfile = pidfile  # for tests/bench/run's last-resort cleanup

    def add(self, name, p):
        self.procs.append((name, p))
        if self.pidfile:
            with open(self.pidfile, "a") as f:
                f.write("%d\n" % p.pid)

    def start(self, name, argv, logfile, ns=None, env=None):
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        out = open(logfile, "ab")
        # Each server in a session of its own, as each container of a pod is
        # (the runtime starts a container's first process with setsid): the
        # kernel's autogroup scheduler then weighs it as its own group. Left in
        # the bench's session, vigil's event loops and wrk formed one group and
        # loopback round trips to the Redis and PostgreSQL servers stalled for
        # 0.3-2.4 s under the hammer (false timeouts, false 503s); nginx and the
        # peers are treated the same way.
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=True)
        out.close()
        self.add(name, p)
        return p

    def stop(self, p, timeout=5.0):
        if p.poll() is not None:
            return
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                return
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def stop_all(self):
        for _, p in reversed(self.procs):
            try:
                self.stop(p)
            except Exception:  # keep going: stop the rest
                pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_fields(path, keys):
    """The `Key:  N [kB]` lines of a /proc file (status, smaps_rollup) named in `keys`."""
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def proc_status(pid):
    return proc_fields("/proc/%d/status" % pid, ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"))


def rss(pid):
    s = proc_status(pid)
    return {"rss_kib": s["VmRSS"], "anon_kib": s.get("RssAnon"), "file_kib": s.get("RssFile"),
            "hwm_kib": s.get("VmHWM"), "threads": s.get("Threads")}


def rollup(pid):
    """RSS, PSS and private (USS) KiB from /proc/PID/smaps_rollup: PSS splits
    each shared page among the processes that map it; private pages are what
    the process alone costs (what a second copy of it on the node adds)."""
    out = proc_fields("/proc/%d/smaps_rollup" % pid,
                      ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty"))
    out["private_kib"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


def rss_by_mapping(pid, top=12):
    """Resident KiB by mapped file (shared libraries, the binary) and anonymous."""
    sizes = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                name = parts[5] if len(parts) > 5 else "[anon]"
                if not name.startswith("/"):
                    name = "[anon, heap, stacks]"
                else:
                    name = os.path.basename(name)
            elif line.startswith("Rss:"):
                sizes[name] = sizes.get(name, 0) + int(line.split()[1])
    return sorted(([k, v] for k, v in sizes.items() if v), key=lambda kv: -kv[1])[:top]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime are fields 14, 15 (1-based): index 11, 12 after the ")".
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_ns_threads(pid):
    """Sum of per-thread run time (ns) from schedstat: finer than clock ticks."""
    total = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def run(argv, timeout=60, check=True, **kw):
    # A session of its own for every command too (wrk is the load from
    # another machine, not part of the server's group): see Procs.start.
    return subprocess.run(argv, check=check, timeout=timeout, capture_output=True, text=True,
                          start_new_session=True, **kw)


def wait_until(pred, timeout, step=0.02):
    end = now() + timeout
    while now() < end:  # bounded by the deadline
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


def status_of(port, path, host="127.0.0.1", timeout=1.0):
    try:
        return http_get(host, port, path, timeout)[0]
    except OSError:
        return 0


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


# --------------------------------------------------------------------------
# Redis stats over a kept unix-socket connection (it crosses namespaces and
# adds nothing to total_connections_received after its own first connect)


class RedisStats:
    def __init__(self, path):
        self.path = path
        self.sock = None
        self.buf = b""
        self.info_calls = 0

    def _connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(self.path)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def info(self):
        if self.sock is None:
            self._connect()
        args = [b"INFO", b"stats", b"commandstats", b"clients"]
        req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        self.sock.sendall(req)
        self.info_calls += 1
        head = self._line()
        if not head.startswith(b"$"):
            raise OSError("unexpected reply %r" % head[:60])
        text = self._exact(int(head[1:])).decode()
        out = {"commands": {}}
        for line in text.splitlines():
            if line.startswith("cmdstat_"):
                name, _, rest = line.partition(":")
                calls = int(re.search(r"calls=(\d+)", rest).group(1))
                out["commands"][name[len("cmdstat_"):]] = calls
            elif line.startswith("total_connections_received:"):
                out["connections"] = int(line.split(":")[1])
            elif line.startswith("connected_clients:"):
                out["connected_clients"] = int(line.split(":")[1])
        return out

    def close(self):
        if self.sock:
            self.sock.close()


def redis_delta(a, b):
    """Commands and connections between two snapshots, less the stats
    connection's own INFO (the first snapshot's INFO shows in the second)."""
    cmds = {}
    for k, v in b["commands"].items():
        d = v - a["commands"].get(k, 0)
        if k == "info":
            d -= 1
        if d:
            cmds[k] = d
    return {"commands": cmds, "commands_total": sum(cmds.values()),
            "new_connections": b["connections"] - a["connections"]}


# --------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(self, args):
        self.a = args
        self.tag = args.tag or str(os.getpid())
        self.work = args.work or tempfile.mkdtemp(prefix="vigil-bench-")
        self.procs = Procs(os.path.join(self.work, "pids"))
        os.chmod(self.work, 0o755)
        self.ns_dep = "vb-d" + self.tag
        self.ns_peer = "vb-p" + self.tag
        self.veth_host = "vbh" + self.tag
        self.veth_ns = "vbn" + self.tag
        self.netns_made = []
        self.stop_app = threading.Event()
        self.pg_data = None
        self.pg_bin = None
        self.R = {"runs": {}, "wrk": {}, "footprint": {}, "dependency_cost": {}, "detection": {},
                  "scrape": {}, "peers": {}}
        self.wrk_script = os.path.join(self.work, "probe.lua")
        self.redis_stats = {}

    # ---- setup -----------------------------------------------------------

    def sh(self, *argv, ns=None, timeout=60, check=True):
        argv = list(argv)
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        return run(argv, timeout=timeout, check=check)

    def make_namespaces(self):
        subnet = self.a.subnet  # e.g. 10.213.77
        out = run(["ip", "-o", "addr"]).stdout + run(["ip", "route"]).stdout
        if (subnet + ".") in out:
            raise SystemExit("subnet %s.0/24 is in use on this host: pass --subnet" % subnet)
        for ns in (self.ns_dep, self.ns_peer):
            run(["ip", "netns", "add", ns])
            self.netns_made.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns])
        run(["ip", "link", "set", self.veth_ns, "netns", self.ns_dep])
        run(["ip", "addr", "add", subnet + ".1/24", "dev", self.veth_host])
        run(["ip", "link", "set", self.veth_host, "up"])
        run(["ip", "-n", self.ns_dep, "addr", "add", subnet + ".2/24", "dev", self.veth_ns])
        run(["ip", "-n", self.ns_dep, "link", "set", self.veth_ns, "up"])
        self.dep_ip = subnet + ".2"

    def start_redis(self, name, ns=None, bind="127.0.0.1", port=None):
        d = os.path.join(self.work, name)
        os.makedirs(d)
        port = port or free_port()
        sock = os.path.join(d, "redis.sock")
        p = self.procs.start(name, ["redis-server", "--bind", bind, "--port", str(port), "--save", "",
                                    "--appendonly", "no", "--protected-mode", "no", "--dir", d, "--unixsocket", sock,
                                    "--unixsocketperm", "700"], os.path.join(d, "log"), ns=ns)
        if not wait_until(lambda: os.path.exists(sock), 10):
            raise SystemExit("redis %s did not start (see %s/log)" % (name, d))
        self.redis_stats[name] = RedisStats(sock)
        return {"pid": p.pid, "port": port, "sock": sock, "proc": p}

    def as_postgres(self, *argv, timeout=60):
        return run(["runuser", "-u", "postgres", "--"] + list(argv), timeout=timeout)

    def start_postgres(self):
        self.pg_bin = sorted(
            (d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)[-1]
        self.pg_bin = "/usr/lib/postgresql/%s/bin" % self.pg_bin
        d = os.path.join(self.work, "pg")
        os.makedirs(d)
        shutil.chown(d, "postgres", "postgres")
        self.pg_data = os.path.join(d, "data")
        self.pg_sock = d
        self.pg_port = free_port()
        self.as_postgres(self.pg_bin + "/initdb", "-D", self.pg_data, "-U", "postgres",
                         "--auth=trust", "--no-sync")
        self.as_postgres(self.pg_bin + "/pg_ctl", "-D", self.pg_data, "-l", d + "/log", "-w", "-o",
                         "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off "
                         "-c shared_preload_libraries=pg_stat_statements -c log_connections=on"
                         % (self.pg_port, d), "start")
        self.pg_log = d + "/log"
        # pg_stat_statements counts a statement when it runs; pg_stat_database
        # is flushed lazily by each backend (PostgreSQL 15), so it lags.
        self.psql("CREATE EXTENSION pg_stat_statements")
        self.psql("CREATE DATABASE peer", db="postgres")
        self.psql("CREATE DATABASE floor", db="postgres")

    def psql(self, sql, db="template1"):
        # The stats reader connects to template1: its own session and
        # transaction never count against the databases measured.
        return run(["psql", "-h", self.pg_sock, "-p", str(self.pg_port), "-U", "postgres", "-d", db,
                    "-XAtq", "-c", sql]).stdout.strip()

    def pg_counts(self, db):
        row = self.psql(
            "SELECT d.xact_commit, d.sessions, (SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
            "WHERE s.dbid = d.datid) FROM pg_stat_database d WHERE d.datname = '%s'" % db)
        x, s, st = row.split("|")
        with open(self.pg_log, errors="replace") as f:
            conns = sum(1 for line in f if "connection authorized" in line and "database=%s " % db in line + " ")
        return {"xact_commit": int(x), "sessions": int(s), "statements": int(st), "connections_logged": conns}

    def pg_pids(self):
        with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
            master = int(f.readline())
        pids = [master]
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open("/proc/%s/stat" % p) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                            pids.append(int(p))
                except OSError:
                    pass
        return pids

    def start_nginx(self):
        d = os.path.join(self.work, "nginx")
        os.makedirs(d)
        self.nginx_port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""worker_processes auto;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(d)s/body; proxy_temp_path %(d)s/proxy;
  fastcgi_temp_path %(d)s/fastcgi; uwsgi_temp_path %(d)s/uwsgi; scgi_temp_path %(d)s/scgi;
  server {
    listen 127.0.0.1:%(port)d;
    location / { return 200 "ok\\n"; }
  }
}
""" % {"d": d, "port": self.nginx_port})
        self.nginx = self.procs.start("nginx", ["nginx", "-c", conf, "-p", d], d + "/log")
        if not wait_until(lambda: status_of(self.nginx_port, "/") == 200, 10):
            raise SystemExit("nginx did not start (see %s)" % d)

    def vigil_config(self, port):
        a = self.a
        return {
            "listen": "127.0.0.1:%d" % port,
            "drain_seconds": 0,
            "defaults": {
                "interval_ms": a.interval_ms, "timeout_ms": a.timeout_ms,
                "unhealthy_threshold": a.unhealthy_threshold, "healthy_threshold": 1,
                "jitter_percent": a.jitter_percent,
                "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 5000,
                            "success_threshold": 2},
            },
            "checks": [
                {"name": "redis-session", "kind": "redis", "role": "session",
                 "url": "redis://%s:%d" % (self.dep_ip, self.session["port"])},
                {"name": "redis-cache", "kind": "redis", "role": "cache",
                 "url": "redis://127.0.0.1:%d/0" % self.cache["port"]},
                {"name": "db", "kind": "postgres", "role": "database",
                 "url": "postgresql://postgres@127.0.0.1:%d/postgres" % self.pg_port},
                {"name": "app", "kind": "tcp", "role": "app",
                 "address": "127.0.0.1:%d" % self.app_port},
            ],
        }

    def start_vigil(self, name):
        port = free_port()
        cfg = os.path.join(self.work, name + ".json")
        with open(cfg, "w") as f:
            json.dump(self.vigil_config(port), f, indent=2)
        t0 = now()
        p = self.procs.start(name, [self.a.vigil, "run", "--config", cfg, "--log-format", "text"],
                             os.path.join(self.work, name + ".log"))
        return p, port, t0

    def setup(self):
        log("work dir %s" % self.work)
        with open(self.wrk_script, "w") as f:
            f.write(WRK_LUA)
        self.make_namespaces()
        self.session = self.start_redis("redis-session", ns=self.ns_dep, bind=self.dep_ip, port=6379)
        self.cache = self.start_redis("redis-cache")
        self.start_postgres()
        self.app_port = free_port()
        threading.Thread(target=app_listener, args=(self.app_port, 3600, self.stop_app),
                         daemon=True).start()
        self.start_nginx()

    # ---- wrk ---------------------------------------------------------------

    def passive_opens(self, ns=None):
        """TCP connections accepted in a network namespace (/proc/net/snmp)."""
        argv = ["cat", "/proc/net/snmp"]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        lines = [l.split() for l in run(argv).stdout.splitlines() if l.startswith("Tcp:")]
        return int(lines[1][lines[0].index("PassiveOpens")])

    def wrk(self, key, port, path, conns, close, duration=None, threads=2, ns=None, host="127.0.0.1"):
        duration = duration or self.a.duration
        opens0 = self.passive_opens(ns)
        threads = min(threads, conns)
        env = dict(os.environ, BENCH_CLOSE="1" if close else "0")
        argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--timeout", "2s",
                "-s", self.wrk_script, "http://%s:%d%s" % (host, port, path)]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        r = run(argv, timeout=duration + 60, env=env)
        m = re.search(r"^BENCHJSON (.*)$", r.stdout, re.M)
        if not m:
            raise SystemExit("wrk printed no result:\n" + r.stdout + r.stderr)
        res = json.loads(m.group(1))
        res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
        # ~1 with `Connection: close` (a new connection per request), ~0 with keep-alive
        res["conns_per_request"] = round((self.passive_opens(ns) - opens0) / max(1, res["requests"]), 3)
        res.update({"conns": conns, "threads": threads, "close": close, "path": path,
                    "seconds": duration})
        self.R["runs"].setdefault(key, []).append(res)
        log("  %-28s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms  non-2xx %d  errors %d" % (
            key, res["rps"], res["p50_us"] / 1000, res["p99_us"] / 1000, res["max_us"] / 1000,
            res["status"], res["connect"] + res["read"] + res["write"] + res["timeout"]))
        return res

    def summarize_runs(self):
        for key, runs in self.R["runs"].items():
            s = {k: median([r[k] for r in runs]) for k in
                 ("rps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us", "conns_per_request")}
            s["n"] = len(runs)
            s["non_2xx"] = sum(r["status"] for r in runs)
            s["socket_errors"] = sum(r["connect"] + r["read"] + r["write"] + r["timeout"] for r in runs)
            s["requests"] = sum(r["requests"] for r in runs)
            for k in ("conns", "threads", "close", "path", "seconds"):
                s[k] = runs[0][k]
            self.R["wrk"][key] = s

    # ---- measurements ------------------------------------------------------

    def vigil_attempts(self, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
        out = {}
        for m in re.finditer(r'^vigil_check_attempts_total\{check="([^"]+)"\} (\S+)$', body, re.M):
            out[m.group(1)] = int(float(m.group(2)))
        # One series a reason: the check's failures are their sum.
        for m in re.finditer(r'^vigil_check_failures_total\{check="([^"]+)",reason="[^"]+"\} (\S+)$',
                             body, re.M):
            key = "failed:" + m.group(1)
            out[key] = out.get(key, 0) + int(float(m.group(2)))
        return out

    def dep_snapshot(self):
        snap = {"redis": {}, "pg": {}}
        for name in ("redis-session", "redis-cache", "peer-session", "peer-cache"):
            if name in self.redis_stats:
                snap["redis"][name] = self.redis_stats[name].info()
        for db in ("postgres", "peer"):
            snap["pg"][db] = self.pg_counts(db)
        # vigil's kept backend: idle (not idle in transaction), started once
        snap["pg_vigil_backends"] = self.psql(
            "SELECT coalesce(string_agg(state || ' since ' || to_char(backend_start, 'HH24:MI:SS.MS') || "
            "CASE WHEN xact_start IS NULL THEN ', no open transaction' ELSE ', transaction open' END, '; '), "
            "'none') FROM pg_stat_activity WHERE application_name = 'vigil'")
        return snap

    def dep_window(self, label, seconds, load=None):
        """A window of `seconds`: CPU of every agent, dependency traffic,
        vigil's own attempt counts; `load` runs during it (wrk)."""
        pids = {"vigil": self.vigil.pid}
        if getattr(self, "lightship", None):
            pids["lightship"] = self.lightship.pid
        if getattr(self, "exporter", None):
            pids["redis_exporter"] = self.exporter.pid
        cpu0 = {k: (cpu_seconds(p), cpu_ns_threads(p)) for k, p in pids.items()}
        att0 = self.vigil_attempts(self.vigil_port)
        dep0 = self.dep_snapshot()
        t0 = now()
        if load:
            load()
        rest = seconds - (now() - t0)
        if rest > 0:
            time.sleep(rest)
        elapsed = now() - t0
        cpu1 = {k: (cpu_seconds(p), cpu_ns_threads(p)) for k, p in pids.items()}
        dep1 = self.dep_snapshot()
        att1 = self.vigil_attempts(self.vigil_port)
        w = {"seconds": round(elapsed, 2), "cpu": {}, "attempts": {}, "redis": {}, "pg": {}}
        for k in pids:
            secs = cpu1[k][0] - cpu0[k][0]
            ns = cpu1[k][1] - cpu0[k][1]
            w["cpu"][k] = {"cpu_s": round(secs, 3), "cpu_s_schedstat": round(ns / 1e9, 4),
                           "core_percent": round(100 * ns / 1e9 / elapsed, 4)}
        for c in att1:
            w["attempts"][c] = att1[c] - att0.get(c, 0)
        for name in dep1["redis"]:
            w["redis"][name] = redis_delta(dep0["redis"][name], dep1["redis"][name])
        for db in dep1["pg"]:
            w["pg"][db] = {k: dep1["pg"][db][k] - dep0["pg"][db][k] for k in dep1["pg"][db]}
        for name, check in (("redis-session", "redis-session"), ("redis-cache", "redis-cache")):
            n = w["attempts"].get(check)
            if n:
                w["redis"][name]["commands_per_attempt"] = round(w["redis"][name]["commands_total"] / n, 3)
        if w["attempts"].get("db"):
            for k in ("statements", "xact_commit"):
                w["pg"]["postgres"][k + "_per_attempt"] = round(
                    w["pg"]["postgres"][k] / w["attempts"]["db"], 3)
        w["pg_vigil_backends"] = {"start": dep0["pg_vigil_backends"], "end": dep1["pg_vigil_backends"]}
        self.R["dependency_cost"][label] = w
        log("  %s: vigil CPU %.3f s (%.3f %% of a core); attempts %s; redis %s; pg %s" % (
            label, w["cpu"]["vigil"]["cpu_s_schedstat"], w["cpu"]["vigil"]["core_percent"],
            w["attempts"], {k: (v["commands"], v["new_connections"]) for k, v in w["redis"].items()},
            w["pg"]))
        return w

    def floors(self):
        """The memory floor of the client libraries vigil must use: the floor
        programs (tests/bench/floor/floor.c) hold one PostgreSQL and one Redis
        connection as vigil's checks do, with nothing else. Measured after
        three more rounds, against a database of their own and outside every
        dependency window, so they add nothing to the dependency figures."""
        out = {}
        for key, binary in (("clients", self.a.floor), ("clients_httplib", self.a.floor_httplib)):
            if not binary:
                continue
            conninfo = "host=127.0.0.1 port=%d user=postgres dbname=floor connect_timeout=5" % self.pg_port
            p = subprocess.Popen([binary, conninfo, "127.0.0.1", str(self.cache["port"]), "5"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
            self.procs.add("floor-" + key, p)
            line = p.stdout.readline().strip()  # "ready" after the first round (bounded: 5 rounds)
            if line != "ready":
                self.procs.stop(p)
                raise SystemExit("floor program %s failed: %s" % (binary, line))
            time.sleep(3.2)
            out[key] = dict(rss(p.pid), rollup=rollup(p.pid), rss_by_mapping=rss_by_mapping(p.pid))
            self.procs.stop(p)
        return out

    def startup_times(self):
        times = []
        for i in range(self.a.startups):
            port = free_port()
            cfg = os.path.join(self.work, "startup.json")
            with open(cfg, "w") as f:
                json.dump(self.vigil_config(port), f)
            t0 = now()
            p = subprocess.Popen([self.a.vigil, "run", "--config", cfg, "--log-format", "text"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            self.procs.add("vigil-startup", p)
            t = None
            end = t0 + 5
            while now() < end:  # bounded: 5 s
                try:
                    if http_get("127.0.0.1", port, "/livez", 1.0)[0] == 200:
                        t = now() - t0
                        break
                except OSError:
                    time.sleep(0.0005)
            self.procs.stop(p)
            times.append(None if t is None else round(t * 1000, 2))
        return times

    def scrape(self, url, n, timeout, ns=None):
        argv = [sys.executable, os.path.abspath(__file__), "--scrape", url, str(n), str(timeout)]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        r = run(argv, timeout=n * (timeout + 2) + 30)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        ms = [x["ms"] for x in res if x["ms"] is not None]
        return {"n": n, "statuses": sorted(set(str(x["status"]) for x in res)),
                "median_ms": median(ms), "max_ms": max(ms) if ms else None}

    def detect(self, label, url, act, undo, bound_ms, recover_bound_ms, ns=None, settle=None):
        """Time from `act` to the verdict at `url` turning non-200, and from
        `undo` back to 200, with a kubelet-like poller (new connection every
        5 ms) that reports CLOCK_MONOTONIC, shared by every namespace."""
        out = {"bound_ms": bound_ms, "recovery_bound_ms": recover_bound_ms}
        for phase, fn, want, limit in (("detect", act, "down", 15), ("recover", undo, "up", 45)):
            argv = [sys.executable, os.path.abspath(__file__), "--poll", url, want, str(limit)]
            if ns:
                argv = ["ip", "netns", "exec", ns] + argv
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
            self.procs.add("poller", p)
            json.loads(p.stdout.readline())  # the poller is polling
            t0 = now()
            fn()
            try:
                line, _ = p.communicate(timeout=limit + 10)
            except subprocess.TimeoutExpired:
                p.kill()
                line, _ = p.communicate()
            res = json.loads(line.strip().splitlines()[-1])
            out[phase + "_ms"] = None if res["t"] is None else round((res["t"] - t0) * 1000, 1)
        out["within_bound"] = out["detect_ms"] is not None and out["detect_ms"] <= bound_ms
        out["recovery_within_bound"] = (out["recover_ms"] is not None
                                        and out["recover_ms"] <= recover_bound_ms)
        self.R["detection"][label] = out
        log("  %-34s detect %s ms (bound %d)  recover %s ms (bound %d)" % (
            label, out["detect_ms"], bound_ms, out["recover_ms"], recover_bound_ms))
        if settle:
            settle()
        return out

    # ---- peers ---------------------------------------------------------------

    def start_peers(self):
        # Inside the peers' namespace: its own loopback, its own ports.
        self.peer_session = self.start_redis("peer-session", ns=self.ns_peer, port=6379)
        self.peer_cache = self.start_redis("peer-cache", ns=self.ns_peer, port=6380)
        self.peer_app_port = 7000
        self.procs.start("peer-app", [sys.executable, os.path.abspath(__file__), "--app-listener",
                                      str(self.peer_app_port), "3600"],
                         os.path.join(self.work, "peer-app.log"), ns=self.ns_peer)
        self.lightship_port = 9000
        env = dict(os.environ, PEER_PORT=str(self.lightship_port),
                   REDIS_SESSION_URL="redis://127.0.0.1:%d" % self.peer_session["port"],
                   REDIS_CACHE_URL="redis://127.0.0.1:%d" % self.peer_cache["port"],
                   PG_HOST=self.pg_sock, PG_PORT=str(self.pg_port), PG_DATABASE="peer",
                   PG_USER="postgres", APP_HOST="127.0.0.1", APP_PORT=str(self.peer_app_port),
                   INTERVAL_MS=str(self.a.interval_ms), TIMEOUT_MS=str(self.a.timeout_ms),
                   UNHEALTHY_THRESHOLD=str(self.a.unhealthy_threshold))
        t0 = now()
        self.lightship = self.procs.start(
            "lightship", ["node", os.path.join(HERE, "peers", "lightship-peer.mjs")],
            os.path.join(self.work, "lightship.log"), ns=self.ns_peer, env=env)
        self.exporter_port = 9121
        self.exporter = self.procs.start(
            "redis_exporter", ["prometheus-redis-exporter", "-web.listen-address",
                               "127.0.0.1:%d" % self.exporter_port, "-redis.addr",
                               "redis://127.0.0.1:%d" % self.peer_session["port"]],
            os.path.join(self.work, "exporter.log"), ns=self.ns_peer)
        ok = self.ns_poll("http://127.0.0.1:%d/ready" % self.lightship_port, "up", 20)
        self.R["peers"]["lightship_ready_ms"] = None if ok is None else round((ok - t0) * 1000, 1)
        if ok is None:
            raise SystemExit("lightship peer never became ready (see %s/lightship.log)" % self.work)

    def ns_poll(self, url, want, limit, ns=None):
        ns = ns or self.ns_peer
        r = run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--poll", url,
                 want, str(limit)], timeout=limit + 20, check=False)
        return json.loads(r.stdout.strip().splitlines()[-1])["t"]

    # ---- the run -------------------------------------------------------------

    def go(self):
        a = self.a
        R = self.R
        bound = a.interval_ms * (1 + a.jitter_percent / 100.0) * a.unhealthy_threshold + a.timeout_ms
        bound_ms = int(round(bound + 20))  # + the scheduler's 20 ms grace past a deadline
        recover_bound_ms = int(round(a.interval_ms * (1 + a.jitter_percent / 100.0) + a.timeout_ms + 20))
        R["config"] = {"interval_ms": a.interval_ms, "timeout_ms": a.timeout_ms,
                       "unhealthy_threshold": a.unhealthy_threshold, "healthy_threshold": 1,
                       "jitter_percent": a.jitter_percent, "breaker_recovery_timeout_ms": 5000,
                       "wrk_seconds": a.duration, "window_seconds": a.window, "repeats": a.repeat}
        self.setup()

        log("footprint: binary, start-up time (exec to /livez 200), x%d" % a.startups)
        fp = R["footprint"]
        fp["binary_bytes"] = os.path.getsize(a.vigil)
        fp["startup_ms"] = self.startup_times()
        fp["startup_ms_median"] = median(fp["startup_ms"])
        log("  binary %.2f MiB; exec to /livez %s ms" % (fp["binary_bytes"] / MiB, fp["startup_ms"]))

        log("starting vigil with four checks (2 Redis, PostgreSQL, TCP) at %d ms" % a.interval_ms)
        self.vigil, self.vigil_port, t0 = self.start_vigil("vigil")
        if not wait_until(lambda: status_of(self.vigil_port, "/readyz") == 200, 15, 0.005):
            raise SystemExit("vigil never became ready (see %s/vigil.log)" % self.work)
        fp["exec_to_ready_ms"] = round((now() - t0) * 1000, 1)
        fp["rss_after_start"] = rss(self.vigil.pid)

        log("memory floor of the client libraries (tests/bench/floor)")
        fp["floor"] = self.floors()
        for k, v in fp["floor"].items():
            log("  floor %s: RSS %.1f MiB" % (k, v["rss_kib"] / 1024))

        log("peers: lightship (node) and prometheus-redis-exporter in namespace %s" % self.ns_peer)
        self.start_peers()
        P = R["peers"]
        P["lightship_rss_after_start"] = rss(self.lightship.pid)
        P["exporter_rss_after_start"] = rss(self.exporter.pid)
        P["exporter_scrape_healthy"] = self.scrape(
            "http://127.0.0.1:%d/metrics" % self.exporter_port, 10, 20, ns=self.ns_peer)
        R["scrape"]["vigil_metrics_healthy"] = self.scrape(
            "http://127.0.0.1:%d/metrics" % self.vigil_port, 10, 5)
        P["exporter_rss_after_scrapes"] = rss(self.exporter.pid)

        log("idle window, %d s: CPU, RSS, dependency traffic with no probes" % a.window)
        self.dep_window("idle", a.window)
        fp["rss_after_60s"] = rss(self.vigil.pid)
        fp["rss_by_mapping_after_60s"] = rss_by_mapping(self.vigil.pid)
        fp["rollup_after_60s"] = rollup(self.vigil.pid)
        P["lightship_rss_after_60s"] = rss(self.lightship.pid)
        P["exporter_rss_after_60s"] = rss(self.exporter.pid)

        log("hammer window, %d s: wrk -t2 -c64 keep-alive on /readyz, dependency traffic" % a.window)
        self.dep_window("hammered", a.window, load=lambda: self.wrk(
            "hammer_readyz_ka64", self.vigil_port, "/readyz", 64, False, duration=a.window - 1))

        log("probe throughput and latency: nginx and vigil, interleaved, %d x %d s" % (a.repeat, a.duration))
        for _ in range(a.repeat):
            for close, conns, tag in ((False, 64, "ka64"), (True, 64, "nc64"), (True, 4, "nc4")):
                self.wrk("nginx_" + tag, self.nginx_port, "/", conns, close)
                self.wrk("vigil_readyz_" + tag, self.vigil_port, "/readyz", conns, close)
        self.wrk("vigil_health_ka64", self.vigil_port, "/health", 64, False)
        fp["rss_after_wrk"] = rss(self.vigil.pid)

        log("lightship /ready under the same loads (wrk inside %s)" % self.ns_peer)
        for close, conns, tag in ((False, 64, "ka64"), (True, 64, "nc64"), (True, 4, "nc4")):
            self.wrk("lightship_ready_" + tag, self.lightship_port, "/ready", conns, close,
                     ns=self.ns_peer)
        P["lightship_rss_after_wrk"] = rss(self.lightship.pid)

        def vigil_up():
            if not wait_until(lambda: status_of(self.vigil_port, "/readyz") == 200, 45, 0.05):
                raise SystemExit("vigil did not recover (see %s/vigil.log)" % self.work)
            time.sleep(1.5)

        readyz = "http://127.0.0.1:%d/readyz" % self.vigil_port
        sess = self.session["proc"].pid
        log("detection and recovery (bound: interval x (1 + jitter) x unhealthy_threshold + timeout)")
        self.detect("vigil: session Redis hung (SIGSTOP)", readyz,
                    lambda: os.kill(sess, signal.SIGSTOP), lambda: os.kill(sess, signal.SIGCONT),
                    bound_ms, recover_bound_ms, settle=vigil_up)
        drop = ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", str(self.session["port"]), "-j", "DROP"]
        undrop = ["iptables", "-D"] + drop[2:]
        self.detect("vigil: session Redis black-holed", readyz,
                    lambda: self.sh(*drop, ns=self.ns_dep), lambda: self.sh(*undrop, ns=self.ns_dep),
                    bound_ms, recover_bound_ms, settle=vigil_up)

        def pg_signal(sig):
            for pid in self.pg_pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        self.detect("vigil: PostgreSQL hung (SIGSTOP)", readyz,
                    lambda: pg_signal(signal.SIGSTOP), lambda: pg_signal(signal.SIGCONT),
                    bound_ms, recover_bound_ms, settle=vigil_up)

        def redis_restart():
            p = self.session["proc"]
            self.procs.stop(p)
            d = os.path.join(self.work, "redis-session")
            p2 = self.procs.start("redis-session", p.args[4:], os.path.join(d, "log"), ns=self.ns_dep)
            self.session["proc"] = p2
            self.session["pid"] = p2.pid
            self.redis_stats["redis-session"] = RedisStats(self.session["sock"])

        def redis_kill():
            os.kill(self.session["proc"].pid, signal.SIGKILL)
            self.session["proc"].wait(5)
        self.detect("vigil: session Redis killed, restarted", readyz, redis_kill, redis_restart,
                    bound_ms, recover_bound_ms, settle=vigil_up)
        sess = self.session["proc"].pid

        psess = self.peer_session["proc"].pid
        lready = "http://127.0.0.1:%d/ready" % self.lightship_port
        self.detect("lightship: session Redis hung", lready,
                    lambda: os.kill(psess, signal.SIGSTOP), lambda: os.kill(psess, signal.SIGCONT),
                    bound_ms, recover_bound_ms, ns=self.ns_peer,
                    settle=lambda: (self.ns_poll(lready, "up", 20), time.sleep(1.5)))

        for label, act, undo in (
                ("hung", lambda: os.kill(sess, signal.SIGSTOP), lambda: os.kill(sess, signal.SIGCONT)),
                ("blackholed", lambda: self.sh(*drop, ns=self.ns_dep),
                 lambda: self.sh(*undrop, ns=self.ns_dep))):
            log("probes while the required session Redis is %s, after the same runs healthy" % label)
            # The healthy reference for each ratio is taken right before the
            # fault, not minutes earlier: the machine drifts over a run.
            self.wrk("vigil_readyz_ka64_ref_" + label, self.vigil_port, "/readyz", 64, False)
            self.wrk("vigil_health_ka64_ref_" + label, self.vigil_port, "/health", 64, False)
            self.wrk("vigil_readyz_nc4_ref_" + label, self.vigil_port, "/readyz", 4, True)
            act()
            try:
                if not wait_until(lambda: status_of(self.vigil_port, "/readyz") == 503, 15, 0.02):
                    raise SystemExit("vigil did not notice the %s Redis" % label)
                self.wrk("vigil_readyz_ka64_" + label, self.vigil_port, "/readyz", 64, False)
                self.wrk("vigil_health_ka64_" + label, self.vigil_port, "/health", 64, False)
                self.wrk("vigil_readyz_nc4_" + label, self.vigil_port, "/readyz", 4, True)
                R["scrape"]["vigil_metrics_" + label] = self.scrape(
                    "http://127.0.0.1:%d/metrics" % self.vigil_port, 10, 5)
            finally:
                undo()
            vigil_up()

        log("lightship and prometheus-redis-exporter while their Redis hangs")
        os.kill(psess, signal.SIGSTOP)
        try:
            if self.ns_poll(lready, "down", 15) is None:
                raise SystemExit("lightship did not notice the hung Redis")
            box = {}
            th = threading.Thread(target=lambda: box.update(r=self.scrape(
                "http://127.0.0.1:%d/metrics" % self.exporter_port, 1, 25, ns=self.ns_peer)))
            th.start()
            self.wrk("lightship_ready_ka64_hung", self.lightship_port, "/ready", 64, False,
                     ns=self.ns_peer)
            self.wrk("lightship_ready_nc4_hung", self.lightship_port, "/ready", 4, True,
                     ns=self.ns_peer)
            th.join(40)
            P["exporter_scrape_redis_hung"] = box.get("r")
        finally:
            os.kill(psess, signal.SIGCONT)
        P["lightship_rss_end"] = rss(self.lightship.pid)
        P["exporter_rss_end"] = rss(self.exporter.pid)
        fp["rss_end"] = rss(self.vigil.pid)
        self.summarize_runs()

    def cleanup(self):
        self.stop_app.set()
        for rs in self.redis_stats.values():
            try:
                rs.close()
            except OSError:
                pass
        self.procs.stop_all()
        if self.pg_data and os.path.exists(os.path.join(self.pg_data, "postmaster.pid")):
            try:
                for pid in self.pg_pids():
                    os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
            run(["runuser", "-u", "postgres", "--", self.pg_bin + "/pg_ctl", "-D", self.pg_data,
                 "-m", "immediate", "stop"], check=False)
        for ns in self.netns_made:
            run(["ip", "netns", "del", ns], check=False)
        run(["ip", "link", "del", self.veth_host], check=False)
        if not self.a.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)


WRK_LUA = r"""
-- kubelet-like request headers; BENCH_CLOSE=1 adds `Connection: close`, so
-- that the server closes after each answer and wrk opens a new connection
-- for every request (as the kubelet does).
wrk.headers["User-Agent"] = "kube-probe/1.30"
wrk.headers["Accept"] = "*/*"
if os.getenv("BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
"""


# --------------------------------------------------------------------------
# report


def versions(vigil):
    def first(argv, pat=None):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            text = (r.stdout + r.stderr).strip()
            if pat:
                m = re.search(pat, text)
                return m.group(1) if m else text.splitlines()[0]
            return text.splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return None
    v = {
        "vigil": first([vigil, "--version"], r"vigil (\S+)"),
        "nginx": first(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": first(["wrk", "-v"], r"wrk (\S+)"),
        "redis": first(["redis-server", "--version"], r"v=(\S+)"),
        "postgres": first(["psql", "--version"], r"(\d+\.\d+)"),
        "node": first(["node", "--version"]),
        "prometheus-redis-exporter": first(["prometheus-redis-exporter", "--version"],
                                           r"Exporter (\S+)"),
    }
    for pkg in ("lightship", "ioredis", "pg"):
        try:
            with open(os.path.join(HERE, "peers", "node_modules", pkg, "package.json")) as f:
                v[pkg] = json.load(f)["version"]
        except OSError:
            v[pkg] = None
    return v


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "mem_total_gib": round(mem / 1024 / 1024, 1), "cpu": model,
            "kernel": platform.release()}


def healthy_ref(W, base, label):
    """The healthy run a faulted run is compared with: the one just before
    the fault when the run has it, else the main healthy runs."""
    return W.get(base + "_ref_" + label) or W.get(base)


def targets(R):
    W = R["wrk"]
    fp = R["footprint"]
    dc = R["dependency_cost"]

    def w(key, field):
        return W.get(key, {}).get(field)

    T = []

    def add(figure, value, target, ok, unit=""):
        T.append({"figure": figure, "value": value, "target": target, "unit": unit,
                  "pass": None if value is None else bool(ok)})

    r = ratio(w("vigil_readyz_ka64", "rps"), w("nginx_ka64", "rps"))
    add("/readyz req/s, 64 keep-alive connections, vigil / nginx", r, ">= 0.5", r is not None and r >= 0.5, "x")
    r = ratio(w("vigil_readyz_nc64", "rps"), w("nginx_nc64", "rps"))
    add("/readyz req/s, new connection per request (64 clients), vigil / nginx", r, ">= 0.5",
        r is not None and r >= 0.5, "x")
    r = ratio(w("vigil_readyz_ka64", "p99_us"), w("nginx_ka64", "p99_us"))
    add("p99, 64 keep-alive connections, vigil / nginx", r, "<= 1.5", r is not None and r <= 1.5, "x")
    v = w("vigil_readyz_ka64", "p99_us")
    add("p99, 64 keep-alive connections (issue 6's absolute figure)", v and v / 1000, "< 1 ms",
        v is not None and v < 1000, "ms")
    v = w("vigil_readyz_nc4", "p99_us")
    add("p99, 4 clients, new connection per request", v and v / 1000, "< 1 ms", v is not None and v < 1000, "ms")
    v = w("nginx_nc4", "p99_us")
    T.append({"figure": "(reference: nginx's p99 under the same load, this run)", "value": v and v / 1000,
              "target": "–", "unit": "ms", "pass": None})
    for label in ("hung", "blackholed"):
        v = w("vigil_readyz_nc4_" + label, "p99_us")
        add("p99, 4 clients, new connection per request, session Redis %s" % label, v and v / 1000,
            "< 1 ms", v is not None and v < 1000, "ms")
        r = ratio(w("vigil_readyz_ka64_" + label, "p99_us"),
                  (healthy_ref(W, "vigil_readyz_ka64", label) or {}).get("p99_us"))
        add("/readyz p99 at 64 keep-alive, %s / healthy" % label, r, "<= 1.2", r is not None and r <= 1.2, "x")
    rss_kib = max(fp[k]["rss_kib"] for k in ("rss_after_start", "rss_after_60s", "rss_after_wrk"))
    add("RSS with four checks (largest of: after start, after 60 s, after wrk)", rss_kib / 1024, "<= 8 MiB",
        rss_kib <= 8 * 1024, "MiB")
    for key, what in (("clients", "libpq + hiredis"), ("clients_httplib", "libpq + hiredis + libcpp-httplib")):
        f = fp.get("floor", {}).get(key)
        if f:
            T.append({"figure": "(reference: RSS of a program that only holds the same connections with %s, "
                                "this run)" % what, "value": f["rss_kib"] / 1024, "target": "–", "unit": "MiB",
                      "pass": None})
    idle = dc.get("idle", {}).get("cpu", {}).get("vigil", {}).get("core_percent")
    add("idle CPU, four checks at 1 s, % of one core", idle, "<= 0.2 %", idle is not None and idle <= 0.2, "%")
    # A check run that straddles a window's edge is counted on one side
    # only: allow one run at each edge.
    def per_run_ok(count, runs, per):
        return count is not None and runs and per * (runs - 1) <= count <= per * (runs + 1)

    for win in ("idle", "hammered"):
        d = dc.get(win, {})
        att = d.get("attempts", {})
        for name in ("redis-session", "redis-cache"):
            x = d.get("redis", {}).get(name, {})
            add("Redis commands per check run, %s, %s window (PING + INFO)" % (name, win),
                x.get("commands_per_attempt"), "= 2 (±1 run at the edges)",
                per_run_ok(x.get("commands_total"), att.get(name), 2), "")
        x = d.get("pg", {}).get("postgres", {})
        add("PostgreSQL statements per check run, %s window (pg_stat_statements)" % win,
            x.get("statements_per_attempt"), "= 1 (±1 run at the edges)",
            per_run_ok(x.get("statements"), att.get("db"), 1), "")
        n = sum(v["new_connections"] for k, v in d.get("redis", {}).items() if k.startswith("redis-"))
        n += x.get("connections_logged", 0)
        add("new dependency connections in steady state, %s window (Redis + PostgreSQL)" % win,
            n if d else None, "= 0", n == 0, "")
    h = W.get("hammer_readyz_ka64")
    if h:
        add("/readyz answers other than 200 while probes hammer a healthy vigil (false unready)",
            h["non_2xx"], "= 0", h["non_2xx"] == 0, "")
    a0 = {k: v for k, v in dc.get("idle", {}).get("attempts", {}).items() if not k.startswith("failed:")}
    a1 = {k: v for k, v in dc.get("hammered", {}).get("attempts", {}).items() if not k.startswith("failed:")}
    if a0 and a1:
        s0, s1 = dc["idle"]["seconds"], dc["hammered"]["seconds"]
        n0, n1 = sum(a0.values()), sum(a1.values())
        r = ratio(n1 / s1, n0 / s0)
        # within 10 %, or within the runs that can straddle the windows' edges
        edge = abs(n1 - n0 * s1 / s0) <= 2 * len(a0)
        add("check runs per second, hammered / idle (follows the interval, not the probe rate)", r,
            "~ 1 (0.9-1.1, or ±1 run a check at each edge)", r is not None and (0.9 <= r <= 1.1 or edge), "x")
    for label, d in R["detection"].items():
        if label.startswith("vigil"):
            add("detection, %s (bound %d ms)" % (label[len("vigil: "):], d["bound_ms"]), d["detect_ms"],
                "<= %d ms" % d["bound_ms"], d["within_bound"], "ms")
    return T


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if unit == "x":
            return "%.2f×" % v
        if abs(v) >= 100:
            return "%.0f%s" % (v, (" " + unit) if unit and unit not in ("x",) else "")
        return "%.3g%s" % (v, (" " + unit) if unit else "")
    return "%s%s" % (v, (" " + unit) if unit else "")


def ms(us):
    return "n/a" if us is None else "%.3f" % (us / 1000.0)


def mib(k):
    return "n/a" if k is None else "%.1f" % (k / 1024.0)


def write_report(R, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(R, f, indent=1, sort_keys=True)
    W = R["wrk"]
    fp = R["footprint"]
    dc = R["dependency_cost"]
    P = R["peers"]
    L = []
    m = R["meta"]
    L.append("# vigil benchmarks")
    L.append("")
    L.append("Generated by `tests/bench/run` (issue 6, SPEC §7). Do not edit by hand: run it again.")
    L.append("")
    L.append("- date: %s" % m["date"])
    L.append("- machine: %d cores (`nproc`), %.1f GiB memory, %s, Linux %s" % (
        m["machine"]["nproc"], m["machine"]["mem_total_gib"], m["machine"]["cpu"], m["machine"]["kernel"]))
    L.append("- command: `%s`%s" % (m["command"], " (quick smoke run: not for comparison)" if m["quick"] else ""))
    L.append("- vigil source: %s" % (m.get("source_rev") or "unknown"))
    if m.get("loadavg_before"):
        L.append("- machine load (1/5/15-min load average) before the run: %s; after (with the bench's own "
                 "load): %s; the run took %.0f s" % (
            " / ".join("%.2f" % x for x in m["loadavg_before"]),
            " / ".join("%.2f" % x for x in m["loadavg_after"]), m["wall_seconds"]))
    L.append("- versions: " + ", ".join("%s %s" % (k, v) for k, v in sorted(m["versions"].items()) if v))
    c = R["config"]
    L.append("- vigil config: four checks (session Redis, required, behind a veth pair in a namespace; "
             "cache Redis, optional; PostgreSQL `SELECT 1`; TCP to a stand-in app), "
             "interval %d ms, timeout %d ms, unhealthy_threshold %d, jitter %d %%, breaker recovery 5 s" % (
                 c["interval_ms"], c["timeout_ms"], c["unhealthy_threshold"], c["jitter_percent"]))
    rounds = "%d rounds" % c["repeats"] if c["repeats"] > 1 else "1 round"
    L.append("- load: wrk %d s runs (`-t2`, `--timeout 2s`, kubelet headers); a *new connection per "
             "request* is wrk with a Lua script that adds `Connection: close` (the server closes after "
             "each answer and wrk reconnects; wrk's latency starts at the request write, so it leaves out "
             "the TCP handshake). nginx and vigil runs are interleaved, %s; figures are medians of "
             "the rounds." % (c["wrk_seconds"], rounds))
    L.append("")
    L.append("## Targets")
    L.append("")
    def met(t):
        return "–" if t["pass"] is None else ("yes" if t["pass"] else "**no**")
    base = R.get("baseline")
    if base:
        before = {t["figure"]: t for t in base["targets"]}
        L.append("Before: %s (%s, %s). After: this run." % (
            base.get("label") or "`%s`" % base["file"], base["source_rev"], base["date"]))
        L.append("")
        L.append("| figure | before | met | after | met | target |")
        L.append("|---|---|---|---|---|---|")
        for t in R["targets"]:
            b = before.get(t["figure"])
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                t["figure"], fmt(b["value"], b["unit"]) if b else "–", met(b) if b else "–",
                fmt(t["value"], t["unit"]), met(t), t["target"]))
    else:
        L.append("| figure | measured | target | met |")
        L.append("|---|---|---|---|")
        for t in R["targets"]:
            L.append("| %s | %s | %s | %s |" % (t["figure"], fmt(t["value"], t["unit"]), t["target"], met(t)))
    L.append("")
    L.append("## Probe throughput and latency")
    L.append("")
    L.append("| server, path | load | req/s | × nginx | p50 ms | p99 ms | × nginx p99 | max ms | non-2xx | socket errors | conns/req |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    loads = {"ka64": "64 keep-alive", "nc64": "64, new conn./req", "nc4": "4, new conn./req"}
    order = []
    for tag in ("ka64", "nc64", "nc4"):
        order += [("nginx_" + tag, "nginx `return 200`", tag), ("vigil_readyz_" + tag, "vigil /readyz", tag),
                  ("lightship_ready_" + tag, "lightship /ready", tag)]
    order += [("vigil_health_ka64", "vigil /health", "ka64"), ("vigil_livez_nc4", "vigil /livez", "nc4")]
    for label in ("hung", "blackholed"):
        order += [("vigil_readyz_ka64_ref_" + label, "vigil /readyz, just before Redis %s" % label, "ka64"),
                  ("vigil_health_ka64_ref_" + label, "vigil /health, just before Redis %s" % label, "ka64"),
                  ("vigil_readyz_nc4_ref_" + label, "vigil /readyz, just before Redis %s" % label, "nc4")]
        order += [("vigil_readyz_ka64_" + label, "vigil /readyz, Redis %s" % label, "ka64"),
                  ("vigil_health_ka64_" + label, "vigil /health, Redis %s" % label, "ka64"),
                  ("vigil_readyz_nc4_" + label, "vigil /readyz, Redis %s" % label, "nc4"),
                  ("vigil_livez_nc4_" + label, "vigil /livez, Redis %s" % label, "nc4")]
    order += [("lightship_ready_ka64_hung", "lightship /ready, Redis hung", "ka64"),
              ("lightship_ready_nc4_hung", "lightship /ready, Redis hung", "nc4")]
    for key, name, tag in order:
        s = W.get(key)
        if not s:
            continue
        n = W.get("nginx_" + tag, {})
        cpr = s.get("conns_per_request")
        L.append("| %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %d | %s |" % (
            name, loads[tag], s["rps"], fmt(ratio(s["rps"], n.get("rps")), "x"), ms(s["p50_us"]),
            ms(s["p99_us"]), fmt(ratio(s["p99_us"], n.get("p99_us")), "x"), ms(s["max_us"]),
            s["non_2xx"], s["socket_errors"], "n/a" if cpr is None else "%.2f" % cpr))
    L.append("")
    L.append("conns/req: TCP connections the server's network namespace accepted during the run "
             "(`PassiveOpens`) per request, to confirm that *new conn./req* runs are (≈ 1.00) and keep-alive "
             "runs are not (≈ 0.00); other traffic on the machine adds a little.")
    L.append("")
    L.append("A hung or black-holed required Redis makes /readyz and /health answer 503 (counted as non-2xx): "
             "that is the verdict, and the figures are the cost of giving it.")
    L.append("")
    L.append("### While the required session Redis is hung or black-holed, against healthy")
    L.append("")
    L.append("Healthy: the same run just before the fault (listed above as *just before*), where the run has it.")
    L.append("")
    L.append("| run | req/s hung / healthy | p99 hung / healthy |")
    L.append("|---|---|---|")
    for label in ("hung", "blackholed"):
        for base in ("vigil_readyz_ka64", "vigil_health_ka64", "vigil_readyz_nc4", "vigil_livez_nc4"):
            h, b = W.get(base + "_" + label), healthy_ref(W, base, label)
            if h and b:
                L.append("| %s, %s | %s | %s |" % (base.replace("_", " "), label, fmt(ratio(h["rps"], b["rps"]), "x"),
                                                   fmt(ratio(h["p99_us"], b["p99_us"]), "x")))
    h, b = W.get("lightship_ready_ka64_hung"), W.get("lightship_ready_ka64")
    if h and b:
        L.append("| lightship ready ka64, hung | %s | %s |" % (fmt(ratio(h["rps"], b["rps"]), "x"),
                                                              fmt(ratio(h["p99_us"], b["p99_us"]), "x")))
    L.append("")
    L.append("## Footprint")
    L.append("")
    L.append("| figure | vigil | lightship (node) | prometheus-redis-exporter |")
    L.append("|---|---|---|---|")
    L.append("| RSS after start, MiB | %s | %s | %s |" % (
        mib(fp["rss_after_start"]["rss_kib"]), mib(P.get("lightship_rss_after_start", {}).get("rss_kib")),
        mib(P.get("exporter_rss_after_start", {}).get("rss_kib"))))
    L.append("| RSS after 60 s, MiB | %s | %s | %s |" % (
        mib(fp["rss_after_60s"]["rss_kib"]), mib(P.get("lightship_rss_after_60s", {}).get("rss_kib")),
        mib(P.get("exporter_rss_after_60s", {}).get("rss_kib"))))
    L.append("| RSS after the wrk runs, MiB | %s | %s | – |" % (
        mib(fp["rss_after_wrk"]["rss_kib"]), mib(P.get("lightship_rss_after_wrk", {}).get("rss_kib"))))
    L.append("| RSS at the end (after outages), MiB | %s | %s | %s |" % (
        mib(fp["rss_end"]["rss_kib"]), mib(P.get("lightship_rss_end", {}).get("rss_kib")),
        mib(P.get("exporter_rss_end", {}).get("rss_kib"))))
    L.append("| of which anonymous / file-backed after 60 s, MiB | %s / %s | %s / %s | %s / %s |" % (
        mib(fp["rss_after_60s"]["anon_kib"]), mib(fp["rss_after_60s"]["file_kib"]),
        mib(P.get("lightship_rss_after_60s", {}).get("anon_kib")),
        mib(P.get("lightship_rss_after_60s", {}).get("file_kib")),
        mib(P.get("exporter_rss_after_60s", {}).get("anon_kib")),
        mib(P.get("exporter_rss_after_60s", {}).get("file_kib"))))
    L.append("| threads | %s | %s | %s |" % (fp["rss_after_60s"]["threads"],
                                              P.get("lightship_rss_after_60s", {}).get("threads"),
                                              P.get("exporter_rss_after_60s", {}).get("threads")))
    idle = dc.get("idle", {}).get("cpu", {})

    def cpu(k):
        c = idle.get(k)
        return "n/a" if not c else "%.3f s (%.3f %%)" % (c["cpu_s_schedstat"], c["core_percent"])
    L.append("| CPU over the %s s idle window (%% of one core) | %s | %s | %s (not scraped) |" % (
        dc.get("idle", {}).get("seconds"), cpu("vigil"), cpu("lightship"), cpu("redis_exporter")))
    L.append("| binary size | %.2f MiB (dynamically linked) | – | – |" % (fp["binary_bytes"] / MiB))
    L.append("| exec to /livez 200, ms (median of %d) | %s | – | – |" % (
        len(fp["startup_ms"]), fmt(fp["startup_ms_median"])))
    L.append("| exec to ready, ms | %s (/readyz) | %s (/ready) | – |" % (
        fp.get("exec_to_ready_ms"), P.get("lightship_ready_ms")))
    L.append("")
    floor = fp.get("floor") or {}
    if floor:
        L.append("### The memory floor of the mandated client libraries")
        L.append("")
        L.append("`tests/bench/floor/floor.c` holds one PostgreSQL connection (libpq, `SELECT 1`) and one Redis "
                 "connection (hiredis, `PING`) and does nothing else; it is built as C (the two client libraries "
                 "alone) and as C++ that also loads Debian's libcpp-httplib, whose static constructor "
                 "initialises OpenSSL. PSS shares each page among the processes that map it; private is what "
                 "this one process alone costs, i.e. what each further pod's copy adds.")
        L.append("")
        L.append("| process | RSS, MiB | anonymous / file-backed, MiB | PSS, MiB | private, MiB |")
        L.append("|---|---|---|---|---|")
        rows = [("vigil, four checks, after 60 s", fp["rss_after_60s"], fp.get("rollup_after_60s") or {})]
        for key, what in (("clients", "floor: libpq + hiredis (C)"),
                          ("clients_httplib", "floor: libpq + hiredis + libcpp-httplib (C++)")):
            if key in floor:
                rows.append((what, floor[key], floor[key].get("rollup") or {}))
        for what, r, ro in rows:
            L.append("| %s | %s | %s / %s | %s | %s |" % (
                what, mib(r["rss_kib"]), mib(r["anon_kib"]), mib(r["file_kib"]), mib(ro.get("Pss")),
                mib(ro.get("private_kib"))))
        if "clients_httplib" in floor:
            L.append("| vigil above the second floor | %s | – | – | %s |" % (
                mib(fp["rss_after_60s"]["rss_kib"] - floor["clients_httplib"]["rss_kib"]),
                mib((fp.get("rollup_after_60s") or {}).get("private_kib", 0) -
                    floor["clients_httplib"]["rollup"]["private_kib"])))
        L.append("")
        for key in ("clients", "clients_httplib"):
            if key in floor:
                L.append("Floor program (%s) by mapping (KiB): %s." % (key, ", ".join(
                    "%s %d" % (k, v) for k, v in floor[key]["rss_by_mapping"])))
                L.append("")
    if fp.get("rss_by_mapping_after_60s"):
        L.append("vigil's resident memory after 60 s by mapping (KiB, from `/proc/PID/smaps`): " + ", ".join(
            "%s %d" % (k, v) for k, v in fp["rss_by_mapping_after_60s"]) + ".")
        L.append("")
    L.append("## Dependency cost")
    L.append("")
    L.append("Counted at the servers (`INFO commandstats`, `total_connections_received`; "
             "`pg_stat_statements`, `log_connections`, `pg_stat_database.xact_commit` / `sessions`) over each window, against the check runs vigil "
             "reports (`vigil_check_attempts_total`). The stats reader uses one kept unix-socket connection "
             "per Redis and connects to `template1` for PostgreSQL, so it adds nothing to the figures.")
    L.append("")
    L.append("| window | probes | vigil check runs | session Redis: commands (per run), new conns | "
             "cache Redis: commands (per run), new conns | PostgreSQL: statements (per run), new conns | "
             "PostgreSQL: xact_commit, sessions (pg_stat_database) |")
    L.append("|---|---|---|---|---|---|---|")
    for win in ("idle", "hammered"):
        d = dc.get(win)
        if not d:
            continue
        hw = W.get("hammer_readyz_ka64", {})
        probes = "none" if win == "idle" else "%.0f req/s (%d not 200)" % (hw.get("rps", 0), hw.get("non_2xx", 0))

        def rc(name):
            x = d["redis"][name]
            return "%d %s (%s), %d" % (x["commands_total"], json.dumps(x["commands"]).replace('"', ""),
                                       x.get("commands_per_attempt"), x["new_connections"])
        pgd = d["pg"]["postgres"]
        L.append("| %s, %.0f s | %s | %s | %s | %s | %d (%s), %d | %d, %d |" % (
            win, d["seconds"], probes, ", ".join(
                "%s %d%s" % (k, v, " (%d failed)" % d["attempts"]["failed:" + k]
                             if d["attempts"].get("failed:" + k) else "")
                for k, v in sorted(d["attempts"].items()) if not k.startswith("failed:")),
            rc("redis-session"), rc("redis-cache"), pgd["statements"], pgd.get("statements_per_attempt"),
            pgd["connections_logged"], pgd["xact_commit"], pgd["sessions"]))
    d = dc.get("idle")
    if d and "peer-session" in d["redis"]:
        ps, pc, pp = d["redis"]["peer-session"], d["redis"]["peer-cache"], d["pg"]["peer"]
        L.append("| lightship, idle, %.0f s | none | (every %d ms) | %d %s, %d | %d %s, %d | %d, %d | %d, %d |" % (
            d["seconds"], c["interval_ms"], ps["commands_total"], json.dumps(ps["commands"]).replace('"', ""),
            ps["new_connections"], pc["commands_total"], json.dumps(pc["commands"]).replace('"', ""),
            pc["new_connections"], pp["statements"], pp["connections_logged"], pp["xact_commit"],
            pp["sessions"]))
    L.append("")
    for win in ("idle", "hammered"):
        b = dc.get(win, {}).get("pg_vigil_backends")
        if b:
            L.append("vigil's PostgreSQL backend, %s window: at the start %s; at the end %s." % (
                win, b["start"], b["end"]))
            L.append("")
    L.append("PostgreSQL 15 backends flush `pg_stat_database` counters lazily (at most once a second, "
             "and an idle one later still), so over a window `xact_commit` lags the statements that "
             "`pg_stat_statements` counts as they run; new connections are the `connection authorized` "
             "lines of `log_connections` for that database.")
    L.append("")
    L.append("## Detection and recovery")
    L.append("")
    L.append("From the fault (or its repair) to the verdict changing, seen by a poller that opens a new "
             "connection every 5 ms. Detection bound: interval × (1 + jitter) × unhealthy_threshold + "
             "timeout (+ 20 ms scheduler grace); recovery bound: one jittered interval + timeout.")
    L.append("")
    L.append("| fault | detected, ms | bound, ms | recovered, ms | bound, ms |")
    L.append("|---|---|---|---|---|")
    for label, d in R["detection"].items():
        L.append("| %s | %s | %d | %s | %d |" % (label, d["detect_ms"], d["bound_ms"], d["recover_ms"],
                                                d["recovery_bound_ms"]))
    L.append("")
    L.append("## Scrape latency, /metrics (new connection per scrape)")
    L.append("")
    L.append("| server | Redis | scrapes | median ms | max ms | statuses |")
    L.append("|---|---|---|---|---|---|")
    rows = [("vigil", "healthy", R["scrape"].get("vigil_metrics_healthy")),
            ("vigil", "session Redis hung", R["scrape"].get("vigil_metrics_hung")),
            ("vigil", "session Redis black-holed", R["scrape"].get("vigil_metrics_blackholed")),
            ("prometheus-redis-exporter", "healthy", P.get("exporter_scrape_healthy")),
            ("prometheus-redis-exporter", "Redis hung", P.get("exporter_scrape_redis_hung"))]
    for srv, state, s in rows:
        if s:
            L.append("| %s | %s | %d | %s | %s | %s |" % (srv, state, s["n"], fmt(s["median_ms"]),
                                                          fmt(s["max_ms"]), ", ".join(s["statuses"])))
    L.append("")
    L.append("## Reading")
    L.append("")
    for line in reading(R):
        L.append("- " + line)
    L.append("")
    # The lead's reading of the committed run, by hand (what changed, why a
    # target is missed): kept in its own file so a new run keeps it; only
    # the committed results carry it.
    notes = os.path.join(HERE, "READING.md")
    if os.path.abspath(out_dir) == HERE and os.path.exists(notes):
        with open(notes) as f:
            L.append(f.read().rstrip("\n"))
        L.append("")
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write("\n".join(L))


def reading(R):
    W = R["wrk"]
    out = []
    missed = [t["figure"] for t in R["targets"] if t["pass"] is False]
    met = [t for t in R["targets"] if t["pass"]]
    lb = R["meta"].get("loadavg_before")
    if lb and (lb[0] > 1.5 or lb[1] > 1.0):
        out.append("**The machine was busy before this run started (load average %.2f / %.2f): other work "
                   "competed for its two cores, so the latencies are not clean.**" % (lb[0], lb[1]))
    judged = [t for t in R["targets"] if t["pass"] is not None]
    out.append("%d of %d targets met%s." % (len(met), len(judged),
                                            ("; missed: " + "; ".join(missed)) if missed else ""))
    n, v = W.get("nginx_ka64"), W.get("vigil_readyz_ka64")
    if n and v:
        out.append("Keep-alive, 64 connections: nginx %.0f req/s (p99 %.2f ms), vigil /readyz %.0f req/s "
                   "(%.2f×, p99 %.2f ms, %.2f× nginx's)." % (
                       n["rps"], n["p99_us"] / 1000, v["rps"], v["rps"] / n["rps"], v["p99_us"] / 1000,
                       v["p99_us"] / n["p99_us"]))
    n, v = W.get("nginx_nc64"), W.get("vigil_readyz_nc64")
    if n and v:
        out.append("New connection per request, 64 clients: nginx %.0f req/s, vigil %.0f req/s (%.2f×)." % (
            n["rps"], v["rps"], v["rps"] / n["rps"]))
    n, v = W.get("nginx_nc4"), W.get("vigil_readyz_nc4")
    if n and v:
        out.append("Kubelet-like (4 clients, new connection per request): p99 nginx %.3f ms, vigil %.3f ms%s." % (
            n["p99_us"] / 1000, v["p99_us"] / 1000,
            "; nginx itself is over 1 ms here, so on this machine the absolute < 1 ms figure is bounded "
            "by the machine (scheduling of its two vCPUs), not by the server" if n["p99_us"] >= 1000 else ""))
    k = W.get("vigil_readyz_ka64")
    if k and k["p99_us"] > 50 * k["p50_us"]:
        out.append("Keep-alive, 64 connections: vigil's latency is bimodal (p50 %.3f ms, p99 %.1f ms): most "
                   "requests are quick, some wait far longer than any one request takes." % (
                       k["p50_us"] / 1000, k["p99_us"] / 1000))
    h = W.get("hammer_readyz_ka64")
    d = R["dependency_cost"].get("hammered")
    if h and d:
        pgd = d["pg"].get("postgres", {})
        out.append("Under the 60 s hammer (%.0f req/s) %d /readyz answers were not 200 and vigil opened %d new "
                   "PostgreSQL and %d new Redis connections; idle, %d and %d." % (
                       h["rps"], h["non_2xx"], pgd.get("connections_logged", 0),
                       sum(v["new_connections"] for kk, v in d["redis"].items() if kk.startswith("redis-")),
                       R["dependency_cost"]["idle"]["pg"]["postgres"].get("connections_logged", 0),
                       sum(v["new_connections"] for kk, v in R["dependency_cost"]["idle"]["redis"].items()
                           if kk.startswith("redis-"))))
    l, v = W.get("lightship_ready_ka64"), W.get("vigil_readyz_ka64")
    P = R["peers"]
    fp = R["footprint"]
    if l and v:
        out.append("lightship: %.0f req/s keep-alive (vigil %.1f× that), p99 %.2f ms; RSS %.0f MiB against "
                   "vigil's %.1f MiB." % (l["rps"], v["rps"] / l["rps"], l["p99_us"] / 1000,
                                          P["lightship_rss_after_60s"]["rss_kib"] / 1024,
                                          fp["rss_after_60s"]["rss_kib"] / 1024))
    floor = (fp.get("floor") or {}).get("clients_httplib")
    if floor:
        out.append("Memory: vigil %.1f MiB RSS after 60 s; a program that only holds the same PostgreSQL and Redis "
                   "connections with libpq and hiredis and loads libcpp-httplib is at %.1f MiB in the same run "
                   "(%.1f MiB without libcpp-httplib), so %.1f MiB is vigil's own. RSS <= 8 MiB is below what "
                   "the mandated libraries take by themselves on Debian 12." % (
                       fp["rss_after_60s"]["rss_kib"] / 1024, floor["rss_kib"] / 1024,
                       fp["floor"].get("clients", {}).get("rss_kib", 0) / 1024,
                       (fp["rss_after_60s"]["rss_kib"] - floor["rss_kib"]) / 1024))
    s = P.get("exporter_scrape_redis_hung")
    if s:
        out.append("prometheus-redis-exporter: %.1f MiB RSS; with its Redis hung a scrape took %s ms "
                   "(vigil's /metrics: %s ms, answered from its last results)." % (
                       P["exporter_rss_after_60s"]["rss_kib"] / 1024, fmt(s["max_ms"]),
                       fmt((R["scrape"].get("vigil_metrics_hung") or {}).get("max_ms"))))
    return out


# --------------------------------------------------------------------------


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--poll":
        return helper_poll(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == "--scrape":
        return helper_scrape(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == "--app-listener":
        app_listener(sys.argv[2], sys.argv[3])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", required="--render" not in sys.argv, help="the vigil binary (Release)")
    ap.add_argument("--quick", action="store_true", help="a short smoke run (~1 min), written to --out")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (10; quick: 1)")
    ap.add_argument("--window", type=int, help="seconds of the idle and hammered windows (60; quick: 5)")
    ap.add_argument("--repeat", type=int, help="rounds of the nginx/vigil comparison (3; quick: 1)")
    ap.add_argument("--startups", type=int, default=5, help="exec-to-/livez measurements")
    ap.add_argument("--floor", help="the floor program built as C: libpq + hiredis only")
    ap.add_argument("--floor-httplib", help="the floor program built as C++ that also loads libcpp-httplib")
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--unhealthy-threshold", type=int, default=2)
    ap.add_argument("--jitter-percent", type=int, default=10)
    ap.add_argument("--subnet", default="10.213.77", help="private /24 for the veth pair (first 3 octets)")
    ap.add_argument("--out", help="where RESULTS.md and results.json go (tests/bench; quick: tests/bench/out)")
    ap.add_argument("--tag", help="suffix of namespace and interface names (default: pid)")
    ap.add_argument("--work", help="an empty temp dir to work in (default: a new one)")
    ap.add_argument("--keep-work", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--command", default=None, help="the command line to record")
    ap.add_argument("--source-rev", default=None, help="the vigil source revision to record")
    ap.add_argument("--baseline", help="an earlier results.json: RESULTS.md shows its targets as 'before'")
    ap.add_argument("--baseline-label", help="what the baseline is, for RESULTS.md (default: its file name)")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="only write RESULTS.md again from a results.json (targets recomputed)")
    a = ap.parse_args() if "--render" not in sys.argv else ap.parse_known_args()[0]
    if a.baseline and not os.path.exists(a.baseline):
        raise SystemExit("no such baseline: " + a.baseline)
    if a.render:
        with open(a.render) as f:
            R = json.load(f)
        R["targets"] = targets(R)
        R.pop("baseline", None)
        if a.baseline:
            with open(a.baseline) as f:
                base = json.load(f)
            R["baseline"] = {"file": os.path.relpath(a.baseline, ROOT),
                             "source_rev": base["meta"].get("source_rev"),
                             "date": base["meta"]["date"], "targets": base["targets"],
                             "label": a.baseline_label}
        write_report(R, a.out or os.path.dirname(os.path.abspath(a.render)))
        return 0
    a.duration = a.duration or (1 if a.quick else 10)
    a.window = a.window or (5 if a.quick else 60)
    a.repeat = a.repeat or (1 if a.quick else 3)
    if a.quick:
        a.startups = min(a.startups, 2)
    a.out = a.out or (os.path.join(HERE, "out") if a.quick else HERE)
    if os.geteuid() != 0:
        raise SystemExit("run as root: it makes network namespaces and runs PostgreSQL as postgres")

    def on_signal(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    def loadavg():
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    load_before = loadavg()
    b = Bench(a)
    started = now()
    try:
        b.go()
    finally:
        log("cleaning up")
        b.cleanup()
    R = b.R
    R["meta"] = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": machine(), "command": a.command or " ".join(map(shlex.quote, sys.argv)),
                 "quick": a.quick, "versions": versions(a.vigil), "source_rev": a.source_rev,
                 "wall_seconds": round(now() - started, 1),
                 "loadavg_before": load_before, "loadavg_after": loadavg()}
    R["targets"] = targets(R)
    if a.baseline:
        with open(a.baseline) as f:
            base = json.load(f)
        R["baseline"] = {"file": os.path.relpath(a.baseline, ROOT), "source_rev": base["meta"].get("source_rev"),
                         "date": base["meta"]["date"], "targets": base["targets"], "label": a.baseline_label}
    write_report(R, a.out)
    log("wrote %s/RESULTS.md and results.json (%.0f s)" % (a.out, now() - started))
    for t in R["targets"]:
        if t["pass"] is False:
            log("  target missed: %s: %s (target %s)" % (t["figure"], fmt(t["value"], t["unit"]), t["target"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
