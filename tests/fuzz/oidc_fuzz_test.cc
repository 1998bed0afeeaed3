// Mutation fuzzing of the single sign-on parsers (gateway/oidc_jose.h): ID
// tokens (compact JWS, then signature and claims) and JWKS documents, which
// come from the network. Seeded like mutation_fuzz_test.cc (XGW_FUZZ_SEED,
// XGW_FUZZ_ITERATIONS). What must hold: no crash or exception, every refusal
// has a reason and a detail, and no mutation of a signed token is ever
// accepted (only the seeds themselves are: a JWS is not malleable here).
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/oidc_jose.h"
#include "tests/fuzz/mutator.h"

using namespace xgw;
using namespace xgw::oidc;
using nlohmann::json;
using xgw::fuzz::EnvNumber;
using xgw::fuzz::Mutator;

namespace {

constexpr int64_t kNow = 1800000000;

std::string Bn(const BIGNUM* bn, int width) {
  std::string out(static_cast<size_t>(width), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width);
  return out;
}

struct Signer {
  std::shared_ptr<EVP_PKEY> key;
  std::string alg;
  json jwk;

  explicit Signer(const std::string& a) : alg(a) {
    key.reset(a == "RS256" ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"), EVP_PKEY_free);
    REQUIRE(key);
    if (a == "RS256") {
      BIGNUM *n = nullptr, *e = nullptr;
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
      jwk = {{"kty", "RSA"}, {"kid", "r"}, {"n", Base64UrlEncode(Bn(n, BN_num_bytes(n)))},
             {"e", Base64UrlEncode(Bn(e, BN_num_bytes(e)))}};
      BN_free(n);
      BN_free(e);
    } else {
      BIGNUM *x = nullptr, *y = nullptr;
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
      jwk = {{"kty", "EC"}, {"kid", "e"}, {"crv", "P-256"}, {"x", Base64UrlEncode(Bn(x, 32))},
             {"y", Base64UrlEncode(Bn(y, 32))}};
      BN_free(x);
      BN_free(y);
    }
  }

  std::string Sign(const json& claims) const {
    const std::string input = Base64UrlEncode(json{{"alg", alg}, {"kid", jwk["kid"]}}.dump()) + "." +
                              Base64UrlEncode(claims.dump());
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    REQUIRE(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
    REQUIRE(EVP_DigestSign(md.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    std::string sig(len, '\0');
    REQUIRE(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
    sig.resize(len);
    if (alg == "ES256") {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      REQUIRE(es);
      sig = Bn(ECDSA_SIG_get0_r(es), 32) + Bn(ECDSA_SIG_get0_s(es), 32);
      ECDSA_SIG_free(es);
    }
    return input + "." + Base64UrlEncode(sig);
  }
};

// Runs `accept` on the seeds and on mutations of them; both outcomes must occur.
void Fuzz(const char* target, const std::vector<std::string>& seeds, uint64_t salt,
          const std::function<bool(const std::string&)>& accept) {
  const uint64_t iterations = EnvNumber("XGW_FUZZ_ITERATIONS", 2000);
  Mutator m(EnvNumber("XGW_FUZZ_SEED", 1) * 1000003 + salt);
  uint64_t accepted = 0, refused = 0;
  for (const auto& s : seeds) {
    bool ok = false;
    REQUIRE_NOTHROW(ok = accept(s));
    (ok ? accepted : refused)++;
  }
  for (uint64_t i = 0; i < iterations; ++i) {
    INFO(target << " iteration " << i << " (XGW_FUZZ_SEED=" << EnvNumber("XGW_FUZZ_SEED", 1) << ")");
    const std::string input = m.Mutate(seeds[m.Below(seeds.size())], seeds);
    bool ok = false;
    REQUIRE_NOTHROW(ok = accept(input));
    (ok ? accepted : refused)++;
  }
  INFO(target << ": " << accepted << " accepted, " << refused << " refused");
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

}  // namespace

TEST_CASE("FuzzIdTokens") {
  const Signer rsa("RS256"), ec("ES256");
  const json claims = {{"iss", "https://idp.example.org"}, {"aud", "xgw"}, {"sub", "s-1"}, {"nonce", "n"},
                       {"exp", kNow + 300}, {"iat", kNow}};
  const std::vector<std::string> seeds = {rsa.Sign(claims), ec.Sign(claims)};
  auto rsa_key = ParseJwk(rsa.jwk);
  auto ec_key = ParseJwk(ec.jwk);
  REQUIRE(rsa_key);
  REQUIRE(ec_key);
  const IdTokenExpectations expect{"https://idp.example.org", "xgw", "n", kNow};
  Fuzz("id token", seeds, 21, [&](const std::string& in) {
    auto jws = ParseCompactJws(in);
    bool ok = false;
    if (jws) {
      auto sig = VerifySignature(*jws, jws->alg == "RS256" ? *rsa_key : *ec_key);
      if (sig) {
        auto c = CheckIdTokenClaims(jws->claims, expect);
        ok = c.has_value();
        if (!c) CHECK_FALSE(c.error().detail.empty());
      } else {
        CHECK_FALSE(sig.error().reason.empty());
      }
    } else {
      CHECK_FALSE(jws.error().reason.empty());
      CHECK_FALSE(jws.error().detail.empty());
    }
    // Only the tokens as signed are accepted.
    if (ok) CHECK(std::find(seeds.begin(), seeds.end(), in) != seeds.end());
    return ok;
  });
}

TEST_CASE("FuzzJwksDocuments") {
  const Signer rsa("RS256"), ec("ES256");
  const std::vector<std::string> seeds = {json{{"keys", {rsa.jwk, ec.jwk}}}.dump(),
                                          json{{"keys", {ec.jwk}}}.dump()};
  Fuzz("jwks", seeds, 22, [](const std::string& in) {
    auto doc = ParseStrictJson(in, 256 * 1024);
    if (!doc) return false;
    auto keys = ParseJwks(*doc);
    if (!keys) CHECK_FALSE(keys.error().message.empty());
    return keys.has_value() && !keys->empty();
  });
}
