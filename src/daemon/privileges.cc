#include "daemon/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace trellis::daemon {

base::Status DropPrivilegesTo(const std::string& user) {
  if (geteuid() != 0) {
    return {};
  }
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) {
    return base::InvalidArgument("-u: can't find the user " + user + " to switch to");
  }
  if (setgroups(0, nullptr) != 0 || setgid(entry->pw_gid) != 0 || setuid(entry->pw_uid) != 0) {
    return base::Error{"-u: failed to assume the identity of " + user + ": " +
                       std::strerror(errno)};
  }
  return {};
}

}  // namespace trellis::daemon
