// The stored form of events: exact round trip, real savings, hostile bytes
// refused cleanly.
#include <catch2/catch.hpp>

#include "audit/event_codec.h"
#include "tests/audit/audit_test_util.h"

using namespace xgw;
using namespace xgw::testing;

TEST_CASE("StoredFormDecodesToTheExactCanonicalBytes") {
  for (int i = 0; i < 50; ++i) {
    for (const AuditEvent& e : {UserEvent(i), UserEvent(i, AuditAction::kExchangeUploaded),
                                DeletionEvent("x-" + std::to_string(i), 1727474399000 + i)}) {
      const std::string canonical = *ToCanonicalJson(e);
      const std::string stored = EncodeStoredEvent(canonical);
      CHECK(stored.size() * 10 < canonical.size() * 7);  // at least 30 % smaller
      std::string back;
      REQUIRE(DecodeStoredEvent(stored, back));
      CHECK(back == canonical);
    }
  }
}

TEST_CASE("BytesTheCodeCannotReproduceAreStoredAsTheyAre") {
  for (const std::string& s : {std::string("{\"a\":\"\x01\"}"), std::string("not json"), std::string()}) {
    CHECK(EncodeStoredEvent(s) == s);
    std::string back;
    REQUIRE(DecodeStoredEvent(EncodeStoredEvent(s), back));
    CHECK(back == s);
  }
}

TEST_CASE("TruncatedOrUnknownCodesAreCorruptNotCrashes") {
  const std::string stored = EncodeStoredEvent(*ToCanonicalJson(UserEvent(1)));
  for (size_t n = 1; n < stored.size(); ++n) {
    std::string out;
    (void)DecodeStoredEvent(stored.substr(0, n), out);  // no crash, whatever it says
  }
  std::string out;
  auto r = DecodeStoredEvent(std::string("\x01\x00", 2), out);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kCorrupt);
  CHECK_FALSE(DecodeStoredEvent(std::string("\x01\x02\xab", 3), out));
  CHECK_FALSE(DecodeStoredEvent(std::string("\x01\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), out));
}

// The encoder picks the shortest code stream (the greedy one it replaced left
// most keys and the time unpacked); the decoder and the codes are unchanged,
// so rows written by the greedy encoder decode exactly as before.
TEST_CASE("StoredFormIsAtMostHalfTheCanonicalSize") {
  for (int i = 0; i < 50; ++i) {
    const std::string canonical = *ToCanonicalJson(UserEvent(i));
    const std::string stored = EncodeStoredEvent(canonical);
    CHECK(stored.size() * 2 <= canonical.size());
  }
}

TEST_CASE("RowsWrittenByTheGreedyEncoderStillDecode") {
  // A benchmark event as the greedy encoder stored it (before 2026-12).
  const std::string hex =
      "01041F07752D33383235096F72672D32350A636C69656E74223A223139322E302E322E31300E65786368616E6765223A22782D"
      "3134383435360E6F726773223A5B226F72672D3332126F7574636F6D65223A22737563636573730E70726F746F636F6C223A7B"
      "226964223A22702D32351702CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC0D72657175657374"
      "223A22722D3539333832350E74696D65223A22323032342D30392D32375432323A30393A35322E3832355A1A";
  std::string greedy;
  for (size_t i = 0; i < hex.size(); i += 2) greedy.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  std::string back;
  REQUIRE(DecodeStoredEvent(greedy, back));
  CHECK(back ==
        R"({"action":"exchange.downloaded","actor":{"id":"u-3825","org":"org-25","type":"user"},)"
        R"("client":"192.0.2.10","exchange":"x-148456","orgs":["org-32"],"outcome":"success",)"
        R"("protocol":{"id":"p-25","version":")" + std::string(64, 'c') +
        R"("},"request":"r-593825","time":"2024-09-27T22:09:52.825Z","v":1})");
  auto event = ParseAuditEvent(back);
  REQUIRE(event);
  const std::string shortest = EncodeStoredEvent(back);
  CHECK(shortest.size() < greedy.size());
  std::string again;
  REQUIRE(DecodeStoredEvent(shortest, again));
  CHECK(again == back);
}
