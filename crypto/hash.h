// SHA-256, HMAC-SHA-256 and HKDF-SHA-256 on OpenSSL's EVP (faster than
// libsodium's portable code on this CPU), plus hex and base64 codecs.
#ifndef XGW_CRYPTO_HASH_H_
#define XGW_CRYPTO_HASH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/secret.h"

namespace xgw {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental SHA-256. Move-only.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data);
  // Returns the digest; the object is reset and can be reused.
  Sha256Digest Finish();

  static Sha256Digest Hash(std::span<const uint8_t> data);
  static Sha256Digest Hash(std::string_view data);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Incremental HMAC-SHA-256 keyed with a secret. Move-only.
class HmacSha256 {
 public:
  explicit HmacSha256(std::span<const uint8_t> key);
  ~HmacSha256();
  HmacSha256(HmacSha256&&) noexcept;
  HmacSha256& operator=(HmacSha256&&) noexcept;
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data);
  Sha256Digest Finish();  // resets to the same key afterwards

  static Sha256Digest Mac(std::span<const uint8_t> key, std::span<const uint8_t> data);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// HKDF-SHA-256 (RFC 5869) extract-and-expand; `length` <= 255*32.
SecretBuffer HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                        std::string_view info, size_t length);

// Lower-case hex.
std::string HexEncode(std::span<const uint8_t> data);
// Accepts upper or lower case; nullopt on odd length or a non-hex digit.
std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex);

// Standard base64 alphabet with padding (RFC 4648 §4).
std::string Base64Encode(std::span<const uint8_t> data);
// Strict: canonical padding and zero trailing bits required; no whitespace.
std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text);

}  // namespace xgw

#endif  // XGW_CRYPTO_HASH_H_
