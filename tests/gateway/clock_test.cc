// The daemon clock and the configuration keys added with the exchange API.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "config/config.h"
#include "gateway/clock.h"
#include "tests/gateway/temp_dir.h"

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

TEST_CASE("AManualClockReopenedOnItsStateFileContinuesWhereItWas") {
  test::TempDir dir;
  const std::string file = ManualClockStatePath(dir.path);
  const int64_t start = 1726815600;  // 2024-09-20T07:00:00Z
  int64_t advanced = 0;
  {
    auto clock = ManualClock::Open(start, file);
    REQUIRE(clock);
    CHECK((*clock)->Now() < start + 60);
    REQUIRE((*clock)->Advance(10 * 86400));
    advanced = (*clock)->Now();
    struct stat st{};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  auto again = ManualClock::Open(start, file);
  REQUIRE(again);
  CHECK((*again)->Now() >= advanced);
  CHECK((*again)->Now() < advanced + 60);
}

TEST_CASE("AManualClockStartsAgainAtANewlyConfiguredStart") {
  test::TempDir dir;
  const std::string file = ManualClockStatePath(dir.path);
  {
    auto clock = ManualClock::Open(1726815600, file);
    REQUIRE(clock);
    REQUIRE((*clock)->Advance(30 * 86400));
  }
  auto reset = ManualClock::Open(1726815600 + 3600, file);
  REQUIRE(reset);
  CHECK((*reset)->Now() < 1726815600 + 3600 + 60);
}

TEST_CASE("ADamagedManualClockStateFileStopsTheStartWithAClearError") {
  test::TempDir dir;
  const std::string file = ManualClockStatePath(dir.path);
  std::ofstream(file) << "{\"clock_start\": 1";
  auto clock = ManualClock::Open(1726815600, file);
  REQUIRE_FALSE(clock);
  CHECK(ToString(clock.error()).find("delete it") != std::string::npos);
}

TEST_CASE("AManualClockWhosePositionCannotBeSavedIsNotAdvanced") {
  test::TempDir dir;
  const std::string sub = dir.path + "/state";
  REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
  auto clock = ManualClock::Open(1726815600, ManualClockStatePath(sub));
  REQUIRE(clock);
  const int64_t before = (*clock)->Now();
  std::filesystem::remove_all(sub);
  CHECK_FALSE((*clock)->Advance(86400));
  CHECK((*clock)->Now() < before + 60);
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
