"""The soak's prober: one process, one thread, hitting every endpoint of the
agent in turn with a new connection per request (as the kubelet does), until
told to stop (SIGTERM), its parent dies, or its time bound runs out.

Latency is measured around the raw socket exchange (connect, request, read
the whole response) with time.perf_counter. Time spent waiting for a CPU
during that window is not the agent's doing on a shared 2-core machine, so
the "adjusted" figure subtracts
  - the prober's own run delay (/proc/thread-self/schedstat, 2nd field: time
    runnable but not running), and
  - the run delay of the vigil threads that ran during the window
    (/proc/VIGIL/task/*/schedstat, those whose CPU time grew): the threads
    that served the probe are among them. Time a vigil thread spends
    blocked (a lock, a stuck call) is not run delay and is never
    subtracted, nor is time on a CPU.
The raw figures are reported too (and the driver asserts their p99); a probe
over the ceiling (the kubelet's default timeout, 1 s) is logged to
OUT/slow.log with its CPU-wait figures, for the record. The process is single-threaded and
runs with the garbage collector off, so nothing else in it competes for the
interpreter.

Writes violations as they happen to OUT/violations.log (one line each,
flushed) and, at the end, a JSON summary to OUT/prober.json.

usage: prober.py PORT VIGIL_PID OUTDIR MAX_SECONDS BOUND_MS CEILING_MS PATH...
  a PATH may carry "|Header: value" suffixes and "#STATUS[,STATUS]" for the
  statuses it may answer (default 200,503).
"""

import array
import gc
import json
import os
import signal
import socket
import sys
import time

stop = False


def on_term(*_):
    global stop
    stop = True


def parse_target(spec):
    allowed = (200, 503)
    if "#" in spec:
        spec, codes = spec.rsplit("#", 1)
        allowed = tuple(int(c) for c in codes.split(","))
    parts = spec.split("|")
    return parts[0], parts[1:], allowed


