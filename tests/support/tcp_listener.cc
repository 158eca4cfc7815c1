#include "tests/support/tcp_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>

namespace vigil::testing {

TcpListener::TcpListener(std::string banner) : banner_(std::move(banner)) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 128) != 0) {
    throw std::runtime_error("TcpListener: bind/listen failed");
  }
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c >= 0) {
        ++accepted_;
        Serve(c);
      }
    }
  });
}

void TcpListener::Serve(int connection) const {
  if (!banner_.empty()) {
    (void)!send(connection, banner_.data(), banner_.size(), MSG_NOSIGNAL);
    pollfd q{connection, POLLIN, 0};
    poll(&q, 1, 1000);
  }
  close(connection);
}

void TcpListener::Close() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

TcpListener::~TcpListener() { Close(); }

}  // namespace vigil::testing
