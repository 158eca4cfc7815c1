#include "agent/fleet/peer_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>
#include <cctype>
#include <cstdlib>

namespace vigil {
namespace {

// The head of an answer: status code, Content-Length, Connection: close.
struct Head {
  int status = 0;
  long long content_length = -1;
  bool close = false;
  bool chunked = false;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// False for a head that is not HTTP/1.x with a sane Content-Length.
bool ParseHead(const std::string& head, Head* h) {
  if (head.compare(0, 7, "HTTP/1.") != 0 || head.size() < 12 || head[8] != ' ') return false;
  for (int i = 9; i < 12; ++i)
    if (!std::isdigit(static_cast<unsigned char>(head[i]))) return false;
  h->status = std::atoi(head.substr(9, 3).c_str());
  h->close = head.compare(0, 8, "HTTP/1.0") == 0;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const size_t next = head.find("\r\n", pos + 2);
    const std::string line = head.substr(pos + 2, next - pos - 2);
    pos = next;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return false;
    const std::string key = Lower(line.substr(0, colon));
    const std::string value = Lower(Trim(line.substr(colon + 1)));
    if (key == "content-length") {
      if (value.empty() || value.size() > 9 || h->content_length >= 0) return false;
      for (char c : value)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      h->content_length = std::atoll(value.c_str());
    } else if (key == "connection") {
      h->close = h->close || value.find("close") != std::string::npos;
    } else if (key == "transfer-encoding") {
      h->chunked = true;
    }
  }
  return true;
}

// A kept connection the peer has closed meanwhile reads EOF (or has stray
// bytes): not worth a request.
bool StillOpen(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

void PeerConn::Start(const std::string& request) {
  request_ = request;
  written_ = 0;
  in_.clear();
  body_.clear();
  status_ = 0;
  if (fd_ >= 0 && keep_alive_ && StillOpen(fd_)) {
    reused_ = true;
    state_ = State::kWriting;
    return;
  }
  Close();
  reused_ = false;
  if (!Connect()) Fail(DropReason::kRefused);
}

bool PeerConn::Connect() {
  fd_ = ::socket(endpoint_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&endpoint_.addr), endpoint_.len);
  if (rc == 0) {
    state_ = State::kWriting;
    return true;
  }
  if (errno != EINPROGRESS) return false;
  state_ = State::kConnecting;
  return true;
}

void PeerConn::OnReady(short revents) {
  if (state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      Fail(DropReason::kRefused);
      return;
    }
    state_ = State::kWriting;
  }
  if (state_ == State::kWriting && (revents & (POLLOUT | POLLERR | POLLHUP))) DoWrite();
  if (state_ == State::kReading && (revents & (POLLIN | POLLERR | POLLHUP))) DoRead();
}

void PeerConn::DoWrite() {
  while (written_ < request_.size()) {
    const ssize_t n =
        ::send(fd_, request_.data() + written_, request_.size() - written_, MSG_NOSIGNAL);
    if (n > 0) {
      written_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Fail(DropReason::kRefused);
    return;
  }
  state_ = State::kReading;
}

void PeerConn::DoRead() {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      if (in_.size() > kMaxPeerAnswerBytes) return Fail(DropReason::kOversized);
      if (TryFinish()) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or error before the whole answer. A kept connection that the peer
    // closed just now gets one new connection.
    if (reused_ && in_.empty()) {
      Close();
      reused_ = false;
      written_ = 0;
      if (!Connect()) Fail(DropReason::kRefused);
      return;
    }
    return Fail(in_.empty() ? DropReason::kRefused : DropReason::kMalformed);
  }
}

bool PeerConn::TryFinish() {
  const size_t end = in_.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  Head h;
  if (!ParseHead(in_.substr(0, end), &h) || h.chunked || h.content_length < 0) {
    Fail(DropReason::kMalformed);
    return true;
  }
  if (h.content_length > static_cast<long long>(kMaxPeerAnswerBytes)) {
    Fail(DropReason::kOversized);
    return true;
  }
  const size_t have = in_.size() - end - 4;
  if (have < static_cast<size_t>(h.content_length)) return false;
  if (have > static_cast<size_t>(h.content_length)) {
    Fail(DropReason::kMalformed);  // nothing was asked for after it
    return true;
  }
  if (h.status == 401 || h.status == 403) {
    Fail(DropReason::kUnauthorized);
    return true;
  }
  if (h.status != 200) {
    Fail(DropReason::kStatus);
    return true;
  }
  status_ = h.status;
  body_ = in_.substr(end + 4);
  in_.clear();
  keep_alive_ = !h.close;
  if (!keep_alive_) Close();
  state_ = State::kDone;
  return true;
}

void PeerConn::Abort() {
  if (!InFlight()) return;
  Fail(DropReason::kTimeout);
}

void PeerConn::Fail(DropReason why) {
  failure_ = why;
  state_ = State::kFailed;
  Close();
}

void PeerConn::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  keep_alive_ = false;
}

}  // namespace vigil
