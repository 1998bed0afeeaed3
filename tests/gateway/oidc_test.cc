// The OpenID Connect verification core (gateway/oidc_jose.h) and the
// provider's caches (gateway/oidc_provider.h) with an injected fetcher:
// real RS256 and ES256 signatures made here with OpenSSL, each way an ID
// token can be wrong refused with its own reason, malformed tokens refused
// without a crash, PKCE S256 against RFC 7636's example, and the JWKS cache
// (max-age bounds, one refetch per interval for an unknown kid, a key that
// left the set no longer accepted). tests/e2e/sso_e2e_test.cc runs the same
// code against tests/oidc/provider.py over real TLS.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>

#include "gateway/oidc_jose.h"
#include "gateway/oidc_provider.h"

using namespace xgw;
using namespace xgw::oidc;
using nlohmann::json;

namespace {

constexpr int64_t kNow = 1800000000;
const std::string kIssuer = "https://idp.example.org/tenant";
const std::string kClient = "xgw-client";

std::string Bytes(const unsigned char* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

std::string BnBytes(const BIGNUM* bn, int width = 0) {
  std::string out(static_cast<size_t>(width ? width : BN_num_bytes(bn)), '\0');
  if (width) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

// A signing key made here, its public JWK, and compact JWS signing.
struct TestKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string alg;  // RS256 / ES256
  std::string kid;

  static TestKey Make(const std::string& alg, const std::string& kid) {
    EVP_PKEY* k = alg == "RS256" ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    REQUIRE(k != nullptr);
    return TestKey{std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free), alg, kid};
  }

  json Jwk() const {
    json j = {{"kid", kid}, {"use", "sig"}, {"alg", alg}};
    if (alg == "RS256") {
      BIGNUM *n = nullptr, *e = nullptr;
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n);
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e);
      j["kty"] = "RSA";
      j["n"] = Base64UrlEncode(BnBytes(n));
      j["e"] = Base64UrlEncode(BnBytes(e));
      BN_free(n);
      BN_free(e);
    } else {
      BIGNUM *x = nullptr, *y = nullptr;
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
      j["kty"] = "EC";
      j["crv"] = "P-256";
      j["x"] = Base64UrlEncode(BnBytes(x, 32));
      j["y"] = Base64UrlEncode(BnBytes(y, 32));
      BN_free(x);
      BN_free(y);
    }
    return j;
  }

  std::string RawSign(const std::string& input) const {
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    REQUIRE(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) == 1);
    size_t len = 0;
    REQUIRE(EVP_DigestSign(md.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    std::string sig(len, '\0');
    REQUIRE(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
    sig.resize(len);
    if (alg == "ES256") {  // DER -> r||s
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      REQUIRE(es != nullptr);
      std::string raw = BnBytes(ECDSA_SIG_get0_r(es), 32) + BnBytes(ECDSA_SIG_get0_s(es), 32);
      ECDSA_SIG_free(es);
      return raw;
    }
    return sig;
  }

  std::string Sign(const json& claims, json header = json::object()) const {
    if (!header.contains("alg")) header["alg"] = alg;
    if (!header.contains("kid")) header["kid"] = kid;
    const std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
    return input + "." + Base64UrlEncode(RawSign(input));
  }
};

json GoodClaims() {
  return {{"iss", kIssuer}, {"aud", kClient}, {"sub", "248289761001"}, {"nonce", "n-0S6_WzA2Mj"},
          {"exp", kNow + 300}, {"iat", kNow - 10}, {"email", "clerk@example.org"}};
}

Checked<json> Verify(const TestKey& key, const std::string& token, const std::string& nonce = "n-0S6_WzA2Mj") {
  auto jws = ParseCompactJws(token);
  if (!jws) return tl::unexpected(jws.error());
  auto jwk = ParseJwk(key.Jwk());
  REQUIRE(jwk);
  if (auto ok = VerifySignature(*jws, *jwk); !ok) return tl::unexpected(ok.error());
  IdTokenExpectations e{kIssuer, kClient, nonce, kNow};
  if (auto ok = CheckIdTokenClaims(jws->claims, e); !ok) return tl::unexpected(ok.error());
  return jws->claims;
}

std::string ReasonOf(const Checked<json>& r) { return r ? "accepted" : r.error().reason; }

}  // namespace

