// libmemcached's memccapable, a memcached conformance checker we did not write: its
// ASCII protocol tests (-a) against whatever listens on a port (a cache node, the
// gateway and access nodes of `trellis up`).
//
// Thread safety: none; the test's thread.
#pragma once

#include <cstdint>

namespace trellis::testing {

// Runs it against 127.0.0.1:`port`; a gtest failure, with its output, unless every test
// passes.
void ExpectMemccapablePasses(uint16_t port);

}  // namespace trellis::testing
