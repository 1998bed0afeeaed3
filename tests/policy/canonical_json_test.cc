#include <catch2/catch.hpp>

#include "policy/canonical_json.h"

using namespace xgw;

TEST_CASE("CanonicalJsonSortsKeysAndDropsWhitespace") {
  auto v = nlohmann::json::parse(R"({ "b": [1, 2, {"z": true, "a": null}], "a": "x\u00e9\n" })");
  CHECK(CanonicalJson(v).value() == "{\"a\":\"x\xc3\xa9\\n\",\"b\":[1,2,{\"a\":null,\"z\":true}]}");
}

TEST_CASE("CanonicalJsonRefusesFloatsWithTheirPath") {
  auto v = nlohmann::json::parse(R"({"limits": {"ratio": 0.5}})");
  auto r = CanonicalJson(v);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kFormat);
  CHECK(r.error().message.find("$.limits.ratio") == std::string::npos);
  CHECK(r.error().message.find(".limits.ratio") != std::string::npos);
}

TEST_CASE("CanonicalJsonRefusesInvalidUtf8") {
  nlohmann::json v = std::string("\xff\xfe");
  CHECK_FALSE(CanonicalJson(v).has_value());
}
