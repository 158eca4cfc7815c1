// What a dependency says is untrusted text: Redis error replies and INFO
// fields, Sentinel's answers, PostgreSQL messages and notices, HTTP status
// lines and bodies. Each kind reduces it here, once, where it enters, so
// that no byte of it can add a line to a plain-text body or a log, break a
// JSON string, or make /metrics invalid.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil {

// The longest piece of a dependency's text a reason carries.
constexpr size_t kMaxUntrustedText = 256;

// One line of printable UTF-8 of at most `max` bytes (then cut at a
// character boundary, with "..." after it): bytes that are not UTF-8 become
// U+FFFD; CR, LF and tab become a space; other control characters (C0, DEL,
// C1) and the Unicode line and paragraph separators and direction
// overrides become U+FFFD; leading and trailing spaces are dropped.
std::string UntrustedText(std::string_view in, size_t max = kMaxUntrustedText);

// `in` with every byte that is not part of valid UTF-8 replaced by U+FFFD,
// and nothing else changed (a Prometheus label value, a JSON string).
std::string ValidUtf8(std::string_view in);

// `host` is a host name (letters, digits, '-', '_', '.'; at most 253 bytes)
// or an IPv4 or IPv6 address.
bool IsHostNameOrAddress(const std::string& host);

}  // namespace vigil
