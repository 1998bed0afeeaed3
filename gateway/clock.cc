#include "gateway/clock.h"

#include <ctime>

namespace xgw {

int64_t SystemClock::Now() const { return static_cast<int64_t>(std::time(nullptr)); }

ManualClock::ManualClock(int64_t start) : start_(start), origin_(std::chrono::steady_clock::now()) {}

int64_t ManualClock::Now() const {
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - origin_);
  return start_ + static_cast<int64_t>(elapsed.count()) + offset_.load();
}

bool ManualClock::Advance(int64_t seconds) {
  if (seconds <= 0) return false;
  offset_ += seconds;
  return true;
}

std::unique_ptr<Clock> MakeClock(const ClockConfig& config) {
  if (config.mode == "manual") return std::make_unique<ManualClock>(config.start);
  return std::make_unique<SystemClock>();
}

}  // namespace xgw
