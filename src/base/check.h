// CHECK: stops the process when an internal invariant is broken and going on would
// corrupt data. Never use it for what the network, a file or a user can cause: that is
// an Error (base/result.h) or a protocol error reply.
//
// Thread safety: safe from any thread.
#pragma once

#include <cstdio>
#include <cstdlib>

#define TRELLIS_CHECK(condition)                                                         \
  do {                                                                                   \
    if (!(condition)) [[unlikely]] {                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)
