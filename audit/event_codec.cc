#include "audit/event_codec.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace xgw {

namespace {

constexpr char kV1 = 0x01;
constexpr char kHex = 0x02;
constexpr char kTime = 0x03;
constexpr unsigned char kFirstToken = 0x04;

// Fixed strings of canonical events (docs/audit-events.md: keys in sorted
// order, so each key follows a known neighbour). Never reorder or change:
// stored rows refer to them by position. At most 28 (codes 0x04..0x1f).
constexpr std::array<std::string_view, 28> kTokens = {
    R"({"action":"exchange.)",
    R"({"action":"protocol.)",
    R"({"action":")",
    R"(","actor":{"id":")",
    R"(","actor":{"type":")",
    R"(","org":")",
    R"(","type":"user"},")",
    R"(","type":"system"},")",
    R"(","type":"organisation"},")",
    R"("},")",
    R"(",")",
    R"("client":")",
    R"("exchange":")",
    R"("orgs":[")",
    R"("],")",
    R"("outcome":"success",")",
    R"("outcome":"refused",")",
    R"("outcome":"failed",")",
    R"("protocol":{"id":")",
    R"(","version":")",
    R"("request":")",
    R"("time":")",
    R"(","v":1})",
    R"("reason":")",
    R"("token":")",
    R"("user":")",
    R"("count":)",
    "downloaded",
};
static_assert(kTokens.size() <= 0x20 - kFirstToken);

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// "DDDD-DD-DDTDD:DD:DD.DDDZ": digits where the shape has 'D'.
constexpr std::string_view kTimeShape = "DDDD-DD-DDTDD:DD:DD.DDDZ";
constexpr size_t kTimeDigits = 17;
constexpr size_t kTimePacked = (kTimeDigits + 1) / 2;

bool IsTime(std::string_view s) {
  if (s.size() < kTimeShape.size()) return false;
  for (size_t i = 0; i < kTimeShape.size(); ++i) {
    if (kTimeShape[i] == 'D' ? !IsDigit(s[i]) : s[i] != kTimeShape[i]) return false;
  }
  return true;
}

void EncodeTime(std::string_view s, std::string& out) {
  std::array<uint8_t, kTimePacked> packed{};
  size_t d = 0;
  for (size_t i = 0; i < kTimeShape.size(); ++i) {
    if (kTimeShape[i] != 'D') continue;
    const auto v = static_cast<uint8_t>(s[i] - '0');
    packed[d / 2] |= static_cast<uint8_t>(d % 2 ? v : v << 4);
    ++d;
  }
  out.push_back(kTime);
  out.append(reinterpret_cast<const char*>(packed.data()), packed.size());
}

bool DecodeTime(const uint8_t* packed, std::string& out) {
  char buf[kTimeShape.size()];
  size_t d = 0;
  for (size_t i = 0; i < kTimeShape.size(); ++i) {
    if (kTimeShape[i] != 'D') {
      buf[i] = kTimeShape[i];
      continue;
    }
    const unsigned v = d % 2 ? packed[d / 2] & 0x0f : packed[d / 2] >> 4;
    if (v > 9) return false;
    buf[i] = static_cast<char>('0' + v);
    ++d;
  }
  out.append(buf, sizeof buf);
  return true;
}

