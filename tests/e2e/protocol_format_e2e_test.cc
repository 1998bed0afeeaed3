// Issue 21 items 1 and 3 against the real xgwd: a protocol with calendar
// months, decimal bounds with a unit of measure and an organisational unit
// as recipient runs end to end; an unregistered or missing enterprise number
// is reported at its path with what to do; a changed version's diff is shown
// to a party's DPO. Every person in the lists is synthetic.
#include <catch2/catch.hpp>

#include <csignal>

#include "crypto/age.h"
#include "tests/e2e/cir_world.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

// The CIR example reshaped: periodic, kept two calendar months after
// delivery, valid for one year, a decimal "monthly_rent" in EUR between 0
// and 2500 with at most 2 decimals, readable only by OCMW's unit
// "welzijnsbureau".
json MonthsProtocol() {
  json doc = json::parse(ReadTextFile(kCirProtocolFile));
  doc["id"] = "cir-months-units";
  doc["frequency"] = {{"kind", "periodic"}, {"max_transfers", 10}, {"per", "month"}};
  doc["retention"] = {{"after_delivery", "P2M"}};
  doc["validity"] = {{"from", "2024-09-19"}, {"duration", "P1Y"}};
  doc["next_review"] = "2025-09-01";
  doc["parties"][1]["units"] = {"welzijnsbureau"};
  doc["recipients"] = {{{"organisation", "org-ocmw-gent"}, {"units", {"welzijnsbureau"}}}};
  doc["fields"].push_back({{"name", "monthly_rent"},
                           {"aliases", {"Huur"}},
                           {"type", "decimal"},
                           {"min", 0},
                           {"max", "2500"},
                           {"scale", 2},
                           {"unit", "EUR"},
                           {"required", true},
                           {"justification", "to check the candidate can afford the offered dwelling"}});
  return doc;
}

std::string Header() { return kCirHeader.substr(0, kCirHeader.size() - 1) + ";Huur\n"; }
std::string Row(int i, const std::string& rent) {
  std::string row = CirRow(i);
  return row.substr(0, row.size() - 1) + ";" + rent + "\n";
}

