#include "gateway/oidc_jose.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <set>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "gateway/http/router.h"

namespace xgw::oidc {
namespace {

using nlohmann::json;

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

tl::unexpected<Error> JwkError(const std::string& what) { return Fail(ErrorCode::kFormat, "jwk " + what); }

// A base64url member of a JWK, decoded; at most max_bytes.
Result<std::string> JwkBytes(const json& jwk, const char* name, size_t max_bytes) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return JwkError(std::string(name) + ": required string");
  auto raw = Base64UrlDecode(it->get_ref<const std::string&>());
  if (!raw || raw->empty()) return JwkError(std::string(name) + ": not base64url");
  if (raw->size() > max_bytes) return JwkError(std::string(name) + ": too long");
  return *raw;
}

std::optional<std::string> OptionalString(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Builds a public EVP_PKEY of `type` ("RSA" or "EC") from `params`, and checks it.
Result<std::shared_ptr<EVP_PKEY>> KeyFromParams(const char* type, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1 || raw == nullptr) {
    return JwkError("is not a valid public key");
  }
  std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, raw, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return JwkError("is not a valid public key");
  return key;
}

Result<std::shared_ptr<EVP_PKEY>> RsaKey(const json& jwk) {
  XGW_TRY(auto n, JwkBytes(jwk, "n", 1024));
  XGW_TRY(auto e, JwkBytes(jwk, "e", 8));
  if (static_cast<unsigned char>(n[0]) == 0) return JwkError("n: leading zero byte");
  const size_t bits = n.size() * 8;
  if (bits < 2048 || bits > 8192) return JwkError("n: RSA keys of 2048 to 8192 bits only");
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Fail(ErrorCode::kInternal, "jwk: out of memory");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Fail(ErrorCode::kInternal, "jwk: out of memory");
  return KeyFromParams("RSA", params.get());
}

Result<std::shared_ptr<EVP_PKEY>> EcKey(const json& jwk) {
  auto crv = OptionalString(jwk, "crv");
  if (!crv || *crv != "P-256") return JwkError("crv: only P-256");
  XGW_TRY(auto x, JwkBytes(jwk, "x", 32));
  XGW_TRY(auto y, JwkBytes(jwk, "y", 32));
  if (x.size() != 32 || y.size() != 32) return JwkError("x, y: 32 bytes each for P-256");
  std::string point = "\x04" + x + y;
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return Fail(ErrorCode::kInternal, "jwk: out of memory");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Fail(ErrorCode::kInternal, "jwk: out of memory");
  return KeyFromParams("EC", params.get());
}

// JWS ES256 signatures are r||s (32 bytes each); OpenSSL verifies DER.
std::optional<std::string> EcdsaRawToDer(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return std::nullopt;
  return der;
}

// A NumericDate claim: an integer or a number with a fraction (floored).
std::optional<int64_t> NumericDate(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (d > -1e15 && d < 1e15) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         ConstantTimeEqual(std::span(reinterpret_cast<const uint8_t*>(a.data()), a.size()),
                           std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

}  // namespace

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64UrlValue(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical last character
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

std::optional<json> ParseStrictJson(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) return std::nullopt;
  // The request bodies' parser: a repeated key or nesting deeper than 16 is refused.
  auto doc = ParseJsonBody(text, 16);
  if (!doc) return std::nullopt;
  return std::move(*doc);
}

Checked<CompactJws> ParseCompactJws(std::string_view token) {
  if (token.empty()) return Reject("malformed", "id token: empty");
  if (token.size() > kMaxTokenBytes) return Reject("malformed", "id token: longer than the limit");
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return Reject("malformed", "id token: a compact JWS has exactly three parts");
  }
  const std::string_view h64 = token.substr(0, d1), p64 = token.substr(d1 + 1, d2 - d1 - 1),
                         s64 = token.substr(d2 + 1);
  if (h64.empty() || p64.empty()) return Reject("malformed", "id token: empty header or payload");
  auto header_text = Base64UrlDecode(h64);
  auto payload_text = Base64UrlDecode(p64);
  auto signature = Base64UrlDecode(s64);
  if (!header_text || !payload_text || !signature) return Reject("malformed", "id token: not base64url");
  auto header = ParseStrictJson(*header_text, kMaxHeaderJsonBytes);
  if (!header || !header->is_object()) return Reject("malformed", "id token: header is not a JSON object");
  auto claims = ParseStrictJson(*payload_text, kMaxPayloadJsonBytes);
  if (!claims || !claims->is_object()) return Reject("malformed", "id token: payload is not a JSON object");
  CompactJws jws;
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) return Reject("malformed", "id token: header has no alg");
  jws.alg = alg->get<std::string>();
  if (auto kid = header->find("kid"); kid != header->end()) {
    if (!kid->is_string() || kid->get_ref<const std::string&>().size() > 256) {
      return Reject("malformed", "id token: header kid must be a short string");
    }
    jws.kid = kid->get<std::string>();
  }
  // Critical extensions we do not understand, and detached or unencoded
  // payloads, are refused (RFC 7515 §4.1.11, RFC 7797).
  if (header->contains("crit") || header->contains("b64")) {
    return Reject("malformed", "id token: header extensions (crit, b64) are not supported");
  }
  if (jws.alg != "RS256" && jws.alg != "ES256") {
    return Reject("algorithm", "id token: only RS256 and ES256 signatures are accepted");
  }
  if (signature->empty()) return Reject("signature", "id token: no signature");
  jws.header = std::move(*header);
  jws.claims = std::move(*claims);
  jws.signing_input = std::string(token.substr(0, d2));
  jws.signature = std::move(*signature);
  return jws;
}

