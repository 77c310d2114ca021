// Dropping root: `trellis cache -u USER`, as memcached's -u. Called after the listeners are
// bound (so ports below 1024 work) and before any client is served.
//
// Thread safety: glibc applies setuid/setgid to every thread of the process.
#pragma once

#include <string>

#include "base/result.h"

namespace trellis::daemon {

// As root: switch to `user`'s uid, gid and no supplementary groups. Not root: nothing.
base::Status DropPrivilegesTo(const std::string& user);

}  // namespace trellis::daemon