TEST_CASE("base64url decoding is strict", "[oidc]") {
  CHECK(Base64UrlDecode("") == std::string());
  CHECK(Base64UrlDecode("Zm9v") == std::string("foo"));
  CHECK(Base64UrlDecode("Zm8") == std::string("fo"));
  CHECK(Base64UrlDecode("_-8") == std::string("\xff\xef"));
  CHECK_FALSE(Base64UrlDecode("Zm8="));   // padding
  CHECK_FALSE(Base64UrlDecode("Zm+v"));   // standard alphabet
  CHECK_FALSE(Base64UrlDecode("Zm9vY"));  // length 1 mod 4
  CHECK_FALSE(Base64UrlDecode("Zm9"));    // non-zero unused bits ("Zm8" is canonical)
  CHECK_FALSE(Base64UrlDecode("Zm 9v"));
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    CHECK(Base64UrlDecode(Base64UrlEncode(s)) == s);
  }
}

TEST_CASE("RS256 and ES256 ID tokens with real signatures are accepted", "[oidc]") {
  for (const char* alg : {"RS256", "ES256"}) {
    INFO(alg);
    TestKey key = TestKey::Make(alg, std::string("k-") + alg);
    auto claims = Verify(key, key.Sign(GoodClaims()));
    REQUIRE(claims);
    CHECK((*claims)["email"] == "clerk@example.org");
  }
}

TEST_CASE("aud may be an array naming this client, with azp when it names several", "[oidc]") {
  TestKey key = TestKey::Make("RS256", "k1");
  json c = GoodClaims();
  c["aud"] = json::array({kClient});
  CHECK(Verify(key, key.Sign(c)));
  c["aud"] = json::array({kClient, "other-api"});
  CHECK(ReasonOf(Verify(key, key.Sign(c))) == "audience");  // several audiences, no azp
  c["azp"] = kClient;
  CHECK(Verify(key, key.Sign(c)));
  c["azp"] = "other-api";
  CHECK(ReasonOf(Verify(key, key.Sign(c))) == "audience");
  c = GoodClaims();
  c["aud"] = json::array({"other-api"});
  CHECK(ReasonOf(Verify(key, key.Sign(c))) == "audience");
  c["aud"] = 42;
  CHECK(ReasonOf(Verify(key, key.Sign(c))) == "audience");
}

TEST_CASE("each wrong claim is refused with its own reason", "[oidc]") {
  TestKey key = TestKey::Make("ES256", "k1");
  const auto with = [&](const char* name, json value) {
    json c = GoodClaims();
    if (value.is_null()) {
      c.erase(name);
    } else {
      c[name] = value;
    }
    return ReasonOf(Verify(key, key.Sign(c)));
  };
  CHECK(with("aud", "someone-else") == "audience");
  CHECK(with("aud", nullptr) == "audience");
  CHECK(with("iss", "https://idp.example.org/other") == "issuer");
  CHECK(with("iss", kIssuer + "/") == "issuer");
  CHECK(with("iss", nullptr) == "issuer");
  CHECK(with("exp", kNow - 61) == "expired");
  CHECK(with("exp", kNow - 30) == "accepted");  // within the leeway
  CHECK(with("exp", "soon") == "expired");
  CHECK(with("exp", nullptr) == "expired");
  CHECK(with("nbf", kNow + 120) == "not_yet_valid");
  CHECK(with("iat", kNow + 120) == "issued_at");
  CHECK(with("iat", kNow - 2 * 86400) == "issued_at");
  CHECK(with("nonce", "another-nonce") == "nonce");
  CHECK(with("nonce", nullptr) == "nonce");
  CHECK(with("sub", "") == "subject");
  CHECK(with("sub", nullptr) == "subject");
  CHECK(ReasonOf(Verify(key, key.Sign(GoodClaims()), "")) == "nonce");  // a nonce we never sent
}

