// Issue 21 item 1: calendar durations in the protocol's zone, decimal bounds
// and scale, units of measure, organisational units in recipient rules, and
// enterprise-number problems with what to do.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "policy/decimal.h"
#include "policy/decisions.h"
#include "policy/protocol.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;
using nlohmann::json;

namespace {

json RentField() {
  return {{"name", "monthly_rent"}, {"type", "decimal"}, {"min", 0},    {"max", "2500"},
          {"scale", 2},            {"unit", "EUR"},      {"required", true}, {"justification", "affordability"}};
}

Date Ymd(int y, unsigned m, unsigned d) { return std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}; }

}  // namespace

TEST_CASE("calendar durations parse years, months and days, the old parser still refuses them",
          "[calendar]") {
  auto d = ParseCalendarDuration("P1Y2M10D");
  REQUIRE(d);
  CHECK(d->months == 14);
  CHECK(d->exact == std::chrono::seconds{10 * 86400});
  CHECK(ParseCalendarDuration("P3M")->months == 3);
  CHECK(ParseCalendarDuration("P1MT12H")->exact == std::chrono::hours{12});
  CHECK(ParseCalendarDuration("PT5M")->months == 0);  // minutes, not months
  CHECK(ParseCalendarDuration("PT5M")->exact == std::chrono::minutes{5});
  CHECK(ParseCalendarDuration("P30D")->exact == std::chrono::seconds{30 * 86400});
  CHECK_FALSE(ParseCalendarDuration("P1D1M"));  // out of order
  CHECK_FALSE(ParseCalendarDuration("P0M"));
  CHECK_FALSE(ParseCalendarDuration("P1Y1Y"));
  CHECK_FALSE(ParseDuration("P1M"));
  CHECK(DescribeDuration(*ParseCalendarDuration("P1Y2M10D")) == "1 year, 2 months and 10 days");
  CHECK(DescribeDuration(*ParseCalendarDuration("P3M")) == "3 months");
}

TEST_CASE("a month is added on the calendar of the protocol's zone, clamped to the month's end", "[calendar]") {
  Protocol p = Cir();
  const TimeZone& z = *p.zone;
  // Across the end of summer time: the wall clock stays at 09:00.
  CHECK(ParseCalendarDuration("P2M")->AddTo(At(z, 2024, 9, 20, 9), z) == At(z, 2024, 11, 20, 9));
  CHECK(At(z, 2024, 11, 20, 9) == Utc(2024, 11, 20, 8));
  // 31 January + P1M = the last day of February (leap year and not).
  CHECK(ParseCalendarDuration("P1M")->AddTo(At(z, 2024, 1, 31, 12), z) == At(z, 2024, 2, 29, 12));
  CHECK(ParseCalendarDuration("P1M")->AddTo(At(z, 2025, 1, 31, 12), z) == At(z, 2025, 2, 28, 12));
  CHECK(ParseCalendarDuration("P1Y")->AddTo(At(z, 2024, 2, 29, 0), z) == At(z, 2025, 2, 28, 0));
  // Days after months, as exact seconds (the old meaning of PnD).
  CHECK(ParseCalendarDuration("P1M1D")->AddTo(At(z, 2024, 1, 31, 12), z) == At(z, 2024, 3, 1, 12));
  // Without months nothing changes: P30D is 30 x 86400 s even across DST.
  CHECK(ParseCalendarDuration("P30D")->AddTo(Utc(2024, 10, 10), z) == Utc(2024, 11, 9));
  CHECK(AddMonths(Ymd(2024, 12, 31), 2) == Ymd(2025, 2, 28));
}

TEST_CASE("retention after delivery in months sets the expiry on the calendar", "[calendar]") {
  json doc = CirJson();
  doc["retention"] = {{"after_delivery", "P3M"}};
  auto p = ParseProtocolDocument(doc);
  REQUIRE(p);
  ExchangeEvents e{At(*p->zone, 2024, 9, 20, 9), std::nullopt, std::nullopt, std::nullopt};
  auto expiry = ComputeExpiryAndCause(*p, e);
  CHECK(expiry.at == At(*p->zone, 2024, 12, 20, 9));
  CHECK(expiry.cause == ExpiryCause::kAfterDelivery);
  doc["retention"] = {{"after_delivery", "P3X"}};
  CHECK(HasProblem(ParseProtocolDocument(doc).error(), "$.retention.after_delivery", "P3M"));
}

TEST_CASE("validity may be given as a duration from its first day", "[calendar]") {
  json doc = CirJson();
  doc["validity"] = {{"from", "2024-01-31"}, {"duration", "P1M"}};
  auto p = ParseProtocolDocument(doc);
  REQUIRE(p);
  CHECK(p->valid_until == Ymd(2024, 2, 28));  // ends as 29 February begins
  doc["validity"] = {{"from", "2024-09-19"}, {"duration", "P1Y"}};
  CHECK(ParseProtocolDocument(doc)->valid_until == Ymd(2025, 9, 18));
  doc["validity"] = {{"from", "2024-09-19"}, {"duration", "P1Y"}, {"until", "2025-09-18"}};
  CHECK(HasProblem(ParseProtocolDocument(doc).error(), "$.validity", "either until"));
  doc["validity"] = {{"from", "2024-09-19"}, {"duration", "PT12H"}};
  CHECK(HasProblem(ParseProtocolDocument(doc).error(), "$.validity.duration", "whole days"));
}

