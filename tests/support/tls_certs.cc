#include "tests/support/tls_certs.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/launcher.h"
#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Debian's interpreter when there is one (the python3 on PATH may be another
// build); the ssl module is in the standard library either way.
std::string Python() {
  return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

const char kHttpsServerPy[] = R"PY(
import http.server, ssl, sys
port, cert, key, client_ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if client_ca != "-":
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
srv = Server(("127.0.0.1", port), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
)PY";

}  // namespace

TestCa::TestCa(const std::string& common_name) : dir_(MakeTempDir("vigil-tls")) {
  try {
    ca_.cert = dir_ + "/ca.pem";
    ca_.key = dir_ + "/ca.key";
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30"
        " -subj '/CN=" +
        common_name + "' -keyout " + ca_.key + " -out " + ca_.cert);
    std::ofstream(dir_ + "/index.txt").close();
    std::ofstream(dir_ + "/serial") << "1000\n";
    Run("mkdir -p " + dir_ + "/issued");
    std::ofstream conf(dir_ + "/ca.cnf");
    conf << "[ ca ]\ndefault_ca = test_ca\n"
         << "[ test_ca ]\ndatabase = " << dir_ << "/index.txt\nnew_certs_dir = " << dir_
         << "/issued\nserial = " << dir_ << "/serial\ndefault_md = sha256\n"
         << "policy = any\nunique_subject = no\ncopy_extensions = none\n"
         << "[ any ]\ncommonName = supplied\n";
  } catch (...) {
    RemoveTree(dir_);
    throw;
  }
}

TestCa::~TestCa() { RemoveTree(dir_); }

std::string TestCa::Run(const std::string& command) const {
  const std::string log = dir_ + "/openssl.log";
  if (Shell("timeout 30 " + command + " >" + log + " 2>&1") != 0) {
    throw std::runtime_error("openssl failed: " + command + ": " + ReadAll(log));
  }
  return ReadAll(log);
}

std::string TestCa::WriteFile(const std::string& name, const std::string& text) const {
  const std::string path = dir_ + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

CertFiles TestCa::NewKeyAndCsr(const std::string& name, std::string* csr) {
  CertFiles f{dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key"};
  *csr = dir_ + "/" + name + ".csr";
  Run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" +
      name + "' -keyout " + f.key + " -out " + *csr);
  return f;
}

std::string TestCa::ExtFile(const std::string& name, const std::string& sans) const {
  return WriteFile(name + ".ext",
                   "basicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth,clientAuth\n" +
                       (sans.empty() ? std::string() : "subjectAltName=" + sans + "\n"));
}

CertFiles TestCa::Issue(const std::string& name, const std::string& sans, int days) {
  std::string csr;
  CertFiles f = NewKeyAndCsr(name, &csr);
  Run("openssl x509 -req -in " + csr + " -CA " + ca_.cert + " -CAkey " + ca_.key + " -set_serial " +
      std::to_string(++serial_) + " -days " + std::to_string(days) + " -extfile " +
      ExtFile(name, sans) + " -out " + f.cert);
  return f;
}

CertFiles TestCa::IssueExpired(const std::string& name, const std::string& sans) {
  std::string csr;
  CertFiles f = NewKeyAndCsr(name, &csr);
  // `openssl x509 -days` cannot go into the past; `openssl ca` takes dates.
  Run("openssl ca -batch -notext -config " + dir_ + "/ca.cnf -cert " + ca_.cert + " -keyfile " +
      ca_.key + " -startdate 20200101000000Z -enddate 20200201000000Z -extfile " +
      ExtFile(name, sans) + " -in " + csr + " -out " + f.cert);
  return f;
}

TestPki::TestPki(const std::string& leaf_name)
    : other_ca("another CA"), leaf(ca.Issue(leaf_name, "DNS:localhost,IP:127.0.0.1", 30)) {}

void GiveToPostgres(const std::string& path) {
  chmod(path.c_str(), 0600);
  if (geteuid() != 0) return;
  passwd* pw = getpwnam("postgres");
  if (pw == nullptr || chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("cannot give " + path + " to postgres");
  }
}

HttpsServer::HttpsServer(const CertFiles& server, const std::string& client_ca)
    : dir_(MakeTempDir("vigil-https")) {
  const std::string script = dir_ + "/server.py";
  std::ofstream(script) << kHttpsServerPy;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    const std::string log = dir_ + "/server.log";
    std::vector<std::string> args = {Python(),    script,     std::to_string(port_),
                                     server.cert, server.key, client_ca.empty() ? "-" : client_ca};
    pid_ = Launcher().Spawn(args, log);
    if (WaitForPort(port_, 10000)) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    if (attempt == 2) {
      std::string why = ReadAll(log);
      RemoveTree(dir_);
      throw std::runtime_error("HTTPS server did not start: " + why);
    }
  }
}

HttpsServer::~HttpsServer() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  RemoveTree(dir_);
}

void HttpsServer::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void HttpsServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

}  // namespace vigil::testing
