#include "gateway/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/io.h"
#include "crypto/secret.h"

namespace xgw {

std::string TotpCode(std::span<const uint8_t> secret, int64_t step, int digits) {
  uint8_t counter[8];
  for (int i = 7; i >= 0; --i) {
    counter[i] = static_cast<uint8_t>(step & 0xff);
    step >>= 8;
  }
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned mac_len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), counter, sizeof counter, mac, &mac_len);
  const int offset = mac[19] & 0x0f;
  const uint32_t bin = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                       (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                       (static_cast<uint32_t>(mac[offset + 2]) << 8) | mac[offset + 3];
  WipeMemory(mac, sizeof mac);
  uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string code = std::to_string(bin % mod);
  return std::string(static_cast<size_t>(digits) - code.size(), '0') + code;
}

std::optional<int64_t> VerifyTotp(std::span<const uint8_t> secret, std::string_view code, int64_t now,
                                  int64_t last_used) {
  if (code.size() != 6) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::optional<int64_t> match;
  const int64_t step = TotpStep(now);
  // All three steps are computed and compared, so timing does not tell which matched.
  for (int64_t s = step - 1; s <= step + 1; ++s) {
    std::string expected = TotpCode(secret, s, 6);
    const bool equal = ConstantTimeEqual(AsBytes(expected), AsBytes(code));
    WipeMemory(expected.data(), expected.size());
    if (equal && s > last_used && !match) match = s;
  }
  return match;
}

std::string Base32Upper(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

namespace {

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string OtpauthUri(std::string_view issuer, std::string_view account, std::span<const uint8_t> secret) {
  const std::string i = PercentEncode(issuer);
  return "otpauth://totp/" + i + ":" + PercentEncode(account) + "?secret=" + Base32Upper(secret) + "&issuer=" + i +
         "&algorithm=SHA1&digits=6&period=30";
}

}  // namespace xgw
