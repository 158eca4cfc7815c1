// Free loopback ports and temp dirs for tests that start real servers.
#pragma once

#include <string>

namespace vigil::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it,
// close). Racy in theory; tests retry server start-up once on EADDRINUSE.
int FreePort();
// The same on another loopback address (127.0.0.2, ...).
int FreePort(const std::string& host);

// Whether 127.0.0.1:port can be bound right now.
bool PortFree(int port);
bool PortFree(const std::string& host, int port);

// A free port whose +10000 is free too and at most 55535: Redis in cluster
// mode listens on both (the cluster bus). Bounded tries.
int FreeClusterPort();

// A fresh directory under /tmp, world-traversable so that the postgres user
// can reach it; removed by RemoveTree.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& dir);

// Runs a shell command, returns its exit status (or -1).
int Shell(const std::string& command);

// Waits up to `ms` until a TCP connect to 127.0.0.1:port succeeds.
bool WaitForPort(int port, int ms);
bool WaitForPort(const std::string& host, int port, int ms);

}  // namespace vigil::testing
