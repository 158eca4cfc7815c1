// Test certificates made at test time with the openssl command line (nothing
// committed that could expire), and a small HTTPS server (Python's ssl module)
// for the https:// checks. Every command is bounded; the directory goes with
// the object.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace vigil::testing {

struct CertFiles {
  std::string cert;  // PEM
  std::string key;   // PEM, unencrypted
};

// A throwaway certificate authority (EC P-256) in a temp dir of its own.
class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "vigil test CA");
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert() const { return ca_.cert; }
  const std::string& dir() const { return dir_; }

  // A leaf for `sans` ("DNS:localhost,IP:127.0.0.1"), valid from now for
  // `days`, usable as server and client certificate. Throws on failure.
  CertFiles Issue(const std::string& name, const std::string& sans, int days = 30);
  // A leaf whose validity ended before now (openssl ca -startdate/-enddate).
  CertFiles IssueExpired(const std::string& name, const std::string& sans);

  // Writes `text` to a file in the CA's dir; its path.
  std::string WriteFile(const std::string& name, const std::string& text) const;

 private:
  std::string Run(const std::string& command) const;  // throws with the log on failure
  CertFiles NewKeyAndCsr(const std::string& name, std::string* csr);
  std::string ExtFile(const std::string& name, const std::string& sans) const;

  std::string dir_;
  CertFiles ca_;
  int serial_ = 1;
};

// What a TLS suite sets up once: a CA, another CA that signed nothing the
// servers present (for the "wrong CA" cases), and a leaf from the first for
// "DNS:localhost,IP:127.0.0.1", valid 30 days.
struct TestPki {
  explicit TestPki(const std::string& leaf_name);

  TestCa ca;
  TestCa other_ca;
  CertFiles leaf;
};

// Gives a file to the postgres user with mode 0600 (PostgreSQL refuses a key
// file others can read); as non-root only the mode.
void GiveToPostgres(const std::string& path);

// An HTTPS server on 127.0.0.1: GET anything answers 200 "ok". With
// `client_ca` set it requires a client certificate signed by that CA.
class HttpsServer {
 public:
  HttpsServer(const CertFiles& server, const std::string& client_ca = "");
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  int port() const { return port_; }
  void Pause();   // SIGSTOP: the kernel still accepts, nothing answers
  void Resume();  // SIGCONT

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace vigil::testing
