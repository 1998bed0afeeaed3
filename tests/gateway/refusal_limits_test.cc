// RefusalTally (coalesced refusals) and RateLimiter (token buckets): the
// bookkeeping behind issue 15 A.3, without a daemon.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "gateway/http/rate_limiter.h"
#include "gateway/refusal_tally.h"

using namespace xgw;

TEST_CASE("TheFirstRefusalOfAnAddressReasonAndMinuteIsRecordedAndTheRestCountedUntilTheMinuteEnds") {
  RefusalTally t;
  const int64_t minute = 1727400000 / 60 * 60;
  CHECK(t.Count("192.0.2.1", "unauthenticated", 401, minute + 1));
  for (int i = 0; i < 5; ++i) CHECK_FALSE(t.Count("192.0.2.1", "unauthenticated", 401, minute + 2));
  CHECK(t.Count("192.0.2.1", "invalid-path", 400, minute + 3));  // another reason
  CHECK(t.Count("192.0.2.2", "unauthenticated", 401, minute + 3));  // another address
  CHECK(t.TakeEnded(minute + 59).empty());  // the minute is not over
  CHECK(t.Count("192.0.2.1", "unauthenticated", 401, minute + 60));  // the next minute's first
  auto ended = t.TakeEnded(minute + 61);
  REQUIRE(ended.size() == 1);  // tallies with nothing beyond their first are not recorded again
  CHECK(ended[0].address == "192.0.2.1");
  CHECK(ended[0].count == 5);
  CHECK(ended[0].status == 401);
  CHECK(t.TakeEnded(minute + 61).empty());
}

TEST_CASE("PastItsBoundTheTallyCountsNewAddressesTogetherAndRecordsThemAll") {
  RefusalTally t;
  for (size_t i = 0; i < RefusalTally::kMaxEntries; ++i) {
    REQUIRE(t.Count("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), "unauthenticated",
                    401, 600));
  }
  CHECK_FALSE(t.Count("203.0.113.1", "unauthenticated", 401, 600));
  CHECK_FALSE(t.Count("203.0.113.2", "unauthenticated", 401, 600));
  auto all = t.TakeAll();
  REQUIRE(all.size() == 1);
  CHECK(all[0].address.empty());
  CHECK(all[0].count == 2);
}

TEST_CASE("ATokenBucketAllowsItsBurstThenItsRateAndSaysHowLongToWait") {
  RateLimiter limiter;
  const auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 10; ++i) CHECK(limiter.Take("k", 5, 10, t0) == 0);
  const uint32_t wait = limiter.Take("k", 5, 10, t0);
  CHECK(wait >= 1);
  CHECK(limiter.Take("other", 5, 10, t0) == 0);  // its own bucket
  CHECK(limiter.Take("k", 5, 10, t0 + std::chrono::milliseconds(250)) == 0);  // 1.25 tokens back
  CHECK(limiter.Take("k", 5, 10, t0 + std::chrono::milliseconds(250)) >= 1);
}
