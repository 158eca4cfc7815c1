// Redis reply handling (issue 7 item 2): a real `redis` check, built from its
// config like the agent builds it, runs against fake servers on loopback that
// answer every connection with bytes from the input — replies to AUTH,
// SELECT, PING, INFO (loading, role, memory, cluster_enabled), CLUSTER INFO,
// and SENTINEL get-master-addr-by-name — then close. Whatever they send, the
// check returns a verdict by its deadline, never crashes, and its reason and
// target never hold the password (a server may echo it back in an error).
//
// Input: a mode byte (URL form, expect_role, thresholds), then the bytes for
// the Sentinel's connections, "\xff\xfd", the bytes for the server's; each
// part split into one chunk a connection at "\xff\xfe".
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "checks/redis/redis_connection.h"
#include "checks/registry.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr const char* kPassword = "fuzzPw-Secret-1";
constexpr auto kBudget = std::chrono::milliseconds(500);

std::vector<std::string> Split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? pos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + sep.size();
  }
}

// Every reply in `chunk` that the check would take for a master address
// (sentinel.cc: an array of two bulk strings, a host and a port 1..65535) is
// pointed at `port` on loopback: the check must never connect (or resolve a
// name) anywhere else. A kept Sentinel connection reads the second reply of
// a chunk on the next run, so all of them, not only the first.
std::string PointMastersAt(const std::string& chunk, int port) {
  redisReader* r = vigil::CreateBoundedReader();
  redisReaderFeed(r, chunk.data(), chunk.size());
  std::string out;
  size_t done = 0;  // chunk[0, done) is accounted for in `out`
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(r, &reply) != REDIS_OK || reply == nullptr) break;
    const size_t end = chunk.size() - (r->len - r->pos);
    const auto* rep = static_cast<redisReply*>(reply);
    bool master = false;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING && rep->element[0]->len > 0) {
      const int p = std::atoi(rep->element[1]->str);
      master = p > 0 && p <= 65535;
    }
    if (master) {
      const std::string port_text = std::to_string(port);
      out += "*2\r\n$9\r\n127.0.0.1\r\n$" + std::to_string(port_text.size()) + "\r\n" + port_text +
             "\r\n";
    } else {
      out += chunk.substr(done, end - done);
    }
    done = end;
    freeReplyObject(reply);
  }
  redisReaderFree(r);
  return out + chunk.substr(done);
}

// A loopback server that gives each connection of a round its chunk, then
// closes its side.
class FakeServer {
 public:
  FakeServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 64) != 0) {
      std::abort();
    }
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
    thread_.detach();  // lives as long as the process
  }
  int port() const { return port_; }
  void Arm(std::vector<std::string> chunks, int redirect_port) {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_ = std::move(chunks);
    next_ = 0;
    redirect_port_ = redirect_port;
    armed_ = true;
  }
  void Disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
    for (int fd : open_) close(fd);
    open_.clear();
  }

 private:
  void Loop() {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (!armed_) {
        close(c);
        continue;
      }
      std::string chunk = next_ < chunks_.size() ? chunks_[next_] : std::string();
      ++next_;
      if (redirect_port_ > 0) chunk = PointMastersAt(chunk, redirect_port_);
      size_t off = 0;
      while (off < chunk.size()) {
        ssize_t n = send(c, chunk.data() + off, chunk.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      shutdown(c, SHUT_WR);
      open_.push_back(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> chunks_;  // Guarded by mu_.
  size_t next_ = 0;                  // Guarded by mu_.
  int redirect_port_ = 0;            // Guarded by mu_.
  bool armed_ = false;               // Guarded by mu_.
  std::vector<int> open_;            // Guarded by mu_.
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FakeServer* server = new FakeServer();
  static FakeServer* sentinel = new FakeServer();
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t split = input.find("\xff\xfd");
  const std::string sentinel_part = split == std::string::npos ? "" : input.substr(0, split);
  const std::string server_part = split == std::string::npos ? input : input.substr(split + 2);

  const std::string at = "@127.0.0.1:" + std::to_string(server->port());
  std::string url;
  switch (mode & 3) {
    case 0:
      url = "redis://127.0.0.1:" + std::to_string(server->port());
      break;
    case 1:
      url = "redis://:" + std::string(kPassword) + at + "/3";
      break;
    case 2:
      url = "redis://app:" + std::string(kPassword) + at;
      break;
    default:
      url = "redis+sentinel://:" + std::string(kPassword) +
            "@127.0.0.1:" + std::to_string(sentinel->port()) + "/mymaster/2";
      break;
  }
  nlohmann::json spec = {{"url", url}};
  const bool is_sentinel = (mode & 3) == 3;
  if (!is_sentinel && (mode & 4)) spec["expect_role"] = (mode & 8) ? "replica" : "master";
  if (mode & 16) spec["max_memory_ratio"] = 0.5;
  if (mode & 32) spec["slow_ms"] = 1;

  std::vector<std::string> secrets;
  const vigil::CheckKind* kind = vigil::CheckRegistry::Builtin().Find("redis");
  std::unique_ptr<vigil::Check> check = kind->create(vigil::CheckSpec{spec, "checks[0]", &secrets});

  server->Arm(Split(server_part, "\xff\xfe"), 0);
  sentinel->Arm(is_sentinel ? Split(sentinel_part, "\xff\xfe") : std::vector<std::string>{},
                server->port());
  for (int run = 0; run < 3; ++run) {
    const auto start = vigil::Clock::now();
    vigil::CheckResult r = check->Run(start + kBudget);
    const auto took = vigil::Clock::now() - start;
    const std::string where = url + " run " + std::to_string(run);
    vigil::fuzz::Require(took < kBudget + std::chrono::milliseconds(250),
                         "the check returns by its deadline", where);
    // (Only a check that has the password knows to hide it: not mode 0.)
    const bool has_password = (mode & 3) != 0;
    vigil::fuzz::Require(!has_password || r.reason.find(kPassword) == std::string::npos,
                         "the reason never holds the password", where, r.reason);
    const std::string target = check->Target();
    vigil::fuzz::Require(!has_password || target.find(kPassword) == std::string::npos,
                         "the target never holds the password", where, target);
    if (r.outcome == vigil::Outcome::kFail) check->Close();  // as the scheduler does
  }
  check.reset();
  server->Disarm();
  sentinel->Disarm();
  return 0;
}
