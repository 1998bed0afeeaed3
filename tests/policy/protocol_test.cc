#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "policy/canonical_json.h"
#include "policy/manifest.h"
#include "policy/lifecycle.h"
#include "policy/protocol.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;
using nlohmann::json;

TEST_CASE("AllThreeExampleProtocolsLoad") {
  for (const char* name : {"cir-thuispunt-ocmw-2024_VB_00591.json", "schuldhulp-woonstad-gemeente-2025.json",
                           "ocmw-caw-medische-urgentie-2025.json"}) {
    auto p = LoadProtocolFile(ExamplePath(name));
    INFO(name << ": " << (p ? "" : p.error().message));
    REQUIRE(p);
    CHECK(p->version_hash.size() == 64);
  }
}

TEST_CASE("CirExampleMatchesTheApprovedProtocol") {
  auto p = Cir();
  CHECK(p.id == "2024_VB_00591");
  CHECK(p.IsSender("org-thuispunt-gent"));
  CHECK(p.IsReceiver("org-ocmw-gent"));
  CHECK_FALSE(p.IsSender("org-ocmw-gent"));
  CHECK(p.fields.size() == 7);
  CHECK(p.FieldByName("national_number")->subject_identifier);
  CHECK(p.FieldForHeader("Rijksregister-nummer") == nullptr);
  CHECK(p.FieldForHeader(" RIJKSREGISTERNUMMER ")->name == "national_number");
  CHECK(p.FieldForHeader("Prenom")->name == "first_name");
  CHECK(p.frequency.one_off);
  CHECK(p.retention.delete_on == std::chrono::year{2024} / 9 / 27);
  CHECK(p.zone->name() == "Europe/Brussels");
  CHECK(p.approval->dpo_advice.size() == 2);
  CHECK(p.parties[0].enterprise_number == "0400032156");
}

TEST_CASE("VersionHashIsTheCanonicalJsonHashAndChangesWithAnyEdit") {
  auto doc = ExampleJson("cir-thuispunt-ocmw-2024_VB_00591.json");
  auto a = ParseProtocolDocument(doc);
  REQUIRE(a);
  CHECK(a->version_hash == HexEncode(*CanonicalJsonHash(doc)));
  doc["title"] = doc["title"].get<std::string>() + ".";
  auto b = ParseProtocolDocument(doc);
  REQUIRE(b);
  CHECK(a->version_hash != b->version_hash);
}

TEST_CASE("LoadingReportsEveryProblemWithItsPath") {
  auto doc = ExampleJson("cir-thuispunt-ocmw-2024_VB_00591.json");
  doc["titel"] = "typo";                                       // unknown key
  doc["fields"][0]["type"] = "surname";                        // unknown validator
  doc["fields"][1]["aliases"].push_back("Naam");               // duplicate alias of field 0
  doc["fields"][2]["required"] = "yes";                        // wrong type
  doc["retention"] = json::object();                           // retention missing
  doc["recipients"][0]["roles"] = json::array();               // recipients empty
  doc["validity"]["until"] = "2024-09-01";                     // end before start
  doc["limits"]["max_rows"] = 1.5;                             // float
  doc["frequency"] = {{"kind", "periodic"}, {"max_transfers", 0}, {"per", "fortnight"}};
  doc["parties"][1]["enterprise_number"] = "0212.214.126";     // bad check digits
  doc["approval"]["dpo_advice"][0]["party"] = "org-nobody";
  auto p = ParseProtocolDocument(doc);
  REQUIRE_FALSE(p);
  const auto& pr = p.error();
  CHECK(HasProblem(pr, "$.titel", "unknown key"));
  CHECK(HasProblem(pr, "$.fields[0].type", "unknown validator"));
  CHECK(HasProblem(pr, "$.fields[1].aliases[3]", "duplicate alias"));
  CHECK(HasProblem(pr, "$.fields[2].required", "wrong type"));
  CHECK(HasProblem(pr, "$.retention", "retention missing"));
  CHECK(HasProblem(pr, "$.recipients[0]", "recipients empty"));
  CHECK(HasProblem(pr, "$.validity.until", "end before start"));
  CHECK(HasProblem(pr, "$.limits.max_rows", "wrong type"));
  CHECK(HasProblem(pr, "$.frequency.max_transfers", "out of range"));
  CHECK(HasProblem(pr, "$.frequency.per", "must be"));
  CHECK(HasProblem(pr, "$.parties[1].enterprise_number", "check digits"));
  CHECK(HasProblem(pr, "$.approval.dpo_advice[0].party", "not a party"));
  CHECK(pr.size() >= 12);
}

TEST_CASE("MissingMembersAndBadTypesAreReported") {
  auto p = ParseProtocol(R"({"format":"xgw-protocol/1","id":"x","fields":[{"name":"Bad Name","type":"regex","pattern":"(a+)+","required":true,"justification":"j","values":["a"]}]})");
  REQUIRE_FALSE(p);
  const auto& pr = p.error();
  CHECK(HasProblem(pr, "$.parties", "missing required key"));
  CHECK(HasProblem(pr, "$.retention", "missing required key"));
  CHECK(HasProblem(pr, "$.fields[0].name", "canonical field name"));
  CHECK(HasProblem(pr, "$.fields[0].pattern", "nested quantifiers"));
  CHECK(HasProblem(pr, "$.fields[0].values", "not allowed for type regex"));
}

TEST_CASE("DuplicateJsonKeysAndSyntaxErrorsAreReported") {
  auto text = R"({"id":"a","id":"b"})";
  auto p = ParseProtocol(text);
  REQUIRE_FALSE(p);
  CHECK(HasProblem(p.error(), "$", "duplicate key \"id\""));
  auto q = ParseProtocol("{\"id\": ");
  REQUIRE_FALSE(q);
  CHECK(HasProblem(q.error(), "$", "not valid JSON"));
}

