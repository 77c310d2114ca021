// Whole-file reads and durable small writes, for the daemons that keep state in plain
// files (the backup center's archive and its pending restore).
//
// Durability: ReplaceFile writes a temporary file beside the target, fdatasyncs it,
// renames it over the target and fsyncs the directory, so after a crash the target holds
// either the old bytes or the new ones, never a mix.
//
// Thread safety: pure functions over the file system.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"

namespace trellis::base {

// An error naming `what` with the text of the current errno.
Error SystemError(const std::string& what);

Result<std::string> ReadFile(const std::filesystem::path& path);

// Writes all of `bytes` to `fd` (retrying short writes and EINTR); false with errno set
// on failure.
bool WriteAll(int fd, std::string_view bytes);

// Makes the directory entries of `dir` (files created, renamed, removed) durable.
Status SyncDirectory(const std::filesystem::path& dir);

// Replaces the contents of `path` with `bytes`, durably (see above).
Status ReplaceFile(const std::filesystem::path& path, std::string_view bytes);

// ReplaceFile for a private key or a token: the file is readable by its owner only
// (mode 0600) from the moment it exists.
Status ReplaceSecretFile(const std::filesystem::path& path, std::string_view bytes);

// Removes `path` (no error if it does not exist), durably.
Status RemoveFile(const std::filesystem::path& path);

}  // namespace trellis::base
