#include "checks/redis/redis_connection.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "checks/common/untrusted_text.h"

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
    // Status and error replies are words for a reason: reduced to one line
    // of printable UTF-8 here, where they enter (checks/common/untrusted_text.h).
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str = UntrustedText(std::string_view(r->str, r->len));
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str = UntrustedText(std::string_view(r->str, r->len));
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
  stream_.Close();
  if (reader_ != nullptr) redisReaderFree(reader_);
  reader_ = nullptr;
}

NetResult RedisConnection::Connect(const std::string& host, int port, Deadline deadline) {
  Close();
  int fd = -1;
  NetResult r = ConnectTcp(host, port, deadline, &fd);
  if (r.status != NetStatus::kOk) return r;
  stream_.Attach(fd);
  if (tls_) {
    StreamResult t = stream_.StartTls(*tls_, host, deadline);
    if (t.status != StreamStatus::kOk) {
      Close();
      return {t.status == StreamStatus::kTimeout ? NetStatus::kTimeout : NetStatus::kError, t.error,
              FailureKind::kTls};
    }
  }
  reader_ = CreateBoundedReader();
  if (reader_ == nullptr) {
    Close();
    return {NetStatus::kError, "out of memory"};
  }
  return {NetStatus::kOk, {}};
}

IoResult RedisConnection::Exchange(const std::vector<std::vector<std::string>>& commands,
                                   Deadline deadline, std::vector<RedisReply>* replies) {
  replies->clear();
  if (!stream_.is_open() || reader_ == nullptr) return {IoStatus::kError, "not connected"};

  std::string out;
  for (const auto& argv : commands) AppendCommand(argv, &out);
  StreamResult w = stream_.Write(out.data(), out.size(), deadline);
  if (w.status == StreamStatus::kTimeout) return {IoStatus::kTimeout, {}};
  if (w.status != StreamStatus::kOk) return {IoStatus::kError, w.error, w.kind};

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
    char buf[16384];
    StreamResult rd = stream_.Read(buf, sizeof buf, deadline);
    if (rd.status == StreamStatus::kTimeout) return {IoStatus::kTimeout, {}};
    if (rd.status == StreamStatus::kEof)
      return {IoStatus::kError, "connection closed by the server"};
    if (rd.status != StreamStatus::kOk) return {IoStatus::kError, rd.error, rd.kind};
    received += rd.bytes;
    if (received > kMaxReplyBytes) {
      return {
          IoStatus::kError,
          "protocol error: replies larger than " + std::to_string(kMaxReplyBytes >> 20) + " MiB",
          FailureKind::kProtocol};
    }
    if (redisReaderFeed(reader_, buf, rd.bytes) != REDIS_OK) {
      return {IoStatus::kError, "out of memory"};
    }
  }
  return {IoStatus::kOk, {}};
}

}  // namespace vigil
