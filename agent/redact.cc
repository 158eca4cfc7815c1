#include "agent/redact.h"

#include <algorithm>
#include <regex>

namespace vigil {
namespace {

std::string PercentEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void ReplaceAll(std::string* text, const std::string& needle, const std::string& with) {
  if (needle.empty()) return;
  size_t pos = 0;
  while ((pos = text->find(needle, pos)) != std::string::npos) {
    text->replace(pos, needle.size(), with);
    pos += with.size();
  }
}

}  // namespace

void Redactor::SetSecrets(const std::vector<std::string>& secrets) {
  std::vector<std::string> needles;
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    needles.push_back(s);
    std::string enc = PercentEncode(s);
    if (enc != s) needles.push_back(enc);
    std::string lower = enc;  // %2f as well as %2F
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower != enc && lower != s) needles.push_back(lower);
  }
  std::sort(needles.begin(), needles.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  needles.erase(std::unique(needles.begin(), needles.end()), needles.end());
  std::lock_guard<std::mutex> lock(mu_);
  needles_ = std::move(needles);
}

std::string Redactor::Scrub(std::string text) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& n : needles_) ReplaceAll(&text, n, "***");
  }
  return RedactCredentials(std::move(text));
}

std::string RedactCredentials(std::string text) {
  // scheme://user:secret@  ->  scheme://user:***@
  static const std::regex kUserinfo(R"(([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@\s/]*@)");
  // password=secret / password: secret (libpq keywords, query strings)
  static const std::regex kKeyword(R"(((?:password|passwd|pwd)\s*[=:]\s*)('[^']*'|[^\s&;,]+))",
                                   std::regex::icase);
  if (text.find('@') != std::string::npos) text = std::regex_replace(text, kUserinfo, "$1:***@");
  if (text.find_first_of("=:") != std::string::npos)
    text = std::regex_replace(text, kKeyword, "$1***");
  return text;
}

}  // namespace vigil
