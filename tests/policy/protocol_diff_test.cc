// DiffProtocols: what a DPO is shown before re-accepting a changed protocol.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "policy/protocol_diff.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;
using nlohmann::json;

namespace {

Protocol Parse(const json& doc) {
  auto p = ParseProtocolDocument(doc);
  if (!p) throw std::runtime_error(ProblemsToError(p.error()).message);
  return std::move(*p);
}

// The change lines of `area`, joined, to search in.
std::string Lines(const std::vector<ProtocolChange>& changes, const std::string& area) {
  std::string out;
  for (const auto& c : changes) {
    if (c.area == area) out += c.text + "\n";
  }
  return out;
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the same version has no changes", "[protocol_diff]") {
  Protocol a = Parse(CirJson());
  CHECK(DiffProtocols(a, a).empty());
}

TEST_CASE("an added and a removed field are named with their type and whether they are required",
          "[protocol_diff]") {
  json doc = CirJson();
  Protocol a = Parse(doc);
  doc["fields"].erase(doc["fields"].begin() + 4);  // missing_documents
  doc["fields"].push_back({{"name", "phone"}, {"type", "phone"}, {"required", false},
                           {"justification", "to call the candidate"}});
  auto changes = DiffProtocols(a, Parse(doc));
  const std::string fields = Lines(changes, "fields");
  CHECK(Has(fields, "field added: phone (phone, optional); justification: to call the candidate"));
  CHECK(Has(fields, "field removed: missing_documents (text, optional)"));
}

TEST_CASE("a field's changed rules are listed in plain words", "[protocol_diff]") {
  json doc = CirJson();
  Protocol a = Parse(doc);
  doc["fields"][4]["max_length"] = 20;
  doc["fields"][4]["required"] = true;
  doc["fields"][0]["aliases"].push_back("naam kandidaat");
  auto fields = Lines(DiffProtocols(a, Parse(doc)), "fields");
  CHECK(Has(fields, "field missing_documents: now required"));
  CHECK(Has(fields, "field missing_documents: rule added: text of at most 20 characters"));
  CHECK(Has(fields, "field missing_documents: rule removed: text of at most 2000 characters"));
  CHECK_FALSE(Has(fields, "rule added: required"));  // said once, as "now required"
  CHECK(Has(fields, "field last_name: accepted header added: naam kandidaat"));
}

TEST_CASE("recipients: roles, units and users added or removed per organisation", "[protocol_diff]") {
  json doc = CirJson();
  Protocol a = Parse(doc);
  doc["parties"][1]["units"] = {"dienst-thuislozenzorg"};
  doc["recipients"][0]["roles"] = {"head-social-worker"};
  doc["recipients"][0]["units"] = {"dienst-thuislozenzorg"};
  auto changes = DiffProtocols(a, Parse(doc));
  const auto r = Lines(changes, "recipients");
  CHECK(Has(r, "recipient role at OCMW Gent (org-ocmw-gent) removed: social-worker-thuislozenzorg; "
               "social-worker-welzijnsbureau; administrative-staff"));
  CHECK(Has(r, "recipient unit at OCMW Gent (org-ocmw-gent) added: dienst-thuislozenzorg"));
  CHECK(Has(Lines(changes, "parties"), "party org-ocmw-gent: units added: dienst-thuislozenzorg"));
}

TEST_CASE("retention, validity, frequency and limits changes say from what to what", "[protocol_diff]") {
  json doc = CirJson();
  Protocol a = Parse(doc);
  doc["retention"] = {{"after_delivery", "P3M"}, {"delete_on_acknowledgement", false}};
  doc["validity"] = {{"from", "2024-09-19"}, {"duration", "P1Y"}};
  doc["frequency"] = {{"kind", "periodic"}, {"max_transfers", 2}, {"per", "month"}};
  doc["limits"]["max_rows"] = 500;
  doc["input_formats"] = {"xlsx"};
  auto changes = DiffProtocols(a, Parse(doc));
  CHECK(Has(Lines(changes, "retention"), "deletion date changed from the end of 2024-09-27 to none"));
  CHECK(Has(Lines(changes, "retention"), "kept after delivery changed from none to 3 months"));
  CHECK(Has(Lines(changes, "retention"), "no longer deleted on acknowledgement"));
  CHECK(Has(Lines(changes, "validity"),
            "validity changed from 2024-09-19 .. 2024-09-30 to 2024-09-19 .. 2025-09-18 (inclusive days)"));
  CHECK(Has(Lines(changes, "frequency"), "how often changed from once only to at most 2 list(s) per month"));
  CHECK(Has(Lines(changes, "limits"), "row limit changed from 10000 rows to 500 rows"));
  CHECK(Has(Lines(changes, "input_formats"), "file format removed: csv"));
}

TEST_CASE("a change the model does not keep is still reported, never as no change", "[protocol_diff]") {
  json doc = CirJson();
  Protocol a = Parse(doc);
  doc["description"] = "Reworded.";
  auto changes = DiffProtocols(a, Parse(doc));
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].area == "text");
}

TEST_CASE("field rule words name every rule a sender must meet", "[protocol_diff]") {
  json doc = CirJson();
  doc["fields"].push_back({{"name", "rent"}, {"type", "decimal"}, {"required", true}, {"min", "0"},
                           {"max", "2500.5"}, {"scale", 2}, {"unit", "EUR"}, {"justification", "j"}});
  doc["fields"].push_back({{"name", "code"}, {"type", "regex"}, {"pattern", "[A-Z]{2}"}, {"max_length", 2},
                           {"required", false}, {"justification", "j"}});
  Protocol p = Parse(doc);
  CHECK(FieldRuleWords(*p.FieldByName("rent")) ==
        std::vector<std::string>{"required: every row needs a value", "number from 0 to 2500.5",
                                 "at most 2 digits after the decimal point", "in EUR"});
  CHECK(FieldRuleWords(*p.FieldByName("code")) ==
        std::vector<std::string>{"optional: may be left empty", "must match the pattern [A-Z]{2} (the whole value)",
                                 "at most 2 characters"});
}
