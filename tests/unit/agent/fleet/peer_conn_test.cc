// One exchange with a peer on a real loopback socket: a canned server
// answers each request as told; PeerConn must take good answers, keep its
// connection, and drop late, refused, oversized and malformed ones.
#include "agent/fleet/peer_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

namespace vigil {
namespace {

// Accepts on 127.0.0.1; for each request read (up to the blank line)
// sends reply(n) where n counts requests; an empty reply sends nothing.
class CannedPeer {
 public:
  explicit CannedPeer(std::function<std::string(int)> reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedPeer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  Endpoint endpoint() const {
    Endpoint ep;
    auto* a = reinterpret_cast<sockaddr_in*>(&ep.addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port_));
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep.len = sizeof(sockaddr_in);
    return ep;
  }
  int accepted() const { return accepted_.load(); }

 private:
  void Serve() {
    int n = 0;
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string in;
      char buf[4096];
      for (int rounds = 0; rounds < 100 && !stop_; ++rounds) {
        const ssize_t got = ::recv(c, buf, sizeof buf, 0);
        if (got <= 0) break;
        in.append(buf, static_cast<size_t>(got));
        size_t end;
        while ((end = in.find("\r\n\r\n")) != std::string::npos) {
          in.erase(0, end + 4);
          const std::string out = reply_(n++);
          if (!out.empty()) ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        }
      }
      ::close(c);
    }
  }

  std::function<std::string(int)> reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

std::string Ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Drives one exchange as the fleet client's loop does, for at most `ms`.
PeerConn::State Exchange(PeerConn& conn, int ms = 1000) {
  conn.Start("GET /fleet/self HTTP/1.1\r\nHost: x\r\n\r\n");
  const Deadline deadline = Clock::now() + std::chrono::milliseconds(ms);
  while (conn.fd() >= 0 && Clock::now() < deadline) {
    pollfd p{conn.fd(), conn.events(), 0};
    if (::poll(&p, 1, RemainingMs(deadline)) > 0) conn.OnReady(p.revents);
  }
  conn.Abort();
  return conn.state();
}

TEST(PeerConn, TakesAnAnswerAndKeepsTheConnection) {
  CannedPeer peer([](int n) { return Ok("{\"n\":" + std::to_string(n) + "}"); });
  PeerConn conn(peer.endpoint());
  ASSERT_EQ(Exchange(conn), PeerConn::State::kDone);
  EXPECT_EQ(conn.status(), 200);
  EXPECT_EQ(conn.body(), "{\"n\":0}");
  ASSERT_EQ(Exchange(conn), PeerConn::State::kDone);
  EXPECT_EQ(conn.body(), "{\"n\":1}");
  EXPECT_EQ(peer.accepted(), 1);  // one connection for both
}

TEST(PeerConn, ReconnectsWhenThePeerClosedTheKeptConnection) {
  CannedPeer peer([](int) {
    const std::string body = "{}";
    return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n" + body;
  });
  PeerConn conn(peer.endpoint());
  ASSERT_EQ(Exchange(conn), PeerConn::State::kDone);
  ASSERT_EQ(Exchange(conn), PeerConn::State::kDone);
  EXPECT_EQ(peer.accepted(), 2);
}

TEST(PeerConn, DropsWhatIsNotAGoodAnswer) {
  struct Case {
    std::string reply;
    DropReason why;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", DropReason::kOversized},
      {"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + std::string(70000, 'x'),
       DropReason::kOversized},
      {"HTTP/1.1 200 OK\r\n" + std::string(70000, 'X') + "\r\n\r\n", DropReason::kOversized},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
       DropReason::kMalformed},
      {"HTTP/1.1 200 OK\r\n\r\n{}", DropReason::kMalformed},  // no length
      {"garbage\r\n\r\n", DropReason::kMalformed},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra", DropReason::kMalformed},
      {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", DropReason::kUnauthorized},
      {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", DropReason::kStatus},
  };
  for (const Case& c : cases) {
    CannedPeer peer([&c](int) { return c.reply; });
    PeerConn conn(peer.endpoint());
    EXPECT_EQ(Exchange(conn), PeerConn::State::kFailed) << c.reply.substr(0, 60);
    EXPECT_EQ(conn.failure(), c.why) << c.reply.substr(0, 60);
  }
}

TEST(PeerConn, ASilentPeerTimesOut) {
  CannedPeer peer([](int) { return std::string(); });
  PeerConn conn(peer.endpoint());
  EXPECT_EQ(Exchange(conn, 200), PeerConn::State::kFailed);
  EXPECT_EQ(conn.failure(), DropReason::kTimeout);
}

TEST(PeerConn, NothingListeningIsRefused) {
  Endpoint ep;
  {
    CannedPeer gone([](int) { return std::string(); });
    ep = gone.endpoint();
  }
  PeerConn conn(ep);
  EXPECT_EQ(Exchange(conn), PeerConn::State::kFailed);
  EXPECT_EQ(conn.failure(), DropReason::kRefused);
}

}  // namespace
}  // namespace vigil
