// The verification core of OpenID Connect sign-in (issue 17 item 2): compact
// JWS parsing, JWK public keys, RS256 / ES256 signature checks with OpenSSL 3,
// the ID token's claims, PKCE (RFC 7636) and random state values. No network
// and no HTTP routing here: gateway/oidc_provider.h fetches discovery
// documents, key sets and tokens and calls these functions.
//
// Every refusal is a Rejection with a short `reason` (an audit reason such as
// "audience" or "signature") and a `detail` that names the rule, never a
// token, a claim's value or a key.
#ifndef XGW_GATEWAY_OIDC_JOSE_H_
#define XGW_GATEWAY_OIDC_JOSE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "crypto/error.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace xgw::oidc {

// Limits on what a provider (or an attacker posing as one) can make us parse.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;        // a compact JWS
inline constexpr size_t kMaxHeaderJsonBytes = 2 * 1024;    // its decoded header
inline constexpr size_t kMaxPayloadJsonBytes = 12 * 1024;  // its decoded claims
inline constexpr size_t kMaxJwksKeys = 32;
inline constexpr int64_t kDefaultLeewaySeconds = 60;

struct Rejection {
  std::string reason;  // "malformed", "algorithm", "unknown_key", "signature", "issuer", "audience",
                       // "expired", "not_yet_valid", "issued_at", "nonce", "subject", "claim", "provider"
  std::string detail;  // lower-case, names the rule; no values
};
template <typename T>
using Checked = tl::expected<T, Rejection>;
inline tl::unexpected<Rejection> Reject(std::string reason, std::string detail) {
  return tl::unexpected<Rejection>(Rejection{std::move(reason), std::move(detail)});
}

// RFC 4648 §5 without padding, strictly: only A-Z a-z 0-9 '-' '_', no '=',
// no length of 1 mod 4, and the unused low bits of the last character zero.
std::optional<std::string> Base64UrlDecode(std::string_view text);
std::string Base64UrlEncode(std::string_view bytes);

// Strict JSON: one value, no duplicate keys, valid UTF-8, at most `max_bytes`.
std::optional<nlohmann::json> ParseStrictJson(std::string_view text, size_t max_bytes);

// A compact JWS split and decoded; nothing is verified yet.
struct CompactJws {
  nlohmann::json header;  // an object
  nlohmann::json claims;  // an object
  std::string alg;        // header "alg"
  std::string kid;        // header "kid", "" if absent
  std::string signing_input;  // "<b64 header>.<b64 payload>"
  std::string signature;      // raw bytes
};
Checked<CompactJws> ParseCompactJws(std::string_view token);

// A public key from a JWKS: RSA (n, e; 2048..8192 bits) or EC P-256 (x, y).
class Jwk {
 public:
  Jwk(std::string kid, std::string kty, std::string alg, std::shared_ptr<EVP_PKEY> key)
      : kid_(std::move(kid)), kty_(std::move(kty)), alg_(std::move(alg)), key_(std::move(key)) {}
  const std::string& kid() const { return kid_; }
  const std::string& kty() const { return kty_; }  // "RSA" or "EC"
  const std::string& alg() const { return alg_; }  // "" if the JWK names none
  EVP_PKEY* key() const { return key_.get(); }

 private:
  std::string kid_, kty_, alg_;
  std::shared_ptr<EVP_PKEY> key_;
};

// One JWK (an object) to a key; kFormat naming the member on a malformed or
// unsupported one (private members present, other curves, short RSA keys).
Result<Jwk> ParseJwk(const nlohmann::json& jwk);
// A JWKS document: the signing keys it holds that ParseJwk accepts (others,
// e.g. "use": "enc" or OKP keys, are skipped). kFormat if it is not a JWKS.
Result<std::vector<Jwk>> ParseJwks(const nlohmann::json& doc);

// RS256 (RSASSA-PKCS1-v1_5, SHA-256) or ES256 (ECDSA P-256, SHA-256, JWS
// raw r||s signature of 64 bytes) only; the key's type must match the alg.
Checked<void> VerifySignature(const CompactJws& jws, const Jwk& key);

// What the relying party expects of an ID token (OpenID Connect Core §3.1.3.7).
struct IdTokenExpectations {
  std::string issuer;     // exact match with "iss"
  std::string client_id;  // in "aud"; "azp" must equal it when aud has several
  std::string nonce;      // exact match with "nonce" ("" = none sent; then none may come back)
  int64_t now = 0;
  int64_t leeway_seconds = kDefaultLeewaySeconds;
  int64_t max_age_seconds = 24 * 3600;  // "iat" no older than this
};
// The checks after the signature: iss, aud/azp, exp/nbf/iat, nonce, sub.
Checked<void> CheckIdTokenClaims(const nlohmann::json& claims, const IdTokenExpectations& expect);

// PKCE: a verifier of 43 base64url characters (32 random bytes) and its S256 challenge.
std::string NewPkceVerifier();
std::string PkceChallengeS256(std::string_view verifier);
// RFC 7636 §4.1: 43..128 of [A-Z a-z 0-9 - . _ ~].
bool IsValidPkceVerifier(std::string_view verifier);
// 32 random bytes, base64url: state and nonce values.
std::string NewRandomToken();

}  // namespace xgw::oidc

#endif  // XGW_GATEWAY_OIDC_JOSE_H_
