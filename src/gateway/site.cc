#include "gateway/site.h"

namespace trellis::gateway {

void HttpMetrics::Count(unsigned status, std::chrono::steady_clock::time_point head_done) const {
  if (status >= 100 && status < 600 && responses[status / 100 - 1] != nullptr) {
    responses[status / 100 - 1]->Increment();
  }
  if (seconds != nullptr) {
    seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - head_done).count());
  }
}

}  // namespace trellis::gateway
