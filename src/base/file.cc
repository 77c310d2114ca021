#include "base/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace trellis::base {

namespace fs = std::filesystem;

Error SystemError(const std::string& what) { return Error{what + ": " + std::strerror(errno)}; }

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{path.string() + ": cannot read"};
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool WriteAll(int fd, std::string_view bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return SystemError(dir.string());
  }
  const int synced = ::fsync(fd);
  ::close(fd);
  return synced == 0 ? Status() : Status(SystemError(dir.string()));
}

namespace {

// ReplaceFile with the new file created with `mode` (a temporary left by a crash is
// removed first: O_TRUNC would keep its mode).
Status ReplaceFileWithMode(const fs::path& path, std::string_view bytes, mode_t mode) {
  const fs::path temporary = path.string() + ".tmp";
  if (::unlink(temporary.c_str()) != 0 && errno != ENOENT) {
    return SystemError(temporary.string());
  }
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return SystemError(temporary.string());
  }
  if (!WriteAll(fd, bytes) || ::fdatasync(fd) != 0) {
    Error error = SystemError(temporary.string());
    ::close(fd);
    ::unlink(temporary.c_str());
    return error;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return SystemError(path.string());
  }
  return SyncDirectory(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

}  // namespace

Status ReplaceFile(const fs::path& path, std::string_view bytes) {
  return ReplaceFileWithMode(path, bytes, 0644);
}

Status ReplaceSecretFile(const fs::path& path, std::string_view bytes) {
  return ReplaceFileWithMode(path, bytes, 0600);
}

Status RemoveFile(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    return errno == ENOENT ? Status() : Status(SystemError(path.string()));
  }
  return SyncDirectory(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

}  // namespace trellis::base