TEST_CASE("forged, unsigned and confused-algorithm tokens are refused", "[oidc]") {
  TestKey rsa = TestKey::Make("RS256", "k1");
  TestKey ec = TestKey::Make("ES256", "k2");
  TestKey other = TestKey::Make("RS256", "k1");  // same kid, another key: a forgery
  const std::string good = rsa.Sign(GoodClaims());

  CHECK(ReasonOf(Verify(rsa, other.Sign(GoodClaims()))) == "signature");
  CHECK(ReasonOf(Verify(ec, TestKey::Make("ES256", "k2").Sign(GoodClaims()))) == "signature");

  // A payload changed after signing.
  json changed = GoodClaims();
  changed["sub"] = "someone-else";
  const std::string tampered = good.substr(0, good.find('.') + 1) + Base64UrlEncode(changed.dump()) +
                               good.substr(good.rfind('.'));
  CHECK(ReasonOf(Verify(rsa, tampered)) == "signature");

  // One flipped bit in the signature.
  std::string sig = *Base64UrlDecode(good.substr(good.rfind('.') + 1));
  sig[10] = static_cast<char>(sig[10] ^ 1);
  CHECK(ReasonOf(Verify(rsa, good.substr(0, good.rfind('.') + 1) + Base64UrlEncode(sig))) == "signature");

  // alg "none", with and without a signature part.
  const std::string none_input =
      Base64UrlEncode(json{{"alg", "none"}}.dump()) + "." + Base64UrlEncode(GoodClaims().dump());
  CHECK(ReasonOf(Verify(rsa, none_input + ".")) == "algorithm");
  CHECK(ReasonOf(Verify(rsa, none_input)) == "malformed");

  // HS256 keyed with the RSA public key (the classic confusion attack).
  const std::string pub = rsa.Jwk().dump();
  const std::string hs_input =
      Base64UrlEncode(json{{"alg", "HS256"}, {"kid", "k1"}}.dump()) + "." + Base64UrlEncode(GoodClaims().dump());
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), pub.data(), static_cast<int>(pub.size()), reinterpret_cast<const unsigned char*>(hs_input.data()),
       hs_input.size(), mac, &mac_len);
  CHECK(ReasonOf(Verify(rsa, hs_input + "." + Base64UrlEncode(Bytes(mac, mac_len)))) == "algorithm");

  // An ES256 header over an RSA key, and RS256 over an EC key.
  CHECK(ReasonOf(Verify(rsa, ec.Sign(GoodClaims(), {{"kid", "k1"}}))) == "algorithm");
  CHECK(ReasonOf(Verify(ec, rsa.Sign(GoodClaims(), {{"kid", "k2"}}))) == "algorithm");
  // An ES256 signature in DER instead of r||s.
  const std::string es = ec.Sign(GoodClaims());
  CHECK(ReasonOf(Verify(ec, es.substr(0, es.rfind('.') + 1) + Base64UrlEncode(std::string(70, 'x')))) ==
        "signature");
}

