#include "base/duration.h"

#include <charconv>
#include <cmath>
#include <string>

namespace trellis::base {

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  double number = 0;
  const char* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || rest == text.data() || !std::isfinite(number) || number < 0) {
    return InvalidArgument("'" + std::string(text) +
                           "' is not a duration (seconds, or a number with ms, s, m or h)");
  }
  const std::string_view unit(rest, end - rest);
  double milliseconds_per_unit = 0;
  if (unit.empty() || unit == "s") {
    milliseconds_per_unit = 1000;
  } else if (unit == "ms") {
    milliseconds_per_unit = 1;
  } else if (unit == "m") {
    milliseconds_per_unit = 60 * 1000;
  } else if (unit == "h") {
    milliseconds_per_unit = 3600 * 1000;
  } else {
    return InvalidArgument("'" + std::string(text) + "': unknown unit '" + std::string(unit) +
                           "' (ms, s, m or h)");
  }
  return std::chrono::milliseconds(std::llround(number * milliseconds_per_unit));
}

}  // namespace trellis::base
