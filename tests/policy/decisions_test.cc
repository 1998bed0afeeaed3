#include <catch2/catch.hpp>

#include <algorithm>

#include "policy/decisions.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;

namespace {

ProtocolStatus Accepted(const Protocol& p) {
  ProtocolStatus s;
  s.state = ProtocolState::kValid;
  for (const auto& party : p.parties) s.acceptances.push_back({party.id, p.version_hash, Utc(2024, 1, 1)});
  return s;
}

Manifest GoodManifest(const Protocol& p) {
  Manifest m;
  m.protocol_id = p.id;
  m.protocol_version = p.version_hash;
  m.list_format = InputFormat::kCsv;
  for (const auto& f : p.fields) m.columns.push_back(f.name);
  m.row_count = 10;
  m.byte_size = 1000;
  return m;
}

std::vector<std::string> Codes(const Violations& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.code);
  return out;
}

bool Has(const Violations& v, const std::string& code) {
  auto c = Codes(v);
  return std::find(c.begin(), c.end(), code) != c.end();
}

// What a caller passes as SendRequest::transfers_in_window for these past
// transfers: those in RelevantTransfers' window, up to its limit.
uint64_t InWindow(const Protocol& p, Instant now, const std::vector<Instant>& transfers) {
  const TransferWindow w = RelevantTransfers(p, now);
  const auto n = std::count_if(transfers.begin(), transfers.end(),
                               [&](Instant t) { return t >= w.since && t <= now; });
  return std::min<uint64_t>(static_cast<uint64_t>(n), w.limit);
}

}  // namespace

TEST_CASE("SenderMaySendAValidManifestInsideTheValidityPeriod") {
  auto p = Cir();
  SendRequest req{"org-thuispunt-gent", At(*p.zone, 2024, 9, 20, 10), 0};
  CHECK(DecideSend(p, Accepted(p), GoodManifest(p), req).empty());
}

TEST_CASE("EveryManifestViolationIsReportedAtOnce") {
  auto p = Cir();
  auto m = GoodManifest(p);
  m.columns = {"last_name", "iban"};   // not allowed + required missing
  m.row_count = 10001;
  m.byte_size = 20000000;
  SendRequest req{"org-ocmw-gent", At(*p.zone, 2024, 9, 20, 10), 0};
  req.transfers_in_window = InWindow(p, req.now, {Utc(2024, 9, 19, 12)});
  auto v = DecideSend(p, Accepted(p), m, req);
  CHECK(Has(v, "column_not_allowed"));
  CHECK(Has(v, "required_column_missing"));
  CHECK(Has(v, "too_many_rows"));
  CHECK(Has(v, "too_many_bytes"));
  CHECK(Has(v, "sender_not_sending_party"));
  CHECK(Has(v, "one_off_used"));
}

TEST_CASE("ManifestOfAnotherProtocolVersionIsRejected") {
  auto p = Cir();
  auto m = GoodManifest(p);
  m.protocol_version = std::string(64, 'a');
  SendRequest req{"org-thuispunt-gent", At(*p.zone, 2024, 9, 20, 10), 0};
  CHECK(Codes(DecideSend(p, Accepted(p), m, req)) == std::vector<std::string>{"protocol_mismatch"});
}

TEST_CASE("LifecycleStatesBlockSending") {
  auto p = Cir();
  auto m = GoodManifest(p);
  SendRequest req{"org-thuispunt-gent", At(*p.zone, 2024, 9, 20, 10), 0};
  auto s = Accepted(p);
  s.state = ProtocolState::kSuspended;
  CHECK(Has(DecideSend(p, s, m, req), "protocol_suspended"));
  s.state = ProtocolState::kTerminated;
  CHECK(Has(DecideSend(p, s, m, req), "protocol_terminated"));
  s.state = ProtocolState::kProposed;
  CHECK(Has(DecideSend(p, s, m, req), "protocol_not_accepted"));
  s = Accepted(p);
  s.acceptances.pop_back();
  CHECK(Has(DecideSend(p, s, m, req), "protocol_not_accepted"));
  s = Accepted(p);
  req.now = At(*p.zone, 2024, 9, 18, 23, 59, 59);
  CHECK(Has(DecideSend(p, s, m, req), "protocol_not_yet_valid"));
  req.now = At(*p.zone, 2024, 10, 1, 0, 0, 0);
  CHECK(Has(DecideSend(p, s, m, req), "protocol_expired"));
  s.state = ProtocolState::kExpired;
  CHECK(Has(DecideSend(p, s, m, req), "protocol_expired"));
}

TEST_CASE("SendingAfterTheFixedDeletionDateIsRefused") {
  auto p = Cir();
  SendRequest req{"org-thuispunt-gent", At(*p.zone, 2024, 9, 28, 0, 0, 0), 0};
  CHECK(Has(DecideSend(p, Accepted(p), GoodManifest(p), req), "retention_already_passed"));
  req.now = At(*p.zone, 2024, 9, 27, 23, 59, 59);
  CHECK_FALSE(Has(DecideSend(p, Accepted(p), GoodManifest(p), req), "retention_already_passed"));
}

