// Issue 20: what a dependency says is untrusted text. A fake Redis and a
// fake Sentinel (a small RESP server in this test: no real server sends
// these bytes) answer with LF, CR, ESC, 0xFF and overlong error replies and a
// master address that is not a host; /readyz?verbose, /readyz/{check},
// /metrics (through promtool) and /health stay well-formed, and the
// Sentinel check fails with reason "protocol".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// An error reply that tries everything: a bare LF with a forged verbose line
// after it, a CR, ESC sequences, bytes that are not UTF-8, a line separator,
// and 10 KB more.
const std::string kEvilError =
    "-ERR evil\n[+]forged ok\r\x1b[2J\x1b[31m\xff\xfe\xe2\x80\xa8 tail " + std::string(10000, 'A') +
    "\r\n";
// SENTINEL get-master-addr-by-name: a "host" that is no host.
const std::string kEvilHost = "evil\xff\n[+]x ok";
const std::string kEvilMaster =
    "*2\r\n$" + std::to_string(kEvilHost.size()) + "\r\n" + kEvilHost + "\r\n$4\r\n6379\r\n";

// Answers each RESP command (AUTH, SELECT, HELLO, CLIENT: +OK; SENTINEL:
// kEvilMaster; anything else: kEvilError). Connections are served one at a
// time, for as long as the object lives; every wait is bounded.
class EvilResp {
 public:
  EvilResp() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EvilResp() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  void Serve() {
    std::vector<int> clients;
    while (!stop_) {
      std::vector<pollfd> p = {{fd_, POLLIN, 0}};
      for (int c : clients) p.push_back({c, POLLIN, 0});
      if (poll(p.data(), p.size(), 50) <= 0) continue;
      if (p[0].revents & POLLIN) {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) clients.push_back(c);
      }
      for (size_t i = 1; i < p.size(); ++i) {
        if (p[i].revents == 0) continue;
        char buf[4096];
        const ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0) {
          close(p[i].fd);
          clients.erase(std::find(clients.begin(), clients.end(), p[i].fd));
          continue;
        }
        const std::string reply = Answer(std::string(buf, static_cast<size_t>(n)));
        send(p[i].fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    }
    for (int c : clients) close(c);
  }
  // The replies to the commands in `in` (whole commands: vigil's are small).
  static std::string Answer(const std::string& in) {
    std::string out;
    for (size_t pos = in.find('*'); pos != std::string::npos; pos = in.find("\r\n*", pos)) {
      if (pos > 0) pos += 2;
      const size_t name_len_at = in.find('$', pos);
      if (name_len_at == std::string::npos) break;
      const size_t name_at = in.find("\r\n", name_len_at) + 2;
      const int len = std::atoi(in.c_str() + name_len_at + 1);
      std::string name = in.substr(name_at, static_cast<size_t>(len));
      for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (name == "AUTH" || name == "SELECT" || name == "HELLO" || name == "CLIENT") {
        out += "+OK\r\n";
      } else if (name == "SENTINEL") {
        out += kEvilMaster;
      } else {
        out += kEvilError;
      }
      pos = name_at;
    }
    return out;
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Valid UTF-8 without control characters but LF line ends.
bool CleanText(const std::string& s, std::string* why) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if ((b < 0x20 && b != '\n') || b == 0x7f) {
        *why = "control byte " + std::to_string(b) + " at " + std::to_string(i);
        return false;
      }
      ++i;
      continue;
    }
    const size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      *why = "invalid UTF-8 at " + std::to_string(i);
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        *why = "invalid UTF-8 at " + std::to_string(i);
        return false;
      }
    }
    if (s.compare(i, 3, "\xe2\x80\xa8") == 0) {
      *why = "a line separator at " + std::to_string(i);
      return false;
    }
    i += len;
  }
  return true;
}

// Each line of a verbose body is one check's line or the verdict.
void ExpectWellFormedLines(const std::string& what, const std::string& body) {
  std::string why;
  EXPECT_TRUE(CleanText(body, &why)) << what << ": " << why;
  size_t start = 0;
  while (start < body.size()) {
    const size_t nl = body.find('\n', start);
    const std::string line = body.substr(start, nl - start);
    start = nl == std::string::npos ? body.size() : nl + 1;
    const bool check_line =
        line.rfind("[+]", 0) == 0 || line.rfind("[-]", 0) == 0 || line.rfind("[~]", 0) == 0;
    EXPECT_TRUE(check_line || line == "readyz check failed" || line == "readyz check passed")
        << what << ": stray line " << line.substr(0, 80);
    EXPECT_NE(line.rfind("[+]forged", 0), 0u) << what << ": a forged line";
    EXPECT_LT(line.size(), 400u) << what;
  }
}

