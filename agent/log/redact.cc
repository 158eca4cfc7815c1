#include "agent/log/redact.h"
#include "checks/common/url.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace vigil {
namespace {

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
    // %2f as well as %2F (only the hex digits: "Pw/1" is "Pw%2f1", not "pw%2f1").
    std::string lower = PercentEncode(s, true);
    if (lower != enc && lower != s) needles.push_back(lower);
  }
  std::sort(needles.begin(), needles.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  needles.erase(std::unique(needles.begin(), needles.end()), needles.end());
  MutexLock lock(mu_);
  needles_ = std::move(needles);
}

std::string Redactor::Scrub(std::string text) const {
  {
    MutexLock lock(mu_);
    for (const auto& n : needles_) ReplaceAll(&text, n, "***");
  }
  return RedactCredentials(std::move(text));
}

// The two rules below were regular expressions; std::regex recurses once a
// character and overflowed the stack on texts of some 100 KB (a long error
// reply from a dependency), so they are scanned by hand, in one pass each,
// with the same results:
//   ([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@\s/]*@     -> $1:***@
//   ((?:password|passwd|pwd)\s*[=:]\s*)('[^']*'|[^\s&;,]+) (any case) -> $1***
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool IsSchemeChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '.' || c == '-';
}

// scheme://user:secret@  ->  scheme://user:***@
std::string RedactUserinfo(const std::string& text) {
  std::string out;
  size_t copied = 0;  // text[0, copied) is in `out`
  size_t from = 0;
  for (size_t sep; (sep = text.find("://", from)) != std::string::npos;) {
    from = sep + 1;
    // A scheme: scheme characters before "://", one of them a letter (the
    // match starts at the first letter of the run).
    size_t b = sep;
    bool letter = false;
    while (b > 0 && IsSchemeChar(text[b - 1])) {
      --b;
      letter = letter || std::isalpha(static_cast<unsigned char>(text[b])) != 0;
    }
    if (!letter) continue;
    size_t i = sep + 3;
    while (i < text.size() && text[i] != ':' && text[i] != '/' && text[i] != '@' &&
           !IsSpace(text[i]))
      ++i;
    if (i >= text.size() || text[i] != ':') continue;
    const size_t colon = i++;
    while (i < text.size() && text[i] != '@' && text[i] != '/' && !IsSpace(text[i])) ++i;
    if (i >= text.size() || text[i] != '@') continue;
    out.append(text, copied, colon + 1 - copied);
    out += "***";
    copied = i;  // the '@' and what follows
    from = i + 1;
  }
  if (copied == 0) return text;
  out.append(text, copied, std::string::npos);
  return out;
}

// The length of the keyword at text[i] ("password", "passwd" or "pwd", any
// case), or 0.
size_t KeywordAt(const std::string& text, size_t i) {
  for (const char* k : {"password", "passwd", "pwd"}) {
    const size_t n = std::strlen(k);
    if (i + n > text.size()) continue;
    bool same = true;
    for (size_t j = 0; j < n && same; ++j)
      same = std::tolower(static_cast<unsigned char>(text[i + j])) == k[j];
    if (same) return n;
  }
  return 0;
}

// password=secret / password: secret / password='a secret'  ->  password=***
std::string RedactKeywords(const std::string& text) {
  std::string out;
  size_t copied = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t klen = KeywordAt(text, i);
    if (klen == 0) {
      ++i;
      continue;
    }
    size_t j = i + klen;
    while (j < text.size() && IsSpace(text[j])) ++j;
    if (j >= text.size() || (text[j] != '=' && text[j] != ':')) {
      ++i;
      continue;
    }
    ++j;
    while (j < text.size() && IsSpace(text[j])) ++j;
    size_t end = j;
    if (j < text.size() && text[j] == '\'') {
      const size_t close = text.find('\'', j + 1);
      if (close != std::string::npos) end = close + 1;
    }
    if (end == j) {  // unquoted (or an unterminated quote): to a separator
      while (end < text.size() && !IsSpace(text[end]) && text[end] != '&' && text[end] != ';' &&
             text[end] != ',')
        ++end;
    }
    if (end == j) {
      ++i;
      continue;
    }
    out.append(text, copied, j - copied);
    out += "***";
    copied = i = end;
  }
  if (copied == 0) return text;
  out.append(text, copied, std::string::npos);
  return out;
}

}  // namespace

std::string RedactCredentials(std::string text) {
  if (text.find('@') != std::string::npos) text = RedactUserinfo(text);
  if (text.find_first_of("=:") != std::string::npos) text = RedactKeywords(text);
  return text;
}

}  // namespace vigil
