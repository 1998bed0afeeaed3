#include <catch2/catch.hpp>

#include "policy/timezone.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;
using std::chrono::year;

namespace {
std::shared_ptr<const TimeZone> Zone(const char* name) {
  auto z = TimeZone::Load(name);
  REQUIRE(z);
  return *z;
}
}  // namespace

TEST_CASE("BrusselsOffsetsAreOneHourInWinterAndTwoInSummer") {
  auto z = Zone("Europe/Brussels");
  CHECK(z->OffsetAt(Utc(2024, 1, 15, 12)) == 3600);
  CHECK(z->OffsetAt(Utc(2024, 7, 15, 12)) == 7200);
}

TEST_CASE("EndOfDayIsLocalMidnightOfTheNextDay") {
  auto z = Zone("Europe/Brussels");
  // "until 27/09/2024" = 2024-09-28T00:00 CEST = 2024-09-27T22:00Z.
  CHECK(FormatUtc(z->EndOfDay(year{2024} / 9 / 27)) == "2024-09-27T22:00:00Z");
}

TEST_CASE("EndOfDayOnSpringForwardDayUsesSummerOffset") {
  // 2024-03-31: 02:00 CET -> 03:00 CEST. The next midnight is in CEST.
  auto z = Zone("Europe/Brussels");
  CHECK(FormatUtc(z->EndOfDay(year{2024} / 3 / 31)) == "2024-03-31T22:00:00Z");
  CHECK(FormatUtc(z->StartOfDay(year{2024} / 3 / 31)) == "2024-03-30T23:00:00Z");  // a 23-hour day
  auto a = Zone("Europe/Amsterdam");
  CHECK(FormatUtc(a->EndOfDay(year{2024} / 3 / 31)) == "2024-03-31T22:00:00Z");
}

TEST_CASE("EndOfDayOnFallBackDayUsesWinterOffset") {
  // 2024-10-27: 03:00 CEST -> 02:00 CET. A 25-hour day.
  auto z = Zone("Europe/Brussels");
  CHECK(FormatUtc(z->StartOfDay(year{2024} / 10 / 27)) == "2024-10-26T22:00:00Z");
  CHECK(FormatUtc(z->EndOfDay(year{2024} / 10 / 27)) == "2024-10-27T23:00:00Z");
  auto a = Zone("Europe/Amsterdam");
  CHECK(FormatUtc(a->EndOfDay(year{2024} / 10 / 27)) == "2024-10-27T23:00:00Z");
}

TEST_CASE("AmbiguousWallTimeMapsToTheEarlierInstant") {
  auto z = Zone("Europe/Brussels");
  // 02:30 happens twice on 2024-10-27: first in CEST (00:30Z).
  CHECK(FormatUtc(At(*z, 2024, 10, 27, 2, 30)) == "2024-10-27T00:30:00Z");
}

TEST_CASE("NonexistentWallTimeMapsPastTheGap") {
  auto z = Zone("Europe/Brussels");
  // 02:30 does not exist on 2024-03-31; the offset before the gap gives 01:30Z = 03:30 CEST.
  CHECK(FormatUtc(At(*z, 2024, 3, 31, 2, 30)) == "2024-03-31T01:30:00Z");
}

TEST_CASE("FooterRuleCoversYearsAfterTheLastTransition") {
  auto z = Zone("Europe/Brussels");
  CHECK(z->OffsetAt(Utc(2060, 7, 1)) == 7200);
  CHECK(z->OffsetAt(Utc(2060, 12, 1)) == 3600);
  CHECK(FormatUtc(z->EndOfDay(year{2060} / 3 / 28)) == "2060-03-28T22:00:00Z");  // last Sunday of March 2060
}

TEST_CASE("ToLocalInvertsToUtc") {
  auto z = Zone("Europe/Amsterdam");
  auto t = At(*z, 2025, 6, 1, 13, 45, 10);
  auto l = z->ToLocal(t);
  CHECK(l.date == year{2025} / 6 / 1);
  CHECK(l.hour == 13);
  CHECK(l.minute == 45);
  CHECK(l.second == 10);
}

TEST_CASE("UnknownAndUnsafeZoneNamesAreRefused") {
  CHECK(TimeZone::Load("Europe/Atlantis").error().code == ErrorCode::kNotFound);
  CHECK(TimeZone::Load("../../etc/passwd").error().code == ErrorCode::kInvalidArgument);
  CHECK(TimeZone::Load("/etc/passwd").error().code == ErrorCode::kInvalidArgument);
  CHECK(TimeZone::FromTzif("x", "not a tzif file at all, sorry............................").error().code ==
        ErrorCode::kFormat);
}

TEST_CASE("IsoDatesAreParsedStrictly") {
  std::chrono::year_month_day d;
  CHECK(ParseIsoDate("2024-02-29", &d));
  CHECK_FALSE(ParseIsoDate("2023-02-29", &d));
  CHECK_FALSE(ParseIsoDate("2024-9-27", &d));
  CHECK_FALSE(ParseIsoDate("27/09/2024", &d));
}