def request_bytes(path, headers):
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "User-Agent: kube-probe/1.29",
             "Accept: */*", "Connection: close"] + headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port, req):
    """One probe; returns (status, body_len). status 0 on any failure."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        buf = b""
        head_end = -1
        need = None
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if head_end < 0:
                head_end = buf.find(b"\r\n\r\n")
                if head_end >= 0:
                    for line in buf[:head_end].split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            need = head_end + 4 + int(v.strip())
            if need is not None and len(buf) >= need:
                break
        if not buf.startswith(b"HTTP/1."):
            return 0, 0
        status = int(buf[9:12])
        return status, len(buf) - (head_end + 4 if head_end >= 0 else 0)
    except (OSError, ValueError):
        return 0, 0
    finally:
        s.close()


def main():
    port = int(sys.argv[1])
    vigil_pid = int(sys.argv[2])
    out = sys.argv[3]
    max_s = float(sys.argv[4])
    bound_ms = float(sys.argv[5])
    ceiling_ms = float(sys.argv[6])
    targets = [parse_target(t) for t in sys.argv[7:]]
    reqs = [request_bytes(p, h) for p, h, _ in targets]
    pause_s = float(os.environ.get("SOAK_PROBE_PAUSE_MS", "5")) / 1000

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    gc.disable()
    parent = os.getppid()
    try:
        sched = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        sched = None

    def run_delay():
        if sched is None:
            return 0.0
        try:
            return int(os.pread(sched, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0

    task_fds = {}

    def refresh_tasks():
        try:
            tids = set(os.listdir("/proc/%d/task" % vigil_pid))
        except OSError:
            tids = set()
        for tid in list(task_fds):
            if tid not in tids:
                os.close(task_fds.pop(tid))
        for tid in tids - set(task_fds):
            try:
                task_fds[tid] = os.open("/proc/%d/task/%s/schedstat" % (vigil_pid, tid),
                                        os.O_RDONLY)
            except OSError:
                pass

    def vigil_sched():
        d = {}
        for tid, fd in task_fds.items():
            try:
                f = os.pread(fd, 128, 0).split()
                d[tid] = (int(f[0]), int(f[1]))  # ns on a CPU, ns waiting for one
            except (OSError, ValueError, IndexError):
                pass
        return d

    def pressure():
        try:
            with open("/proc/pressure/cpu") as f:
                return f.readline().split()[1]  # "avg10=NN.NN"
        except (OSError, IndexError):
            return "avg10=?"

    viol = open(os.path.join(out, "violations.log"), "a", buffering=1)
    slow = open(os.path.join(out, "slow.log"), "a", buffering=1)
    raw = array.array("f")
    adj = array.array("f")
    client = array.array("f")
    per_path = {}
    count = 0
    errors = 0
    worst_raw = (0.0, "")
    worst_adj = (0.0, "")
    start = time.monotonic()
    end = start + max_s
    i = 0
    while not stop and time.monotonic() < end:
        if i % 200 == 0:
            if os.getppid() != parent:
                break  # the driver is gone
            refresh_tasks()
        k = i % len(targets)
        i += 1
        path, headers, allowed = targets[k]
        v0 = vigil_sched()
        d0 = run_delay()
        t0 = time.perf_counter()
        status, _ = exchange(port, reqs[k])
        t1 = time.perf_counter()
        d1 = run_delay()
        v1 = vigil_sched()
        lat = (t1 - t0) * 1000
        own = (d1 - d0) * 1000
        theirs = sum((v1[t][1] - v0[t][1]) / 1e6 for t in v1
                     if t in v0 and v1[t][0] > v0[t][0])
        lat_client = max(0.0, lat - own)
        lat_adj = max(0.0, lat - own - theirs)
        count += 1
        raw.append(lat)
        adj.append(lat_adj)
        client.append(lat_client)
        st = per_path.setdefault(path + ("" if not headers else " [" + ";".join(headers) + "]"),
                                 {})
        st[str(status)] = st.get(str(status), 0) + 1
        if lat > worst_raw[0]:
            worst_raw = (lat, path)
        if lat_adj > worst_adj[0]:
            worst_adj = (lat_adj, path)
        now = time.time()
        if status == 0:
            errors += 1
            viol.write("%.3f no-answer %s after %.1f ms\n" % (now, path, lat))
        elif status not in allowed:
            viol.write("%.3f status %s %d (want %s)\n" % (now, path, status,
                                                         ",".join(map(str, allowed))))
        if lat > ceiling_ms:
            slow.write("%.3f %s %.1f ms raw, prober run delay %.1f ms, vigil threads' run "
                       "delay %.1f ms, cpu pressure %s\n" % (now, path, lat, own, theirs,
                                                             pressure()))
        if lat_adj > bound_ms:
            viol.write("%.3f slow %s %.1f ms (%.1f ms raw, prober run delay %.1f ms, vigil "
                       "threads' run delay %.1f ms, cpu pressure %s)\n" %
                       (now, path, lat_adj, lat, own, theirs, pressure()))
        if pause_s > 0:
            time.sleep(pause_s)

    def pct(a, q):
        if not a:
            return 0.0
        s = sorted(a)
        return float(s[min(len(s) - 1, int(q * len(s)))])

    summary = {
        "probes": count,
        "errors": errors,
        "seconds": time.monotonic() - start,
        "raw_ms": {"p50": pct(raw, 0.5), "p99": pct(raw, 0.99), "p999": pct(raw, 0.999),
                   "max": worst_raw[0], "max_path": worst_raw[1]},
        "client_adjusted_ms": {"p50": pct(client, 0.5), "p99": pct(client, 0.99),
                               "p999": pct(client, 0.999), "max": max(client or [0.0])},
        "adjusted_ms": {"p50": pct(adj, 0.5), "p99": pct(adj, 0.99), "p999": pct(adj, 0.999),
                        "max": worst_adj[0], "max_path": worst_adj[1]},
        "over_bound_raw": sum(1 for x in raw if x > bound_ms),
        "over_bound_client_adjusted": sum(1 for x in client if x > bound_ms),
        "over_ceiling_raw": sum(1 for x in raw if x > ceiling_ms),
        "over_bound_adjusted": sum(1 for x in adj if x > bound_ms),
        "schedstat": sched is not None,
        "statuses": per_path,
    }
    with open(os.path.join(out, "prober.json.tmp"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(out, "prober.json.tmp"), os.path.join(out, "prober.json"))


if __name__ == "__main__":
    main()
