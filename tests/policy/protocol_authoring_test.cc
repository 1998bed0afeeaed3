// Authoring (issue 21 item 2): the skeleton `xgw protocol new` writes and the
// offline check `xgw protocol check` runs with the daemon's loader.
#include <catch2/catch.hpp>

#include "policy/protocol_authoring.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;
using nlohmann::json;

namespace {

SkeletonAnswers Answers() {
  SkeletonAnswers a;
  a.id = "2026_VB_00001";
  a.title = "Test agreement";
  a.sender = {"org-thuispunt-gent", "Thuispunt Gent", "BE", "0400.032.156"};
  a.receiver = {"org-ocmw-gent", "OCMW Gent", "BE", "0212.214.125"};
  a.period = "month";
  a.valid_from = "2026-01-01";
  return a;
}

std::vector<std::string> Paths(const std::vector<DraftProblem>& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.path);
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("a skeleton from answers reports only its placeholders, each with a path and a hint", "[authoring]") {
  const std::string text = ProtocolSkeleton(Answers());
  CHECK(text.find("// ") != std::string::npos);  // commented
  auto problems = CheckProtocolDraft(text);
  REQUIRE_FALSE(problems.empty());
  for (const auto& p : problems) {
    INFO(p.path + ": " + p.reason);
    CHECK(p.path.rfind("$", 0) == 0);
    CHECK_FALSE(p.hint.empty());
  }
  auto paths = Paths(problems);
  CHECK(Has(paths, "$.purposes[0]"));
  CHECK(Has(paths, "$.fields[0].justification"));
  CHECK(Has(paths, "$.parties[0].dpo.name"));
  CHECK(Has(paths, "$.recipients[0].roles[0]"));
  CHECK(Has(paths, "$.approval.decision_date"));
  CHECK_FALSE(Has(paths, "$.parties[0].enterprise_number"));  // given
  CHECK_FALSE(Has(paths, "$.id"));
}

TEST_CASE("a filled-in skeleton passes the check and loads as xgwd loads it, comments and all", "[authoring]") {
  const std::string text = ProtocolSkeleton(Answers());
  json doc = json::parse(text, nullptr, true, true);
  // Fill in what an operator would.
  doc["purposes"] = {"Contact candidates in time."};
  doc["legal_basis"] = {"Vlaamse Codex Wonen 2021, art. 6.3/1", "OCMW-wet art. 57"};
  for (auto& f : doc["fields"]) f["justification"] = "Needed to identify and contact the person.";
  for (auto& party : doc["parties"]) party["dpo"] = {{"name", "DPO"}, {"email", "dpo@example.org"}};
  doc["recipients"][0]["roles"] = {"social-worker"};
  doc["approval"]["decision_reference"] = "2025_VB_00001";
  doc["approval"]["decision_date"] = "2025-12-15";
  doc["approval"]["decided_by"] = "Vast bureau";
  for (auto& adv : doc["approval"]["dpo_advice"]) adv["date"] = "2025-12-01";
  auto problems = CheckProtocolDraft(doc.dump(2));
  for (const auto& p : problems) INFO(p.path + ": " + p.reason);
  CHECK(problems.empty());
  auto p = ParseProtocol(doc.dump());
  REQUIRE(p);
  CHECK(p->retention.after_delivery->months == 3);
  CHECK(p->valid_until.year() == std::chrono::year{2026});
  CHECK_FALSE(p->frequency.one_off);
  // Comments change nothing: the same document with and without them hashes alike.
  CHECK(ParseProtocol("// a comment\n" + doc.dump() + "\n/* another */")->version_hash == p->version_hash);
}

TEST_CASE("a skeleton without answers still parses as JSON and names every placeholder", "[authoring]") {
  const std::string text = ProtocolSkeleton({});
  auto problems = CheckProtocolDraft(text);
  auto paths = Paths(problems);
  CHECK(Has(paths, "$.id"));
  CHECK(Has(paths, "$.parties[1].enterprise_number"));
  CHECK(Has(paths, "$.validity.from"));
  for (const auto& p : problems) {
    if (p.path == "$.parties[1].enterprise_number") CHECK(p.hint.find("xgw org create") != std::string::npos);
  }
}

TEST_CASE("the check gives hints for mistakes and suggests the key meant", "[authoring]") {
  json doc = json::parse(ProtocolSkeleton(Answers()), nullptr, true, true);
  doc["validty"] = doc["validity"];
  doc.erase("validity");
  doc["parties"][1].erase("enterprise_number");
  doc["time_zone"] = "Europe/Gent";
  doc["retention"] = {{"after_delivery", "3 months"}};
  auto problems = CheckProtocolDraft(doc.dump());
  auto find = [&](const std::string& path) -> const DraftProblem* {
    for (const auto& p : problems) {
      if (p.path == path) return &p;
    }
    return nullptr;
  };
  REQUIRE(find("$.validty"));
  CHECK(find("$.validty")->reason.find("did you mean \"validity\"") != std::string::npos);
  REQUIRE(find("$.validity"));
  CHECK(find("$.validity")->hint.find("xgw protocol new") != std::string::npos);
  REQUIRE(find("$.parties[1].enterprise_number"));
  CHECK(find("$.parties[1].enterprise_number")->reason.rfind("missing", 0) == 0);
  REQUIRE(find("$.time_zone"));
  CHECK(find("$.time_zone")->hint.find("Europe/Brussels") != std::string::npos);
  REQUIRE(find("$.retention.after_delivery"));
  CHECK(find("$.retention.after_delivery")->hint.find("P3M") != std::string::npos);
  CHECK(CheckProtocolDraft("{\"format\": ")[0].hint.find("comma") != std::string::npos);
}
