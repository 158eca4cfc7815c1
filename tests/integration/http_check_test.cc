// The `http` kind against local servers on 127.0.0.1: a cpp-httplib server for
// well-formed answers, a raw socket server for the misbehaving ones (never
// answers, trickles, closes, speaks something else).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "checks/check.h"
#include "tests/support/check_builder.h"
#include "tests/support/ports.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::BuildCheck;
using testing::BuiltCheck;
using testing::RunFor;
using testing::Timed;

// Generous on a loaded 2-core machine; what matters is that a run never takes
// much longer than its deadline.
constexpr milliseconds kShortTimeout{300};
constexpr milliseconds kMargin{700};
constexpr milliseconds kLongTimeout{5000};

// One run of the `http` check that `config` describes.
Timed RunHttpCheck(const nlohmann::json& config, milliseconds budget = kLongTimeout) {
  return RunFor(*BuildCheck("http", config).check, budget);
}

// cpp-httplib server on 127.0.0.1, an ephemeral port, its own thread.
class LocalHttpServer {
 public:
  LocalHttpServer() = default;
  ~LocalHttpServer() { Stop(); }

  httplib::Server& server() { return server_; }
  int port() const { return port_; }

  // Call after the routes are set.
  bool Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return false;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return server_.is_running();
  }

  void Stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A listening socket on 127.0.0.1:0 that is never accepted from: the kernel
// completes the handshake (backlog) and nobody ever answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) return;
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Accepts connections one at a time on 127.0.0.1:0, reads the request head,
// then hands the socket to `handler` (which may write, stall or return to have
// it closed). Handlers that stall must poll stopping() and return.
class RawServer {
 public:
  using Handler = std::function<void(RawServer&, int fd)>;

  explicit RawServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) return;
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }

  int port() const { return port_; }
  bool stopping() const { return stop_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

  static void Write(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  // Sleeps up to `ms` or until the server stops.
  void Pause(int ms) {
    for (int i = 0; i < ms / 10 && !stop_; ++i) std::this_thread::sleep_for(milliseconds(10));
  }

  // Holds the connection open until the server stops (at most 30 s).
  void Hold() { Pause(30000); }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      // Bounded read of the request head (2 s).
      for (int i = 0; i < 200 && req.find("\r\n\r\n") == std::string::npos && !stop_; ++i) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 10) <= 0) continue;
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_request_ = req;
      }
      handler_(*this, c);
      close(c);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string last_request_;
};

class HttpCheckTest : public ::testing::Test {
 protected:
  void StartServer() { ASSERT_TRUE(http_.Start()) << "cpp-httplib server did not start"; }
  LocalHttpServer http_;
};

TEST_F(HttpCheckTest, Status200Passes) {
  std::mutex mu;
  httplib::Headers seen_headers;
  std::string seen_target;
  http_.server().Get("/healthz", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    seen_headers = req.headers;
    seen_target = req.target;
    res.set_content("ok", "text/plain");
  });
  StartServer();

  auto check = BuildCheck("http", {{"url", http_.Url("/healthz?full=1")}}).check;
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_GT(t.result.latency.count(), 0);
  EXPECT_EQ(check->Target(), "127.0.0.1:" + std::to_string(http_.port()));

  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen_target, "/healthz?full=1");
  auto header = [&](const char* name) {
    auto it = seen_headers.find(name);
    return it == seen_headers.end() ? std::string("<none>") : it->second;
  };
  EXPECT_EQ(header("Host"), "127.0.0.1:" + std::to_string(http_.port()));
  EXPECT_EQ(header("Connection"), "close");
  EXPECT_EQ(header("User-Agent").rfind("vigil", 0), 0u) << header("User-Agent");
  EXPECT_EQ(header("Authorization"), "<none>");
}

TEST_F(HttpCheckTest, RepeatedRunsEachPass) {
  std::atomic<int> hits{0};
  http_.server().Get("/", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.set_content("ok", "text/plain");
  });
  StartServer();
  auto check = BuildCheck("http", {{"url", http_.Url("/")}}).check;
  for (int i = 0; i < 5; ++i) {
    Timed t = RunFor(*check, kLongTimeout);
    EXPECT_EQ(t.result.outcome, Outcome::kPass) << "run " << i << ": " << t.result.reason;
  }
  EXPECT_EQ(hits.load(), 5);
}

TEST_F(HttpCheckTest, RedirectPassesAndIsNotFollowed) {
  std::atomic<int> target_hits{0};
  http_.server().Get("/old", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/missing", 302);
  });
  http_.server().Get("/missing", [&](const httplib::Request&, httplib::Response& res) {
    ++target_hits;
    res.status = 404;
  });
  StartServer();
  auto check = BuildCheck("http", {{"url", http_.Url("/old")}}).check;
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  EXPECT_EQ(target_hits.load(), 0) << "the redirect was followed";
}

