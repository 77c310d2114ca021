#include "testing/temp_dir.h"

#include <stdlib.h>

#include <fstream>
#include <stdexcept>

namespace trellis::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "trellis-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::WriteFile(const std::string& name, const std::string& text) const {
  const std::filesystem::path file = path_ / name;
  std::ofstream(file) << text;
  return file.string();
}

}  // namespace trellis::testing
