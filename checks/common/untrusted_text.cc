#include "checks/common/untrusted_text.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace vigil {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// The code point of the UTF-8 sequence at in[i] and its length; 0 length
// for bytes that are not UTF-8 (overlong, surrogates, past U+10FFFF,
// truncated).
size_t DecodeUtf8(std::string_view in, size_t i, uint32_t* cp) {
  const unsigned char b = static_cast<unsigned char>(in[i]);
  size_t len = 0;
  uint32_t min = 0;
  if (b < 0x80) {
    *cp = b;
    return 1;
  } else if ((b & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = b & 0x1F;
  } else if ((b & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = b & 0x0F;
  } else if ((b & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + len > in.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char c = static_cast<unsigned char>(in[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (c & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

// Control characters, and those that move or reorder lines when shown.
bool Unprintable(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string UntrustedText(std::string_view in, size_t max) {
  std::string out;
  out.reserve(std::min(in.size(), max) + 3);
  bool cut = false;
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    const size_t len = DecodeUtf8(in, i, &cp);
    std::string_view piece;
    if (len == 0) {
      piece = kReplacement;
      i += 1;
    } else if (cp == '\r' || cp == '\n' || cp == '\t') {
      piece = " ";
      i += len;
    } else if (Unprintable(cp)) {
      piece = kReplacement;
      i += len;
    } else {
      piece = in.substr(i, len);
      i += len;
    }
    if (piece == " " && (out.empty() || out.back() == ' ')) continue;  // one space at most
    if (out.size() + piece.size() > max) {
      cut = true;
      break;
    }
    out.append(piece);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (cut) out += "...";
  return out;
}

std::string ValidUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    const size_t len = DecodeUtf8(in, i, &cp);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(in.substr(i, len));
      i += len;
    }
  }
  return out;
}

bool IsHostNameOrAddress(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  unsigned char addr[16];
  if (inet_pton(AF_INET, host.c_str(), addr) == 1 || inet_pton(AF_INET6, host.c_str(), addr) == 1)
    return true;
  return std::all_of(host.begin(), host.end(), [](char ch) {
    const unsigned char c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace vigil
