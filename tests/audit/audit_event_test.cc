// The audit event schema: canonical bytes, and the structural rules that keep
// personal data out of the log.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

#include "audit/audit_event.h"
#include "policy/canonical_json.h"
#include "tests/audit/audit_test_util.h"

using namespace xgw;
using xgw::testing::DeletionEvent;
using xgw::testing::UserEvent;

TEST_CASE("EventSerialisesToExactCanonicalBytes") {
  auto json = ToCanonicalJson(DeletionEvent("x-1", 1727474399123));
  REQUIRE(json);
  CHECK(*json ==
        R"({"action":"exchange.deleted_expiry","actor":{"id":"sweeper","type":"system"},)"
        R"("exchange":"x-1","orgs":["org-ocmw-gent","org-thuispunt"],"outcome":"success",)"
        R"("reason":"retention_expired","time":"2024-09-27T21:59:59.123Z","v":1})");
}

TEST_CASE("EventRoundTripsThroughParse") {
  const AuditEvent e = UserEvent(42);
  auto json = ToCanonicalJson(e);
  REQUIRE(json);
  auto back = ParseAuditEvent(*json);
  REQUIRE(back);
  CHECK(*ToCanonicalJson(*back) == *json);
  CHECK(back->actor.org == e.actor.org);
  CHECK(back->time_ms == e.time_ms);
}

TEST_CASE("ReasonOutsideTheClosedVocabularyIsRejected") {
  AuditEvent e = UserEvent(1);
  e.reason = "jan_peeters";
  CHECK(ToCanonicalJson(e).error().code == ErrorCode::kInvalidArgument);
  e.reason = "Column Not Allowed";
  CHECK_FALSE(ToCanonicalJson(e));
  e.reason = "column_not_allowed";
  CHECK(ToCanonicalJson(e));
}

TEST_CASE("IdsThatCouldCarryPersonalDataAreRejected") {
  for (const std::string bad : {"Jan Peeters", "jan@example.org", "-lead", "a/b", "\xC3\xA9"}) {
    AuditEvent e = UserEvent(1);
    e.exchange_id = bad;
    auto r = ToCanonicalJson(e);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find(bad) == std::string::npos);  // never echo the value
  }
  AuditEvent e = UserEvent(1);
  e.actor.id.clear();
  CHECK_FALSE(ToCanonicalJson(e));
  CHECK(IsSafeId("2024_VB_00591"));
  CHECK(IsSafeId("org:kbo-0207.451.227"));
}

TEST_CASE("AnonymousActorMayNotCarryATypedLoginName") {
  AuditEvent e;
  e.time_ms = 1;
  e.action = AuditAction::kLoginFailed;
  e.outcome = AuditOutcome::kRefused;
  e.reason = "bad_credentials";
  e.actor = {ActorType::kAnonymous, "someone", ""};
  CHECK_FALSE(ToCanonicalJson(e));
  e.actor.id.clear();
  e.client_address = "2001:db8::1";
  CHECK(ToCanonicalJson(e));
  e.client_address = "host.example";
  CHECK_FALSE(ToCanonicalJson(e));
}

TEST_CASE("ParseRejectsUnknownFieldsAndNonCanonicalBytes") {
  const std::string good = *ToCanonicalJson(DeletionEvent("x-1", 5));
  CHECK(ParseAuditEvent(good));
  std::string extra = good;
  extra.insert(1, R"("name":"x",)");
  CHECK(ParseAuditEvent(extra).error().code == ErrorCode::kFormat);
  std::string spaced = good;
  spaced.insert(1, " ");
  CHECK(ParseAuditEvent(spaced).error().code == ErrorCode::kFormat);
  CHECK_FALSE(ParseAuditEvent("[]"));
  CHECK_FALSE(ParseAuditEvent("{"));
}

