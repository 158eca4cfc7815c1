#include "tests/support/pg_server.h"

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

// Debian's layout; VIGIL_PG_BINDIR overrides it elsewhere.
std::string Bin(const std::string& tool) {
  const char* env = std::getenv("VIGIL_PG_BINDIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "/usr/lib/postgresql/15/bin";
  return dir + "/" + tool;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

int ParentPid(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  int ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

// Clusters live on tmpfs when there is room: on a busy disk initdb and
// pg_basebackup take seconds, on /dev/shm a fraction of one.
std::string MakeClusterDir(const std::string& prefix) {
  struct statvfs st {};
  if (statvfs("/dev/shm", &st) == 0 &&
      static_cast<unsigned long long>(st.f_bavail) * st.f_frsize > (1ULL << 30) &&
      access("/dev/shm", W_OK) == 0) {
    std::string tmpl = "/dev/shm/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) {
      chmod(tmpl.c_str(), 0777);
      return tmpl;
    }
  }
  return MakeTempDir(prefix);
}

void RemoveClusterDir(const std::string& dir) {
  if (dir.rfind("/dev/shm/vigil-pg", 0) == 0) {
    Shell("rm -rf '" + dir + "'");
  } else {
    RemoveTree(dir);  // refuses anything outside /tmp
  }
}

}  // namespace

PgServer::PgServer(PgServerOptions options) : PgServer(Launcher(), 0, std::move(options)) {}

PgServer::PgServer(const Launcher& launcher, int port, PgServerOptions options)
    : options_(std::move(options)), launcher_(launcher), fixed_port_(port) {
  dir_ = MakeClusterDir("vigil-pg");
  data_ = dir_ + "/data";
  log_ = dir_ + "/server.log";
  ChownToPostgres(dir_);
  try {
    Init();
  } catch (...) {
    RemoveClusterDir(dir_);
    throw;
  }
}

PgServer::PgServer(ReplicaTag, const PgServer& primary)
    : options_(primary.options_), launcher_(primary.launcher_) {
  dir_ = MakeClusterDir("vigil-pg-replica");
  data_ = dir_ + "/data";
  log_ = dir_ + "/server.log";
  ChownToPostgres(dir_);
  const std::string cmd = AsPostgres(Bin("pg_basebackup") + " -h " + primary.dir_ + " -p " +
                                     std::to_string(primary.port_) + " -U postgres -D " + data_ +
                                     " -R -X stream --checkpoint=fast --no-sync") +
                          " >" + dir_ + "/basebackup.log 2>&1";
  if (Shell(cmd) != 0) {
    std::string why = Tail(ReadFile(dir_ + "/basebackup.log"), 2000);
    RemoveClusterDir(dir_);
    throw std::runtime_error("pg_basebackup failed: " + why);
  }
  if (!StartOnce() && !StartOnce()) {
    std::string why = Tail(ReadFile(log_), 2000);
    RemoveClusterDir(dir_);
    throw std::runtime_error("replica did not start: " + why);
  }
}

std::unique_ptr<PgServer> PgServer::StartReplica() const {
  return std::unique_ptr<PgServer>(new PgServer(ReplicaTag{}, *this));
}

PgServer::~PgServer() {
  if (!paused_pids_.empty()) Resume();
  std::vector<int> pids = ClusterPids();
  if (running_ || !pids.empty()) {
    Shell(AsPostgres(Bin("pg_ctl") + " -D " + data_ + " -m immediate -w -t 30 stop") + " >>" +
          dir_ + "/ctl.log 2>&1");
    for (int pid : pids) kill(pid, SIGKILL);  // gone already, unless pg_ctl failed
  }
  RemoveClusterDir(dir_);
}

void PgServer::Init() {
  std::string auth = "--auth-local=trust --auth-host=trust";
  std::string method = "trust";
  if (!options_.password.empty()) {
    const std::string pwfile = dir_ + "/pwfile";
    if (!WriteFile(pwfile, options_.password + "\n"))
      throw std::runtime_error("cannot write pwfile");
    ChownToPostgres(pwfile);
    chmod(pwfile.c_str(), 0600);
    auth = "--auth-local=trust --auth-host=scram-sha-256 --pwfile=" + pwfile;
    method = "scram-sha-256";
  }
  const std::string cmd =
      AsPostgres(Bin("initdb") + " -D " + data_ +
                 " -U postgres -E UTF8 --locale=C --no-sync --no-instructions " + auth) +
      " >" + dir_ + "/initdb.log 2>&1";
  if (Shell(cmd) != 0) {
    throw std::runtime_error("initdb failed: " + Tail(ReadFile(dir_ + "/initdb.log"), 2000));
  }
  if (launcher_.in_namespace()) {
    // initdb lets in 127.0.0.1 only; the host dials from its side of the veth.
    std::ofstream(data_ + "/pg_hba.conf", std::ios::app)
        << "host all all " << launcher_.peer_address() << "/32 " << method << "\n";
  }
  // A port taken between FreePort() and the bind: one more try on another.
  if (!StartOnce() && !StartOnce()) {
    throw std::runtime_error("postgres did not start in " + launcher_.where() + ": " +
                             Tail(ReadFile(log_) + ReadFile(dir_ + "/ctl.log"), 2000));
  }
}

bool PgServer::StartOnce() {
  port_ = fixed_port_ != 0 ? fixed_port_ : FreePort();
  return Start();
}

bool PgServer::Start() {
  std::string settings = "-c listen_addresses=" + launcher_.address() + " -p " +
                         std::to_string(port_) + " -k " + dir_ +
                         " -c fsync=off -c full_page_writes=off -c log_connections=on";
  for (const auto& s : options_.settings) settings += " -c " + s;
  const std::string cmd = AsPostgres(Bin("pg_ctl") + " -D " + data_ + " -l " + log_ +
                                     " -w -t 30 -o \"" + settings + "\" start") +
                          " >>" + dir_ + "/ctl.log 2>&1";
  running_ = Shell(cmd) == 0;
  if (!running_) {
    // A half-started postmaster must not linger on the next try.
    Shell(AsPostgres(Bin("pg_ctl") + " -D " + data_ + " -m immediate -w -t 10 stop") + " >>" +
          dir_ + "/ctl.log 2>&1");
  }
  return running_;
}

void PgServer::Stop() {
  if (!paused_pids_.empty()) Resume();
  Shell(AsPostgres(Bin("pg_ctl") + " -D " + data_ + " -m fast -w -t 30 stop") + " >>" + dir_ +
        "/ctl.log 2>&1");
  running_ = false;
}

bool PgServer::Promote() {
  return Shell(AsPostgres(Bin("pg_ctl") + " -D " + data_ + " -w -t 30 promote") + " >>" + dir_ +
               "/ctl.log 2>&1") == 0;
}

int PostmasterPidIn(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  int pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  if (kill(pid, 0) != 0) return 0;
  return pid;
}

std::vector<int> ClusterPidsIn(const std::string& data_dir) {
  std::vector<int> pids;
  const int pm = PostmasterPidIn(data_dir);
  if (pm == 0) return pids;
  pids.push_back(pm);
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    if (ParentPid(static_cast<int>(pid)) == pm) pids.push_back(static_cast<int>(pid));
  }
  closedir(proc);
  return pids;
}

