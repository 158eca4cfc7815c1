// The seam between vigil's event loops (agent/reactor.*) and cpp-httplib:
// httplib parses a complete request held in memory and writes its response
// into the connection's buffer; it never owns a socket or a thread.
#pragma once

#include <httplib.h>

#include <functional>
#include <string>

namespace vigil {

// A task queue that runs each task at once on the accepting thread.
httplib::TaskQueue* MakeInlineTaskQueue();

// The address of a socket's peer (or its own end).
void Address(int fd, bool peer, std::string* ip, int* port);

// What httplib reads a request from and writes its response to: the
// complete head in memory, and the connection's output buffer.
class HeadStream final : public httplib::Stream {
 public:
  HeadStream(int fd, const char* data, size_t size, std::string* out)
      : fd_(fd), data_(data), size_(size), out_(out) {}

  using httplib::Stream::write;
  bool is_readable() const override { return pos_ < size_; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, size_ - pos_);
    std::memcpy(ptr, data_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_->append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(fd_, true, &ip, &port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(fd_, false, &ip, &port);
  }
  // httplib (built with select) answers 500 for a socket >= FD_SETSIZE; it
  // never touches the socket through a Stream otherwise.
  socket_t socket() const override { return fd_ < FD_SETSIZE ? fd_ : INVALID_SOCKET; }

 private:
  const int fd_;
  const char* const data_;
  const size_t size_;
  size_t pos_ = 0;
  std::string* const out_;
};

// httplib parses requests and writes responses (process_request); the
// sockets go to the reactors instead of one thread each.
class Listener final : public httplib::Server {
 public:
  explicit Listener(std::function<void(int)> adopt) : adopt_(std::move(adopt)) {
    new_task_queue = [] { return MakeInlineTaskQueue(); };
  }
  bool Serve(httplib::Stream& strm, bool close_connection, bool* connection_closed) {
    return process_request(strm, close_connection, *connection_closed, nullptr);
  }
  // httplib listens with a backlog of 5: a burst of connections (probes of
  // many containers, a scrape storm, a flood) past it has its SYNs dropped
  // and retried a second later. listen() again raises it.
  void RaiseBacklog() {
    const socket_t fd = svr_sock_;
    if (fd != INVALID_SOCKET) ::listen(fd, SOMAXCONN);
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    adopt_(sock);
    return true;
  }
  std::function<void(int)> adopt_;
};

}  // namespace vigil