TEST_CASE("decimal bounds and scale are checked exactly as decimals", "[decimal]") {
  json doc = CirJson();
  doc["fields"].push_back(RentField());
  auto p = ParseProtocolDocument(doc);
  REQUIRE(p);
  const Field& f = *p->FieldByName("monthly_rent");
  CHECK(f.unit == "EUR");
  std::string norm;
  std::string_view why;
  CHECK(ValidateValue(f.rule, "2500,00", &norm, &why));
  CHECK(norm == "2500");
  CHECK(ValidateValue(f.rule, "0", &norm, &why));
  CHECK_FALSE(ValidateValue(f.rule, "2500.01", &norm, &why));
  CHECK(why == "decimal.max");
  CHECK_FALSE(ValidateValue(f.rule, "-0.01", &norm, &why));
  CHECK(why == "decimal.min");
  CHECK_FALSE(ValidateValue(f.rule, "12.345", &norm, &why));
  CHECK(why == "decimal.scale");
  CHECK(ValidateValue(f.rule, "12.340", &norm, &why));  // trailing zeros are not digits of scale

  CHECK(CompareDecimal("-2", "-10") > 0);
  CHECK(CompareDecimal("0.1", "0.10") == 0);
  CHECK(CompareDecimal("9.99", "10") < 0);
  CHECK(DecimalScale("3.125") == 3);
}

TEST_CASE("decimal bounds that are no decimals, or reversed, are problems at their path", "[decimal]") {
  json doc = CirJson();
  json rent = RentField();
  rent["min"] = "1e3";
  rent["max"] = "abc";
  doc["fields"].push_back(rent);
  auto bad = ParseProtocolDocument(doc);
  REQUIRE_FALSE(bad);
  CHECK(HasProblem(bad.error(), "$.fields[7].min", "not a decimal bound"));
  CHECK(HasProblem(bad.error(), "$.fields[7].max", "not a decimal bound"));
  doc["fields"][7]["min"] = "10";
  doc["fields"][7]["max"] = "9.5";
  CHECK(HasProblem(ParseProtocolDocument(doc).error(), "$.fields[7].max", "below min"));
  doc["fields"][7] = RentField();
  doc["fields"][7]["type"] = "text";
  auto text = ParseProtocolDocument(doc);
  CHECK(HasProblem(text.error(), "$.fields[7].scale", "not allowed for type text"));
  CHECK(HasProblem(text.error(), "$.fields[7].unit", "not allowed for type text"));
}

TEST_CASE("a recipient rule may name a declared unit, members hold the role unit.<id>", "[units]") {
  json doc = CirJson();
  doc["parties"][1]["units"] = {"dienst-thuislozenzorg", "welzijnsbureau"};
  doc["recipients"] = {{{"organisation", "org-ocmw-gent"}, {"units", {"dienst-thuislozenzorg"}}}};
  auto p = ParseProtocolDocument(doc);
  REQUIRE(p);
  CHECK(MayReceive(*p, {"org-ocmw-gent", "u1", {"unit.dienst-thuislozenzorg"}}).empty());
  CHECK_FALSE(MayReceive(*p, {"org-ocmw-gent", "u2", {"unit.welzijnsbureau"}}).empty());
  CHECK_FALSE(MayReceive(*p, {"org-ocmw-gent", "u3", {"dienst-thuislozenzorg"}}).empty());  // not the unit role
  CHECK_FALSE(MayReceive(*p, {"org-thuispunt-gent", "u4", {"unit.dienst-thuislozenzorg"}}).empty());

  doc["recipients"][0]["units"] = {"onbekend"};
  CHECK(HasProblem(ParseProtocolDocument(doc).error(), "$.recipients[0].units[0]", "not a unit of party"));
  doc["parties"][1]["units"] = {"Dienst Thuislozenzorg"};
  CHECK(HasProblem(ParseProtocolDocument(doc).error(), "$.parties[1].units[0]", "unit id"));
}

TEST_CASE("a wrong enterprise number says how to find the right one", "[enterprise_number]") {
  json doc = CirJson();
  doc["parties"][1]["enterprise_number"] = "0212.214.126";
  auto p = ParseProtocolDocument(doc);
  REQUIRE_FALSE(p);
  CHECK(HasProblem(p.error(), "$.parties[1].enterprise_number", "KBO public search"));
}

TEST_CASE("every example protocol still loads unchanged", "[calendar]") {
  for (const char* name : {"cir-thuispunt-ocmw-2024_VB_00591.json", "ocmw-caw-medische-urgentie-2025.json",
                           "schuldhulp-woonstad-gemeente-2025.json"}) {
    INFO(name);
    CHECK_NOTHROW(LoadExample(name));
  }
}

TEST_CASE("the months, decimals and unit example loads with what it says", "[calendar]") {
  Protocol p = LoadExample("schuldhulp-maanden-eenheid-2026.json");
  CHECK(p.retention.after_delivery->months == 3);
  CHECK(p.valid_until == Ymd(2027, 12, 31));
  const Field& amount = *p.FieldByName("arrears_amount");
  CHECK(*amount.rule.decimal_min == "0.01");
  CHECK(*amount.rule.scale == 2);
  CHECK(amount.unit == "EUR");
  CHECK(MayReceive(p, {"org-gemeente-voorbeeld", "u1", {"unit.team-schuldhulp"}}).empty());
}
