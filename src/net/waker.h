// Waker: wakes one coroutine waiting on a shard, from that shard's thread; a Wake() with
// nobody waiting is remembered, so a wake between a check and the wait is not lost.
// From another thread, post the Wake() to the waiter's executor.
//
// Thread safety: none; belongs to one shard.
#pragma once

#include <chrono>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace trellis::net {

class Waker {
 public:
  explicit Waker(const boost::asio::any_io_executor& executor);
  boost::asio::awaitable<void> Wait();
  // Returns when woken or at `deadline`, whichever is first.
  boost::asio::awaitable<void> WaitUntil(std::chrono::steady_clock::time_point deadline);
  void Wake();

 private:
  boost::asio::steady_timer timer_;
  bool signaled_ = false;
};

}  // namespace trellis::net
