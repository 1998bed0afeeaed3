#include "crypto/bech32.h"

#include <array>
#include <vector>

namespace xgw {

namespace {

constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t PolymodStep(uint32_t chk, uint8_t value) {
  static constexpr std::array<uint32_t, 5> kGen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                                   0x3d4233dd, 0x2a1462b3};
  uint32_t top = chk >> 25;
  chk = ((chk & 0x1ffffff) << 5) ^ value;
  for (int i = 0; i < 5; ++i) {
    if ((top >> i) & 1) chk ^= kGen[static_cast<size_t>(i)];
  }
  return chk;
}

// Checksum state after the expanded, lower-case human-readable part.
uint32_t HrpPolymod(std::string_view hrp) {
  uint32_t chk = 1;
  for (char c : hrp) chk = PolymodStep(chk, static_cast<uint8_t>(static_cast<uint8_t>(c) >> 5));
  chk = PolymodStep(chk, 0);
  for (char c : hrp) chk = PolymodStep(chk, static_cast<uint8_t>(static_cast<uint8_t>(c) & 31));
  return chk;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

SecretBuffer Bech32Encode(std::string_view hrp, std::span<const uint8_t> data) {
  size_t groups = (data.size() * 8 + 4) / 5;
  SecretBuffer out(hrp.size() + 1 + groups + 6);
  char* p = reinterpret_cast<char*>(out.data());
  for (char c : hrp) *p++ = c;
  *p++ = '1';
  uint32_t chk = HrpPolymod(hrp);
  uint32_t acc = 0;
  int bits = 0;
  auto emit = [&](uint8_t v) {
    chk = PolymodStep(chk, v);
    *p++ = kCharset[v];
  };
  for (uint8_t b : data) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      emit(static_cast<uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) emit(static_cast<uint8_t>((acc << (5 - bits)) & 31));
  acc = 0;
  for (int i = 0; i < 6; ++i) chk = PolymodStep(chk, 0);
  chk ^= 1;
  for (int i = 0; i < 6; ++i) *p++ = kCharset[(chk >> (5 * (5 - i))) & 31];
  return out;
}

std::optional<Bech32Decoded> Bech32Decode(std::string_view text) {
  bool has_lower = false, has_upper = false;
  for (char c : text) {
    if (c >= 'a' && c <= 'z') has_lower = true;
    if (c >= 'A' && c <= 'Z') has_upper = true;
  }
  if (has_lower && has_upper) return std::nullopt;
  size_t sep = text.rfind('1');
  if (sep == std::string_view::npos || sep < 1 || sep + 7 > text.size()) return std::nullopt;
  std::string hrp(text.substr(0, sep));
  std::string lower_hrp;
  for (char c : hrp) {
    if (c < 33 || c > 126) return std::nullopt;
    lower_hrp += Lower(c);
  }
  std::string_view rest = text.substr(sep + 1);
  uint32_t chk = HrpPolymod(lower_hrp);
  size_t ndata = rest.size() - 6;
  SecretBuffer out(ndata * 5 / 8);
  size_t outpos = 0;
  uint32_t acc = 0;
  int bits = 0;
  bool ok = true;
  for (size_t i = 0; i < rest.size(); ++i) {
    size_t d = kCharset.find(Lower(rest[i]));
    if (d == std::string_view::npos) return std::nullopt;
    chk = PolymodStep(chk, static_cast<uint8_t>(d));
    if (i >= ndata) continue;
    acc = ((acc << 5) | static_cast<uint32_t>(d)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.data()[outpos++] = static_cast<uint8_t>((acc >> bits) & 0xff);
    }
  }
  // Padding must be shorter than a byte and all zero.
  if (bits >= 5 || ((acc << (8 - bits)) & 0xff) != 0) ok = false;
  acc = 0;
  if (chk != 1 || !ok) return std::nullopt;
  out.Truncate(outpos);
  return Bech32Decoded{std::move(hrp), std::move(out)};
}

}  // namespace xgw