TEST_F(HttpCheckTest, ServerErrorFails) {
  http_.server().Get("/500", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("boom", "text/plain");
  });
  http_.server().Get("/503",
                     [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  StartServer();

  Timed t500 = RunHttpCheck({{"url", http_.Url("/500")}});
  EXPECT_EQ(t500.result.outcome, Outcome::kFail);
  EXPECT_EQ(t500.result.reason, "HTTP 500");
  EXPECT_FALSE(t500.result.timed_out);

  Timed t503 = RunHttpCheck({{"url", http_.Url("/503")}});
  EXPECT_EQ(t503.result.outcome, Outcome::kFail);
  EXPECT_EQ(t503.result.reason, "HTTP 503");
}

TEST_F(HttpCheckTest, NotFoundFails) {
  StartServer();  // no routes: 404
  Timed t = RunHttpCheck({{"url", http_.Url("/nope")}});
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_EQ(t.result.reason, "HTTP 404");
}

TEST_F(HttpCheckTest, ExpectStatusIsExact) {
  http_.server().Get("/204",
                     [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  StartServer();
  Timed ok = RunHttpCheck({{"url", http_.Url("/204")}, {"expect_status", 204}});
  EXPECT_EQ(ok.result.outcome, Outcome::kPass) << ok.result.reason;
  Timed bad = RunHttpCheck({{"url", http_.Url("/204")}, {"expect_status", 200}});
  EXPECT_EQ(bad.result.outcome, Outcome::kFail);
  EXPECT_EQ(bad.result.reason, "HTTP 204, want 200");
}

TEST_F(HttpCheckTest, BodyContains) {
  http_.server().Get("/status", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"UP\"}", "application/json");
  });
  StartServer();
  Timed pass = RunHttpCheck({{"url", http_.Url("/status")}, {"expect_body_contains", "\"UP\""}});
  EXPECT_EQ(pass.result.outcome, Outcome::kPass) << pass.result.reason;

  Timed fail = RunHttpCheck({{"url", http_.Url("/status")}, {"expect_body_contains", "DOWN"}});
  EXPECT_EQ(fail.result.outcome, Outcome::kFail);
  EXPECT_FALSE(fail.result.timed_out);
  EXPECT_EQ(fail.result.reason, "HTTP 200 but body does not contain \"DOWN\"");
}

TEST_F(HttpCheckTest, ChunkedBodyDecoded) {
  http_.server().Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
      if (offset == 0) {
        sink.write("first part, ", 12);
        sink.write("ne", 2);  // the needle spans two chunks
        sink.write("edle, last", 10);
      }
      sink.done();
      return true;
    });
  });
  StartServer();
  Timed t = RunHttpCheck({{"url", http_.Url("/chunked")}, {"expect_body_contains", "needle"}});
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  Timed miss = RunHttpCheck({{"url", http_.Url("/chunked")}, {"expect_body_contains", "5\r\n"}});
  EXPECT_EQ(miss.result.outcome, Outcome::kFail) << "chunk framing leaked into the body";
}

TEST_F(HttpCheckTest, BodySearchCappedAt64KiB) {
  const std::string filler(200 * 1024, 'x');
  http_.server().Get("/big-early", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("EARLY" + filler, "text/plain");
  });
  http_.server().Get("/big-late", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(filler + "LATE", "text/plain");
  });
  StartServer();
  Timed early = RunHttpCheck({{"url", http_.Url("/big-early")}, {"expect_body_contains", "EARLY"}});
  EXPECT_EQ(early.result.outcome, Outcome::kPass) << early.result.reason;
  Timed late = RunHttpCheck({{"url", http_.Url("/big-late")}, {"expect_body_contains", "LATE"}});
  EXPECT_EQ(late.result.outcome, Outcome::kFail);
  EXPECT_NE(late.result.reason.find("first 64 KiB"), std::string::npos) << late.result.reason;
}

