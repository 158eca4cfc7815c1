// Asks the other pods for their local verdicts (docs/fleet.md), on a thread
// of its own, off the probe path: every fleet.interval_ms (jittered), and at
// once when a `stay_ready` check starts failing, it finds the peers (a DNS
// name through its own c-ares lookups, or a static list), asks up to
// fleet.sample of them at random for GET /fleet/self on kept connections,
// all at once under one deadline (fleet.timeout_ms), and publishes what came
// back as a new FleetView. A peer is untrusted: its answer is bounded in
// size and read strictly (agent/fleet/peer_answer.h); a late, refused,
// oversized or malformed one is dropped and counted, and changes nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent/config/fleet_config.h"

namespace vigil {

class FleetStore;
class Reporter;
class SnapshotStore;

class FleetClient {
 public:
  // `listen` is vigil's own "host:port": the port of the DNS form's peers,
  // and (unless a wildcard) an address that is this pod's own. All three
  // outlive the client.
  FleetClient(FleetStore* fleet, const SnapshotStore* snapshots, Reporter* reporter,
              std::string listen);
  ~FleetClient();
  FleetClient(const FleetClient&) = delete;
  FleetClient& operator=(const FleetClient&) = delete;

  // Starts the thread with `config` (it idles while the fleet is off).
  void Start(const FleetConfig& config, std::string token);
  // A reload: the next round uses the new settings.
  void Apply(const FleetConfig& config);
  // The token this pod presents to its peers (a rotation).
  void SetToken(std::string token);
  // For SnapshotStore's listener: a new snapshot is out (cheap; never blocks).
  std::function<void()> Notifier() const;
  void Stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace vigil
