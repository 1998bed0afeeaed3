#include "crypto/sign.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

#include "crypto/hash.h"
#include "crypto/io.h"

namespace xgw {
namespace {

constexpr std::string_view kKeyFilePrefix = "xgw-ed25519-secret-key-v1 ";
constexpr size_t kMaxKeyFileSize = 4096;

}  // namespace

Ed25519SecretKey Ed25519SecretKey::Generate() {
  InitCrypto();
  SecretBuffer seed = SecretBuffer::Random(kEd25519SeedSize);
  return *FromSeed(seed.span());
}

Result<Ed25519SecretKey> Ed25519SecretKey::FromSeed(std::span<const uint8_t> seed) {
  InitCrypto();
  if (seed.size() != kEd25519SeedSize) {
    return Fail(ErrorCode::kKey, "ed25519 seed must be 32 bytes");
  }
  Ed25519SecretKey key;
  key.secret_ = SecretBuffer(crypto_sign_SECRETKEYBYTES);
  if (crypto_sign_seed_keypair(key.public_key_.data(), key.secret_.data(), seed.data()) != 0) {
    return Fail(ErrorCode::kInternal, "ed25519 key derivation failed");
  }
  return key;
}

SecretBuffer Ed25519SecretKey::Seed() const {
  return SecretBuffer::CopyOf(secret_.span().first(kEd25519SeedSize));
}

Ed25519Signature Ed25519SecretKey::Sign(std::span<const uint8_t> message) const {
  Ed25519Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Ed25519Signature Ed25519SecretKey::Sign(std::string_view message) const {
  return Sign(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()),
                                       message.size()));
}

Result<void> VerifyEd25519(const Ed25519PublicKey& key, std::span<const uint8_t> message,
                           const Ed25519Signature& signature) {
  InitCrypto();
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  key.data()) != 0) {
    return Fail(ErrorCode::kSignature, "ed25519 signature does not verify");
  }
  return {};
}

Result<void> VerifyEd25519(const Ed25519PublicKey& key, std::string_view message,
                           const Ed25519Signature& signature) {
  return VerifyEd25519(
      key,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size()),
      signature);
}

SecretBuffer EncodeEd25519SecretKey(const Ed25519SecretKey& key) {
  SecretBuffer seed = key.Seed();
  std::string b64 = Base64Encode(seed.span());
  std::string text = std::string(kKeyFilePrefix) + b64 + "\n";
  SecretBuffer out = SecretBuffer::CopyOf(text);
  WipeMemory(b64.data(), b64.size());
  WipeMemory(text.data(), text.size());
  return out;
}

Result<Ed25519SecretKey> DecodeEd25519SecretKey(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.starts_with(kKeyFilePrefix)) {
    return Fail(ErrorCode::kKey, "not an xgw ed25519 secret key (expected xgw-ed25519-secret-key-v1)");
  }
  text.remove_prefix(kKeyFilePrefix.size());
  auto seed = Base64Decode(text);
  if (!seed || seed->size() != kEd25519SeedSize) {
    if (seed) WipeMemory(seed->data(), seed->size());
    return Fail(ErrorCode::kKey, "ed25519 secret key: seed must be base64 of 32 bytes");
  }
  auto key = Ed25519SecretKey::FromSeed(*seed);
  WipeMemory(seed->data(), seed->size());
  return key;
}

Result<void> WriteEd25519SecretKeyFile(const std::string& path, const Ed25519SecretKey& key) {
  XGW_TRY(AtomicFile file, AtomicFile::Create(path, 0600));
  SecretBuffer text = EncodeEd25519SecretKey(key);
  XGW_CHECK(file.Write(text.span()));
  return file.Commit();
}

Result<Ed25519SecretKey> ReadEd25519SecretKeyFile(const std::string& path) {
  XGW_TRY(FileSource source, FileSource::Open(path));
  SecretBuffer buf(kMaxKeyFileSize);
  XGW_TRY(size_t n, ReadFull(source, buf.span()));
  if (n == kMaxKeyFileSize) return Fail(ErrorCode::kKey, "key file " + path + " is too large");
  buf.Truncate(n);
  auto key = DecodeEd25519SecretKey(buf.view());
  if (!key) return Fail(key.error().code, key.error().message + " (file " + path + ")");
  return key;
}

}  // namespace xgw
