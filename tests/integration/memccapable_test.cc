// libmemcached's memccapable, a memcached conformance checker we did not write, against a
// real `trellis cache` process: every ASCII protocol test must pass.
#include "testing/memccapable.h"

#include <gtest/gtest.h>

#include "testing/daemon_process.h"

namespace trellis {
namespace {

TEST(MemccapableTest, AsciiProtocolTestsAllPass) {
  testing::DaemonProcess cache({"cache", "--listen", "127.0.0.1:0", "--threads", "2"});
  testing::ExpectMemccapablePasses(cache.WaitForListening("cache"));
}

}  // namespace
}  // namespace trellis
