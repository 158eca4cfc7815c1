#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <utility>

namespace vigil::testing {
namespace {

constexpr size_t kBufferCap = 256 * 1024;
constexpr int kPollMs = 20;

sockaddr_in Ipv4(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    throw std::runtime_error("TcpProxy: not an IPv4 address: " + host);
  }
  return a;
}

// Closes with a reset (SO_LINGER 0) rather than a FIN.
void Reset(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

void NonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A non-blocking connect to `a`, waited for up to 1 s; the fd or -1.
int ConnectUpstream(const sockaddr_in& a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) return fd;
  if (errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (poll(&p, 1, 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

struct TcpProxy::Pair {
  int client = -1;
  int upstream = -1;  // -1 for a black-holed connection: never connected
  std::string to_upstream, to_client;
  bool client_eof = false, upstream_eof = false;
  bool dead = false;
};

TcpProxy::TcpProxy(std::string target_host, int target_port, std::string listen_host,
                   int listen_port)
    : target_host_(std::move(target_host)),
      target_port_(target_port),
      listen_host_(std::move(listen_host)),
      port_(listen_port) {
  Ipv4(target_host_, target_port_);  // validates
  Listen();
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (auto& p : pairs_) {
    Reset(p->client);
    Reset(p->upstream);
  }
  if (listen_fd_ >= 0) close(listen_fd_);
}

void TcpProxy::Listen() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = Ipv4(listen_host_, port_);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 128) != 0) {
    const int err = errno;
    close(fd);
    throw std::runtime_error("TcpProxy: cannot listen on " + listen_host_ + ":" +
                             std::to_string(port_) + ": " + std::to_string(err));
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listen_fd_ = fd;
}

void TcpProxy::SetMode(Mode mode) {
  std::unique_lock<std::mutex> lock(mu_);
  wanted_ = mode;
  error_.clear();
  const bool applied = cv_.wait_for(lock, std::chrono::seconds(2), [&] {
    return !error_.empty() || (applied_.load() == mode && wanted_ == mode);
  });
  if (!error_.empty()) throw std::runtime_error(error_);
  if (!applied) throw std::runtime_error("TcpProxy: mode not applied within 2 s");
}

void TcpProxy::ApplyMode(Mode mode) {
  if (mode == Mode::kRefuse) {
    if (listen_fd_ >= 0) close(listen_fd_);
    listen_fd_ = -1;
    for (auto& p : pairs_) {
      Reset(p->client);
      Reset(p->upstream);
    }
    pairs_.clear();
  } else if (listen_fd_ < 0) {
    Listen();  // the same port again
  }
  applied_ = mode;
}

void TcpProxy::Accept() {
  int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) return;
  ++accepted_;
  if (static_cast<int>(pairs_.size()) >= kMaxConnections) {
    Reset(c);
    return;
  }
  auto p = std::make_unique<Pair>();
  p->client = c;
  if (applied_.load() == Mode::kPass) {
    p->upstream = ConnectUpstream(Ipv4(target_host_, target_port_));
    if (p->upstream < 0) {  // the target refuses: so does the proxy
      Reset(c);
      return;
    }
    NonBlocking(p->upstream);
  }
  pairs_.push_back(std::move(p));
}

// Reads what one side sent into the other side's buffer.
void TcpProxy::Pump(Pair& p, bool from_client) {
  const int fd = from_client ? p.client : p.upstream;
  std::string& buf = from_client ? p.to_upstream : p.to_client;
  char chunk[16384];
  ssize_t n = recv(fd, chunk, sizeof chunk, 0);
  if (n > 0) {
    buf.append(chunk, static_cast<size_t>(n));
  } else if (n == 0) {
    (from_client ? p.client_eof : p.upstream_eof) = true;
  } else if (errno != EAGAIN && errno != EINTR) {
    p.dead = true;
  }
}

// Writes a buffer to its side; half-closes that side once the sender is done.
void TcpProxy::Flush(Pair& p, bool to_client) {
  const int fd = to_client ? p.client : p.upstream;
  std::string& buf = to_client ? p.to_client : p.to_upstream;
  if (!buf.empty()) {
    ssize_t n = send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      buf.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      p.dead = true;
      return;
    }
  }
  const bool sender_eof = to_client ? p.upstream_eof : p.client_eof;
  if (buf.empty() && sender_eof) shutdown(fd, SHUT_WR);
}

void TcpProxy::Loop() {
  while (!stop_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (wanted_ != applied_.load()) {
        try {
          ApplyMode(wanted_);
        } catch (const std::exception& e) {
          error_ = e.what();
          wanted_ = applied_.load();
        }
        cv_.notify_all();
      }
    }
    const bool pass = applied_.load() == Mode::kPass;
    std::vector<pollfd> fds;
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    const size_t first = fds.size();
    for (auto& p : pairs_) {
      short c = 0, u = 0;
      if (pass && p->upstream >= 0) {
        if (!p->client_eof && p->to_upstream.size() < kBufferCap) c |= POLLIN;
        if (!p->upstream_eof && p->to_client.size() < kBufferCap) u |= POLLIN;
        if (!p->to_client.empty()) c |= POLLOUT;
        if (!p->to_upstream.empty()) u |= POLLOUT;
      }
      fds.push_back({p->client, c, 0});
      fds.push_back({p->upstream, u, 0});  // a negative fd is ignored by poll
    }
    if (poll(fds.data(), fds.size(), kPollMs) <= 0) continue;
    if (first == 1 && (fds[0].revents & POLLIN)) Accept();
    for (size_t i = 0; i + first < fds.size() && i / 2 < pairs_.size(); i += 2) {
      Pair& p = *pairs_[i / 2];
      const short c = fds[first + i].revents, u = fds[first + i + 1].revents;
      const short hangup = POLLHUP | POLLERR;
      if (!pass || p.upstream < 0) {
        // Nothing is read here; a side that went away would wake poll forever.
        if ((c | u) & hangup) p.dead = true;
        continue;
      }
      if (((c & hangup) && p.client_eof) || ((u & hangup) && p.upstream_eof)) p.dead = true;
      if (c & (POLLIN | POLLHUP | POLLERR)) Pump(p, true);
      if (u & (POLLIN | POLLHUP | POLLERR)) Pump(p, false);
      if (!p.dead) Flush(p, true);
      if (!p.dead) Flush(p, false);
      if (p.client_eof && p.upstream_eof && p.to_client.empty() && p.to_upstream.empty())
        p.dead = true;
    }
    for (size_t i = 0; i < pairs_.size();) {
      if (pairs_[i]->dead) {
        Reset(pairs_[i]->client);
        Reset(pairs_[i]->upstream);
        pairs_.erase(pairs_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    open_ = static_cast<int>(pairs_.size());
  }
}

}  // namespace vigil::testing
