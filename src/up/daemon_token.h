// The token `trellis up` gives its children in place of its admin token (docs/security.md):
// scope operate, which is all a daemon's calls to its master need (registering and
// renewing, reading the map, a tenant's flush_all), so a child that leaks its token
// leaks no power over credentials. Minted at each start and written to
// <data>/daemons.token (mode 0600); the one the file held before is revoked.
//
// Thread safety: none; `trellis up`'s start-up only (it blocks on the master).
#pragma once

#include <filesystem>

#include "base/result.h"
#include "master/client/master_client.h"

namespace trellis::up {

// Mints the children's token with `admin` (an admin token's access) into `file`, and
// revokes the token `file` held, if any. Errors: the master's, or the file's.
base::Status RenewDaemonToken(const master::MasterAccess& admin, const std::filesystem::path& file);

}  // namespace trellis::up
