#include "gateway/http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace xgw {

uint32_t RateLimiter::Take(const std::string& key, double per_second, double burst,
                           Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxKeys) Shrink(per_second, burst, now);
    it = buckets_.emplace(key, Bucket{burst, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  b.tokens = std::min(burst, b.tokens + std::max(0.0, elapsed) * per_second);
  b.updated = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return static_cast<uint32_t>(std::max(1.0, std::ceil((1.0 - b.tokens) / per_second)));
}

void RateLimiter::Shrink(double per_second, double burst, Clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double elapsed = std::chrono::duration<double>(now - it->second.updated).count();
    if (it->second.tokens + elapsed * per_second >= burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  if (buckets_.size() >= kMaxKeys) buckets_.clear();
}

}  // namespace xgw
