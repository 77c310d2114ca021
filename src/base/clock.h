// The clocks Trellis reads, in one place. Two kinds of time matter:
//   - steady time (std::chrono::steady_clock, `SteadyClock` here) for every deadline,
//     timeout, lease and interval: it never jumps;
//   - Unix time for what the memcached protocol and the replication heartbeats speak in:
//     item expiry (seconds, from the coarse clock: one vDSO read with no syscall, read
//     once per batch of requests, never per request) and heartbeat ages (milliseconds).
// Code that takes synthetic time in tests (WriteGate, Store) takes the value as an
// argument instead of reading a clock.
//
// Thread safety: safe from any thread.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace trellis::base {

using SteadyClock = std::chrono::steady_clock;

// Unix seconds, from the coarse realtime clock (about a millisecond behind at most).
inline uint32_t CoarseUnixSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

// Unix milliseconds, from the precise realtime clock.
inline uint64_t UnixMilliseconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// `unix_seconds` in UTC as strftime's `format` writes it ("%Y-%m-%dT%H:%M:%SZ").
inline std::string FormatUtc(int64_t unix_seconds, const char* format) {
  const std::time_t time = unix_seconds;
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[64];
  return std::string(text, std::strftime(text, sizeof(text), format, &utc));
}

}  // namespace trellis::base
