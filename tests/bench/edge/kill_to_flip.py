#!/usr/bin/env python3
"""Kill-to-flip: how long after a Redis is killed vigil's /readyz turns 503.

Detection at the edge (docs/configuration.md). Starts a redis-server on a free loopback
port and a vigil on it (interval 5000 ms, unhealthy_threshold 2, jitter 0),
waits until the check is idle on its kept connection, kills the server
(SIGKILL: the kernel closes the socket, as a crashed pod's does), and polls
/readyz every 5 ms until it answers 503. Repeats --rounds times per variant
and prints the median and the worst:

  edge:  unhealthy_interval_ms 100 (the kept connection's close runs the
         check at once, the second failure 100 ms later)
  plain: no unhealthy_interval_ms (what the thresholds alone give: up to
         interval x threshold + timeout)

--vigil takes the binary (build/agent/vigil by default); an older binary
measures "before" (it refuses the new key: run it with --variants plain).
Loopback only; stops everything it started. Not part of tests/bench/run.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def wait(pred, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def one_round(vigil, variant, tmp):
    rport, vport = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL)
    defaults = {"interval_ms": 5000, "timeout_ms": 1000, "unhealthy_threshold": 2,
                "jitter_percent": 0}
    if variant == "edge":
        defaults["unhealthy_interval_ms"] = 100
    cfg = {"listen": f"127.0.0.1:{vport}", "log_format": "json", "defaults": defaults,
           "checks": [{"name": "session", "kind": "redis", "role": "session",
                       "url": f"redis://127.0.0.1:{rport}"}]}
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    agent = subprocess.Popen([vigil, "run", "--config", path], stdout=subprocess.DEVNULL)
    try:
        attempts = lambda: json.loads(status(vport, "/health")[1] or "{}").get(
            "checks", {}).get("session", {}).get("recent", [])
        # Ready, and past the spread second run: idle, its next slot ~5 s away.
        if not wait(lambda: status(vport, "/readyz")[0] == 200 and len(attempts()) >= 2, 15):
            raise RuntimeError("vigil did not become ready")
        time.sleep(0.2)
        t0 = time.monotonic()
        redis.send_signal(signal.SIGKILL)
        if not wait(lambda: status(vport, "/readyz")[0] == 503, 20):
            raise RuntimeError("readiness did not flip within 20 s")
        return (time.monotonic() - t0) * 1000
    finally:
        for p in (agent, redis):
            if p.poll() is None:
                p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vigil", default="build/agent/vigil")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--variants", default="edge,plain")
    args = ap.parse_args()
    for variant in args.variants.split(","):
        times = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                times.append(one_round(args.vigil, variant, tmp))
        print(f"{variant:5s} kill-to-flip ms: median {statistics.median(times):7.1f}  "
              f"worst {max(times):7.1f}  ({', '.join(f'{t:.0f}' for t in times)})")


if __name__ == "__main__":
    main()
