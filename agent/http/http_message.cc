#include "agent/http/http_message.h"

#include <nlohmann/json.hpp>

namespace vigil {

HttpResponse JsonError(int status, const std::string& error) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = nlohmann::json{{"error", error}, {"status", status}}.dump() + "\n";
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace vigil
