#include "tests/support/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace vigil::testing {

namespace {

sockaddr_in Loopback(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + host);
  }
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

}  // namespace

int FreePort() { return FreePort("127.0.0.1"); }

int FreePort(const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(host, 0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    throw std::runtime_error("bind port 0 failed");
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool PortFree(int port) { return PortFree("127.0.0.1", port); }

bool PortFree(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = Loopback(host, port);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

int FreeClusterPort() {
  for (int i = 0; i < 500; ++i) {
    int p = FreePort();
    if (p <= 55535 && PortFree(p + 10000)) return p;
  }
  throw std::runtime_error("no free port pair for a cluster-mode redis");
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  chmod(tmpl.c_str(), 0777);
  return tmpl;
}

void RemoveTree(const std::string& dir) {
  if (dir.rfind("/tmp/", 0) != 0) return;  // never anything outside /tmp
  Shell("rm -rf '" + dir + "'");
}

int Shell(const std::string& command) {
  int rc = std::system(command.c_str());
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool WaitForPort(int port, int ms) { return WaitForPort("127.0.0.1", port, ms); }

bool WaitForPort(const std::string& host, int port, int ms) {
  const sockaddr_in a = Loopback(host, port);
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    close(fd);
    if (rc == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace vigil::testing
