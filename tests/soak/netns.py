"""A private network namespace joined to the host by a veth pair.

The same conventions as tests/support/netns.{h,cc} (the C++ tests' helper),
so that each cleans up what the other left behind:

  namespace   vigil-bh-<pid>-<n>          lo up, no default route
  host side   vh<pid>s<n>  10.213.X.1/24  never taken down
  ns side     vn<pid>s<n>  10.213.X.2/24
  safety      blackhole 10.213.X.0/24 metric 4242 on the host, behind the
              veth's own route: if the kernel ever ignored that route, the
              subnet's traffic would be dropped, never sent to the default
              route.

X is chosen, under the lock /run/lock/vigil-netns.lock, among the /24s of
10.213.0.0/16 that no route or address uses, starting from one derived from
the pid. Faults are applied inside the namespace only. Every command is
bounded by `timeout`.
"""

import fcntl
import os
import re
import signal
import subprocess
import time

NS_PREFIX = "vigil-bh-"
SAFETY_METRIC = "4242"
STALE_AFTER_S = 30
LOCK_PATHS = ("/run/lock/vigil-netns.lock", "/tmp/vigil-netns.lock")

_sequence = 0


class NetNsError(RuntimeError):
    pass


def _run(cmd, timeout=30, check=True, what=None):
    """Runs argv (bounded); returns stdout+stderr as text."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        raise NetNsError("%s timed out: %s" % (what or "command", " ".join(cmd)))
    except OSError as e:
        raise NetNsError("%s failed: %s: %s" % (what or "command", " ".join(cmd), e))
    if check and p.returncode != 0:
        raise NetNsError("%s failed (%s): %s" % (what or "command", " ".join(cmd),
                                                 p.stdout.strip()))
    return p.stdout


class _Lock:
    def __enter__(self):
        self.fd = None
        for path in LOCK_PATHS:
            try:
                self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                break
            except OSError:
                continue
        if self.fd is not None:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _kill_inside(name):
    out = _run(["ip", "netns", "pids", name], timeout=10, check=False)
    for tok in out.split():
        if tok.isdigit() and int(tok) > 1:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(int(tok), sig)
                except OSError:
                    pass


def remove_stale():
    """Namespaces of dead test processes, and orphaned safety routes.
    Call with the lock held."""
    out = _run(["ip", "netns", "list"], timeout=10, check=False)
    for line in out.splitlines():
        name = line.split(" ")[0]
        m = re.match(re.escape(NS_PREFIX) + r"(\d+)-\d+$", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        try:
            if time.time() - os.stat("/run/netns/" + name).st_mtime < STALE_AFTER_S:
                continue
        except OSError:
            pass
        _kill_inside(name)
        _run(["ip", "netns", "del", name], timeout=10, check=False)
    routes = _run(["ip", "-4", "route", "show", "table", "main"], timeout=10, check=False)
    live, safety = set(), set()
    for line in routes.splitlines():
        f = line.split()
        if (len(f) >= 2 and f[0] == "blackhole" and f[1].startswith("10.213.")
                and "metric " + SAFETY_METRIC in line):
            safety.add(f[1])
        elif f and f[0].startswith("10.213."):
            live.add(f[0])
    for s in safety - live:
        _run(["ip", "route", "del", "blackhole", s, "metric", SAFETY_METRIC], timeout=10,
             check=False)


def _used_subnets():
    text = _run(["ip", "-4", "route", "show", "table", "all"], timeout=10, check=False)
    text += _run(["ip", "-4", "-o", "addr", "show"], timeout=10, check=False)
    return {int(x) for x in re.findall(r"10\.213\.(\d+)\.", text)}


class NetNs:
    """Creates the namespace on construction; close() always cleans up."""

    def __init__(self):
        global _sequence
        seq = _sequence
        _sequence += 1
        pid = os.getpid()
        self.name = "%s%d-%d" % (NS_PREFIX, pid, seq)
        self.host_if = "vh%ds%d" % (pid, seq)
        self.inner_if = "vn%ds%d" % (pid, seq)
        self.dropped = []
        self._route = False
        self._closed = False
        with _Lock():
            remove_stale()
            used = _used_subnets()
            x = None
            for i in range(254):
                cand = (pid + seq * 37 + i) % 254 + 1
                if cand not in used:
                    x = cand
                    break
            if x is None:
                raise NetNsError("no free /24 in 10.213.0.0/16")
            self.host_address = "10.213.%d.1" % x
            self.address = "10.213.%d.2" % x
            self.subnet = "10.213.%d.0/24" % x
            try:
                _run(["ip", "netns", "add", self.name], what="creating the namespace")
                _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name",
                      self.inner_if, "netns", self.name], what="creating the veth pair")
                _run(["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % self.host_if],
                     check=False)
                _run(["ip", "addr", "add", self.host_address + "/24", "dev", self.host_if],
                     what="addressing the host side")
                _run(["ip", "link", "set", self.host_if, "up"], what="host side up")
                _run(["ip", "route", "add", "blackhole", self.subnet, "metric", SAFETY_METRIC],
                     what="adding the safety route")
                self._route = True
                _run(["ip", "-n", self.name, "link", "set", "lo", "up"], what="lo up inside")
                _run(["ip", "-n", self.name, "addr", "add", self.address + "/24", "dev",
                      self.inner_if], what="addressing the namespace side")
                _run(["ip", "-n", self.name, "link", "set", self.inner_if, "up"],
                     what="namespace side up")
            except Exception:
                self._destroy()
                raise

    def exec_argv(self, argv):
        """argv run inside the namespace (ip netns exec execs: same pid)."""
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout=30, check=True, what=None):
        return _run(self.exec_argv(argv), timeout=timeout, check=check, what=what)

    def drop_tcp_port(self, port):
        self.run(["iptables", "-w", "10", "-A", "INPUT", "-p", "tcp", "--dport", str(port),
                  "-j", "DROP"], what="dropping tcp port %d" % port)
        self.dropped.append(port)

    def undrop_tcp_port(self, port):
        if port not in self.dropped:
            return
        self.run(["iptables", "-w", "10", "-D", "INPUT", "-p", "tcp", "--dport", str(port),
                  "-j", "DROP"], what="undropping tcp port %d" % port)
        self.dropped.remove(port)

    def undrop_all(self):
        for port in list(self.dropped):
            self.undrop_tcp_port(port)

    def link_down_inside(self):
        # The namespace side only: never the host side.
        _run(["ip", "-n", self.name, "link", "set", self.inner_if, "down"],
             what="namespace side down")

    def link_up_inside(self):
        _run(["ip", "-n", self.name, "link", "set", self.inner_if, "up"],
             what="namespace side up")

    def _destroy(self):
        _kill_inside(self.name)
        _run(["ip", "netns", "del", self.name], timeout=10, check=False)
        _run(["ip", "link", "del", self.host_if], timeout=10, check=False)
        if self._route:
            _run(["ip", "route", "del", "blackhole", self.subnet, "metric", SAFETY_METRIC],
                 timeout=10, check=False)
            self._route = False

    def close(self):
        if self._closed:
            return
        self._closed = True
        with _Lock():
            self._destroy()


def permitted():
    """(True, "") when namespaces, veths and iptables work here, else
    (False, why). Creates and removes one namespace."""
    if os.geteuid() != 0:
        return False, "not root: network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN"
    for tool in ("ip", "iptables"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            return False, "%s is not installed (apt-get install -y iproute2 iptables)" % tool
    try:
        ns = NetNs()
    except NetNsError as e:
        return False, "cannot create a network namespace with a veth pair: %s" % e
    try:
        out = ns.run(["iptables", "-S", "INPUT"], timeout=20, check=False)
        if "-P INPUT" not in out:
            return False, "iptables does not work inside a namespace: " + out.strip()[-300:]
        return True, ""
    finally:
        ns.close()