TEST_CASE("malformed tokens are refused with a clear reason and never crash", "[oidc]") {
  TestKey key = TestKey::Make("RS256", "k1");
  const std::string good = key.Sign(GoodClaims());
  const auto reason = [&](const std::string& t) { return ReasonOf(Verify(key, t)); };
  CHECK(reason("") == "malformed");
  CHECK(reason(".") == "malformed");
  CHECK(reason("..") == "malformed");
  CHECK(reason(good + ".") == "malformed");
  CHECK(reason(good + ".xyz") == "malformed");
  CHECK(reason("." + good) == "malformed");
  CHECK(reason(std::string(20000, 'a') + "." + good) == "malformed");  // too long
  const std::string huge_header = Base64UrlEncode(json{{"alg", "RS256"}, {"x", std::string(5000, 'a')}}.dump());
  CHECK(reason(huge_header + good.substr(good.find('.'))) == "malformed");
  CHECK(reason(Base64UrlEncode("not json") + good.substr(good.find('.'))) == "malformed");
  CHECK(reason(Base64UrlEncode("[1,2]") + good.substr(good.find('.'))) == "malformed");
  CHECK(reason(Base64UrlEncode(R"({"alg":"RS256","alg":"none"})") + good.substr(good.find('.'))) == "malformed");
  CHECK(reason(Base64UrlEncode(R"({"alg":"RS256","crit":["exp"]})") + good.substr(good.find('.'))) ==
        "malformed");
  CHECK(reason(good.substr(0, good.find('.') + 1) + Base64UrlEncode("\xff\xfe") + good.substr(good.rfind('.'))) ==
        "malformed");
  CHECK(reason(good.substr(0, good.rfind('.') + 1)) == "signature");  // empty signature
  CHECK(reason(good.substr(0, good.size() - 7)) != "accepted");        // truncated

  // Every truncation and random byte flips: refused, no crash (fuzz-ish).
  std::mt19937 rng(17);
  for (size_t cut = 0; cut < good.size(); cut += 7) CHECK(reason(good.substr(0, cut)) != "accepted");
  for (int i = 0; i < 300; ++i) {
    std::string t = good;
    const size_t at = rng() % t.size();
    t[at] = static_cast<char>(t[at] ^ static_cast<char>(1 + rng() % 255));  // always a change
    CHECK(reason(t) != "accepted");
  }
}

TEST_CASE("JWKS parsing keeps usable signing keys and refuses private material", "[oidc]") {
  TestKey rsa = TestKey::Make("RS256", "r");
  TestKey ec = TestKey::Make("ES256", "e");
  json enc = rsa.Jwk();
  enc["use"] = "enc";
  enc["kid"] = "enc";
  json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
  json bad = rsa.Jwk();
  bad["kid"] = "bad";
  bad["n"] = "AQAB";  // far too short
  auto keys = ParseJwks({{"keys", {rsa.Jwk(), ec.Jwk(), enc, okp, bad}}});
  REQUIRE(keys);
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].kid() == "r");
  CHECK((*keys)[1].kid() == "e");

  json with_d = ec.Jwk();
  with_d["d"] = "AAAA";
  CHECK_FALSE(ParseJwk(with_d));
  json off_curve = ec.Jwk();
  off_curve["y"] = Base64UrlEncode(std::string(32, '\x01'));
  CHECK_FALSE(ParseJwk(off_curve));
  json p384 = ec.Jwk();
  p384["crv"] = "P-384";
  CHECK_FALSE(ParseJwk(p384));
  CHECK_FALSE(ParseJwks(json::array()));
  CHECK_FALSE(ParseJwks({{"keys", "x"}}));
}

