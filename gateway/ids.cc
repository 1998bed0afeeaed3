#include "gateway/ids.h"

#include <sodium.h>

#include <array>

#include "crypto/hash.h"
#include "crypto/secret.h"

namespace xgw {
namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr size_t kIdBytes = 16;
constexpr size_t kIdChars = 26;      // ceil(128 / 5)
constexpr size_t kTokenBytes = 32;
constexpr size_t kTokenChars = 52;   // ceil(256 / 5)
constexpr std::string_view kTokenPrefixText = "xgwt_";

bool AllBase32(std::string_view s) {
  for (char ch : s) {
    if (kAlphabet.find(ch) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

std::string Base32Lower(const unsigned char* data, size_t size) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31u]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31u]);
  return out;
}

std::string NewId(std::string_view prefix) {
  InitCrypto();
  std::array<unsigned char, kIdBytes> raw{};
  randombytes_buf(raw.data(), raw.size());
  return std::string(prefix) + "-" + Base32Lower(raw.data(), raw.size());
}

bool IsValidId(std::string_view prefix, std::string_view id) {
  if (id.size() != prefix.size() + 1 + kIdChars) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '-') return false;
  return AllBase32(id.substr(prefix.size() + 1));
}

std::string NewTokenSecret() {
  InitCrypto();
  SecretBuffer raw = SecretBuffer::Random(kTokenBytes);
  return std::string(kTokenPrefixText) + Base32Lower(raw.data(), raw.size());
}

bool IsTokenSecretShape(std::string_view secret) {
  return secret.size() == kTokenPrefixText.size() + kTokenChars &&
         secret.substr(0, kTokenPrefixText.size()) == kTokenPrefixText &&
         AllBase32(secret.substr(kTokenPrefixText.size()));
}

std::string TokenHash(std::string_view secret) { return HexEncode(Sha256::Hash(secret)); }

}  // namespace xgw
