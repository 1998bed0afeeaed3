#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include <cstdlib>
#include <utility>

namespace xgw {

namespace {
// An OpenSSL failure here means a broken library or out of memory; there is
// no meaningful recovery for a hash, so fail hard rather than return garbage.
void Require(int ok) {
  if (ok != 1) std::abort();
}
}  // namespace

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr) std::abort();
  Require(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr));
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::span<const uint8_t> data) {
  Require(EVP_DigestUpdate(ctx_->md, data.data(), data.size()));
}
void Sha256::Update(std::string_view data) {
  Require(EVP_DigestUpdate(ctx_->md, data.data(), data.size()));
}

Sha256Digest Sha256::Finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  Require(EVP_DigestFinal_ex(ctx_->md, out.data(), &len));
  Require(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr));
  return out;
}

Sha256Digest Sha256::Hash(std::span<const uint8_t> data) {
  Sha256Digest out{};
  unsigned int len = 0;
  Require(EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr));
  return out;
}
Sha256Digest Sha256::Hash(std::string_view data) {
  return Hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

struct HmacSha256::Ctx {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  ~Ctx() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

HmacSha256::HmacSha256(std::span<const uint8_t> key) : ctx_(std::make_unique<Ctx>()) {
  ctx_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (ctx_->mac == nullptr) std::abort();
  ctx_->ctx = EVP_MAC_CTX_new(ctx_->mac);
  if (ctx_->ctx == nullptr) std::abort();
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  static const uint8_t kEmpty = 0;
  Require(EVP_MAC_init(ctx_->ctx, key.empty() ? &kEmpty : key.data(), key.size(), params));
}
HmacSha256::~HmacSha256() = default;
HmacSha256::HmacSha256(HmacSha256&&) noexcept = default;
HmacSha256& HmacSha256::operator=(HmacSha256&&) noexcept = default;

void HmacSha256::Update(std::span<const uint8_t> data) {
  Require(EVP_MAC_update(ctx_->ctx, data.data(), data.size()));
}
void HmacSha256::Update(std::string_view data) {
  Require(EVP_MAC_update(ctx_->ctx, reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Sha256Digest HmacSha256::Finish() {
  Sha256Digest out{};
  size_t len = 0;
  Require(EVP_MAC_final(ctx_->ctx, out.data(), &len, out.size()));
  // Re-initialise with the same key (NULL key keeps the previous one).
  Require(EVP_MAC_init(ctx_->ctx, nullptr, 0, nullptr));
  return out;
}

Sha256Digest HmacSha256::Mac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  HmacSha256 h(key);
  h.Update(data);
  return h.Finish();
}

SecretBuffer HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                        std::string_view info, size_t length) {
  // RFC 5869 on HMAC directly: extract PRK = HMAC(salt, ikm), then expand.
  static const uint8_t kZeroSalt[32] = {};
  Sha256Digest prk = HmacSha256::Mac(
      salt.empty() ? std::span<const uint8_t>(kZeroSalt, 32) : salt, ikm);
  SecretBuffer out(length);
  HmacSha256 h(prk);
  Sha256Digest t{};
  size_t done = 0;
  for (uint8_t counter = 1; done < length; ++counter) {
    if (counter > 1) h.Update(t);
    h.Update(info);
    h.Update(std::span<const uint8_t>(&counter, 1));
    t = h.Finish();
    size_t n = std::min(t.size(), length - done);
    std::copy_n(t.begin(), n, out.data() + done);
    done += n;
  }
  WipeMemory(prk.data(), prk.size());
  WipeMemory(t.data(), t.size());
  return out;
}

std::string HexEncode(std::span<const uint8_t> data) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

std::string Base64Encode(std::span<const uint8_t> data) {
  InitCrypto();
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(data.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), data.data(), data.size(), variant);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  InitCrypto();
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::vector<uint8_t>{};  // libsodium must not get null buffers
  std::vector<uint8_t> out(text.size() / 4 * 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  // Canonical form: re-encoding must give the input back (rejects non-zero
  // trailing bits, which libsodium would otherwise ignore).
  if (Base64Encode(out) != text) return std::nullopt;
  return out;
}

}  // namespace xgw
