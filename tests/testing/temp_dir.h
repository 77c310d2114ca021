// TempDir: a directory under $TMPDIR (or /tmp) that lives as long as the object, for
// tests that write config files, logs or data directories.
//
// Thread safety: none.
#pragma once

#include <filesystem>
#include <string>

namespace trellis::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to `name` inside the directory and returns the file's full path.
  std::string WriteFile(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

}  // namespace trellis::testing