int PgServer::PostmasterPid() const { return PostmasterPidIn(data_); }

std::vector<int> PgServer::ClusterPids() const { return ClusterPidsIn(data_); }

void PgServer::Pause() {
  const int pm = PostmasterPid();
  if (pm == 0) return;
  // The postmaster first: stopped, it forks no child we would miss.
  kill(pm, SIGSTOP);
  paused_pids_ = ClusterPids();
  for (int pid : paused_pids_)
    if (pid != pm) kill(pid, SIGSTOP);
}

void PgServer::Resume() {
  std::vector<int> pids = paused_pids_;
  for (int pid : ClusterPids()) pids.push_back(pid);
  for (int pid : pids) kill(pid, SIGCONT);
  paused_pids_.clear();
}

std::string PgServer::Url(const std::string& db) const {
  if (options_.password.empty()) {
    return "postgresql://postgres@" + launcher_.address() + ":" + std::to_string(port_) + "/" + db;
  }
  return UrlWithPassword(options_.password, db);
}

std::string PgServer::UrlWithPassword(const std::string& password, const std::string& db) const {
  return "postgresql://postgres:" + password + "@" + launcher_.address() + ":" +
         std::to_string(port_) + "/" + db;
}

std::string PgServer::Psql(const std::string& sql, const std::string& db) const {
  const std::string file = dir_ + "/query-" + std::to_string(++psql_seq_) + ".sql";
  if (!WriteFile(file, sql)) throw std::runtime_error("cannot write " + file);
  chmod(file.c_str(), 0644);
  const std::string cmd =
      "cd " + dir_ + " && " +
      AsPostgres(Bin("psql") + " -X -A -t -q -v ON_ERROR_STOP=1 -h " + dir_ + " -p " +
                 std::to_string(port_) + " -U postgres -d " + db + " -f " + file) +
      " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  unlink(file.c_str());
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("psql failed: " + sql + ": " + out);
  }
  return out;
}

std::string PgServer::LogText() const { return ReadFile(log_); }

int PgServer::CountInLog(const std::string& needle) const {
  const std::string text = LogText();
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::string PgServer::AsPostgres(const std::string& command) const {
  // postgres refuses to run as root; a non-root test runner is used as is.
  // In a namespace every server command runs there: the postmaster pg_ctl
  // starts must listen on the namespace's address.
  if (geteuid() != 0) return "timeout 60 " + launcher_.Wrap(command);
  return "timeout 60 " + launcher_.Wrap("runuser -u postgres -- " + command);
}

void PgServer::ChownToPostgres(const std::string& path) const {
  if (geteuid() != 0) return;
  passwd* pw = getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("no postgres user");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("chown " + path + " failed");
  }
}

}  // namespace vigil::testing
