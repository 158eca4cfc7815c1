#include "tests/support/dns_responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vigil::testing {
namespace {

constexpr uint16_t kTypeA = 1;
constexpr int kRcodeServfail = 2;
constexpr int kRcodeNxdomain = 3;

uint16_t Get16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void Put16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v & 0xff));
}

}  // namespace

DnsResponder::DnsResponder(const std::string& ip, int port) {
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (fd_ < 0 || inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 ||
      bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string err = std::strerror(errno);
    if (fd_ >= 0) close(fd_);
    throw std::runtime_error("DNS responder: bind " + ip + ":" + std::to_string(port) + ": " + err);
  }
  thread_ = std::thread([this] { Serve(); });
}

DnsResponder::~DnsResponder() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  close(fd_);
}

void DnsResponder::Set(const std::string& fqdn, const std::string& ipv4) {
  std::string key;
  for (char c : fqdn) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::lock_guard<std::mutex> lock(mu_);
  records_[key] = ipv4;
}

void DnsResponder::NeverAnswer(const std::string& word) {
  std::lock_guard<std::mutex> lock(mu_);
  never_.push_back(word);
}

int DnsResponder::Queries(const std::string& fqdn) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (fqdn.empty()) return total_queries_;
  auto it = queries_.find(fqdn);
  return it == queries_.end() ? 0 : it->second;
}

void DnsResponder::Serve() {
  // Bounded by the destructor: every wait is at most 50 ms.
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    unsigned char buf[1500];
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    std::string reply = Answer(buf, static_cast<size_t>(n));
    if (reply.empty()) continue;
    sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

// The reply to one query, or "" for none.
std::string DnsResponder::Answer(const unsigned char* q, size_t n) {
  if (n < 12 || Get16(q + 4) != 1) return "";  // one question, as resolvers send
  // The question's name: labels up to a zero byte.
  size_t pos = 12;
  std::string name;
  while (pos < n && q[pos] != 0) {
    size_t len = q[pos];
    if (len > 63 || pos + 1 + len > n) return "";
    if (!name.empty()) name.push_back('.');
    for (size_t i = 0; i < len; ++i)
      name.push_back(static_cast<char>(std::tolower(q[pos + 1 + i])));
    pos += 1 + len;
  }
  if (pos + 5 > n) return "";
  const uint16_t qtype = Get16(q + pos + 1);
  const size_t question_end = pos + 5;

  std::string address;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++total_queries_;
    ++queries_[name];
    for (const std::string& w : never_)
      if (name.find(w) != std::string::npos) return "";
    auto it = records_.find(name);
    if (it != records_.end()) address = it->second;
  }
  const Mode mode = mode_.load();
  if (mode == Mode::kSilent) return "";

  int rcode = 0;
  if (mode == Mode::kServfail) {
    rcode = kRcodeServfail;
  } else if (address.empty()) {
    rcode = kRcodeNxdomain;
  }
  const bool answer = rcode == 0 && qtype == kTypeA;  // AAAA: the name exists, no address

  std::string r;
  Put16(&r, Get16(q));              // id
  const uint16_t rd = q[2] & 0x01;  // recursion desired, echoed
  Put16(&r, static_cast<uint16_t>(0x8000 | (rd << 8) | 0x0080 | rcode));  // QR, RD, RA, rcode
  Put16(&r, 1);                                                           // questions
  Put16(&r, answer ? 1 : 0);                                              // answers
  Put16(&r, 0);
  Put16(&r, 0);
  r.append(reinterpret_cast<const char*>(q + 12), question_end - 12);
  if (answer) {
    in_addr a{};
    inet_pton(AF_INET, address.c_str(), &a);
    Put16(&r, 0xc00c);  // the question's name
    Put16(&r, kTypeA);
    Put16(&r, 1);  // IN
    Put16(&r, 0);
    Put16(&r, 5);  // TTL 5 s
    Put16(&r, 4);
    r.append(reinterpret_cast<const char*>(&a), 4);
  }
  return r;
}

}  // namespace vigil::testing
