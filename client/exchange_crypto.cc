#include "client/exchange_crypto.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "crypto/bech32.h"
#include "crypto/hash.h"
#include "policy/canonical_json.h"

namespace xgw::cli {

Result<Ed25519SecretKey> DeriveSigningKey(const age::X25519Identity& identity) {
  // The identity keeps its scalar private; its Bech32 encoding is the one
  // public way to the 32 bytes, and both copies stay in secret memory.
  SecretBuffer encoded = identity.Encode();
  auto decoded = Bech32Decode(encoded.view());
  if (!decoded || decoded->data.size() != 32)
    return Fail(ErrorCode::kKey, "the age identity could not be decoded to derive the signing key");
  SecretBuffer seed = HkdfSha256(decoded->data.span(), {}, kSigningKeyInfo, kEd25519SeedSize);
  return Ed25519SecretKey::FromSeed(seed.span());
}

Result<SignedManifest> SignManifest(const Manifest& manifest, const Ed25519SecretKey& key) {
  SignedManifest out;
  XGW_TRY(out.canonical_json, ManifestToCanonicalJson(manifest));
  Ed25519Signature sig = key.Sign(out.canonical_json);
  out.signature = Base64Encode(sig);
  return out;
}

Result<Manifest> VerifySignedManifest(std::string_view manifest_json, std::string_view signature_b64,
                                      std::string_view verify_key_b64) {
  auto key = Base64Decode(verify_key_b64);
  if (!key || key->size() != 32) return Fail(ErrorCode::kKey, "the sender's verify key is not base64 of 32 bytes");
  auto sig = Base64Decode(signature_b64);
  if (!sig || sig->size() != 64) return Fail(ErrorCode::kSignature, "the manifest signature is not base64 of 64 bytes");
  // Verify over the canonical form of exactly what was received, then parse.
  nlohmann::json parsed = nlohmann::json::parse(manifest_json, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return Fail(ErrorCode::kFormat, "the manifest is not a JSON object");
  XGW_TRY(std::string canonical, CanonicalJson(parsed));
  Ed25519PublicKey pk{};
  std::copy(key->begin(), key->end(), pk.begin());
  Ed25519Signature s{};
  std::copy(sig->begin(), sig->end(), s.begin());
  if (auto r = VerifyEd25519(pk, canonical, s); !r)
    return Fail(ErrorCode::kSignature, "the manifest signature does not verify with the sender's registered key");
  return ParseManifest(canonical);
}

std::string FormatPin(std::span<const uint8_t> spki_der) {
  return "sha256//" + Base64Encode(Sha256::Hash(spki_der));
}

Result<std::string> PinOfPemCertificate(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return Fail(ErrorCode::kInternal, "out of memory");
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return Fail(ErrorCode::kFormat, "no PEM certificate found");
  EVP_PKEY* pkey = X509_get0_pubkey(cert.get());
  if (pkey == nullptr) return Fail(ErrorCode::kFormat, "the certificate has no public key");
  int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return Fail(ErrorCode::kFormat, "the certificate's public key cannot be encoded");
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_PUBKEY(pkey, &p);
  return FormatPin(der);
}

std::optional<std::string> NormalisePin(std::string_view pin) {
  std::optional<std::vector<uint8_t>> raw;
  if (pin.starts_with("sha256//")) {
    raw = Base64Decode(pin.substr(8));
  } else if (pin.starts_with("sha256:")) {
    raw = HexDecode(pin.substr(7));  // the form `xgwd init` prints
  }
  if (!raw || raw->size() != 32) return std::nullopt;
  return "sha256//" + Base64Encode(*raw);
}

bool IsValidPin(std::string_view pin) { return NormalisePin(pin).has_value(); }

std::string ExplainViolation(const Violation& v) {
  std::string where;
  if (v.row != 0) where = "row " + std::to_string(v.row);
  if (!v.column.empty())
    where += (where.empty() ? "" : ", ") + (v.column.starts_with("column ") ? v.column : "column " + v.column);
  std::string line = where.empty() ? v.code : where + ": " + v.code;
  if (!v.message.empty()) line += " - " + v.message;
  return line;
}

}  // namespace xgw::cli
