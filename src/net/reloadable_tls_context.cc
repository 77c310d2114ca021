#include "net/reloadable_tls_context.h"

namespace trellis::net {

base::Result<std::shared_ptr<ReloadableTlsContext>> ReloadableTlsContext::Load(
    TlsServerFiles files) {
  std::shared_ptr<ReloadableTlsContext> loaded(new ReloadableTlsContext(std::move(files)));
  TRELLIS_TRY_STATUS(loaded->Reload());
  return loaded;
}

base::Status ReloadableTlsContext::Reload() {
  TRELLIS_TRY(std::shared_ptr<TlsServerContext> renewed, TlsServerContext::Create(files_));
  current_.store(std::move(renewed));
  return {};
}

}  // namespace trellis::net