Result<Jwk> ParseJwk(const json& jwk) {
  if (!jwk.is_object()) return JwkError("must be an object");
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
    if (jwk.contains(priv)) return JwkError(std::string(priv) + ": private or symmetric key material in a JWKS");
  }
  auto kty = OptionalString(jwk, "kty");
  if (!kty) return JwkError("kty: required string");
  std::string kid = OptionalString(jwk, "kid").value_or("");
  std::string alg = OptionalString(jwk, "alg").value_or("");
  if (kid.size() > 256) return JwkError("kid: at most 256 bytes");
  if (*kty == "RSA") {
    if (!alg.empty() && alg != "RS256") return JwkError("alg: an RSA key is used for RS256 only");
    XGW_TRY(auto key, RsaKey(jwk));
    return Jwk(std::move(kid), *kty, std::move(alg), std::move(key));
  }
  if (*kty == "EC") {
    if (!alg.empty() && alg != "ES256") return JwkError("alg: a P-256 key is used for ES256 only");
    XGW_TRY(auto key, EcKey(jwk));
    return Jwk(std::move(kid), *kty, std::move(alg), std::move(key));
  }
  return JwkError("kty: only RSA and EC keys are supported");
}

Result<std::vector<Jwk>> ParseJwks(const json& doc) {
  if (!doc.is_object()) return Fail(ErrorCode::kFormat, "jwks: must be a JSON object");
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return Fail(ErrorCode::kFormat, "jwks: keys must be an array");
  if (keys->size() > kMaxJwksKeys) return Fail(ErrorCode::kLimit, "jwks: more keys than the limit");
  std::vector<Jwk> out;
  for (const auto& k : *keys) {
    if (!k.is_object()) return Fail(ErrorCode::kFormat, "jwks: every key must be an object");
    if (auto use = OptionalString(k, "use"); use && *use != "sig") continue;
    auto kty = OptionalString(k, "kty");
    if (!kty || (*kty != "RSA" && *kty != "EC")) continue;
    if (auto crv = OptionalString(k, "crv"); *kty == "EC" && crv && *crv != "P-256") continue;
    auto alg = OptionalString(k, "alg");
    if (alg && *alg != "RS256" && *alg != "ES256") continue;  // e.g. PS256, RS512: not ours
    auto jwk = ParseJwk(k);
    if (!jwk) continue;  // a malformed key is never used; the others still are
    out.push_back(std::move(*jwk));
  }
  return out;
}

