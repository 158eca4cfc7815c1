#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

timeval Tv(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

std::string ReplyText(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "(error) " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += "\n";
        out += ReplyText(r->element[i]);
      }
      return out;
    }
    default:
      return "(nil)";
  }
}

// Connects (and AUTHs); nullptr when the server does not answer.
redisContext* Connect(const std::string& host, int port, const std::string& password,
                      int timeout_ms) {
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, Tv(timeout_ms));
  if (c == nullptr) return nullptr;
  if (c->err != 0 || redisSetTimeout(c, Tv(timeout_ms)) != REDIS_OK) {
    redisFree(c);
    return nullptr;
  }
  if (!password.empty()) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password.c_str()));
    bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) freeReplyObject(r);
    if (!ok) {
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

// Runs argv on c; nullopt-like: returns false on an I/O error.
bool Run(redisContext* c, const std::vector<std::string>& argv, std::string* out) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
  if (r == nullptr) return false;
  *out = ReplyText(r);
  freeReplyObject(r);
  return true;
}

std::string PasswordIn(const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--requirepass") return args[i + 1];
  return {};
}

std::string RequirePassIn(const std::vector<std::string>& conf_lines) {
  for (const std::string& line : conf_lines)
    if (line.rfind("requirepass ", 0) == 0) return line.substr(12);
  return {};
}

}  // namespace

RedisProcess::RedisProcess(std::string binary, std::string dir_prefix, std::string password,
                           Launcher launcher)
    : launcher_(std::move(launcher)),
      dir_(MakeTempDir(dir_prefix)),
      binary_(std::move(binary)),
      password_(std::move(password)) {}

RedisProcess::~RedisProcess() {
  Kill();
  RemoveTree(dir_);
}

void RedisProcess::Kill() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (helper_ != nullptr) redisFree(helper_);
    helper_ = nullptr;
  }
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  paused_ = false;
}

bool RedisProcess::Spawn() {
  std::vector<std::string> args = Args();
  args.insert(args.begin(), binary_);
  pid_ = launcher_.Spawn(args, dir_ + "/stdout.log");

  const auto end = steady_clock::now() + milliseconds(10000);
  while (steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (redisContext* c = Connect(launcher_.address(), port_, password_, 500)) {
      std::string pong;
      bool ok = Run(c, {"PING"}, &pong) && pong == "PONG";
      redisFree(c);
      if (ok) return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  Kill();
  throw std::runtime_error(binary_ + " in " + launcher_.where() +
                           " did not answer PING in 10 s: " + LogTail());
}

void RedisProcess::Start() {
  if (pid_ > 0) return;
  if (Spawn()) return;
  // The port was free when picked but may have been taken since; on the very
  // first start another one will do.
  throw std::runtime_error(binary_ + " exited at start on port " + std::to_string(port_) + ": " +
                           LogTail());
}

void RedisProcess::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (helper_ != nullptr) redisFree(helper_);
    helper_ = nullptr;
  }
  if (pid_ <= 0) return;
  if (paused_) Resume();
  kill(pid_, SIGTERM);
  const auto end = steady_clock::now() + milliseconds(5000);
  while (steady_clock::now() < end) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  Kill();
}

void RedisProcess::Pause() {
  if (pid_ > 0 && kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisProcess::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
  paused_ = false;
}

std::string RedisProcess::Command(const std::vector<std::string>& argv) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (helper_ == nullptr) helper_ = Connect(launcher_.address(), port_, password_, 5000);
    if (helper_ == nullptr) return "(error) cannot connect to " + address();
    std::string out;
    if (Run(helper_, argv, &out)) return out;
    redisFree(helper_);
    helper_ = nullptr;
  }
  return "(error) connection to " + address() + " lost";
}

std::string RedisProcess::CommandOnNewConnection(const std::vector<std::string>& argv,
                                                 int timeout_ms) {
  redisContext* c = Connect(launcher_.address(), port_, password_, timeout_ms);
  if (c == nullptr) return "(error) cannot connect to " + address();
  std::string out;
  if (!Run(c, argv, &out)) out = "(error) " + std::string(c->errstr);
  redisFree(c);
  return out;
}

std::string RedisProcess::InfoField(const std::string& field) {
  std::istringstream in(Command({"INFO", "everything"}));
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return {};
}

bool RedisProcess::WaitForInfo(const std::string& field, const std::string& value, int ms) {
  const auto end = steady_clock::now() + milliseconds(ms);
  do {
    if (InfoField(field) == value) return true;
    std::this_thread::sleep_for(milliseconds(50));
  } while (steady_clock::now() < end);
  return false;
}

std::string RedisProcess::LogTail() const {
  std::string all;
  for (const char* name : {"/stdout.log", "/server.log"}) {
    std::ifstream in(dir_ + name);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  if (all.size() > 1500) all = all.substr(all.size() - 1500);
  return all;
}

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : RedisServer(Launcher(), 0, std::move(extra_args)) {}

RedisServer::RedisServer(const Launcher& launcher, int port, std::vector<std::string> extra_args)
    : RedisProcess("redis-server", "vigil-redis", PasswordIn(extra_args), launcher),
      extra_args_(std::move(extra_args)) {
  const bool cluster =
      std::find(extra_args_.begin(), extra_args_.end(), "--cluster-enabled") != extra_args_.end();
  for (int attempt = 0;; ++attempt) {
    port_ = port != 0 ? port : cluster ? FreeClusterPort() : FreePort();
    try {
      Start();
      return;
    } catch (const std::runtime_error&) {
      // A picked port may have been taken since; a given one stays taken.
      if (attempt == 2 || port != 0) throw;
    }
  }
}

RedisServer::~RedisServer() = default;

std::vector<std::string> RedisServer::Args() const {
  std::vector<std::string> args = {"--bind",       launcher_.address(),
                                   "--port",       std::to_string(port_),
                                   "--save",       "",
                                   "--appendonly", "no",
                                   "--dir",        dir_,
                                   "--logfile",    dir_ + "/server.log"};
  if (launcher_.in_namespace()) args.insert(args.end(), {"--protected-mode", "no"});
  // A replica's first sync at once, not after the default 5 s.
  args.insert(args.end(), {"--repl-diskless-sync-delay", "0"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  return args;
}

SentinelServer::SentinelServer(int master_port, std::string master_name,
                               std::vector<std::string> extra_conf)
    : RedisProcess("redis-sentinel", "vigil-sentinel", RequirePassIn(extra_conf)) {
  for (int attempt = 0;; ++attempt) {
    port_ = FreePort();
    // Sentinel rewrites its config file: a fresh one for every start attempt.
    std::ofstream conf(dir_ + "/sentinel.conf", std::ios::trunc);
    conf << "port " << port_ << "\n"
         << "bind 127.0.0.1\n"
         << "daemonize no\n"
         << "dir " << dir_ << "\n"
         << "logfile " << dir_ << "/server.log\n"
         << "sentinel monitor " << master_name << " 127.0.0.1 " << master_port << " 1\n"
         << "sentinel down-after-milliseconds " << master_name << " 1000\n"
         << "sentinel failover-timeout " << master_name << " 5000\n"
         << "sentinel parallel-syncs " << master_name << " 1\n";
    for (const std::string& line : extra_conf) conf << line << "\n";
    conf.close();
    try {
      Start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 2) throw;
    }
  }
}

SentinelServer::~SentinelServer() = default;

std::vector<std::string> SentinelServer::Args() const { return {dir_ + "/sentinel.conf"}; }

}  // namespace vigil::testing
