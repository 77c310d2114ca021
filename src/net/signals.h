// Termination signals for daemons. The composition root blocks SIGTERM, SIGINT and SIGHUP
// before it starts any thread (so no worker thread is interrupted by them), then waits
// for one in its main thread and drains (SIGTERM, SIGINT) or reloads (SIGHUP).
//
// Thread safety: BlockTerminationSignals() before threads start; WaitForSignal() from
// the main thread.
#pragma once

#include <functional>

namespace trellis::net {

void BlockTerminationSignals();

// Blocks until SIGTERM or SIGINT arrives and returns its number; calls `on_hangup` (on
// this thread) for every SIGHUP on the way.
int WaitForTerminationSignal(const std::function<void()>& on_hangup);

}  // namespace trellis::net
