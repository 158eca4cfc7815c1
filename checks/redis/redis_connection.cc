#include "checks/redis/redis_connection.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil {
namespace {

// The replies read here are small (INFO: a few KiB). Whatever sits on the
// port may send an endless one, or announce an array of a billion elements
// (hiredis 0.14 allocates it at once): neither may take the agent's memory.
constexpr size_t kMaxReplyBytes = 1 << 20;  // a round trip's replies
constexpr int kMaxArrayElements = 1024;

void* (*g_create_array)(const redisReadTask*, int) = nullptr;
thread_local bool t_array_refused = false;

void* BoundedCreateArray(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxArrayElements) {
    t_array_refused = true;
    return nullptr;  // the reader fails with "Out of memory"
  }
  return g_create_array(task, elements);
}

}  // namespace

redisReader* CreateBoundedReader() {
  static redisReplyObjectFunctions* const functions = [] {
    redisReader* r = redisReaderCreate();
    auto* f = new redisReplyObjectFunctions(*r->fn);
    redisReaderFree(r);
    g_create_array = f->createArray;
    f->createArray = BoundedCreateArray;
    return f;
  }();
  return redisReaderCreateWithFunctions(functions);
}

namespace {

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

// RESP: *<argc>\r\n then $<len>\r\n<arg>\r\n for each argument.
void AppendCommand(const std::vector<std::string>& argv, std::string* out) {
  out->append("*").append(std::to_string(argv.size())).append("\r\n");
  for (const std::string& arg : argv) {
    out->append("$").append(std::to_string(arg.size())).append("\r\n");
    out->append(arg).append("\r\n");
  }
}

IoResult Waited(const NetResult& w) {
  if (w.status == NetStatus::kTimeout) return {IoStatus::kTimeout, {}};
  return {IoStatus::kError, w.error};
}

}  // namespace

std::string RedisReply::ErrorCode() const { return str.substr(0, str.find(' ')); }

FailureKind RedisReply::ErrorKind() const {
  const std::string code = ErrorCode();
  if (code == "LOADING") return FailureKind::kLoading;
  if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM") return FailureKind::kAuth;
  if (code == "READONLY") return FailureKind::kReadonly;
  if (code == "OOM") return FailureKind::kOom;
  return FailureKind::kOther;
}

RedisConnection::~RedisConnection() { Close(); }

void RedisConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (reader_ != nullptr) redisReaderFree(reader_);
  reader_ = nullptr;
}

NetResult RedisConnection::Connect(const std::string& host, int port, Deadline deadline) {
  Close();
  int fd = -1;
  NetResult r = ConnectTcp(host, port, deadline, &fd);
  if (r.status != NetStatus::kOk) return r;
  reader_ = CreateBoundedReader();
  if (reader_ == nullptr) {
    close(fd);
    return {NetStatus::kError, "out of memory"};
  }
  fd_ = fd;
  return {NetStatus::kOk, {}};
}

IoResult RedisConnection::Exchange(const std::vector<std::vector<std::string>>& commands,
                                   Deadline deadline, std::vector<RedisReply>* replies) {
  replies->clear();
  if (fd_ < 0) return {IoStatus::kError, "not connected"};

  std::string out;
  for (const auto& argv : commands) AppendCommand(argv, &out);
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      NetResult w = WaitFd(fd_, POLLOUT, deadline);
      if (w.status != NetStatus::kOk) return Waited(w);
      continue;
    }
    return {IoStatus::kError, std::string("send: ") + std::strerror(errno)};
  }

  size_t received = 0;
  while (replies->size() < commands.size()) {
    void* reply = nullptr;
    t_array_refused = false;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      if (t_array_refused) {
        return {IoStatus::kError,
                "protocol error: an array of more than " + std::to_string(kMaxArrayElements) +
                    " elements",
                FailureKind::kProtocol};
      }
      return {IoStatus::kError, std::string("protocol error: ") + reader_->errstr,
              FailureKind::kProtocol};
    }
    if (reply != nullptr) {
      replies->push_back(Convert(static_cast<redisReply*>(reply)));
      freeReplyObject(reply);
      continue;
    }
    NetResult w = WaitFd(fd_, POLLIN, deadline);
    if (w.status != NetStatus::kOk) return Waited(w);
    char buf[16384];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      received += static_cast<size_t>(n);
      if (received > kMaxReplyBytes) {
        return {
            IoStatus::kError,
            "protocol error: replies larger than " + std::to_string(kMaxReplyBytes >> 20) + " MiB",
            FailureKind::kProtocol};
      }
      if (redisReaderFeed(reader_, buf, static_cast<size_t>(n)) != REDIS_OK) {
        return {IoStatus::kError, "out of memory"};
      }
    } else if (n == 0) {
      return {IoStatus::kError, "connection closed by the server"};
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return {IoStatus::kError, std::string("recv: ") + std::strerror(errno)};
    }
  }
  return {IoStatus::kOk, {}};
}

}  // namespace vigil