// The shortest code stream for `s` (dynamic programming over positions,
// back to front): at each position a plain byte, one of the fixed strings,
// 64 lower-case hex digits or a time may start. A greedy longest match lost
// most of the savings: the separator tokens ("," and "},") end with the
// quote that the key tokens ("client":" ...) start with, so after a
// separator the key, and the packed time after "time":", were written out.
// Any stream the decoder maps back to `s` is valid, so this needs no new
// codes and rows written before it decode as before.
std::string EncodeV1(std::string_view s) {
  const size_t n = s.size();
  // cost[i]: bytes of the best stream for s[i..n); step[i]: what it starts
  // with (-1 plain byte, -2 hex, -3 time, else token index).
  std::vector<uint32_t> cost(n + 1, 0);
  std::vector<int8_t> step(n + 1, -1);
  std::vector<uint8_t> hex_run(n + 1, 0);  // lower-case hex digits from i (capped)
  for (size_t i = n; i-- > 0;) {
    hex_run[i] = IsLowerHex(s[i]) ? static_cast<uint8_t>(std::min<unsigned>(hex_run[i + 1] + 1u, 64u)) : 0;
    uint32_t best = 1 + cost[i + 1];
    int8_t how = -1;
    const char c = s[i];
    if ((c == '{' || c == '"' || c == 'd') && i + 1 < n) {
      const char c1 = s[i + 1];
      for (size_t t = 0; t < kTokens.size(); ++t) {
        const std::string_view tok = kTokens[t];
        // First two bytes before the full compare: most candidates differ there.
        if (tok[0] != c || tok[1] != c1 || n - i < tok.size() ||
            std::memcmp(s.data() + i + 2, tok.data() + 2, tok.size() - 2) != 0) {
          continue;
        }
        if (1 + cost[i + tok.size()] < best) {
          best = 1 + cost[i + tok.size()];
          how = static_cast<int8_t>(t);
        }
      }
    }
    if (hex_run[i] >= 64 && 33 + cost[i + 64] < best) {
      best = 33 + cost[i + 64];
      how = -2;
    }
    if (IsDigit(c) && n - i >= kTimeShape.size() && IsTime(s.substr(i)) &&
        1 + kTimePacked + cost[i + kTimeShape.size()] < best) {
      best = static_cast<uint32_t>(1 + kTimePacked + cost[i + kTimeShape.size()]);
      how = -3;
    }
    cost[i] = best;
    step[i] = how;
  }
  std::string out;
  out.reserve(cost[0] + 1);
  out.push_back(kV1);
  for (size_t i = 0; i < n;) {
    const int how = step[i];
    if (how == -1) {
      out.push_back(s[i]);
      ++i;
    } else if (how == -2) {
      out.push_back(kHex);
      for (size_t k = 0; k < 32; ++k) {
        out.push_back(static_cast<char>(HexValue(s[i + 2 * k]) << 4 | HexValue(s[i + 2 * k + 1])));
      }
      i += 64;
    } else if (how == -3) {
      EncodeTime(s.substr(i), out);
      i += kTimeShape.size();
    } else {
      out.push_back(static_cast<char>(kFirstToken + how));
      i += kTokens[static_cast<size_t>(how)].size();
    }
  }
  return out;
}

Result<void> Truncated() { return Fail(ErrorCode::kCorrupt, "stored audit event is truncated"); }

}  // namespace

std::string EncodeStoredEvent(std::string_view canonical) {
  // A byte below 0x20 would read as a code; canonical JSON escapes them all,
  // so such input is stored as it is (and so is anything not starting '{').
  if (canonical.empty() || canonical[0] != '{' ||
      std::any_of(canonical.begin(), canonical.end(), [](char c) { return static_cast<uint8_t>(c) < 0x20; })) {
    return std::string(canonical);
  }
  std::string encoded = EncodeV1(canonical);
  std::string back;
  if (!DecodeStoredEvent(encoded, back) || back != canonical) return std::string(canonical);
  return encoded;
}

Result<void> DecodeStoredEvent(std::string_view stored, std::string& out) {
  if (stored.empty() || stored[0] != kV1) {
    out.append(stored);
    return {};
  }
  static constexpr char kHexDigits[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const uint8_t*>(stored.data()) + 1;
  const auto* end = reinterpret_cast<const uint8_t*>(stored.data()) + stored.size();
  while (p < end) {
    const uint8_t b = *p++;
    if (b >= 0x20) {
      // Runs of plain bytes are copied at once.
      const uint8_t* q = p;
      while (q < end && *q >= 0x20) ++q;
      out.push_back(static_cast<char>(b));
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(q - p));
      p = q;
    } else if (b >= kFirstToken) {
      out.append(kTokens[b - kFirstToken]);
    } else if (b == kHex) {
      if (end - p < 32) return Truncated();
      char buf[64];
      for (size_t k = 0; k < 32; ++k) {
        buf[2 * k] = kHexDigits[p[k] >> 4];
        buf[2 * k + 1] = kHexDigits[p[k] & 0x0f];
      }
      out.append(buf, sizeof buf);
      p += 32;
    } else if (b == kTime) {
      if (static_cast<size_t>(end - p) < kTimePacked) return Truncated();
      if (!DecodeTime(p, out)) return Fail(ErrorCode::kCorrupt, "stored audit event has a bad time code");
      p += kTimePacked;
    } else {
      return Fail(ErrorCode::kCorrupt, "stored audit event has an unknown code");
    }
  }
  return {};
}

}  // namespace xgw
