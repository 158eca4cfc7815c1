#include "tests/support/dnsmasq.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/launcher.h"
#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

constexpr const char* kBinary = "/usr/sbin/dnsmasq";
constexpr const char* kProbeName = "vigil-dnsmasq-probe.test";

std::string QueryPacket(const std::string& name, uint16_t id) {
  std::string p;
  const unsigned char header[] = {static_cast<unsigned char>(id >> 8),
                                  static_cast<unsigned char>(id & 0xff),
                                  0x01,
                                  0x00,  // RD
                                  0,
                                  1,  // one question
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0};
  p.assign(reinterpret_cast<const char*>(header), sizeof header);
  std::istringstream labels(name);
  std::string label;
  while (std::getline(labels, label, '.')) {
    p.push_back(static_cast<char>(label.size()));
    p += label;
  }
  p.push_back('\0');
  p += std::string("\0\1\0\1", 4);  // type A, class IN
  return p;
}

// Skips a (possibly compressed) name at `pos`; false past the end.
bool SkipName(const std::string& m, size_t* pos) {
  while (*pos < m.size()) {
    const auto len = static_cast<unsigned char>(m[*pos]);
    if (len == 0) {
      *pos += 1;
      return true;
    }
    if ((len & 0xc0) == 0xc0) {
      *pos += 2;
      return *pos <= m.size();
    }
    *pos += 1 + len;
  }
  return false;
}

uint16_t At16(const std::string& m, size_t pos) {
  return static_cast<uint16_t>((static_cast<unsigned char>(m[pos]) << 8) |
                               static_cast<unsigned char>(m[pos + 1]));
}

// The A records of a reply, or nullopt-like false when it is malformed.
bool ParseA(const std::string& m, std::vector<std::string>* out) {
  if (m.size() < 12) return false;
  const int answers = At16(m, 6);
  size_t pos = 12;
  if (!SkipName(m, &pos)) return false;
  pos += 4;
  for (int i = 0; i < answers; ++i) {
    if (!SkipName(m, &pos) || pos + 10 > m.size()) return false;
    const uint16_t type = At16(m, pos);
    const uint16_t rdlen = At16(m, pos + 8);
    pos += 10;
    if (pos + rdlen > m.size()) return false;
    if (type == 1 && rdlen == 4) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, m.data() + pos, text, sizeof text);
      out->push_back(text);
    }
    pos += rdlen;
  }
  std::sort(out->begin(), out->end());
  return true;
}

bool Exited(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

bool Dnsmasq::Available(std::string* why) {
  std::string reason;
  if (access(kBinary, X_OK) != 0) {
    reason = std::string(kBinary) + " not found (Debian package dnsmasq-base)";
  } else if (geteuid() != 0) {
    reason = "needs root to listen on port 53";
  } else if (access("/usr/bin/unshare", X_OK) != 0) {
    reason = "/usr/bin/unshare not found (util-linux)";
  }
  if (why != nullptr) *why = reason;
  return reason.empty();
}

Dnsmasq::Dnsmasq() {
  std::string why;
  if (!Available(&why)) throw std::runtime_error("dnsmasq: " + why);
  dir_ = MakeTempDir("vigil-dnsmasq");
  WriteHosts();
  // 127.53.X.Y: away from the 127.0.0.x the agents use; a few tries in case
  // another run holds one.
  std::mt19937 rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
  for (int attempt = 0; attempt < 12; ++attempt) {
    const std::string address =
        "127.53." + std::to_string(1 + rng() % 250) + "." + std::to_string(1 + rng() % 250);
    if (StartOn(address)) {
      address_ = address;
      resolv_conf_ = dir_ + "/resolv.conf";
      std::ofstream(resolv_conf_) << "nameserver " << address_
                                  << "\noptions timeout:1 attempts:2\n";
      return;
    }
  }
  const std::string log = Log();
  RemoveTree(dir_);
  throw std::runtime_error("dnsmasq did not start on any 127.53.x.y:53; log: " + log);
}

Dnsmasq::~Dnsmasq() {
  Kill();
  RemoveTree(dir_);
}

void Dnsmasq::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200 && !Exited(pid_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (i == 199) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_ = -1;
}

bool Dnsmasq::StartOn(const std::string& address) {
  address_ = address;
  const std::vector<std::string> argv = {kBinary,
                                         "--keep-in-foreground",
                                         "--conf-file=/dev/null",
                                         "--no-resolv",
                                         "--no-hosts",
                                         "--no-poll",
                                         "--bind-interfaces",
                                         "--listen-address=" + address,
                                         "--port=53",
                                         "--addn-hosts=" + dir_ + "/hosts",
                                         "--local-ttl=0",
                                         "--local=/test/",
                                         "--pid-file=",
                                         "--user=root",
                                         "--log-queries",
                                         "--log-facility=" + dir_ + "/log"};
  pid_ = Launcher().Spawn(argv, dir_ + "/stderr");
  for (int i = 0; i < 50; ++i) {  // up to 5 s
    if (Exited(pid_)) break;      // e.g. the address's port 53 is taken
    bool ok = false;
    Query(kProbeName, &ok);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!Exited(pid_)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  return false;
}

void Dnsmasq::WriteHosts() const {
  std::ofstream out(dir_ + "/hosts.new", std::ios::trunc);
  for (const auto& [name, ips] : records_) {
    for (const auto& ip : ips) out << ip << " " << name << "\n";
  }
  out.close();
  std::rename((dir_ + "/hosts.new").c_str(), (dir_ + "/hosts").c_str());
}

void Dnsmasq::SetRecords(const std::string& name, const std::vector<std::string>& ipv4s) {
  if (ipv4s.empty()) {
    records_.erase(name);
  } else {
    records_[name] = ipv4s;
  }
  WriteHosts();
  kill(pid_, SIGHUP);
  std::vector<std::string> want = ipv4s;
  std::sort(want.begin(), want.end());
  for (int i = 0; i < 50; ++i) {
    bool ok = false;
    if (Query(name, &ok) == want && ok) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("dnsmasq did not answer the new records of " + name);
}

std::vector<std::string> Dnsmasq::Query(const std::string& name, bool* ok) const {
  std::vector<std::string> out;
  if (ok != nullptr) *ok = false;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  inet_pton(AF_INET, address_.c_str(), &a.sin_addr);
  const uint16_t id = static_cast<uint16_t>(std::random_device{}());
  const std::string packet = QueryPacket(name, id);
  sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 1000) == 1) {
    std::string reply(4096, '\0');
    const ssize_t n = recv(fd, reply.data(), reply.size(), 0);
    if (n >= 12) {
      reply.resize(static_cast<size_t>(n));
      if (At16(reply, 0) == id && ParseA(reply, &out) && ok != nullptr) *ok = true;
    }
  }
  close(fd);
  return out;
}

std::string Dnsmasq::Log() const {
  std::ifstream in(dir_ + "/log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::ifstream err(dir_ + "/stderr");
  ss << err.rdbuf();
  return ss.str();
}

}  // namespace vigil::testing
