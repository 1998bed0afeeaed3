// The daemon clock and the configuration keys added with the exchange API.
#include <catch2/catch.hpp>

#include "config/config.h"
#include "gateway/clock.h"

using namespace xgw;
using nlohmann::json;

TEST_CASE("ManualClockStartsAtItsConfiguredTimeAndOnlyMovesForward") {
  auto c = ParseConfig(json{{"clock", {{"mode", "manual"}, {"start", "2024-09-20T07:00:00Z"}}}});
  REQUIRE(c);
  auto clock = MakeClock(c->clock);
  REQUIRE(clock->manual());
  const int64_t t0 = clock->Now();
  CHECK(t0 >= 1726815600);
  CHECK(t0 < 1726815600 + 60);
  CHECK_FALSE(clock->Advance(0));
  CHECK_FALSE(clock->Advance(-5));
  REQUIRE(clock->Advance(8 * 86400));
  CHECK(clock->Now() >= t0 + 8 * 86400);
}

TEST_CASE("SystemClockCannotBeAdvanced") {
  auto clock = MakeClock(ClockConfig{});
  CHECK_FALSE(clock->manual());
  CHECK_FALSE(clock->Advance(10));
}

TEST_CASE("ClockAuditAndExchangeKeysAreValidatedAndRoundTrip") {
  CHECK_FALSE(ParseConfig(json{{"clock", {{"mode", "manual"}}}}));                 // start required
  CHECK_FALSE(ParseConfig(json{{"clock", {{"mode", "fast"}}}}));
  CHECK_FALSE(ParseConfig(json{{"clock", {{"mode", "manual"}, {"start", "2024-02-31T00:00:00Z"}}}}));
  CHECK_FALSE(ParseConfig(json{{"audit", {{"origin", "has space"}}}}));
  CHECK_FALSE(ParseConfig(json{{"exchanges", {{"sweep_interval_seconds", 61}}}}));
  CHECK_FALSE(ParseConfig(json{{"exchanges", {{"sweep_interval_secs", 5}}}}));
  auto c = ParseConfig(json{{"clock", {{"mode", "manual"}, {"start", "2024-09-20T07:00:00Z"}}},
                            {"audit", {{"origin", "xgw.example.org/audit"}, {"checkpoint_interval_seconds", 60}}},
                            {"exchanges", {{"sweep_interval_seconds", 5}}}});
  REQUIRE(c);
  CHECK(c->clock.start == 1726815600);
  CHECK(c->exchanges.sweep_interval_seconds == 5);
  CHECK(c->exchanges.pending_timeout_seconds == 3600);
  auto again = ParseConfig(DumpConfig(*c));
  REQUIRE(again);
  CHECK(*again == *c);
  CHECK(FormatUtcTime(c->clock.start) == "2024-09-20T07:00:00Z");
}
