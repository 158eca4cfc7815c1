#include "agent/config/refusal.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "checks/common/url.h"

namespace vigil {
namespace {

using json = nlohmann::json;

// As deep as the parser reads (a deeper document is refused for that).
constexpr int kMaxDepth = 32;
// Shorter pieces are not scrubbed: they would mangle the words of the
// message, and no password that short is accepted.
constexpr size_t kMinPiece = 4;

bool AllDigitsOrEmpty(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

void Add(const std::string& s, std::vector<std::string>* out) {
  if (s.size() >= kMinPiece && !AllDigitsOrEmpty(s)) out->push_back(s);
}

// "host", "host:port" or "[v6]:port": everything but the host.
void AddHostPortPieces(const std::string& hp, std::vector<std::string>* out) {
  size_t after_host = 0;
  if (!hp.empty() && hp[0] == '[') {
    const size_t close = hp.find(']');
    if (close == std::string::npos) return;  // not read as a host: nothing is quoted
    after_host = close + 1;
  } else {
    after_host = hp.find(':');
    if (after_host == std::string::npos) return;
  }
  const std::string rest = hp.substr(after_host);
  Add(rest, out);
  if (!rest.empty() && rest[0] == ':') Add(rest.substr(1), out);
}

// A URL's authority (or a bare HOST:PORT): the user information whole and in
// its parts, and each host's port text.
void AddAuthorityPieces(const std::string& value, std::vector<std::string>* out) {
  const size_t sep = value.find("://");
  const size_t start = sep == std::string::npos ? 0 : sep + 3;
  const size_t at = value.rfind('@');
  size_t end = value.find_first_of("/?#", start);
  if (at != std::string::npos && at >= start) {
    // Credentials run to the last '@': a raw password may hold '/'.
    const std::string userinfo = value.substr(start, at - start);
    Add(userinfo, out);
    const size_t colon = userinfo.find(':');
    if (colon != std::string::npos) {
      Add(userinfo.substr(0, colon), out);
      Add(userinfo.substr(colon + 1), out);
    }
    end = value.find_first_of("/?#", at + 1);
  }
  const size_t hosts_from = at != std::string::npos && at >= start ? at + 1 : start;
  const std::string hosts =
      value.substr(hosts_from, end == std::string::npos ? end : end - hosts_from);
  size_t from = 0;
  for (;;) {
    const size_t comma = hosts.find(',', from);
    AddHostPortPieces(hosts.substr(from, comma == std::string::npos ? comma : comma - from), out);
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
}

// password=..., passwd=..., pwd=... (libpq keywords, query parameters).
void AddKeywordValues(const std::string& value, std::vector<std::string>* out) {
  const std::string lower = AsciiLower(value);
  for (const char* key : {"password", "passwd", "pwd"}) {
    for (size_t p = lower.find(key); p != std::string::npos; p = lower.find(key, p + 1)) {
      size_t i = p + std::string(key).size();
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i >= value.size() || value[i] != '=') continue;
      ++i;
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i < value.size() && value[i] == '\'') ++i;
      size_t e = i;
      while (e < value.size() && !std::isspace(static_cast<unsigned char>(value[e])) &&
             value[e] != '&' && value[e] != '\'')
        ++e;
      Add(value.substr(i, e - i), out);
      Add(value.substr(i), out);  // an unterminated quote: everything after it
    }
  }
}

bool SecretKey(const std::string& key) {
  const std::string k = AsciiLower(key);
  for (const char* word : {"pass", "pwd", "secret", "token", "key"})
    if (k.find(word) != std::string::npos) return true;
  return false;
}

void AddValue(const std::string& key, const std::string& value, bool from_variable,
              std::vector<std::string>* out) {
  if (from_variable || SecretKey(key)) Add(value, out);
  const bool spaced = value.find_first_of(" \t") != std::string::npos;
  if (value.find("://") != std::string::npos || (!spaced && value.find(':') != std::string::npos)) {
    AddAuthorityPieces(value, out);
  }
  AddKeywordValues(value, out);
}

// Walks the document as written and as expanded side by side.
void Walk(const json& raw, const json* expanded, const std::string& key, int depth,
          std::vector<std::string>* out) {
  if (depth > kMaxDepth) return;
  if (raw.is_string()) {
    const std::string& r = raw.get_ref<const std::string&>();
    // A ${NAME} as written is no secret (and is named in messages); what it
    // expanded to may be.
    const bool reference = r.find("${") != std::string::npos;
    if (!reference) AddValue(key, r, false, out);
    if (expanded != nullptr && expanded->is_string()) {
      const std::string& x = expanded->get_ref<const std::string&>();
      if (x != r) AddValue(key, x, reference, out);
    }
  } else if (raw.is_object()) {
    for (auto it = raw.begin(); it != raw.end(); ++it) {
      const json* x = nullptr;
      if (expanded != nullptr && expanded->is_object()) {
        auto found = expanded->find(it.key());
        if (found != expanded->end()) x = &*found;
      }
      Walk(it.value(), x, it.key(), depth + 1, out);
    }
  } else if (raw.is_array()) {
    for (size_t i = 0; i < raw.size(); ++i) {
      const json* x = expanded != nullptr && expanded->is_array() && i < expanded->size()
                          ? &(*expanded)[i]
                          : nullptr;
      Walk(raw[i], x, key, depth + 1, out);
    }
  }
}

void ReplaceAll(std::string* text, const std::string& needle) {
  if (needle.empty()) return;
  for (size_t p = text->find(needle); p != std::string::npos; p = text->find(needle, p + 3))
    text->replace(p, needle.size(), "***");
}

}  // namespace

std::vector<std::string> RefusalSecrets(const json& raw, const json& expanded) {
  std::vector<std::string> out;
  Walk(raw, &expanded, "", 0, &out);
  return out;
}

ConfigError ScrubRefusal(const ConfigError& e, const std::vector<std::string>& secrets) {
  std::vector<std::string> needles;
  for (const std::string& s : secrets) {
    needles.push_back(s);
    needles.push_back(PercentEncode(s));
    needles.push_back(PercentEncode(s, true));
    std::string decoded;
    if (PercentDecode(s, &decoded) && decoded.size() >= kMinPiece) needles.push_back(decoded);
  }
  std::sort(needles.begin(), needles.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  std::string message = e.message();
  for (const std::string& n : needles) ReplaceAll(&message, n);
  return ConfigError(e.field(), message);
}

}  // namespace vigil
