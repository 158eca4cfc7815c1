"""Helpers shared by the standalone benches (footprint, scaling, fleet):
throwaway Redis and PostgreSQL servers on loopback, vigil's config, and
memory and CPU read from /proc. Python standard library only.

Every process started through `Procs` is in a session of its own (as each
container of a pod is) and is stopped by `Procs.stop_all()`, which the benches
call from `finally` and from their SIGTERM/SIGINT handler.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


def log(msg):
    sys.stderr.write("--> %s\n" % msg)
    sys.stderr.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:  # bounded by the deadline
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


def median_span(values):
    """'median (min-max)' of a list of numbers, as text with 3 significant digits."""
    if not values:
        return "n/a"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt(m)
    return "%s (%s-%s)" % (fmt(m), fmt(min(values)), fmt(max(values)))


def fmt(x):
    if x is None:
        return "n/a"
    if isinstance(x, int):
        return str(x)
    return "%.3g" % x if abs(x) < 100 else "%.0f" % x


class Procs:
    """Processes started by a bench, stopped on the way out."""

    def __init__(self, work=None, prefix="vigil-bench-"):
        self.work = work or tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.work, 0o755)  # the postgres user must traverse it
        self.procs = []
        self.pg = None

    def start(self, argv, log_name=None, env=None):
        out = open(os.path.join(self.work, log_name), "wb") if log_name else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if log_name else subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def redis(self, extra=()):
        port = free_port()
        d = os.path.join(self.work, "redis-%d" % port)
        os.makedirs(d)
        p = self.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", d, "--maxclients", "10000"] + list(extra),
                       "redis-%d.log" % port)
        if not wait_until(lambda: redis_cmd(port, "PING") == "+PONG", 10):
            raise SystemExit("redis-server did not start (%s)" % d)
        return port

    def postgres(self, conf=()):
        """Starts a PostgreSQL (trust auth, fsync off); returns (port, log path, socket dir)."""
        versions = sorted((v for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), key=int)
        pg_bin = "/usr/lib/postgresql/%s/bin" % versions[-1]
        d = os.path.join(self.work, "pg")
        os.makedirs(d)
        shutil.chown(d, "postgres", "postgres")
        port = free_port()
        as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run(as_pg + [pg_bin + "/initdb", "-D", d + "/data", "-U", "postgres", "--auth=trust",
                                "--no-sync"], check=True, stdout=subprocess.DEVNULL, timeout=120)
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" % (port, d)
        for c in conf:
            opts += " -c " + c
        subprocess.run(as_pg + [pg_bin + "/pg_ctl", "-D", d + "/data", "-l", d + "/log", "-w", "-o", opts,
                                "start"], check=True, stdout=subprocess.DEVNULL, timeout=120)
        self.pg = (pg_bin, d)
        return port, d + "/log", d

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGCONT)
                    p.terminate()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs = []
        if self.pg:
            pg_bin, d = self.pg
            subprocess.run(["runuser", "-u", "postgres", "--", pg_bin + "/pg_ctl", "-D", d + "/data",
                            "-m", "immediate", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)
            self.pg = None

    def remove_work(self):
        shutil.rmtree(self.work, ignore_errors=True)


def install_signal_handlers():
    """SIGTERM/SIGINT raise SystemExit, so that `finally` blocks stop what was started."""
    def handler(signum, _frame):
        raise SystemExit("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def redis_cmd(port, *args, timeout=5):
    """One command on a new connection; returns the first reply line (or the bulk body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        req = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)
        s.sendall(req.encode())
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:  # bounded by the deadline
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if buf.startswith(b"$"):
                head, _, rest = buf.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    return rest[:int(head[1:])].decode()
            elif b"\r\n" in buf:
                return buf.split(b"\r\n", 1)[0].decode()
        return buf.decode()
    finally:
        s.close()


def psql(sock_dir, port, sql, db="postgres"):
    return subprocess.run(["psql", "-h", sock_dir, "-p", str(port), "-U", "postgres", "-d", db, "-XAtq",
                           "-c", sql], check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def write_config(path, checks, interval_ms=1000, timeout_ms=500, extra_defaults=None):
    defaults = {"interval_ms": interval_ms, "timeout_ms": timeout_ms}
    defaults.update(extra_defaults or {})
    with open(path, "w") as f:
        json.dump({"defaults": defaults, "checks": checks}, f)


def start_vigil(procs, binary, config, port, name, env=None):
    p = procs.start([binary, "run", "--config", config, "--listen", "127.0.0.1:%d" % port], name + ".log",
                    env=env)
    return p


def http_status(port, path, timeout=1.0):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


# ---------------------------------------------------------------- /proc


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def rollup(pid):
    """/proc/PID/smaps_rollup in kB: Rss, Pss, Private (clean + dirty), Anonymous."""
    v = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                v[parts[0].rstrip(":")] = int(parts[1])
    return {"rss": v.get("Rss", 0), "pss": v.get("Pss", 0),
            "private": v.get("Private_Clean", 0) + v.get("Private_Dirty", 0),
            "anon": v.get("Anonymous", 0)}


def thread_stack_pointers(pid):
    """The stack pointer of each thread (from /proc/PID/task/TID/syscall: a
    thread asleep in a system call shows its registers there)."""
    sps = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return sps
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                parts = f.read().split()
        except OSError:
            continue
        if len(parts) >= 3 and parts[0] not in ("running",):
            try:
                sps.append(int(parts[-2], 16))
            except ValueError:
                pass
    return sps


def smaps_groups(pid, own_binary=None):
    """Per-mapping memory of a process grouped by where it comes from, in kB:
    {group: {rss, pss, private, anon}}. Groups: the program itself (text and
    data of its own file), [heap] (brk), thread stacks (anonymous mappings
    that hold a thread's stack pointer) and the main [stack], other anonymous
    memory (malloc arenas, mmapped buffers), one group per shared library
    (its text, data and relro together), and the kernel's [vdso]/[vvar]."""
    exe = os.path.realpath(own_binary or os.readlink("/proc/%d/exe" % pid))
    sps = thread_stack_pointers(pid)
    groups = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                path = head[5] if len(head) > 5 else ""
                if path and os.path.realpath(path) == exe:
                    g = "the program (its own text and data)"
                elif path == "[heap]":
                    g = "[heap] (malloc, main arena)"
                elif path == "[stack]":
                    g = "stacks (main + threads)"
                elif path.startswith("["):
                    g = "kernel ([vdso], [vvar])"
                elif not path:
                    if any(lo <= sp < hi for sp in sps):
                        g = "stacks (main + threads)"
                    else:
                        g = "other anonymous (malloc arenas, guard pages, buffers)"
                else:
                    base = os.path.basename(path)
                    g = base.split(".so")[0] + ".so" if ".so" in base else base
                cur = groups.setdefault(g, {"rss": 0, "pss": 0, "private": 0, "anon": 0, "maps": 0})
                cur["maps"] += 1
                continue
            if cur is None or len(head) < 3 or head[-1] != "kB":
                continue
            key = head[0].rstrip(":")
            kb = int(head[1])
            if key == "Rss":
                cur["rss"] += kb
            elif key == "Pss":
                cur["pss"] += kb
            elif key in ("Private_Clean", "Private_Dirty"):
                cur["private"] += kb
            elif key == "Anonymous":
                cur["anon"] += kb
    return groups


def machine_facts():
    with open("/proc/loadavg") as f:
        load = " / ".join(f.read().split()[:3])
    return {"nproc": os.cpu_count(), "load": load,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
