// redis://, rediss://, redis+sentinel:// and rediss+sentinel:// URLs.
#pragma once

#include <string>
#include <vector>

#include "checks/common/url.h"

namespace vigil {

struct RedisUrl {
  bool sentinel = false;
  bool tls = false;      // rediss:// or rediss+sentinel://
  std::string user;      // percent-decoded; empty: the default user
  std::string password;  // percent-decoded; empty: no AUTH
  // The password as written in the URL (percent-encoded), for scrubbing.
  std::string password_as_written;
  // The server (redis://), or the Sentinels to ask (redis+sentinel://).
  std::vector<HostAndPort> hosts;
  std::string master_name;  // redis+sentinel:// only
  int db = 0;
};

constexpr int kRedisDefaultPort = 6379;
constexpr int kSentinelDefaultPort = 26379;

// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
// (rediss:// and rediss+sentinel:// alike, with TLS)
// redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]
// Under Sentinel the URL's password is sent to the Sentinels (and to the
// master unless the check has a `password` key; checks/redis/redis_check.cc);
// the user is the master's. A password may hold raw '/', '@', ':' (the
// credentials run to the last '@'); a raw '%' must be written %25. Throws
// UrlError, whose text never holds any part of the URL but its scheme.
RedisUrl ParseRedisUrl(const std::string& url);

}  // namespace vigil
