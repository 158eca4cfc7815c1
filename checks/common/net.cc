#include "checks/common/net.h"

#include "checks/common/dns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil {
namespace {

void CollectAddrinfo(addrinfo* res, std::vector<Endpoint>* out) {
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Endpoint ep;
    std::memcpy(&ep.addr, ai->ai_addr, ai->ai_addrlen);
    ep.len = ai->ai_addrlen;
    out->push_back(ep);
  }
}

addrinfo Hints(int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  return hints;
}

// A connection the peer or the network would not make.
FailureKind ConnectErrorKind(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
      return FailureKind::kRefused;
    default:
      return FailureKind::kOther;
  }
}

}  // namespace

std::string Endpoint::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
  inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
  return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
}

NetResult Resolve(const std::string& host, int port, Deadline deadline,
                  std::vector<Endpoint>* out) {
  out->clear();
  const std::string service = std::to_string(port);
  // Numeric addresses resolve without a lookup: do them inline.
  {
    addrinfo hints = Hints(AI_NUMERICHOST | AI_NUMERICSERV);
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) == 0) {
      CollectAddrinfo(res, out);
      freeaddrinfo(res);
      return {NetStatus::kOk, {}};
    }
  }
  if (CheckDns* dns = CurrentCheckDns()) return dns->Resolve(host, port, deadline, out);
  // Outside a check's run: a CheckDns for this one call, its lookup cancelled
  // when it returns.
  CheckDns once(0);
  return once.Resolve(host, port, deadline, out);
}

NetResult WaitFd(int fd, short events, Deadline deadline) {
  for (;;) {
    int ms = RemainingMs(deadline);
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return {NetStatus::kError, std::string("poll: ") + std::strerror(errno)};
    }
    if (rc == 0) {
      if (Clock::now() >= deadline) return {NetStatus::kTimeout, {}};
      continue;
    }
    if (p.revents & (events | POLLERR | POLLHUP)) return {NetStatus::kOk, {}};
    if (p.revents & POLLNVAL) return {NetStatus::kError, "poll: invalid descriptor"};
  }
}

NetResult ConnectTcp(const std::vector<Endpoint>& endpoints, Deadline deadline, int* fd) {
  std::string last_error = "no address";
  FailureKind last_kind = endpoints.empty() ? FailureKind::kDns : FailureKind::kOther;
  for (const Endpoint& ep : endpoints) {
    int s = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      last_kind = FailureKind::kOther;
      last_error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(s, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
    if (rc != 0 && errno != EINPROGRESS) {
      last_kind = ConnectErrorKind(errno);
      last_error = "connect " + ep.ToString() + ": " + std::strerror(errno);
      close(s);
      continue;
    }
    if (rc != 0) {
      NetResult w = WaitFd(s, POLLOUT, deadline);
      if (w.status != NetStatus::kOk) {
        close(s);
        if (w.status == NetStatus::kTimeout) return {NetStatus::kTimeout, "connecting"};
        return w;
      }
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last_kind = ConnectErrorKind(err);
        last_error = "connect " + ep.ToString() + ": " + std::strerror(err);
        close(s);
        continue;
      }
    }
    *fd = s;
    return {NetStatus::kOk, {}};
  }
  return {NetStatus::kError, last_error, last_kind};
}

NetResult ConnectTcp(const std::string& host, int port, Deadline deadline, int* fd) {
  std::vector<Endpoint> eps;
  NetResult r = Resolve(host, port, deadline, &eps);
  if (r.status != NetStatus::kOk) return r;
  return ConnectTcp(eps, deadline, fd);
}

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  std::string h, p;
  if (!address.empty() && address[0] == '[') {
    auto close_br = address.find(']');
    if (close_br == std::string::npos || close_br + 1 >= address.size() ||
        address[close_br + 1] != ':')
      return false;
    h = address.substr(1, close_br - 1);
    p = address.substr(close_br + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return false;
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
    if (h.find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  }
  if (p.empty() || p.size() > 5) return false;
  for (char c : p)
    if (c < '0' || c > '9') return false;
  int n = std::stoi(p);
  if (n < 0 || n > 65535) return false;
  *host = h;
  *port = n;
  return true;
}

namespace {

// What an idle socket holds, without waiting or taking anything from it.
enum class IdleState { kQuiet, kClosed, kData };

IdleState PeekIdle(int fd) {
  if (fd < 0) return IdleState::kQuiet;
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return IdleState::kQuiet;
  if ((p.revents & (POLLERR | POLLHUP | POLLRDHUP)) != 0) return IdleState::kClosed;
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) {
    const bool quiet = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    return quiet ? IdleState::kQuiet : IdleState::kClosed;
  }
  return n == 0 ? IdleState::kClosed : IdleState::kData;
}

}  // namespace

bool PeerClosed(int fd) { return PeekIdle(fd) == IdleState::kClosed; }

// EOF, or bytes nobody asked for: out of step either way.
bool IdleSocketLost(int fd) { return PeekIdle(fd) != IdleState::kQuiet; }

}  // namespace vigil
