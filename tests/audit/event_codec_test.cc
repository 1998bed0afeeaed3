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