TEST_CASE("FormatNotAllowedByTheProtocolIsRejected") {
  auto p = LoadExample("ocmw-caw-medische-urgentie-2025.json");  // xlsx only
  SendRequest req{"org-ocmw-gent", At(*p.zone, 2025, 6, 2, 10), 0};
  auto m = GoodManifest(p);
  CHECK(Has(DecideSend(p, Accepted(p), m, req), "format_not_allowed"));
  m.list_format = InputFormat::kXlsx;
  CHECK(DecideSend(p, Accepted(p), m, req).empty());
}

TEST_CASE("PeriodicQuotaCountsCalendarMonthsInTheProtocolZone") {
  auto p = LoadExample("schuldhulp-woonstad-gemeente-2025.json");  // 1 per month, Amsterdam
  auto z = p.zone;
  auto m = GoodManifest(p);
  SendRequest req{"org-woonstad-voorbeeld", At(*z, 2025, 5, 1, 0, 30), 0};
  std::vector<Instant> past = {At(*z, 2025, 4, 30, 23, 30)};
  req.transfers_in_window = InWindow(p, req.now, past);
  // 2025-04-30 23:30 local is April even though it is still... April in UTC too; the
  // first of May 00:30 local is 2025-04-30T22:30Z, April in UTC but May locally.
  CHECK(DecideSend(p, Accepted(p), m, req).empty());
  past.push_back(At(*z, 2025, 5, 1, 0, 10));
  req.transfers_in_window = InWindow(p, req.now, past);
  CHECK(Codes(DecideSend(p, Accepted(p), m, req)) == std::vector<std::string>{"period_quota_reached"});
}

TEST_CASE("WeeklyQuotaAllowsTwoPerIsoWeekInBothDirections") {
  auto p = LoadExample("ocmw-caw-medische-urgentie-2025.json");  // 2 per week, both directions
  auto z = p.zone;
  auto m = GoodManifest(p);
  m.list_format = InputFormat::kXlsx;
  // 2025-06-02 is a Monday.
  std::vector<Instant> past = {At(*z, 2025, 6, 1, 23), At(*z, 2025, 6, 2, 1)};
  SendRequest req{"org-caw-oost-vlaanderen", At(*z, 2025, 6, 8, 23), 0};
  req.transfers_in_window = InWindow(p, req.now, past);
  CHECK(DecideSend(p, Accepted(p), m, req).empty());
  past.push_back(At(*z, 2025, 6, 5, 12));
  req.transfers_in_window = InWindow(p, req.now, past);
  CHECK(Has(DecideSend(p, Accepted(p), m, req), "period_quota_reached"));
  req.now = At(*z, 2025, 6, 9, 0, 1);
  req.transfers_in_window = InWindow(p, req.now, past);
  CHECK(DecideSend(p, Accepted(p), m, req).empty());
}

TEST_CASE("RelevantTransfersStartAtTheCurrentPeriodInTheProtocolZone") {
  auto monthly = LoadExample("schuldhulp-woonstad-gemeente-2025.json");  // 1 per month, Amsterdam
  // 00:30 local on 1 May is still April in UTC: the window starts at local midnight.
  auto w = RelevantTransfers(monthly, At(*monthly.zone, 2025, 5, 1, 0, 30));
  CHECK(w.since == At(*monthly.zone, 2025, 5, 1, 0, 0));
  CHECK(w.limit == 1);
  CHECK(w.period == "month@Europe/Amsterdam");
  CHECK(RelevantTransfers(monthly, At(*monthly.zone, 2025, 5, 31, 23, 59)).since == w.since);
  auto weekly = LoadExample("ocmw-caw-medische-urgentie-2025.json");  // 2 per ISO week
  // Sunday 2025-06-08: the week began on Monday 2025-06-02.
  auto ww = RelevantTransfers(weekly, At(*weekly.zone, 2025, 6, 8, 23));
  CHECK(ww.since == At(*weekly.zone, 2025, 6, 2, 0, 0));
  CHECK(ww.limit == 2);
  // A transfer just before the window never changes the decision.
  auto m = GoodManifest(weekly);
  m.list_format = InputFormat::kXlsx;
  SendRequest req{"org-caw-oost-vlaanderen", At(*weekly.zone, 2025, 6, 8, 23), 0};
  req.transfers_in_window =
      InWindow(weekly, req.now, {ww.since - std::chrono::seconds(1), ww.since - std::chrono::seconds(2)});
  CHECK(req.transfers_in_window == 0);
  CHECK(DecideSend(weekly, Accepted(weekly), m, req).empty());
  // One-off: any earlier transfer counts, and one is enough to know.
  auto cir = Cir();
  auto wc = RelevantTransfers(cir, Utc(2024, 9, 20));
  CHECK(wc.since == Instant{});
  CHECK(wc.limit == 1);
  CHECK(wc.period == "one_off");
}

