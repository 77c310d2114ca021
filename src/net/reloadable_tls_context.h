// ReloadableTlsContext: a daemon's TLS listener context that SIGHUP renews: the files
// are read again and, if they make a valid context, every handshake from then on uses
// it; connections already open keep the one they started with. A renewal that fails
// (a key that is not the certificate's, a file half written) changes nothing, so a
// rotation caught between its two files is simply done at the next SIGHUP.
//
// Thread safety: current() from any thread (each connection's shard); Reload from the
// daemon's main thread.
#pragma once

#include <atomic>
#include <memory>

#include "base/result.h"
#include "net/tls_context.h"

namespace trellis::net {

class ReloadableTlsContext {
 public:
  // Errors: as TlsServerContext::Create.
  static base::Result<std::shared_ptr<ReloadableTlsContext>> Load(TlsServerFiles files);

  base::Status Reload();
  // Hold it for the handshake: a reload may replace it meanwhile.
  std::shared_ptr<TlsServerContext> current() const { return current_.load(); }

 private:
  explicit ReloadableTlsContext(TlsServerFiles files) : files_(std::move(files)) {}

  const TlsServerFiles files_;
  std::atomic<std::shared_ptr<TlsServerContext>> current_;  // Never null once loaded.
};

}  // namespace trellis::net