TEST_CASE("PKCE S256 matches RFC 7636 appendix B", "[oidc]") {
  CHECK(PkceChallengeS256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const std::string v = NewPkceVerifier();
  CHECK(IsValidPkceVerifier(v));
  CHECK(v.size() == 43);
  CHECK(NewPkceVerifier() != v);
  CHECK_FALSE(IsValidPkceVerifier(std::string(42, 'a')));
  CHECK_FALSE(IsValidPkceVerifier(std::string(129, 'a')));
  CHECK_FALSE(IsValidPkceVerifier(std::string(43, '+')));
  CHECK(NewRandomToken() != NewRandomToken());
}

// ---- the provider's caches, with a fetcher that serves canned answers ----

namespace {

struct FakeFetcher : HttpFetcher {
  std::map<std::string, HttpReply> replies;
  std::map<std::string, int> gets;
  std::string last_form;
  Result<HttpReply> Get(const std::string& url) override {
    ++gets[url];
    auto it = replies.find(url);
    if (it == replies.end()) return Fail(ErrorCode::kUnavailable, "identity provider: unreachable");
    return it->second;
  }
  Result<HttpReply> PostForm(const std::string& url, const std::string& form, const std::string&,
                             const SecretBuffer&) override {
    last_form = form;
    return Get(url);
  }
};

const std::string kDiscovery = kIssuer + "/.well-known/openid-configuration";
const std::string kJwks = kIssuer + "/keys";

std::shared_ptr<FakeFetcher> Fake(const std::vector<TestKey>& keys, const std::string& jwks_cache = "") {
  auto f = std::make_shared<FakeFetcher>();
  f->replies[kDiscovery] = {200,
                            json{{"issuer", kIssuer},
                                 {"authorization_endpoint", kIssuer + "/authorize"},
                                 {"token_endpoint", kIssuer + "/token"},
                                 {"jwks_uri", kJwks}}
                                .dump(),
                            ""};
  json set = {{"keys", json::array()}};
  for (const auto& k : keys) set["keys"].push_back(k.Jwk());
  f->replies[kJwks] = {200, set.dump(), jwks_cache};
  return f;
}

Provider MakeProvider(std::shared_ptr<FakeFetcher> f) {
  ProviderSettings s;
  s.issuer = kIssuer;
  s.client_id = kClient;
  return Provider(s, SecretBuffer::CopyOf(std::string_view("secret")), f);
}

}  // namespace

TEST_CASE("a provider verifies tokens with its cached keys and honours max-age within bounds", "[oidc]") {
  TestKey k1 = TestKey::Make("RS256", "k1");
  auto f = Fake({k1}, "public, max-age=600");
  Provider p = MakeProvider(f);
  json c = GoodClaims();
  c["exp"] = kNow + 3600;
  REQUIRE(p.VerifyIdToken(k1.Sign(c), "n-0S6_WzA2Mj", kNow));
  REQUIRE(p.VerifyIdToken(k1.Sign(c), "n-0S6_WzA2Mj", kNow + 599));
  CHECK(f->gets[kJwks] == 1);
  REQUIRE(p.VerifyIdToken(k1.Sign(c), "n-0S6_WzA2Mj", kNow + 600));
  CHECK(f->gets[kJwks] == 2);  // expired cache: fetched again

  CHECK(CacheSeconds("max-age=5", 60, 86400, 300) == 60);
  CHECK(CacheSeconds("max-age=999999999", 60, 86400, 300) == 86400);
  CHECK(CacheSeconds("", 60, 86400, 300) == 300);
  CHECK(CacheSeconds("no-store", 60, 86400, 300) == 60);
  CHECK(CacheSeconds("public, MAX-AGE=120", 60, 86400, 300) == 120);
}

TEST_CASE("an unknown kid refetches the JWKS at most once per interval, a removed key is refused", "[oidc]") {
  TestKey k1 = TestKey::Make("RS256", "k1");
  TestKey k2 = TestKey::Make("ES256", "k2");
  auto f = Fake({k1});
  Provider p = MakeProvider(f);
  REQUIRE(p.VerifyIdToken(k1.Sign(GoodClaims()), "n-0S6_WzA2Mj", kNow));
  CHECK(f->gets[kJwks] == 1);

  // k2 is not published: one refetch is allowed only after the interval.
  CHECK(p.VerifyIdToken(k2.Sign(GoodClaims()), "n-0S6_WzA2Mj", kNow + 10).error().reason == "unknown_key");
  CHECK(f->gets[kJwks] == 1);
  CHECK(p.VerifyIdToken(k2.Sign(GoodClaims()), "n-0S6_WzA2Mj", kNow + 61).error().reason == "unknown_key");
  CHECK(f->gets[kJwks] == 2);
  CHECK(p.VerifyIdToken(k2.Sign(GoodClaims()), "n-0S6_WzA2Mj", kNow + 62).error().reason == "unknown_key");
  CHECK(f->gets[kJwks] == 2);

  // The provider rotates: k2 in, k1 out. A token of k2 makes the refetch;
  // from then on k1 is no longer accepted.
  *f = *Fake({k2});
  json late = GoodClaims();
  late["iat"] = kNow + 200;
  late["exp"] = kNow + 500;
  REQUIRE(p.VerifyIdToken(k2.Sign(late), "n-0S6_WzA2Mj", kNow + 200));
  CHECK(p.VerifyIdToken(k1.Sign(late), "n-0S6_WzA2Mj", kNow + 201).error().reason == "unknown_key");
}

TEST_CASE("discovery must name the configured issuer and https endpoints, fetch failures fail closed", "[oidc]") {
  TestKey k1 = TestKey::Make("RS256", "k1");
  auto f = Fake({k1});
  json d = json::parse(f->replies[kDiscovery].body);
  d["issuer"] = "https://evil.example.org";
  f->replies[kDiscovery].body = d.dump();
  CHECK_FALSE(MakeProvider(f).GetDiscovery(kNow));
  d["issuer"] = kIssuer;
  d["jwks_uri"] = "http://idp.example.org/keys";
  f->replies[kDiscovery].body = d.dump();
  CHECK_FALSE(MakeProvider(f).GetDiscovery(kNow));

  auto down = std::make_shared<FakeFetcher>();
  Provider p = MakeProvider(down);
  CHECK(p.VerifyIdToken(k1.Sign(GoodClaims()), "n-0S6_WzA2Mj", kNow).error().reason == "provider");

  auto junk = Fake({k1});
  junk->replies[kJwks].body = "<html>";
  CHECK(MakeProvider(junk).VerifyIdToken(k1.Sign(GoodClaims()), "n-0S6_WzA2Mj", kNow).error().reason == "provider");

  CHECK(IsHttpsUrl("https://idp.example.org/x?y=1"));
  CHECK_FALSE(IsHttpsUrl("http://idp.example.org"));
  CHECK_FALSE(IsHttpsUrl("https://user@idp.example.org"));
  CHECK_FALSE(IsHttpsUrl("https://idp.example.org/a b"));
  CHECK_FALSE(IsHttpsUrl("https://"));
}

TEST_CASE("the code exchange sends the verifier and returns the id_token", "[oidc]") {
  TestKey k1 = TestKey::Make("RS256", "k1");
  auto f = Fake({k1});
  f->replies[kIssuer + "/token"] = {200, json{{"id_token", "a.b.c"}, {"token_type", "Bearer"}}.dump(), ""};
  Provider p = MakeProvider(f);
  auto t = p.ExchangeCode("code+1", "verifier", "https://gw.example.org/cb", kNow);
  REQUIRE(t);
  CHECK(*t == "a.b.c");
  CHECK(f->last_form.find("code=code%2B1") != std::string::npos);
  CHECK(f->last_form.find("code_verifier=verifier") != std::string::npos);
  CHECK(f->last_form.find("redirect_uri=https%3A%2F%2Fgw.example.org%2Fcb") != std::string::npos);
  f->replies[kIssuer + "/token"] = {400, R"({"error":"invalid_grant"})", ""};
  CHECK(p.ExchangeCode("c", "v", "https://gw.example.org/cb", kNow).error().reason == "code");
  f->replies[kIssuer + "/token"] = {200, R"({"access_token":"x"})", ""};
  CHECK(p.ExchangeCode("c", "v", "https://gw.example.org/cb", kNow).error().reason == "provider");
}
