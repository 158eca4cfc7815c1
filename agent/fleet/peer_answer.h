// A peer's answer to GET /fleet/self, read as untrusted input: a strict
// shape, bounded counts and lengths, printable names only. Anything else is
// dropped whole (DropReason::kMalformed) and touches no verdict.
#pragma once

#include <string>

#include "agent/core/fleet.h"

namespace vigil {

// Checks a peer may report; as many as a config may hold.
inline constexpr size_t kMaxPeerChecks = 256;

// Fills *out (address and received left to the caller) from `body`; false
// for anything but a well-formed answer.
bool ParsePeerAnswer(const std::string& body, PeerAnswer* out);

}  // namespace vigil
