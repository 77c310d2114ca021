#include "net/signals.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

namespace trellis::net {
namespace {

sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer that closes mid-write must give EPIPE, not kill the process; a file that
  // reaches the process's size limit must give EFBIG (an error the daemon reports, as it
  // does a full disk), not kill it.
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
}

int WaitForTerminationSignal(const std::function<void()>& on_hangup) {
  const sigset_t set = TerminationSet();
  for (;;) {
    int signal_number = 0;
    sigwait(&set, &signal_number);
    if (signal_number != SIGHUP) {
      return signal_number;
    }
    on_hangup();
  }
}

}  // namespace trellis::net