// Runs Prometheus scraping 127.0.0.1:port every second and waits (at most
// 30 s) for a scrape: `up` must be 1 and the failures by reason ingested.
void ExpectPrometheusScrapes(int port) {
  ASSERT_EQ(Shell("command -v prometheus >/dev/null"), 0)
      << "prometheus missing: scripts/test installs the prometheus package";
  const std::string dir = MakeTempDir("vigil-untrusted-scrape");
  std::ofstream(dir + "/prometheus.yml") << "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                                            "scrape_configs:\n"
                                            "  - job_name: vigil\n"
                                            "    static_configs: [{targets: ['127.0.0.1:"
                                         << port << "']}]\n";
  const int web = FreePort();
  ASSERT_EQ(Shell("prometheus --config.file=" + dir + "/prometheus.yml --storage.tsdb.path=" + dir +
                  "/data --web.listen-address=127.0.0.1:" + std::to_string(web) + " >" + dir +
                  "/log 2>&1 & echo $! >" + dir + "/pid"),
            0);
  std::string up, failures;
  for (int i = 0; i < 150 && (up.empty() || failures.empty()); ++i) {  // 30 s at most
    std::this_thread::sleep_for(200ms);
    const HttpReply u = HttpCall(web, "GET", "/api/v1/query?query=up");
    if (u.status == 200 && u.body.find("\"vigil\"") != std::string::npos) up = u.body;
    const HttpReply f =
        HttpCall(web, "GET",
                 "/api/v1/query?query=vigil_check_failures_total%7Breason%3D%22protocol%22%7D%3E0");
    if (f.status == 200 && f.body.find("evil-sentinel") != std::string::npos) failures = f.body;
  }
  std::ifstream pid_file(dir + "/pid");
  pid_t pid = 0;
  pid_file >> pid;
  if (pid > 0) kill(pid, SIGTERM);
  std::this_thread::sleep_for(500ms);
  EXPECT_NE(up.find("\"1\"]"), std::string::npos) << "up: " << up;
  EXPECT_FALSE(failures.empty()) << "the failures by reason were not ingested";
  RemoveTree(dir);
}

TEST(UntrustedText, FakeRedisAndSentinelCannotBreakAnyBody) {
  EvilResp evil;
  ConfigFile config("vigil-untrusted");
  const std::string at = "127.0.0.1:" + std::to_string(evil.port());
  config.Write(
      {{"log_format", "text"},
       {"defaults", {{"interval_ms", 200}, {"timeout_ms", 500}}},
       {"checks",
        {{{"name", "evil-redis"}, {"kind", "redis"}, {"role", "session"}, {"url", "redis://" + at}},
         {{"name", "evil-sentinel"},
          {"kind", "redis"},
          {"role", "session"},
          {"url", "redis+sentinel://" + at + "/mymaster"}}}}});
  AgentProcess agent(config.path());
  ASSERT_TRUE(agent.WaitFor("/readyz?verbose", 503, "[-]evil-sentinel failed", 10000))
      << agent.Get("/readyz?verbose").body;
  ASSERT_TRUE(agent.WaitFor("/readyz?verbose", 503, "[-]evil-redis failed: PING: ERR evil", 10000))
      << agent.Get("/readyz?verbose").body;

  for (const char* path :
       {"/readyz?verbose", "/readyz", "/readyz/evil-redis", "/readyz/evil-sentinel"}) {
    const HttpReply r = agent.Get(path);
    EXPECT_EQ(r.status, 503) << path;
    ExpectWellFormedLines(path, r.body);
  }

  const HttpReply health = agent.Get("/health");
  std::string why;
  EXPECT_TRUE(CleanText(health.body, &why)) << why;
  const json h = json::parse(health.body);  // throws on invalid UTF-8
  for (const json& c : h["checks"]) {
    const std::string reason = c.value("reason", std::string());
    EXPECT_EQ(reason.find_first_of("\r\n\x1b"), std::string::npos) << reason.substr(0, 100);
    EXPECT_LT(reason.size(), 400u);
  }

  const std::string metrics = agent.Get("/metrics").body;
  EXPECT_TRUE(CleanText(metrics, &why)) << why;
  const std::string protocol =
      "vigil_check_failures_total{check=\"evil-sentinel\",reason=\"protocol\"} ";
  const size_t at_protocol = metrics.find(protocol);
  ASSERT_NE(at_protocol, std::string::npos) << metrics;
  EXPECT_GT(std::atof(metrics.c_str() + at_protocol + protocol.size()), 0) << metrics;
  const std::string dir = MakeTempDir("vigil-untrusted-prom");
  std::ofstream(dir + "/metrics.txt") << metrics;
  ASSERT_EQ(Shell("command -v promtool >/dev/null"), 0)
      << "promtool missing: scripts/test installs the prometheus package";
  const int rc =
      Shell("promtool check metrics < " + dir + "/metrics.txt > " + dir + "/out.txt 2>&1");
  std::ifstream out(dir + "/out.txt");
  const std::string complaints((std::istreambuf_iterator<char>(out)),
                               std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << complaints;
  EXPECT_EQ(complaints.find("error"), std::string::npos) << complaints;
  RemoveTree(dir);

  // A real Prometheus scrapes it: the scrape is taken whole (up 1).
  ExpectPrometheusScrapes(agent.port());

  // The log is not forged either (text lines escape; no raw ESC, no 0xFF).
  const std::string log = agent.Stdout();
  EXPECT_EQ(log.find('\x1b'), std::string::npos);
  EXPECT_EQ(log.find('\xff'), std::string::npos);
}

}  // namespace
}  // namespace vigil::testing
