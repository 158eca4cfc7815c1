// `redis` check kind: see docs/checks.md.
//
// Config keys: `url` (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or
// redis+sentinel://[[USER]:PASSWORD@]H1:26379[,H2:26379...]/MASTER[/DB]),
// `expect_role` ("master" | "replica"; "master" under Sentinel),
// `max_memory_ratio` (0.01..1, default 0.9: warn above it of maxmemory),
// `slow_ms` (warn when the PING round trip takes longer; off by default).
//
// One run: PING + INFO pipelined on a kept-open connection (AUTH and SELECT
// once, when connecting); CLUSTER INFO too on a cluster node. Under Sentinel
// the master's address is asked on every run, on a kept Sentinel connection.
#pragma once

#include "checks/registry.h"

namespace vigil {

CheckKind RedisCheckKind();

}  // namespace vigil
