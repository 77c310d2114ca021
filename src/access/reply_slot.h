// ReplySlot: the place of one client request's reply in that client's ordered reply
// queue. The proxy sends a request's parts to backends; each backend fills its part as
// the reply arrives, in any order; when the last part is in, the slot merges them (a
// multi-get split across groups) and wakes the client, which writes completed slots
// strictly in request order.
//
// Thread safety: none; a slot, its client and the backends that fill it share a shard.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/waker.h"

namespace trellis::access {

using net::Waker;

// Where a backend delivers the reply to one request (or one part of a request).
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  virtual void Complete(size_t part, std::string reply) = 0;
};

class ReplySlot : public ReplySink {
 public:
  // Turns the parts' replies into the client's reply.
  using Merge = std::function<std::string(std::vector<std::string>& parts)>;

  // A reply known already (an error, a local command).
  explicit ReplySlot(std::string reply) : reply_(std::move(reply)), done_(true) {}
  // A reply of `parts` backend parts; without `merge` there must be one part.
  ReplySlot(std::shared_ptr<Waker> waker, size_t parts, Merge merge = nullptr)
      : waker_(std::move(waker)), parts_(parts), parts_left_(parts), merge_(std::move(merge)) {}

  void Complete(size_t part, std::string reply) override;

  bool done() const { return done_; }
  const std::string& reply() const { return reply_; }

 private:
  std::shared_ptr<Waker> waker_;
  std::vector<std::string> parts_;
  size_t parts_left_ = 0;
  Merge merge_;
  std::string reply_;
  bool done_ = false;
};

// Where a backend delivers one reply.
struct ReplyTarget {
  std::shared_ptr<ReplySink> slot;
  size_t part = 0;
};

}  // namespace trellis::access