TEST_CASE("TimeFormatIsStrictUtcWithMilliseconds") {
  CHECK(FormatAuditTime(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatAuditTime(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(*ParseAuditTime("2024-09-27T21:59:59.123Z") == 1727474399123);
  CHECK_FALSE(ParseAuditTime("2023-02-29T00:00:00.000Z"));
  CHECK_FALSE(ParseAuditTime("2024-09-27T21:59:59Z"));
  CHECK_FALSE(ParseAuditTime("2024-09-27 21:59:59.123Z"));
}

TEST_CASE("ConcernedOrganisationsIncludeTheActorsOrganisation") {
  AuditEvent e = UserEvent(1);
  CHECK(ConcernedOrganisations(e) == std::vector<std::string>{"org-1", "org-thuispunt"});
}

namespace {

// The serialiser before it wrote bytes directly: a JSON tree through
// CanonicalJson. ToCanonicalJson must give exactly these bytes.
std::string ReferenceCanonicalJson(const AuditEvent& e) {
  nlohmann::json j = nlohmann::json::object();
  j["v"] = 1;
  j["time"] = FormatAuditTime(e.time_ms);
  static constexpr const char* kTypes[] = {"user", "org", "system", "anonymous"};
  nlohmann::json actor = {{"type", kTypes[static_cast<int>(e.actor.type)]}};
  if (!e.actor.id.empty()) actor["id"] = e.actor.id;
  if (!e.actor.org.empty()) actor["org"] = e.actor.org;
  j["actor"] = actor;
  j["action"] = std::string(AuditActionName(e.action));
  j["outcome"] = std::string(AuditOutcomeName(e.outcome));
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (!e.protocol_id.empty()) {
    nlohmann::json p = {{"id", e.protocol_id}};
    if (!e.protocol_version.empty()) p["version"] = e.protocol_version;
    j["protocol"] = p;
  }
  if (!e.exchange_id.empty()) j["exchange"] = e.exchange_id;
  if (!e.user_id.empty()) j["user"] = e.user_id;
  if (!e.token_id.empty()) j["token"] = e.token_id;
  if (!e.orgs.empty()) {
    std::vector<std::string> orgs = e.orgs;
    std::sort(orgs.begin(), orgs.end());
    orgs.erase(std::unique(orgs.begin(), orgs.end()), orgs.end());
    j["orgs"] = orgs;
  }
  if (!e.client_address.empty()) j["client"] = e.client_address;
  if (!e.request_id.empty()) j["request"] = e.request_id;
  if (e.count != 1) j["count"] = e.count;
  return *CanonicalJson(j);
}

}  // namespace

TEST_CASE("DirectSerialiserGivesTheSameBytesAsTheJsonTree") {
  std::mt19937_64 rng(22);
  const auto pick = [&](std::initializer_list<const char*> options) {
    return std::string(*(options.begin() + rng() % options.size()));
  };
  const ActorType types[] = {ActorType::kUser, ActorType::kOrganisation, ActorType::kSystem, ActorType::kAnonymous};
  const AuditOutcome outcomes[] = {AuditOutcome::kSuccess, AuditOutcome::kRefused, AuditOutcome::kFailed};
  for (int i = 0; i < 3000; ++i) {
    AuditEvent e;
    e.time_ms = static_cast<int64_t>(rng() % 253402300800000);
    if (i % 7 == 0) e.time_ms = i % 14 == 0 ? 0 : 253402300799999;
    e.actor.type = types[rng() % 4];
    if (e.actor.type != ActorType::kAnonymous) e.actor.id = pick({"u-1", "A.b_c:d-e", "sweeper", "org-9"});
    if (e.actor.type == ActorType::kUser) e.actor.org = pick({"org-1", "org-thuispunt", "Z"});
    e.action = static_cast<AuditAction>(rng() % 34);
    e.outcome = outcomes[rng() % 3];
    if (rng() % 2) e.reason = pick({"breach", "not_found", "after_first_download", "rate_limited"});
    if (rng() % 2) {
      e.protocol_id = pick({"2024_VB_00591", "p-1"});
      if (rng() % 2) e.protocol_version = std::string(64, "0a9f"[rng() % 4]);
    }
    if (rng() % 2) e.exchange_id = "x-" + std::to_string(rng() % 1000);
    if (rng() % 3 == 0) e.user_id = pick({"u-2", "u-1"});
    if (rng() % 3 == 0) e.token_id = "t-" + std::to_string(rng() % 100);
    for (size_t n = rng() % 4; n > 0; --n) e.orgs.push_back(pick({"org-b", "org-a", "org-c", "org-b"}));
    if (rng() % 2) e.client_address = pick({"192.0.2.7", "2001:db8::1", "::ffff:192.0.2.1"});
    if (rng() % 2) e.request_id = "r-" + std::to_string(rng());
    if (rng() % 4 == 0) e.count = 1 + rng() % (uint64_t{1} << 53);
    auto direct = ToCanonicalJson(e);
    REQUIRE(direct);
    REQUIRE(*direct == ReferenceCanonicalJson(e));
    auto back = ParseAuditEvent(*direct);
    REQUIRE(back);
  }
}

TEST_CASE("AuditTimesFormatAtTheEdgesOfTheirRange") {
  CHECK(FormatAuditTime(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatAuditTime(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(FormatAuditTime(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(FormatAuditTime(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(*ParseAuditTime("2024-09-27T21:59:59.123Z") == 1727474399123);
}
