#include "checks/postgres/pg_dsn_guard.h"

#include <algorithm>

#include "checks/common/url.h"

namespace vigil {

void RefuseDsnInjection(const std::string& raw, const ExpandReference& expand,
                        const std::string& field) {
  const std::string lower = AsciiLower(raw.substr(0, 14));
  const bool uri = lower.rfind("postgres://", 0) == 0 || lower.rfind("postgresql://", 0) == 0;
  if (raw.rfind("${", 0) == 0 && raw.find('}') == raw.size() - 1) return;
  bool quoted = false, in_query = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '$' && i + 1 < raw.size() && raw[i + 1] == '$') {
      ++i;
      continue;
    }
    if (c == '$' && i + 1 < raw.size() && raw[i + 1] == '{') {
      const size_t close = raw.find('}', i + 2);
      if (close == std::string::npos) return;  // refused by the expansion itself
      const std::string ref = raw.substr(i, close - i + 1);
      const std::string value = expand(ref, field);
      std::string name = ref.substr(2, ref.size() - 3);
      name = name.substr(0, name.find(":-")).substr(0, 64);
      auto has = [&value](const char* set) {
        return value.find_first_of(set) != std::string::npos;
      };
      const bool control = std::any_of(value.begin(), value.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      });
      std::string fault;
      if (uri) {
        if (control || has(" @/?#&[]\\") || (in_query && has("="))) {
          fault =
              "would change the URL's host, path or parameters (it holds one of @ / ? # & [ ] "
              "or whitespace): percent-encode it";
        }
      } else if (quoted) {
        if (control || has("'\\")) {
          fault =
              "would end the quoted value (it holds a quote or a backslash): use the "
              "postgres:// URL form with the value percent-encoded";
        }
      } else if (control || value.empty() || has(" \t'\\=")) {
        fault =
            "would add a keyword to the connection string (it is empty or holds whitespace, "
            "'=', a quote or a backslash): quote it, as in password='${" +
            name + "}'";
      }
      if (!fault.empty()) throw ConfigError(field, "the value of ${" + name + "} " + fault);
      i = close;
      continue;
    }
    if (uri) {
      if (c == '?') in_query = true;
    } else if (quoted && c == '\\') {
      ++i;  // an escaped character inside quotes
    } else if (c == '\'') {
      quoted = !quoted;
    }
  }
}

}  // namespace vigil
