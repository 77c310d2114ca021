#include "base/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "testing/temp_dir.h"

namespace trellis::base {
namespace {

using ::testing::HasSubstr;

struct Flags {
  int threads = 1;
  std::string listen = "127.0.0.1:11211";
  bool no_evict = false;
  std::vector<std::string> peers;
};

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    app_.add_option("--threads", flags_.threads)->check(CLI::Range(1, 64));
    app_.add_option("--listen", flags_.listen);
    app_.add_flag("--no-evict", flags_.no_evict);
    app_.add_option("--peers", flags_.peers);
  }

  // Parses `argv` as the command line, then applies the config file holding `toml`.
  Status ParseWithConfig(std::vector<std::string> argv, const std::string& toml) {
    std::reverse(argv.begin(), argv.end());
    app_.parse(argv);
    path_ = dir_.WriteFile("trellis.toml", toml);
    Result<std::vector<ConfigEntry>> entries = LoadConfigFile(path_, {});
    if (!entries) {
      return entries.error();
    }
    return ApplyConfig(app_, path_, *entries);
  }

  testing::TempDir dir_;
  std::string path_;
  CLI::App app_;
  Flags flags_;
};

TEST_F(ConfigTest, FileFillsFlagsTheCommandLineLeftUnset) {
  Status status = ParseWithConfig({"--listen", "0.0.0.0:1"},
                                  "threads = 4\nlisten = \"10.0.0.1:2\"\nno-evict = true\n"
                                  "peers = [\"a:1\", \"b:2\"]\n");
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(flags_.threads, 4);
  EXPECT_EQ(flags_.listen, "0.0.0.0:1");  // The command line wins.
  EXPECT_TRUE(flags_.no_evict);
  EXPECT_EQ(flags_.peers, (std::vector<std::string>{"a:1", "b:2"}));
}

TEST_F(ConfigTest, SyntaxErrorNamesFileLineAndKey) {
  Status status = ParseWithConfig({}, "listen = \"x:1\"\n\nthreads = = 4\n");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr(path_ + ":3:"));
  EXPECT_THAT(status.error().message, HasSubstr("key 'threads'"));
}

TEST_F(ConfigTest, WrongTypeNamesFileLineAndKey) {
  Status status = ParseWithConfig({}, "# comment\nthreads = \"four\"\n");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr(path_ + ":2: key 'threads'"));
}

TEST_F(ConfigTest, OutOfRangeValueNamesFileLineAndKey) {
  Status status = ParseWithConfig({}, "listen = \"x:1\"\nthreads = 1000\n");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr(path_ + ":2: key 'threads'"));
}

TEST_F(ConfigTest, UnknownKeyIsAnError) {
  Status status = ParseWithConfig({}, "threads = 2\nthreadz = 4\n");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr(path_ + ":2: unknown key 'threadz'"));
}

TEST_F(ConfigTest, MissingFileIsAnError) {
  Result<std::vector<ConfigEntry>> entries = LoadConfigFile(dir_.path() / "absent.toml", {});
  ASSERT_FALSE(entries.ok());
  EXPECT_THAT(entries.error().message, HasSubstr("absent.toml: cannot read"));
}

}  // namespace
}  // namespace trellis::base
