#include "gateway/identity_rules.h"

#include "crypto/hash.h"

namespace xgw {

bool IsValidRoleName(std::string_view role) {
  if (role.empty() || role.size() > 64) return false;
  if (role[0] < 'a' || role[0] > 'z') return false;
  for (char ch : role) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ch == '-' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

bool IsAgeRecipientShape(std::string_view r) {
  constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  // 32-byte key → 52 data chars + 6 checksum chars after "age1".
  if (r.size() != 62 || r.substr(0, 4) != "age1") return false;
  for (char ch : r.substr(4)) {
    if (kCharset.find(ch) == std::string_view::npos) return false;
  }
  return true;
}

bool IsEd25519VerifyKey(std::string_view b64) {
  auto raw = Base64Decode(b64);
  return raw && raw->size() == 32;
}

bool IsCleanText(std::string_view text, size_t max_bytes) {
  if (text.empty() || text.size() > max_bytes) return false;
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return false;
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > text.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                          (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp < 0xa0) return false;  // C1 controls
    i += len;
  }
  return true;
}

std::optional<std::string> NormaliseEnterpriseNumber(std::string_view text) {
  std::string_view t = text;
  if (t.size() >= 2 && (t.substr(0, 2) == "BE" || t.substr(0, 2) == "be")) t.remove_prefix(2);
  std::string digits;
  for (char ch : t) {
    if (ch >= '0' && ch <= '9') {
      digits.push_back(ch);
    } else if (ch != '.' && ch != ' ') {
      return std::nullopt;
    }
  }
  if (digits.size() == 8) return digits;  // KvK
  if (digits.size() != 10) return std::nullopt;
  const long first8 = std::stol(digits.substr(0, 8));
  const long check = std::stol(digits.substr(8));
  if (97 - first8 % 97 != check) return std::nullopt;
  return digits;
}

std::optional<std::string> NormalisePin(std::string_view text) {
  std::optional<std::vector<uint8_t>> raw;
  if (text.size() == 7 + 64 && text.substr(0, 7) == "sha256:") {
    raw = HexDecode(text.substr(7));
  } else if (text.size() == 8 + 44 && text.substr(0, 8) == "sha256//") {
    raw = Base64Decode(text.substr(8));
  }
  if (!raw || raw->size() != 32) return std::nullopt;
  return HexEncode(*raw);
}

std::optional<std::string> NormalisePinId(std::string_view text) {
  std::optional<std::vector<uint8_t>> raw;
  if (text.size() == 64) {
    raw = HexDecode(text);
  } else if (text.size() == 43) {
    // URL-safe alphabet, no padding: map to the standard one and let the
    // strict decoder check the rest (alphabet, trailing bits).
    std::string standard(text);
    for (char& c : standard) {
      if (c == '+' || c == '/') return std::nullopt;
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    raw = Base64Decode(standard + "=");
  }
  if (!raw || raw->size() != 32) return std::nullopt;
  return HexEncode(*raw);
}

std::string PinBase64Form(std::string_view hex) {
  auto raw = HexDecode(hex);
  return "sha256//" + (raw ? Base64Encode(*raw) : std::string());
}

}  // namespace xgw
