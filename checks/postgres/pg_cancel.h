// Cancelling a PostgreSQL query that ran past its deadline. PQcancel blocks
// (libpq 15 has no non-blocking cancel), and against a hung server it blocks
// until the server wakes up, so it runs on a detached thread of its own that
// owns its PGcancel: the one thread of a `postgres` check that is not the
// check's worker (checks/check.h, "Threads").
#pragma once

#include <memory>
#include <string>

typedef struct pg_conn PGconn;

namespace vigil {

// At most one cancel request per check name is in flight.
struct CancelSlot;

// The slot of a check name, shared by every instance of that check: a reload
// that rebuilds the check must not start a second cancel while the old
// instance's is stuck (the stuck thread keeps the slot alive). A fresh slot
// for "" (a check without a name).
std::shared_ptr<CancelSlot> CancelSlotFor(const std::string& name);

// Asks the server to cancel `conn`'s query, on a detached thread, unless the
// slot's previous request is still stuck. `conn` may be closed as soon as
// this returns.
void FireCancel(PGconn* conn, const std::shared_ptr<CancelSlot>& slot);

}  // namespace vigil
