// TOTP (RFC 6238 appendix B, SHA-1 vectors), its verification window and
// replay guard, and the account helpers: Argon2id hashes, sealed secrets,
// one-time secrets and recovery codes.
#include <catch2/catch.hpp>
#include <string>

#include "crypto/io.h"
#include "gateway/account_crypto.h"
#include "gateway/sessions.h"
#include "gateway/totp.h"

using namespace xgw;

namespace {
const std::string kRfcSecret = "12345678901234567890";
}

TEST_CASE("TOTP matches the RFC 6238 appendix B SHA-1 vectors", "[totp]") {
  const struct {
    int64_t time;
    const char* code;
  } vectors[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
                 {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (const auto& v : vectors) {
    INFO(v.time);
    CHECK(TotpCode(AsBytes(kRfcSecret), TotpStep(v.time), 8) == v.code);
    // The 6-digit code is the last six digits of the same value.
    CHECK(TotpCode(AsBytes(kRfcSecret), TotpStep(v.time), 6) == std::string(v.code).substr(2));
  }
}

TEST_CASE("TOTP verification accepts one step either side and never a used step again", "[totp]") {
  const int64_t now = 1111111111;
  const auto key = AsBytes(kRfcSecret);
  const std::string current = TotpCode(key, TotpStep(now));
  CHECK(VerifyTotp(key, current, now, 0) == TotpStep(now));
  CHECK(VerifyTotp(key, TotpCode(key, TotpStep(now) - 1), now, 0) == TotpStep(now) - 1);
  CHECK(VerifyTotp(key, TotpCode(key, TotpStep(now) + 1), now, 0) == TotpStep(now) + 1);
  CHECK_FALSE(VerifyTotp(key, TotpCode(key, TotpStep(now) - 2), now, 0));
  CHECK_FALSE(VerifyTotp(key, TotpCode(key, TotpStep(now) + 2), now, 0));
  // Replay: a step at or before the last one used is refused.
  CHECK_FALSE(VerifyTotp(key, current, now, TotpStep(now)));
  CHECK_FALSE(VerifyTotp(key, TotpCode(key, TotpStep(now) - 1), now, TotpStep(now)));
  // Malformed codes.
  CHECK_FALSE(VerifyTotp(key, "", now, 0));
  CHECK_FALSE(VerifyTotp(key, "12345", now, 0));
  CHECK_FALSE(VerifyTotp(key, "12345a", now, 0));
  CHECK_FALSE(VerifyTotp(key, current + "0", now, 0));
}

TEST_CASE("The otpauth URI carries the base32 secret and the parameters apps expect", "[totp]") {
  CHECK(Base32Upper(AsBytes(kRfcSecret)) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  CHECK(OtpauthUri("xgw", "Alice Peeters", AsBytes(kRfcSecret)) ==
        "otpauth://totp/xgw:Alice%20Peeters?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=xgw&algorithm=SHA1&"
        "digits=6&period=30");
}

TEST_CASE("Passwords are Argon2id hashes that verify only the same password", "[accounts]") {
  auto hash = HashPassword("correct horse battery staple");
  REQUIRE(hash);
  CHECK(hash->rfind("$argon2id$", 0) == 0);
  CHECK(VerifyPassword(*hash, "correct horse battery staple"));
  CHECK_FALSE(VerifyPassword(*hash, "correct horse battery stapl"));
  CHECK_FALSE(VerifyPassword("not a hash", "x"));
  CHECK_FALSE(VerifyPassword("", ""));
}

TEST_CASE("A sealed secret opens only with its key and unaltered", "[accounts]") {
  SecretBuffer key = SecretBuffer::Random(32);
  SecretBuffer other = SecretBuffer::Random(32);
  std::string sealed = SealSecret(key, AsBytes(kRfcSecret));
  CHECK(sealed.find(kRfcSecret) == std::string::npos);
  auto opened = OpenSealed(key, sealed);
  REQUIRE(opened);
  CHECK(opened->view() == kRfcSecret);
  CHECK_FALSE(OpenSealed(other, sealed));
  sealed[sealed.size() - 1] ^= 1;
  CHECK_FALSE(OpenSealed(key, sealed));
  CHECK_FALSE(OpenSealed(key, "short"));
}

TEST_CASE("One-time secrets and recovery codes have their shapes and differ", "[accounts]") {
  const std::string a = NewOneTimeSecret("xgws_"), b = NewOneTimeSecret("xgws_");
  CHECK(IsOneTimeSecretShape("xgws_", a));
  CHECK(a != b);
  CHECK_FALSE(IsOneTimeSecretShape("xgwt_", a));
  CHECK_FALSE(IsOneTimeSecretShape("xgws_", a.substr(0, a.size() - 1)));
  CHECK(SecretHash(a).size() == 64);
  auto codes = NewRecoveryCodes();
  REQUIRE(codes.size() == 10);
  for (const auto& c : codes) {
    CHECK(c.size() == 23);
    CHECK(NormaliseRecoveryCode(c).size() == 20);
  }
  CHECK(NormaliseRecoveryCode("ABCDE-fghij 23456") == "abcdefghij23456");
}

TEST_CASE("The session cookie is found among others in a Cookie header", "[accounts]") {
  CHECK(SessionCookieValue("__Host-xgw_session=xgws_abc") == "xgws_abc");
  CHECK(SessionCookieValue("a=b; __Host-xgw_session=xgws_abc; c=d") == "xgws_abc");
  CHECK(SessionCookieValue("a=b; xgw_session=xgws_abc") == "");
  CHECK(SessionCookieValue("") == "");
}
