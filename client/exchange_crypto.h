// Client-side cryptography of an exchange that is not generic enough for
// crypto/: the Ed25519 signing key derived from the user's age identity, the
// signed manifest, the TLS public-key pin, and how violations are explained.
#ifndef XGW_CLIENT_EXCHANGE_CRYPTO_H_
#define XGW_CLIENT_EXCHANGE_CRYPTO_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/age.h"
#include "crypto/error.h"
#include "crypto/sign.h"
#include "policy/manifest.h"
#include "policy/violation.h"

namespace xgw::cli {

inline constexpr std::string_view kSigningKeyInfo = "xgw/v1/ed25519-signing-key";

// seed = HKDF-SHA-256(ikm = the 32-byte X25519 secret scalar, salt = empty,
// info = "xgw/v1/ed25519-signing-key", 32); the Ed25519 key of that seed.
// Deterministic: the same identity always gives the same key.
Result<Ed25519SecretKey> DeriveSigningKey(const age::X25519Identity& identity);

struct SignedManifest {
  std::string canonical_json;  // the signed bytes
  std::string signature;       // base64 Ed25519 signature over canonical_json
};
Result<SignedManifest> SignManifest(const Manifest& manifest, const Ed25519SecretKey& key);

// Verifies `signature_b64` over CanonicalJson(manifest_json) with the base64
// 32-byte Ed25519 key, and parses the manifest. kSignature / kFormat.
Result<Manifest> VerifySignedManifest(std::string_view manifest_json, std::string_view signature_b64,
                                      std::string_view verify_key_b64);

// "sha256//<base64 of SHA-256 of the DER SubjectPublicKeyInfo>", the form of
// CURLOPT_PINNEDPUBLICKEY.
std::string FormatPin(std::span<const uint8_t> spki_der);
// The pin of the first certificate in a PEM text; kFormat if none.
Result<std::string> PinOfPemCertificate(std::string_view pem);
// True if `pin` has the form above (a 32-byte hash).
bool IsValidPin(std::string_view pin);
// Accepts a pin as curl writes it ("sha256//" + base64) or as `xgwd init`
// prints it ("sha256:" + hex) and returns the curl form; nullopt if neither.
std::optional<std::string> NormalisePin(std::string_view pin);

// One line per violation: "row 4, column birth_date: invalid_value - <message>".
// Uses only row, column, code and the policy's message (which never holds a
// cell value), so the output is safe to show and log.
std::string ExplainViolation(const Violation& v);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_EXCHANGE_CRYPTO_H_
