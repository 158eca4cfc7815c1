#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (committed; run again after
changing this file). Each seed is one hand-made input that reaches a distinct
path; the fuzzers grow their own corpora from these in a scratch directory."""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(harness, items):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for item in items:
        data = item if isinstance(item, bytes) else item.encode()
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


# --- config: JSON text -------------------------------------------------------
spec_example = {
    "listen": "0.0.0.0:8086", "drain_seconds": 5, "admin_token_file": "/var/run/vigil/admin-token",
    "defaults": {"interval_ms": 5000, "timeout_ms": 1000, "unhealthy_threshold": 2,
                 "healthy_threshold": 1, "jitter_percent": 10,
                 "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 30000,
                             "success_threshold": 2}},
    "checks": [
        {"name": "redis-cache", "kind": "redis", "role": "cache", "url": "redis://redis-cache:6379/0"},
        {"name": "redis-session", "kind": "redis", "role": "session",
         "url": "redis://:${PW}@redis-session:6379"},
        {"name": "db", "kind": "postgres", "role": "database",
         "url": "postgresql://app:${PW}@db:5432/app"},
        {"name": "app", "kind": "tcp", "role": "app", "address": "127.0.0.1:3000", "liveness": True},
    ],
}
configs = [json.dumps(spec_example), json.dumps(spec_example, indent=2)]
configs += [json.dumps(c) for c in [
    {"checks": []},
    {"server": {"threads": 2, "max_connections": 512, "read_timeout_ms": 5000,
                "write_timeout_ms": 5000, "keep_alive_timeout_s": 5, "max_header_bytes": 8192},
     "checks": []},
    {"log_format": "text", "listen": ":8086", "checks": [
        {"name": "s", "kind": "redis", "url": "redis+sentinel://:${PW}@h1:26379,h2:26379/mymaster/1",
         "expect_role": "master", "max_memory_ratio": 0.8, "slow_ms": 50}]},
    {"checks": [{"name": "p", "kind": "postgres",
                 "url": "host=db port=5432 user=app password='${PW}' dbname=app sslmode=disable",
                 "require_primary": True, "max_replication_lag_s": 10, "keep_open": False}]},
    {"checks": [{"name": "q", "kind": "postgres",
                 "url": "postgres://app@db/app?password=${PW}&connect_timeout=5"}]},
    {"checks": [{"name": "h", "kind": "http", "url": "http://u:${PW}@127.0.0.1:3000/healthz?full=1",
                 "expect_status": 200, "expect_body_contains": "ok"}]},
    {"checks": [{"name": "t", "kind": "tcp", "address": "[::1]:3000", "interval_ms": 100,
                 "timeout_ms": 10, "breaker": {"failure_threshold": 1}}]},
    {"checks": [{"name": "a", "kind": "tcp", "address": "h:1"}, {"name": "a", "kind": "tcp", "address": "h:2"}]},
    {"checks": [{"name": "b", "kind": "redis", "url": "htp://x"}]},
    {"checks": [{"name": "c", "kind": "redis", "url": "redis://:${UNSET}@h"}]},
    {"checks": [{"name": "d", "kind": "redis", "url": "redis://:${EMPTY:-fallback}@h:$$1"}]},
    {"checks": [{"name": "e", "kind": "redis", "url": "redis://:ab${not-a-var}cd@h"}]},
    {"checks": [{"name": "f", "kind": "tcp", "address": "h:1", "interval_ms": 1e308}]},
    {"checks": [{"name": "g", "kind": "tcp", "address": "h:1", "timeout_ms": -1.5}]},
    {"checks": [{"name": "UPPER", "kind": "tcp", "address": "h:1"}]},
    {"server": {"max_connections": 0}, "checks": []},
    {"server": [], "checks": {}},
    {"bogus": 1, "checks": []},
    {"defaults": {"breaker": {"bogus": 1}}, "checks": []},
]]
configs += ['{"checks":[', '[]', '"x"', '{"checks":[{"name":"x","kind":"tcp","address":"${URL}"}]}',
            '{"checks":[{"name":"x","kind":"redis","url":"${URL}"}]}', '{"checks":[null,1,"s",[]]}']
# Regressions (tests/unit/hardening_test.cc): a number out of range escaped
# as json::out_of_range; an empty key; nesting that overflowed the stack.
configs += ['{"drain_seconds": 1e400, "checks": []}', '{"": [], "s": {}}',
            '{"checks": [], "defaults": ' + "[" * 40 + "]" * 40 + "}"]
write("config", configs)

# --- url: form byte, then scheme \n user \n password \n rest -----------------
def url_seed(form, scheme, user, password, rest):
    return bytes([form]) + "\n".join([scheme, user, password, rest]).encode()

urls = [
    url_seed(0, "", "", "s3cret-pw", "127.0.0.1:6379/0"),
    url_seed(0, "", "app", "p@ss/w:rd", "h:6379"),
    url_seed(0, "", "", "p%40ss%2Fw0rd", "h"),
    url_seed(0, "", "", "secret%zz", "h"),
    url_seed(0, "", "", "secret", "[::1]:6379/15"),
    url_seed(0, "", "", "secret", "h:99999"),
    url_seed(0, "", "", "secret", "h?x=1"),
    url_seed(1, "", "", "secret", "h1:26379,h2:26379/mymaster/2"),
    url_seed(1, "", "", "secret", "h1:26379"),
    url_seed(2, "rediss", "", "secret", "h"),
    url_seed(2, "postgresql", "app", "12/34", "db:5432/app"),
    url_seed(2, "http", "u", "pa?ss#word", "h/x"),
    url_seed(2, "1bad", "u", "secret", "h"),
    url_seed(3, "", "app", "s3cr3t", "db:5432/app?sslmode=disable"),
    url_seed(3, "", "app", "s3cr3t", "[::1/app"),
    url_seed(3, "", "app", "s3cr3t", "db:notaport/app"),
    url_seed(3, "", "app", "s3cr3t", "db/app?bogus=1"),
    url_seed(3, "", "app", "p%40ss", "db,db2/app"),
    url_seed(4, "", "app", "s3cr3t", "db:5432/app"),
    url_seed(4, "", "app", "s3cr3t&bogus=1", "db/app"),
    url_seed(5, "", "", "s3cr3t", "host=db port=5432 user=app"),
    url_seed(5, "", "", "s3cr3t", "host=db bogus=1"),
    url_seed(5, "", "", "s3cr3t", "service=x"),
    url_seed(6, "", "", "s3 cr'et", "host=db"),
    url_seed(6, "", "", "s3cr3t", "host='db"),
    url_seed(7, "", "user", "s3cr3t", "127.0.0.1:8080/healthz"),
    url_seed(7, "", "user", "s3cr3t", "127.0.0.1:99999/"),
    url_seed(7, "", "user", "s3%zzcr3t", "h/"),
    url_seed(7, "", "us:er", "s3cr3t", "[::1/"),
    url_seed(7, "", "user", "s3cr3t", "h/pa th"),
    b"\x02x\nu\nPASSWORD=abc\nhost password: 'q q' pwd=z;",
    # Regressions: a host of "password=..." (an empty value before it); a
    # port of "5432password=..."; a raw '@' and "://" in a password.
    url_seed(5, "", "", "s3cr3t", "host="),
    url_seed(2, "port=x", "", "ueru%", ""),
    url_seed(5, "", "", "s3cr3t", "host=db port=5432"),
    url_seed(7, "", "u%", "@deersr3Ai://+sen/ord/", ""),
    url_seed(3, "", "\x05[:>/uport=t?", "hoZZ[", "t:1password\n\n3"),
    url_seed(3, "", "*3t", "[::1/ap&&\"&&r3t", "[::1pp\n:3;9\n[:#:0]/ap"),
    url_seed(3, "", "[/::a;p1&&\"&&r0t3", ":e2evci3;A", "[:#:0]/ap"),
]
write("url", urls)

# --- router: 4 bytes, then method \n target \n accept \n auth \n name \n text -
def router_seed(bits, method, target, accept="*/*", auth="", name="app", text="connection refused"):
    return bytes(bits) + "\n".join([method, target, accept, auth, name, text]).encode()

routes = [
    router_seed([1, 1, 1, 0], "GET", "/livez"),
    router_seed([1, 3, 1, 0], "GET", "/readyz?verbose"),
    router_seed([3, 1, 2, 2], "GET", "/readyz?verbose&exclude=db&exclude=redis-cache"),
    router_seed([0, 0, 0, 0], "GET", "/startupz"),
    router_seed([1, 2, 3, 0], "GET", "/health"),
    router_seed([1, 2, 3, 0], "GET", "/health", "application/health+json"),
    router_seed([1, 1, 1, 0], "GET", "/health/db"),
    router_seed([1, 1, 1, 0], "GET", "/health/%61pp"),
    router_seed([1, 1, 1, 0], "GET", "/readyz/redis-cache"),
    router_seed([1, 1, 1, 0x40], "GET", "/livez/app"),
    router_seed([1, 1, 1, 4], "GET", "/livez?verbose"),
    router_seed([1, 1, 1, 0], "GET", "/metrics"),
    router_seed([1, 1, 1, 0], "GET", "/metrics", name='we"ird\\na\nme', text="\xff\xfe bad utf8"),
    router_seed([1, 1, 1, 0], "HEAD", "/"),
    router_seed([1, 1, 1, 0], "POST", "/livez"),
    router_seed([1, 1, 1, 0], "POST", "/admin/circuit-breaker/db/reset", auth="Bearer tok"),
    router_seed([1, 1, 1, 0], "POST", "/admin/circuit-breaker/nope/reset", auth="Bearer tok"),
    router_seed([1, 1, 1, 0], "POST", "/admin/circuit-breaker/db/reset", auth="Bearer bad"),
    router_seed([1, 1, 1, 8], "POST", "/admin/circuit-breaker/db/reset", auth="Bearer tok"),
    router_seed([1, 1, 1, 0], "GET", "/livez/../readyz"),
    router_seed([1, 1, 1, 0], "GET", "/%2e%2e/x"),
    router_seed([1, 1, 1, 0], "GET", "/livez%00"),
    router_seed([1, 1, 1, 0], "GET", "http://h/livez"),
    router_seed([1, 1, 1, 0], "GET", "*"),
    router_seed([1, 1, 1, 0], "GET", "/readyz?exclude=%zz"),
    router_seed([1, 1, 1, 0], "GET", "/readyz?a+b=c%20d&&exclude"),
]
write("router", routes)

# --- redis_reply: mode byte, sentinel chunks \xff\xfd server chunks ----------
SEP, PART = b"\xff\xfe", b"\xff\xfd"
INFO = (b"# Server\r\nredis_version:7.0.15\r\n# Persistence\r\nloading:0\r\n"
        b"# Replication\r\nrole:master\r\n# Memory\r\nused_memory:1000\r\nmaxmemory:0\r\n"
        b"# Cluster\r\ncluster_enabled:0\r\n")

def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)

replies = [
    bytes([0]) + PART + b"+PONG\r\n" + bulk(INFO),
    bytes([0]) + PART + b"+PONG\r\n" + bulk(INFO.replace(b"loading:0", b"loading:1")),
    bytes([4]) + PART + b"+PONG\r\n" + bulk(INFO.replace(b"role:master", b"role:slave")),
    bytes([12]) + PART + b"+PONG\r\n" + bulk(INFO),
    bytes([16]) + PART + b"+PONG\r\n" + bulk(INFO.replace(b"maxmemory:0", b"maxmemory:1100")),
    bytes([16]) + PART + b"+PONG\r\n" + bulk(INFO.replace(b"used_memory:1000", b"used_memory:1e300").replace(b"maxmemory:0", b"maxmemory:1")),
    bytes([0]) + PART + b"+PONG\r\n" + bulk(INFO.replace(b"cluster_enabled:0", b"cluster_enabled:1")) + SEP + bulk(b"cluster_state:fail\r\n"),
    bytes([0]) + PART + b"+PONG\r\n" + bulk(INFO.replace(b"cluster_enabled:0", b"cluster_enabled:1")) + bulk(b"cluster_state:ok\r\n"),
    bytes([0]) + PART + b"+PONG\r\n-NOPERM this user has no permissions to run the 'info' command\r\n",
    bytes([0]) + PART + b"+PONG\r\n-ERR unknown command 'INFO'\r\n" + SEP + b"+PONG\r\n" + bulk(INFO),
    bytes([0]) + PART + b"+PONG\r\n-ERR wrong number of arguments\r\n" + SEP + b"+PONG\r\n" + bulk(INFO),
    bytes([0]) + PART + b"-LOADING Redis is loading the dataset in memory\r\n",
    bytes([0]) + PART + b":1\r\n*2\r\n$1\r\na\r\n$-1\r\n",
    bytes([0]) + PART + b"+PON",
    bytes([0]) + PART + b"$-5\r\n",
    bytes([0]) + PART + b"*99999999999\r\n",
    bytes([0]) + PART + b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
    bytes([1]) + PART + b"+OK\r\n+OK\r\n+PONG\r\n" + bulk(INFO),
    bytes([1]) + PART + b"-WRONGPASS invalid username-password pair fuzzPw-Secret-1\r\n+OK\r\n",
    bytes([2]) + PART + b"-ERR AUTH fuzzPw-Secret-1 failed\r\n",
    bytes([1]) + PART + b"+OK\r\n-ERR DB index is out of range\r\n",
    bytes([3]) + b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n" + PART + b"+OK\r\n+OK\r\n+PONG\r\n" + bulk(INFO),
    bytes([3]) + b"*-1\r\n" + PART,
    bytes([3]) + b"-IDONTKNOW No such master with that name fuzzPw-Secret-1\r\n" + PART,
    bytes([3]) + b"*2\r\n$4\r\nhost\r\n$1\r\n0\r\n" + PART,
    # The second reply on a kept Sentinel connection names a master too.
    bytes([3]) + b"*2\r\n$1\r\nh\r\n$1\r\n1\r\n*2\r\n$9\r\nelsewhere\r\n$4\r\n6380\r\n"
    + PART + b"+OK\r\n+OK\r\n+PONG\r\n" + bulk(INFO),
    bytes([3]) + b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n" + SEP + b"*2\r\n$9\r\nelsewhere\r\n$4\r\n6380\r\n" + PART
    + b"+OK\r\n+OK\r\n+PONG\r\n" + bulk(INFO) + SEP + b"+OK\r\n+OK\r\n+PONG\r\n" + bulk(INFO),
    bytes([32]) + PART + b"+PONG\r\n" + bulk(INFO),
    # Regressions: an announced array of a billion; an endless bulk string.
    bytes([0]) + PART + b"*999999999\r\n",
    bytes([0]) + PART + b"+PONG\r\n$100000000\r\n" + b"x" * 2000,
]
write("redis_reply", replies)

# --- http_server: raw bytes on one connection --------------------------------
reqs = [
    b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /readyz?verbose HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nUser-Agent: kube-probe/1.29\r\nConnection: close\r\n\r\n",
    b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nAccept: application/health+json\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /livez HTTP/1.0\r\n\r\n",
    b"GET /livez HTTP/1.1\r\n\r\n",
    b"\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /admin/circuit-breaker/db/reset HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 0\r\n\r\n",
    b"POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /livez HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n",
    b"GET /livez HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
    b"GET /livez HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-\r\n\r\n",
    b"GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /livez HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
    b"GET /livez HTTP/1.1\nHost: x\n\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /livez HTTP/1.1\r\nHost: x\r\n" + b"A: b\r\n" * 120 + b"\r\n",
    b"GET http://x/livez HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /livez/../x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGARBAGE\r\n\r\n",
]
write("http_server", reqs)
