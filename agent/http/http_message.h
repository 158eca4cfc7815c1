// The request the Api reads and the response it answers with, and the one
// JSON error body every refusal carries (the Api's and the server's alike).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace vigil {

// The longest request target served: a longer one is answered 414 from
// its first byte past this.
constexpr size_t kMaxTargetBytes = 4096;

struct HttpRequest {
  std::string method;  // GET, HEAD, POST, ...
  std::string target;  // raw request target: "/readyz?verbose&exclude=db"
  std::string accept;
  std::string authorization;
  // The client's address ("10.1.2.3", "::1"; "" when unknown): the admin
  // route's failure budget is kept per address.
  std::string peer = "";
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The JSON error every refusal answers with: {"error":"...","status":N},
// with Cache-Control: no-store (a 404 or 405 is otherwise cacheable).
HttpResponse JsonError(int status, const std::string& error);

}  // namespace vigil
