// Ed25519 signatures (RFC 8032, libsodium): key generation, derivation from a
// 32-byte seed, detached sign/verify, and a small text form for key files.
//
// The secret key lives only in a SecretBuffer. Ed25519SecretKey is move-only
// and immutable after construction, so one instance may sign from many
// threads at once.
#ifndef XGW_CRYPTO_SIGN_H_
#define XGW_CRYPTO_SIGN_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "crypto/error.h"
#include "crypto/secret.h"

namespace xgw {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;
inline constexpr size_t kEd25519SeedSize = 32;

class Ed25519SecretKey {
 public:
  // A fresh key from the system CSPRNG.
  static Ed25519SecretKey Generate();
  // The key RFC 8032 derives from `seed`; kKey unless seed is 32 bytes.
  static Result<Ed25519SecretKey> FromSeed(std::span<const uint8_t> seed);

  Ed25519SecretKey(Ed25519SecretKey&&) noexcept = default;
  Ed25519SecretKey& operator=(Ed25519SecretKey&&) noexcept = default;

  const Ed25519PublicKey& public_key() const { return public_key_; }
  // A copy of the 32-byte seed (for key files).
  SecretBuffer Seed() const;
  Ed25519Signature Sign(std::span<const uint8_t> message) const;
  Ed25519Signature Sign(std::string_view message) const;

 private:
  Ed25519SecretKey() = default;
  SecretBuffer secret_;  // libsodium's 64-byte form: seed || public key
  Ed25519PublicKey public_key_{};
};

// kSignature if `signature` is not a valid signature of `message` by `key`.
Result<void> VerifyEd25519(const Ed25519PublicKey& key, std::span<const uint8_t> message,
                           const Ed25519Signature& signature);
Result<void> VerifyEd25519(const Ed25519PublicKey& key, std::string_view message,
                           const Ed25519Signature& signature);

// Key file text: "xgw-ed25519-secret-key-v1 <base64 seed>\n". The returned
// buffer holds the secret.
SecretBuffer EncodeEd25519SecretKey(const Ed25519SecretKey& key);
// Accepts the text above (trailing newline optional); kKey otherwise.
Result<Ed25519SecretKey> DecodeEd25519SecretKey(std::string_view text);
// Writes the key file atomically with mode 0600.
Result<void> WriteEd25519SecretKeyFile(const std::string& path, const Ed25519SecretKey& key);
// Reads a key file; kKey if malformed, kIo if unreadable.
Result<Ed25519SecretKey> ReadEd25519SecretKeyFile(const std::string& path);

}  // namespace xgw

#endif  // XGW_CRYPTO_SIGN_H_
