// LoadChecker: a client that keeps a cluster busy with a mixed load and checks that
// nothing it was told is lost (the invariants of docs/scale-out.md, as a linearizability
// checker in miniature). Each key has exactly one writer thread, which numbers its
// operations on the key and records each as sent, then as acknowledged; reader threads
// read other writers' keys. The checks:
//   - a read returns a version no older than the newest acknowledged before the read
//     began, and one that was sent by the time it ended; a miss only if the key's last
//     acknowledged state was deleted, or a delete was sent meanwhile;
//   - a counter (incr) reads between the count acknowledged before and the count sent
//     after; an appended key holds every appended piece in order, none missing;
//   - no request gets CLIENT_ERROR or an unexpected reply. A request that fails
//     (SERVER_ERROR, or no reply within 3 s) is counted as an error, not a violation:
//     a test that kills a node expects some, the others none. Its write may or may not
//     have happened, and the checks allow both;
//   - VerifyAll, once stopped: every key holds exactly its last acknowledged state.
// Every key is written once before the load starts. The writers mix set, ms, delete, md,
// incr, append, get, mg and multi-key gets; one set in 200 carries a 64 KiB value.
//
// Thread safety: Start, Stop, Verify and the report from the test's thread; the load
// runs on threads of its own, all joined by Stop or the destructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trellis::testing {

struct LoadCheckerOptions {
  std::vector<uint16_t> ports;  // Loopback memcached ports; threads go round them.
  int writers = 4;
  int readers = 2;
  int keys_per_writer = 300;
  size_t value_size = 64;
};

struct LoadCheckerReport {
  uint64_t operations = 0;
  uint64_t errors = 0;                    // Requests that failed.
  std::vector<std::string> first_errors;  // Up to 20: the request and its reply.
  uint64_t violations = 0;
  std::vector<std::string> first_violations;  // Up to 20, readable.
};

class LoadChecker {
 public:
  explicit LoadChecker(LoadCheckerOptions options);
  ~LoadChecker();
  LoadChecker(const LoadChecker&) = delete;
  LoadChecker& operator=(const LoadChecker&) = delete;

  void Start();
  void Stop();
  // Reads every key through the first port and checks its last acknowledged state.
  // REQUIRES: stopped.
  void VerifyAll();

  uint64_t operations() const { return operations_.load(); }
  LoadCheckerReport Report() const;

 private:
  struct Key;
  class Worker;

  void Violation(std::string what);
  void Error(std::string what);

  const LoadCheckerOptions options_;
  std::vector<std::unique_ptr<Key>> keys_;  // Writer w owns keys [w * n, (w + 1) * n).
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> operations_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  uint64_t errors_ = 0;                        // Guarded by mu_.
  std::vector<std::string> first_errors_;      // Guarded by mu_.
  uint64_t violations_ = 0;                    // Guarded by mu_.
  std::vector<std::string> first_violations_;  // Guarded by mu_.
};

}  // namespace trellis::testing