TEST_F(HttpCheckTest, BasicAuthFromUrl) {
  http_.server().Get("/private", [](const httplib::Request& req, httplib::Response& res) {
    // base64("probe:p@ss:w0rd")
    if (req.get_header_value("Authorization") == "Basic cHJvYmU6cEBzczp3MHJk") {
      res.set_content("ok", "text/plain");
    } else {
      res.status = 401;
    }
  });
  StartServer();
  const std::string url =
      "http://probe:p%40ss%3Aw0rd@127.0.0.1:" + std::to_string(http_.port()) + "/private";
  BuiltCheck built = BuildCheck("http", {{"url", url}});
  Timed t = RunFor(*built.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  EXPECT_EQ(built.check->Target(), "127.0.0.1:" + std::to_string(http_.port()));
  EXPECT_EQ(built.secrets, (std::vector<std::string>{"p@ss:w0rd", "p%40ss%3Aw0rd"}));

  Timed wrong = RunHttpCheck(
      {{"url", "http://probe:nope@127.0.0.1:" + std::to_string(http_.port()) + "/private"}});
  EXPECT_EQ(wrong.result.outcome, Outcome::kFail);
  EXPECT_EQ(wrong.result.reason, "HTTP 401");
  EXPECT_EQ(wrong.result.reason.find("nope"), std::string::npos);
}

TEST(HttpCheckRawTest, ReadToCloseBody) {
  RawServer server([](RawServer&, int fd) {
    RawServer::Write(fd, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ");
    std::this_thread::sleep_for(milliseconds(20));
    RawServer::Write(fd, "world");
  });
  Timed t = RunHttpCheck({{"url", server.Url("/")}, {"expect_body_contains", "world"}});
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  EXPECT_EQ(server.last_request().rfind("GET / HTTP/1.1\r\n", 0), 0u) << server.last_request();
}

TEST(HttpCheckRawTest, InterimContinueSkipped) {
  RawServer server([](RawServer&, int fd) {
    RawServer::Write(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  });
  Timed t = RunHttpCheck({{"url", server.Url("/")}});
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
}

TEST(HttpCheckRawTest, NotHttpFails) {
  RawServer server([](RawServer&, int fd) { RawServer::Write(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n"); });
  Timed t = RunHttpCheck({{"url", server.Url("/")}});
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_NE(t.result.reason.find("malformed HTTP response"), std::string::npos) << t.result.reason;
}

TEST(HttpCheckRawTest, ClosedWithoutResponseFails) {
  RawServer server([](RawServer&, int) {});
  Timed t = RunHttpCheck({{"url", server.Url("/")}});
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_LT(t.elapsed, kLongTimeout / 2);
  EXPECT_NE(t.result.reason.find("without a response"), std::string::npos) << t.result.reason;
}

TEST(HttpCheckRawTest, TruncatedBodyFails) {
  RawServer server([](RawServer&, int fd) {
    RawServer::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  });
  Timed t = RunHttpCheck({{"url", server.Url("/")}});
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_EQ(t.result.reason, "connection closed after 3 of 10 body bytes");
}

TEST(HttpCheckDeadlineTest, AcceptedButNeverAnsweredTimesOutAtDeadline) {
  SilentListener listener;
  ASSERT_GT(listener.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/";
  auto check = BuildCheck("http", {{"url", url}}).check;
  Timed t = RunFor(*check, kShortTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_TRUE(t.result.timed_out);
  EXPECT_EQ(t.result.reason, "timeout while waiting for response");
  EXPECT_GE(t.elapsed, kShortTimeout);
  EXPECT_LT(t.elapsed, kShortTimeout + kMargin);
}

// Each read gets a byte well inside any per-read timeout; only an absolute
// deadline ends the run.
TEST(HttpCheckDeadlineTest, TricklingHeadersTimeOutAtDeadline) {
  RawServer server([](RawServer& s, int fd) {
    RawServer::Write(fd, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 600 && !s.stopping(); ++i) {
      RawServer::Write(fd, "X");
      s.Pause(50);
    }
  });
  Timed t = RunHttpCheck({{"url", server.Url("/")}}, kShortTimeout);
  EXPECT_TRUE(t.result.timed_out) << t.result.reason;
  EXPECT_EQ(t.result.reason, "timeout while waiting for response");
  EXPECT_GE(t.elapsed, kShortTimeout);
  EXPECT_LT(t.elapsed, kShortTimeout + kMargin);
}

TEST(HttpCheckDeadlineTest, BodyThatStallsTimesOutAtDeadline) {
  RawServer server([](RawServer& s, int fd) {
    RawServer::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    s.Hold();
  });
  Timed t = RunHttpCheck({{"url", server.Url("/")}}, kShortTimeout);
  EXPECT_TRUE(t.result.timed_out) << t.result.reason;
  EXPECT_GE(t.elapsed, kShortTimeout);
  EXPECT_LT(t.elapsed, kShortTimeout + kMargin);
}

TEST(HttpCheckDeadlineTest, RefusedPortFailsFast) {
  const int port = testing::FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/healthz";
  auto check = BuildCheck("http", {{"url", url}}).check;
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_NE(t.result.reason.find("refused"), std::string::npos) << t.result.reason;
  EXPECT_LT(t.elapsed, milliseconds(1000));
}

TEST(HttpCheckDeadlineTest, DeadlineAlreadyPassed) {
  SilentListener listener;
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/";
  auto check = BuildCheck("http", {{"url", url}}).check;
  auto start = Clock::now();
  CheckResult r = check->Run(start - milliseconds(1));
  EXPECT_TRUE(r.timed_out) << r.reason;
  EXPECT_LT(Clock::now() - start, milliseconds(200));
}

}  // namespace
}  // namespace vigil
