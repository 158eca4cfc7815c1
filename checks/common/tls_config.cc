#include "checks/common/tls_config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil {
namespace {

const std::vector<std::string> kTlsKeys = {"ca_file", "cert_file", "key_file", "server_name",
                                           "insecure_skip_verify"};
constexpr size_t kMaxPemBytes = 4 << 20;  // a CA bundle is a few hundred KiB

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// An encrypted key would make OpenSSL ask for a passphrase on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

// The file's bytes; throws ConfigError(field, "cannot read PATH: why").
std::string ReadPemFile(const std::string& path, const std::string& field) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw ConfigError(field, "cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxPemBytes) {
      std::fclose(f);
      throw ConfigError(field, "cannot read " + path + ": larger than 4 MiB");
    }
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw ConfigError(field, "cannot read " + path + ": " + std::strerror(err));
  return data;
}

BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// The certificates of a PEM file (at least one), else ConfigError.
std::vector<X509Ptr> LoadCerts(const std::string& path, const std::string& field) {
  const std::string data = ReadPemFile(path, field);
  BioPtr bio = MemBio(data);
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    certs.emplace_back(x);
  }
  ERR_clear_error();
  if (certs.empty()) throw ConfigError(field, "no PEM certificate in " + path);
  return certs;
}

PkeyPtr LoadKey(const std::string& path, const std::string& field) {
  const std::string data = ReadPemFile(path, field);
  BioPtr bio = MemBio(data);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (!key) {
    throw ConfigError(field,
                      "no PEM private key in " + path + " (encrypted keys are not supported)");
  }
  return key;
}

std::string ShortKey(const std::string& key) {
  return key.size() > 64 ? key.substr(0, 64) + "..." : key;
}

}  // namespace

std::optional<TlsConfig> ParseTlsConfig(const CheckSpec& spec) {
  auto it = spec.json.find(kTlsKey);
  if (it == spec.json.end()) return std::nullopt;
  const std::string path = spec.Field(kTlsKey);
  if (!it->is_object()) throw ConfigError(path, "must be an object");
  for (auto k = it->begin(); k != it->end(); ++k) {
    bool known = false;
    for (const auto& allowed : kTlsKeys) known = known || k.key() == allowed;
    if (!known) throw ConfigError(path + "." + ShortKey(k.key()), "unknown key");
  }
  auto str = [&](const char* key) -> std::string {
    auto v = it->find(key);
    if (v == it->end()) return {};
    if (!v->is_string()) throw ConfigError(path + "." + key, "must be a string");
    if (v->get_ref<const std::string&>().empty())
      throw ConfigError(path + "." + key, "must not be empty");
    return v->get<std::string>();
  };
  TlsConfig tls;
  tls.ca_file = str("ca_file");
  tls.server_name = str("server_name");
  tls.cert_file = str("cert_file");
  tls.key_file = str("key_file");
  auto insecure = it->find("insecure_skip_verify");
  if (insecure != it->end()) {
    if (!insecure->is_boolean()) {
      throw ConfigError(path + ".insecure_skip_verify", "must be true or false");
    }
    tls.insecure_skip_verify = insecure->get<bool>();
  }

  if (!tls.server_name.empty()) {
    bool ok = tls.server_name.size() <= 253;
    for (unsigned char c : tls.server_name)
      ok = ok && (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':');
    if (!ok) throw ConfigError(path + ".server_name", "want a host name or an IP address");
  }
  if (!tls.ca_file.empty()) LoadCerts(tls.ca_file, path + ".ca_file");
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw ConfigError(
        path + (tls.cert_file.empty() ? ".cert_file" : ".key_file"),
        tls.cert_file.empty() ? "missing (key_file is set)" : "missing (cert_file is set)");
  }
  if (!tls.cert_file.empty()) {
    std::vector<X509Ptr> chain = LoadCerts(tls.cert_file, path + ".cert_file");
    PkeyPtr key = LoadKey(tls.key_file, path + ".key_file");
    const bool match = X509_check_private_key(chain.front().get(), key.get()) == 1;
    ERR_clear_error();
    if (!match) throw ConfigError(path + ".key_file", "does not match cert_file");
  }
  return tls;
}

void NoteInsecureOnce(const TlsConfig& tls, bool* noted, CheckResult* result) {
  if (!tls.insecure_skip_verify || *noted || result->outcome == Outcome::kFail) return;
  *noted = true;
  if (result->reason.empty()) {
    result->reason = kInsecureNote;
  } else {
    result->reason += std::string("; ") + kInsecureNote;
  }
}

}  // namespace vigil
