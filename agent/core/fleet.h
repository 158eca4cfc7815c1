// What the other pods said, and what it means for each check here
// (docs/fleet.md). The fleet client (agent/fleet/) asks the peers for their
// local verdicts and publishes an immutable FleetView; every endpoint reads
// the current one beside the snapshot and computes the scopes with the pure
// functions below, against this pod's current status, so a scope is never
// older than the check's own result.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/check_state.h"

namespace vigil {

struct CheckView;
struct HealthSnapshot;

// Where a check fails: here and on enough pods (widespread), here but on
// few (local), or not here / too few pods answering to tell (none).
enum class Scope { kNone, kLocal, kWidespread };
const char* ScopeName(Scope s);  // "none" | "local" | "widespread"
inline constexpr std::array<Scope, 3> kScopes = {Scope::kWidespread, Scope::kLocal, Scope::kNone};

// Why a peer's answer was thrown away (vigil_fleet_answers_dropped_total).
enum class DropReason { kTimeout, kRefused, kStatus, kOversized, kMalformed, kUnauthorized };
inline constexpr size_t kDropReasonCount = 6;
const char* DropReasonName(DropReason r);

// One check as a peer sees it: its own local status.
struct PeerCheck {
  std::string name;
  Status status = Status::kUnknown;
};

// A peer's latest answer to GET /fleet/self.
struct PeerAnswer {
  std::string address;  // "10.0.0.5:8086", as asked
  std::string instance;
  std::string name, namespace_, node;  // the pod, as the peer says
  std::string status;                  // its local overall status
  bool ready = false;                  // its local readiness
  WallClock::time_point received;
  std::vector<PeerCheck> checks;  // sorted by name

  const PeerCheck* Find(const std::string& check) const;
};

struct FleetView {
  bool enabled = false;
  int min_pods = 3;
  int interval_ms = 5000;
  int timeout_ms = 500;
  int peers_known = 0;  // discovered, this pod left out
  uint64_t rounds = 0;  // completed
  // The start of the newest completed round, and its end.
  std::optional<WallClock::time_point> last_round_started;
  std::optional<WallClock::time_point> last_round_completed;
  // The start of the round in flight, if any.
  std::optional<WallClock::time_point> round_in_flight;
  // The newest answer of each peer still known; stale ones are skipped by
  // Fresh(), not removed, until their peer leaves.
  std::vector<PeerAnswer> answers;
  std::array<uint64_t, kDropReasonCount> dropped{};

  // Answers count for three rounds.
  bool Fresh(const PeerAnswer& a, WallClock::time_point now) const;
};

// One check's place in the fleet, as /health, /readyz and /metrics show it.
struct CheckScope {
  bool answered = false;  // the fleet is on and a round has completed
  int failing = 0;        // pods failing it, this one included
  int pods = 1;           // pods that have it with a result, this one included
  Scope scope = Scope::kNone;
  // A stay_ready check that just started failing, waiting for the round
  // that was started for it.
  bool pending = false;
  std::vector<std::string> failing_pods;  // peers' pod names (or addresses)
};

// The scope of `c` given the peers' fresh answers; `fleet` may be null (off).
CheckScope ScopeOf(const CheckView& c, const FleetView* fleet, WallClock::time_point now);

// Scopes of every check of `s`, in its order.
std::vector<CheckScope> ScopesOf(const HealthSnapshot& s, const FleetView* fleet,
                                 WallClock::time_point now);

// Pods answering (this one included), whatever checks they have.
int AnsweringPods(const FleetView* fleet, WallClock::time_point now);

// A failing required check that the fleet keeps from making the pod
// unready: `when_widespread: stay_ready` and widespread, or waiting for its
// round.
bool KeptReadyByFleet(const CheckView& c, const CheckScope& scope);

// This process's random identity in /fleet/self: a pod that finds its own
// among the answers knows that address is itself (16 hex digits).
const std::string& InstanceId();

// Holds the current view; the fleet client is its one writer.
class FleetStore {
 public:
  FleetStore() : current_(std::make_shared<const FleetView>()) {}
  std::shared_ptr<const FleetView> Get() const { return std::atomic_load(&current_); }
  void Set(std::shared_ptr<const FleetView> v) { std::atomic_store(&current_, std::move(v)); }

 private:
  std::shared_ptr<const FleetView> current_;
};

}  // namespace vigil
