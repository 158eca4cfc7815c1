#include "checks/postgres/pg_cancel.h"

#include <libpq-fe.h>

#include <atomic>
#include <map>
#include <system_error>
#include <thread>

#include "checks/common/thread_annotations.h"

namespace vigil {

struct CancelSlot {
  std::atomic<bool> busy{false};  // a cancel thread holds the slot
};

namespace {

// Every check name's slot, for checks built on any thread (the daemon's
// config loads, `vigil check`'s threads, the tests).
struct CancelSlots {
  Mutex mu;
  std::map<std::string, std::weak_ptr<CancelSlot>> by_name VIGIL_GUARDED_BY(mu);
};

}  // namespace

std::shared_ptr<CancelSlot> CancelSlotFor(const std::string& name) {
  if (name.empty()) return std::make_shared<CancelSlot>();
  static auto* slots = new CancelSlots;
  MutexLock lock(slots->mu);
  auto& by_name = slots->by_name;
  for (auto it = by_name.begin(); it != by_name.end();) {
    it = it->second.expired() ? by_name.erase(it) : std::next(it);
  }
  std::weak_ptr<CancelSlot>& weak = by_name[name];
  std::shared_ptr<CancelSlot> slot = weak.lock();
  if (!slot) {
    slot = std::make_shared<CancelSlot>();
    weak = slot;
  }
  return slot;
}

void FireCancel(PGconn* conn, const std::shared_ptr<CancelSlot>& slot) {
  if (slot->busy.exchange(true)) return;  // the previous one is still stuck
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) {
    slot->busy = false;
    return;
  }
  try {
    std::thread([cancel, slot] {
      char err[256];
      PQcancel(cancel, err, sizeof err);
      PQfreeCancel(cancel);
      slot->busy = false;
    }).detach();
  } catch (const std::system_error&) {
    PQfreeCancel(cancel);
    slot->busy = false;
  }
}

}  // namespace vigil