bool HasRule(const json& problem, const std::string& rule) {
  if (!problem.contains("violations")) return false;
  for (const auto& v : problem["violations"]) {
    if (v["code"] == "invalid_value" && v.value("message", "").find("rule " + rule) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a protocol with calendar months, decimal bounds, a unit of measure and an organisational unit "
          "runs end to end") {
  CirWorld w(MonthsProtocol());
  // A member of the unit (role unit.welzijnsbureau) with keys; the world's
  // social worker holds a role the protocol no longer names.
  Keys member_keys;
  Account member = w.User(w.ocmw, "unit member", {"unit.welzijnsbureau"}, &member_keys);
  w.ProposeAcceptActivate();

  json proto = MustJson(Request(*w.d, "GET", "/api/v1/protocols/cir-months-units", {.token = w.sender.token}), 200);
  CHECK(proto["valid_now"] == true);
  CHECK(proto["definition"]["validity"]["duration"] == "P1Y");
  json recipients = MustJson(
      Request(*w.d, "GET", "/api/v1/protocols/cir-months-units/recipients", {.token = w.sender.token}), 200);
  REQUIRE(recipients["items"].size() == 1);
  CHECK(recipients["items"][0]["user_id"] == member.user);

  // End-to-end send to the unit member; kept two calendar months in
  // Brussels: 2024-09-20 09:00 CEST + P2M = 2024-11-20 09:00 CET (08:00Z),
  // an hour later in UTC than 61 days of 86400 s would be.
  const std::string csv = Header() + Row(1, "650,50") + Row(2, "0") + Row(3, "2500.00");
  auto [manifest, sig] = w.SignedManifest(csv, w.sender_keys);
  json created = MustJson(w.Create(w.sender, manifest, sig), 201);
  const std::string id = created["id"];
  json uploaded = MustJson(w.Upload(w.sender, id, w.Encrypt(csv, member_keys)), 200);
  CHECK(uploaded["expires_at"] == "2024-11-20T08:00:00Z");
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = member.token});
  REQUIRE(dl.status == 200);
  CHECK(DecryptAge(*member_keys.identity, dl.body) == csv);
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token}).status == 404);

  // The daemon's own check refuses a rent above the maximum and one with
  // three decimals, naming the rule, never the value.
  auto too_high = w.SendPlaintext(Header() + Row(4, "2500.01"));
  CHECK(too_high.status == 422);
  CHECK(HasRule(too_high.Json(), "decimal.max"));
  CHECK(too_high.body.find("2500.01") == std::string::npos);
  auto too_precise = w.SendPlaintext(Header() + Row(5, "12,345"));
  CHECK(too_precise.status == 422);
  CHECK(HasRule(too_precise.Json(), "decimal.scale"));
  auto negative = w.SendPlaintext(Header() + Row(6, "-1"));
  CHECK(HasRule(negative.Json(), "decimal.min"));
  json fine = MustJson(w.SendPlaintext(Header() + Row(7, "1249,99")), 201);
  CHECK(fine["expires_at"] == "2024-11-20T08:00:00Z");

  // Still there a day before, deleted once the two months have passed.
  w.Advance(60 * 86400);  // 2024-11-19 07:00Z
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(w.State(id) == "available");
  w.Advance(86400 + 3600);  // 2024-11-20 08:00Z
  REQUIRE(w.WaitForState(id, "deleted"));
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("an unregistered or missing enterprise number is reported at its path with what to do") {
  CirWorld w;
  json doc = w.doc;
  doc["parties"][1]["enterprise_number"] = "0207.437.468";  // valid check digits, not registered here
  auto r = w.ProposeRequest(doc);
  REQUIRE(r.status == 422);
  json p = r.Json();
  REQUIRE(p["problems"].size() == 1);
  CHECK(p["problems"][0]["path"] == "$.parties[1].enterprise_number");
  const std::string reason = p["problems"][0]["reason"];
  CHECK(reason.find("register it first") != std::string::npos);
  CHECK(reason.find("xgw org create --name \"OCMW Gent\" --enterprise-number 0207437468") != std::string::npos);

  doc["parties"][1].erase("enterprise_number");
  auto missing = w.ProposeRequest(doc);
  REQUIRE(missing.status == 422);
  CHECK(missing.Json()["problems"][0]["path"] == "$.parties[1].enterprise_number");
  CHECK(missing.Json()["problems"][0]["reason"].get<std::string>().rfind("missing:", 0) == 0);
}

TEST_CASE("a DPO sees in plain words what a proposed new version changes before accepting it") {
  CirWorld w(MonthsProtocol());
  w.ProposeAcceptActivate();
  // No amendment yet: nothing to compare.
  CHECK(Request(*w.d, "GET", "/api/v1/protocols/cir-months-units/diff", {.token = w.dpo_recv.token}).status == 409);

  json changed = w.doc;
  changed["version"] = "2";
  changed["retention"] = {{"after_delivery", "P3M"}};
  changed["fields"].push_back({{"name", "phone"}, {"type", "phone"}, {"required", false},
                               {"justification", "to call the candidate"}});
  changed["recipients"][0]["roles"] = {"head-social-worker"};
  changed["limits"]["max_rows"] = 500;
  const std::string hash = MustJson(w.ProposeRequest(changed), 201)["version_hash"];

  json diff = MustJson(Request(*w.d, "GET", "/api/v1/protocols/cir-months-units/diff", {.token = w.dpo_recv.token}),
                       200);
  CHECK(diff["from"]["version_hash"] == w.protocol->version_hash);
  CHECK(diff["to"]["version_hash"] == hash);
  std::string all;
  for (const auto& c : diff["changes"]) all += c["area"].get<std::string>() + ": " + c["text"].get<std::string>() + "\n";
  INFO(all);
  CHECK(all.find("version: version label changed from \"1\" to \"2\"") != std::string::npos);
  CHECK(all.find("fields: field added: phone (phone, optional)") != std::string::npos);
  CHECK(all.find("recipients: recipient role at OCMW Gent (org-ocmw-gent) added: head-social-worker") !=
        std::string::npos);
  CHECK(all.find("retention: kept after delivery changed from 2 months to 3 months") != std::string::npos);
  CHECK(all.find("limits: row limit changed from 10000 rows to 500 rows") != std::string::npos);
  // Someone of no party does not see it.
  CHECK(Request(*w.d, "GET", "/api/v1/protocols/cir-months-units/diff", {.token = w.dpo_third.token}).status == 404);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
}