Checked<void> VerifySignature(const CompactJws& jws, const Jwk& key) {
  std::string signature = jws.signature;
  if (jws.alg == "RS256") {
    if (key.kty() != "RSA") return Reject("algorithm", "id token: RS256 needs an RSA key");
    if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key.key()))) {
      return Reject("signature", "id token: signature has the wrong length");
    }
  } else if (jws.alg == "ES256") {
    if (key.kty() != "EC") return Reject("algorithm", "id token: ES256 needs a P-256 key");
    auto der = EcdsaRawToDer(signature);
    if (!der) return Reject("signature", "id token: an ES256 signature is 64 bytes (r||s)");
    signature = std::move(*der);
  } else {
    return Reject("algorithm", "id token: only RS256 and ES256 signatures are accepted");
  }
  if (!key.alg().empty() && key.alg() != jws.alg) {
    return Reject("algorithm", "id token: alg differs from the key's alg");
  }
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.key()) != 1) {
    return Reject("signature", "id token: cannot set up signature verification");
  }
  const int ok = EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                  signature.size(), reinterpret_cast<const unsigned char*>(jws.signing_input.data()),
                                  jws.signing_input.size());
  if (ok != 1) return Reject("signature", "id token: signature does not verify");
  return {};
}

Checked<void> CheckIdTokenClaims(const json& claims, const IdTokenExpectations& expect) {
  auto iss = OptionalString(claims, "iss");
  if (!iss || *iss != expect.issuer) return Reject("issuer", "id token: iss is not the configured issuer");

  auto aud = claims.find("aud");
  bool audience_ok = false;
  size_t audiences = 0;
  if (aud != claims.end() && aud->is_string()) {
    audiences = 1;
    audience_ok = aud->get_ref<const std::string&>() == expect.client_id;
  } else if (aud != claims.end() && aud->is_array() && !aud->empty() && aud->size() <= 16) {
    for (const auto& a : *aud) {
      if (!a.is_string()) return Reject("audience", "id token: aud must hold strings");
      audience_ok = audience_ok || a.get_ref<const std::string&>() == expect.client_id;
    }
    audiences = aud->size();
  }
  if (!audience_ok) return Reject("audience", "id token: aud does not name this client");
  auto azp = claims.find("azp");
  if (audiences > 1 && azp == claims.end()) {
    return Reject("audience", "id token: azp is required when aud names several parties");
  }
  if (azp != claims.end() && (!azp->is_string() || azp->get_ref<const std::string&>() != expect.client_id)) {
    return Reject("audience", "id token: azp is not this client");
  }

  const auto exp = NumericDate(claims, "exp");
  const auto iat = NumericDate(claims, "iat");
  if (!exp) return Reject("expired", "id token: exp is required (a NumericDate)");
  if (!iat) return Reject("issued_at", "id token: iat is required (a NumericDate)");
  if (*exp + expect.leeway_seconds <= expect.now) return Reject("expired", "id token: expired (exp)");
  if (claims.contains("nbf")) {
    const auto nbf = NumericDate(claims, "nbf");
    if (!nbf) return Reject("not_yet_valid", "id token: nbf must be a NumericDate");
    if (*nbf - expect.leeway_seconds > expect.now) return Reject("not_yet_valid", "id token: not valid yet (nbf)");
  }
  if (*iat - expect.leeway_seconds > expect.now) return Reject("issued_at", "id token: iat is in the future");
  if (expect.now - *iat > expect.max_age_seconds) return Reject("issued_at", "id token: iat is too old");

  auto nonce = claims.find("nonce");
  if (!expect.nonce.empty()) {
    if (nonce == claims.end() || !nonce->is_string() ||
        !SameSecret(nonce->get_ref<const std::string&>(), expect.nonce)) {
      return Reject("nonce", "id token: nonce does not match this sign-in");
    }
  } else if (nonce != claims.end()) {
    return Reject("nonce", "id token: a nonce came back that this sign-in did not send");
  }

  auto sub = OptionalString(claims, "sub");
  if (!sub || sub->empty() || sub->size() > 255) return Reject("subject", "id token: sub must be 1-255 bytes");
  return {};
}

std::string NewRandomToken() {
  SecretBuffer raw = SecretBuffer::Random(32);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(raw.span().data()), raw.span().size()));
}

std::string NewPkceVerifier() { return NewRandomToken(); }

std::string PkceChallengeS256(std::string_view verifier) {
  const Sha256Digest d = Sha256::Hash(verifier);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

bool IsValidPkceVerifier(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (char c : v) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

}  // namespace xgw::oidc
