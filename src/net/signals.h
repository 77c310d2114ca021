// Termination signals for daemons. The composition root blocks SIGTERM, SIGINT and SIGHUP
// before it starts any thread (so no worker thread is interrupted by them), then waits
// for one in its main thread and drains.
//
// Thread safety: BlockTerminationSignals() before threads start; WaitForSignal() from
// the main thread.
#pragma once

namespace trellis::net {

void BlockTerminationSignals();

// Blocks until SIGTERM or SIGINT arrives and returns its number. A SIGHUP on the way is
// logged and otherwise ignored (no daemon reloads its config yet).
int WaitForTerminationSignal();

}  // namespace trellis::net