TEST_CASE("ReceiversAreMatchedByOrganisationRoleOrName") {
  auto p = Cir();
  CHECK(MayReceive(p, {"org-ocmw-gent", "u1", {"social-worker-thuislozenzorg"}}).empty());
  CHECK(MayReceive(p, {"org-ocmw-gent", "u2", {"it-admin", "administrative-staff"}}).empty());
  CHECK(MayReceive(p, {"org-ocmw-gent", "u3", {"it-admin"}})[0].code == "recipient_not_allowed");
  CHECK(MayReceive(p, {"org-thuispunt-gent", "u4", {"head-social-worker"}})[0].code == "recipient_not_allowed");
  auto q = LoadExample("ocmw-caw-medische-urgentie-2025.json");
  CHECK(MayReceive(q, {"org-ocmw-gent", "user-medisch-coordinator", {}}).empty());
  CHECK_FALSE(MayReceive(q, {"org-caw-oost-vlaanderen", "user-medisch-coordinator", {}}).empty());
}

TEST_CASE("CirExchangeExpiresAtTheEndOf27SeptemberBrusselsTime") {
  auto p = Cir();
  ExchangeEvents e{At(*p.zone, 2024, 9, 20, 10), std::nullopt, std::nullopt, std::nullopt};
  CHECK(FormatUtc(ComputeExpiry(p, e)) == "2024-09-27T22:00:00Z");
  e.acknowledged = At(*p.zone, 2024, 9, 23, 9);
  CHECK(ComputeExpiry(p, e) == *e.acknowledged);  // acknowledgement comes first
}

TEST_CASE("EarliestRetentionRuleWins") {
  auto p = LoadExample("ocmw-caw-medische-urgentie-2025.json");  // P14D after delivery, P7D after download, ack
  auto t0 = Utc(2025, 6, 2, 8);
  ExchangeEvents e{t0, std::nullopt, std::nullopt, std::nullopt};
  CHECK(ComputeExpiry(p, e) == t0 + std::chrono::days{14});
  e.first_download = t0 + std::chrono::days{2};
  CHECK(ComputeExpiry(p, e) == t0 + std::chrono::days{9});
  e.first_download = t0 + std::chrono::days{10};
  CHECK(ComputeExpiry(p, e) == t0 + std::chrono::days{14});
  e.acknowledged = t0 + std::chrono::hours{5};
  CHECK(ComputeExpiry(p, e) == t0 + std::chrono::hours{5});
}

TEST_CASE("TerminationDeletesOnlyWhenTheProtocolSaysSo") {
  auto cir = Cir();  // on_termination: delete
  auto t0 = At(*cir.zone, 2024, 9, 20, 10);
  ExchangeEvents e{t0, std::nullopt, std::nullopt, t0 + std::chrono::hours{1}};
  CHECK(ComputeExpiry(cir, e) == t0 + std::chrono::hours{1});
  auto keep = LoadExample("ocmw-caw-medische-urgentie-2025.json");  // on_termination: keep
  CHECK(ComputeExpiry(keep, e) == t0 + std::chrono::days{14});
}

TEST_CASE("FixedDeletionDateHonoursDstChange") {
  auto doc = Cir().document;
  doc["retention"]["delete_on"] = "2024-10-27";  // fall-back day: 25 hours
  doc["validity"]["until"] = "2024-10-31";
  auto p = ParseProtocolDocument(doc);
  REQUIRE(p);
  ExchangeEvents e{Utc(2024, 10, 1), std::nullopt, std::nullopt, std::nullopt};
  CHECK(FormatUtc(ComputeExpiry(*p, e)) == "2024-10-27T23:00:00Z");
  doc["retention"]["delete_on"] = "2024-03-31";  // spring-forward day
  doc["validity"] = {{"from", "2024-03-01"}, {"until", "2024-04-30"}};
  auto q = ParseProtocolDocument(doc);
  REQUIRE(q);
  CHECK(FormatUtc(ComputeExpiry(*q, e)) == "2024-03-31T22:00:00Z");
}

TEST_CASE("TheExpiryNamesTheRuleThatSetsIt") {
  auto p = LoadExample("ocmw-caw-medische-urgentie-2025.json");  // P14D after delivery, P7D after download, ack
  auto t0 = Utc(2025, 6, 2, 8);
  ExchangeEvents e{t0, std::nullopt, std::nullopt, std::nullopt};
  CHECK(ComputeExpiryAndCause(p, e).cause == ExpiryCause::kAfterDelivery);
  e.first_download = t0 + std::chrono::days{2};
  CHECK(ComputeExpiryAndCause(p, e).cause == ExpiryCause::kAfterFirstDownload);
  e.acknowledged = t0 + std::chrono::days{3};
  CHECK(ComputeExpiryAndCause(p, e).cause == ExpiryCause::kAcknowledged);
  CHECK(ExpiryReason(ExpiryCause::kAcknowledged) == "on_acknowledgement");
  auto cir = Cir();  // until 27/09/2024
  ExchangeEvents c{At(*cir.zone, 2024, 9, 20, 10), std::nullopt, std::nullopt, std::nullopt};
  CHECK(ComputeExpiryAndCause(cir, c).cause == ExpiryCause::kRetentionDate);
  CHECK(ExpiryReason(ComputeExpiryAndCause(cir, c).cause) == "retention_expired");
}
