// Token buckets per key (a client address, an API token): `per_second`
// requests a second on average, bursts of up to `burst`. Used by the router
// to answer 429 with Retry-After before a flood reaches the stores.
//
// Memory is bounded: past kMaxKeys buckets, the ones that are full again
// (idle clients) are dropped; if that is not enough, all are, which lets
// every client start from a full bucket (never refuses more).
//
// Thread-safe.
#ifndef XGW_GATEWAY_HTTP_RATE_LIMITER_H_
#define XGW_GATEWAY_HTTP_RATE_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace xgw {

class RateLimiter {
 public:
  static constexpr size_t kMaxKeys = 100000;
  using Clock = std::chrono::steady_clock;

  // 0 if a request by `key` may go ahead at `now` (it takes one token);
  // else how many whole seconds until it may (for Retry-After, >= 1).
  // REQUIRES: per_second > 0, burst >= 1.
  uint32_t Take(const std::string& key, double per_second, double burst, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  void Shrink(double per_second, double burst, Clock::time_point now);

  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_RATE_LIMITER_H_
