#include "agent/http/http_writer.h"

namespace vigil {

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

void WriteResponse(const HttpResponse& r, const WriteOptions& o, std::string* out) {
  std::string& s = *out;
  s.reserve(s.size() + 192 + (o.head ? 0 : r.body.size()));
  s += "HTTP/1.1 ";
  s += std::to_string(r.status);
  s += ' ';
  s += ReasonPhrase(r.status);
  s += "\r\nContent-Type: ";
  s += r.content_type;
  s += "\r\nContent-Length: ";
  s += std::to_string(r.body.size());
  s += "\r\n";
  for (const auto& [name, value] : r.headers) {
    s += name;
    s += ": ";
    s += value;
    s += "\r\n";
  }
  if (o.close) {
    s += "Connection: close\r\n";
  } else {
    if (o.keep_alive) s += "Connection: keep-alive\r\n";
    if (o.keep_alive_timeout_s > 0) {
      s += "Keep-Alive: timeout=";
      s += std::to_string(o.keep_alive_timeout_s);
      s += "\r\n";
    }
  }
  s += "\r\n";
  if (!o.head) s += r.body;
}

}  // namespace vigil
