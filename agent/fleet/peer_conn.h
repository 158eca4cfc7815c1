// One kept-alive HTTP/1.1 connection to a peer's GET /fleet/self, driven by
// the fleet client's poll loop (agent/fleet/fleet_client.h): non-blocking
// connect, write, read; the answer bounded in size; nothing here blocks.
#pragma once

#include <poll.h>

#include <cstddef>
#include <string>

#include "agent/core/fleet.h"
#include "checks/common/net.h"

namespace vigil {

// An answer (head and body) larger than this is dropped as oversized: a
// /fleet/self body is about 60 bytes a check.
inline constexpr size_t kMaxPeerAnswerBytes = 64 * 1024;

class PeerConn {
 public:
  enum class State { kIdle, kConnecting, kWriting, kReading, kDone, kFailed };

  explicit PeerConn(Endpoint endpoint) : endpoint_(endpoint) {}
  ~PeerConn() { Close(); }
  PeerConn(const PeerConn&) = delete;
  PeerConn& operator=(const PeerConn&) = delete;

  // Sends `request` (a whole GET), on the kept connection when it is still
  // open, else on a new one. The state is kFailed at once when no socket
  // can be made.
  void Start(const std::string& request);
  // What to poll for: -1 when nothing is in flight.
  int fd() const { return InFlight() ? fd_ : -1; }
  short events() const { return state_ == State::kReading ? POLLIN : POLLOUT; }
  // Takes poll's revents for fd().
  void OnReady(short revents);
  // The round is over: an exchange still in flight is dropped (kTimeout)
  // and its connection closed.
  void Abort();

  State state() const { return state_; }
  bool InFlight() const {
    return state_ == State::kConnecting || state_ == State::kWriting || state_ == State::kReading;
  }
  // kDone: the answer's status and body.
  int status() const { return status_; }
  const std::string& body() const { return body_; }
  // kFailed: why.
  DropReason failure() const { return failure_; }

 private:
  bool Connect();
  void Fail(DropReason why);
  void DoWrite();
  void DoRead();
  // Parses in_ once the head is there; false while more is needed.
  bool TryFinish();
  void Close();

  const Endpoint endpoint_;
  int fd_ = -1;
  State state_ = State::kIdle;
  bool reused_ = false;      // this exchange runs on a kept connection
  bool keep_alive_ = false;  // the peer lets the connection stay open
  std::string request_;
  size_t written_ = 0;
  std::string in_;
  int status_ = 0;
  std::string body_;
  DropReason failure_ = DropReason::kMalformed;
};

}  // namespace vigil