// Found by tests/fuzz: a number beyond a double and a "kind" that is not a
// string threw out of the parser (the daemon answered 500, `xgw` aborted).
TEST_CASE("OutOfRangeNumbersAndWrongTypesAreProblemsNotExceptions") {
  auto huge = ParseProtocol(R"({"format":"xgw-protocol/1","id":"x","version":1e400})");
  REQUIRE_FALSE(huge);
  CHECK(HasProblem(huge.error(), "$", "number is out of range"));
  json doc = ExampleJson("cir-thuispunt-ocmw-2024_VB_00591.json");
  doc["frequency"] = {{"kind", true}};
  ProtocolProblems problems;
  REQUIRE_NOTHROW(problems = ParseProtocolDocument(doc).error());
  CHECK(HasProblem(problems, "$.frequency.kind", ""));
  auto manifest = ParseManifest(R"({"format":"xgw-manifest/1","row_count":563e763})");
  REQUIRE_FALSE(manifest);
  CHECK(manifest.error().message.find("number is out of range") != std::string::npos);
}

TEST_CASE("SpecialCategoryFieldNeedsItsBasis") {
  auto doc = ExampleJson("ocmw-caw-medische-urgentie-2025.json");
  REQUIRE(ParseProtocolDocument(doc));
  doc["fields"][3].erase("special_category_basis");
  doc["fields"][1]["special_category_basis"] = "x";
  auto p = ParseProtocolDocument(doc);
  REQUIRE_FALSE(p);
  CHECK(HasProblem(p.error(), "$.fields[3].special_category_basis", "missing"));
  CHECK(HasProblem(p.error(), "$.fields[1].special_category_basis", "only allowed"));
}

TEST_CASE("SubjectIdentifierMustUseAnIdentifierType") {
  auto doc = ExampleJson("cir-thuispunt-ocmw-2024_VB_00591.json");
  doc["fields"][0]["subject_identifier"] = true;
  auto p = ParseProtocolDocument(doc);
  REQUIRE_FALSE(p);
  CHECK(HasProblem(p.error(), "$.fields[0].subject_identifier", "identifier type"));
}

TEST_CASE("DurationsAreWeeksDaysHoursMinutesOnly") {
  CHECK(ParseDuration("P30D") == std::chrono::seconds{30 * 86400});
  CHECK(ParseDuration("P2W") == std::chrono::seconds{14 * 86400});
  CHECK(ParseDuration("P1DT6H") == std::chrono::seconds{30 * 3600});
  CHECK(ParseDuration("PT90M") == std::chrono::seconds{90 * 60});
  CHECK_FALSE(ParseDuration("P1M"));
  CHECK_FALSE(ParseDuration("P1Y"));
  CHECK_FALSE(ParseDuration("P"));
  CHECK_FALSE(ParseDuration("P0D"));
  CHECK_FALSE(ParseDuration("PD1"));
  CHECK_FALSE(ParseDuration("P1D2W"));
}

TEST_CASE("LifecycleTransitionsFollowTheModel") {
  auto p = Cir();
  auto now = Utc(2024, 9, 20);
  ProtocolStatus s;
  CHECK(CheckTransition(p, s, ProtocolState::kProposed, now));
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kValid, now));
  s.state = ProtocolState::kProposed;
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kValid, now));  // no acceptances
  s.acceptances.push_back({"org-thuispunt-gent", p.version_hash, now});
  s.acceptances.push_back({"org-ocmw-gent", std::string(64, '0'), now});  // another version
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kValid, now));
  s.acceptances.push_back({"org-ocmw-gent", p.version_hash, now});
  CHECK(CheckTransition(p, s, ProtocolState::kValid, now));
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kValid, Utc(2024, 10, 1)));  // period over
  // A proposal never put in force expires with its validity period, as a valid one does.
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kExpired, now));
  CHECK(CheckTransition(p, s, ProtocolState::kExpired, Utc(2024, 10, 1)));
  s.state = ProtocolState::kValid;
  CHECK(CheckTransition(p, s, ProtocolState::kSuspended, now));
  CHECK(CheckTransition(p, s, ProtocolState::kTerminated, now));
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kExpired, now));
  CHECK(CheckTransition(p, s, ProtocolState::kExpired, Utc(2024, 10, 1)));
  s.state = ProtocolState::kTerminated;
  CHECK_FALSE(CheckTransition(p, s, ProtocolState::kValid, now));
  CHECK(ProtocolStateFromName("suspended") == ProtocolState::kSuspended);
}

TEST_CASE("InForceNeedsValidStateAcceptancesAndTheValidityPeriod") {
  auto p = Cir();
  auto z = p.zone;
  ProtocolStatus s{ProtocolState::kValid,
                   {{"org-thuispunt-gent", p.version_hash, Utc(2024, 9, 19)}, {"org-ocmw-gent", p.version_hash, Utc(2024, 9, 19)}},
                   std::nullopt};
  CHECK(IsInForce(p, s, At(*z, 2024, 9, 19, 0, 0)));
  CHECK(IsInForce(p, s, At(*z, 2024, 9, 30, 23, 59, 59)));
  CHECK_FALSE(IsInForce(p, s, At(*z, 2024, 10, 1, 0, 0)));
  CHECK_FALSE(IsInForce(p, s, At(*z, 2024, 9, 18, 23, 59, 59)));
  s.acceptances.pop_back();
  CHECK(ActiveViolations(p, s, Utc(2024, 9, 20))[0].code == "protocol_not_accepted");
}
