#include "access/reply_slot.h"

namespace trellis::access {

void ReplySlot::Complete(size_t part, std::string reply) {
  parts_[part] = std::move(reply);
  if (--parts_left_ > 0) {
    return;
  }
  reply_ = merge_ ? merge_(parts_) : std::move(parts_[0]);
  done_ = true;
  waker_->Wake();
}

}  // namespace trellis::access
