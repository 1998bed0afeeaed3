#include "crypto/age_format.h"

#include <algorithm>
#include <cstring>

namespace xgw::age {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kIntro = "age-encryption.org/v1\n";
constexpr size_t kBytesPerLine = 48;
constexpr size_t kMaxLine = 16 * 1024;
constexpr size_t kMaxHeader = 1024 * 1024;

struct DecodeTable {
  int8_t v[256];
  constexpr DecodeTable() : v() {
    for (int i = 0; i < 256; ++i) v[i] = -1;
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
};
constexpr DecodeTable kDecode;

inline int Val(char c) { return kDecode.v[static_cast<unsigned char>(c)]; }

// Decodes unpadded base64 of `text` into out; `text.size() % 4 != 1`.
// Returns false on a bad character or non-zero trailing bits.
bool DecodeUnpadded(std::string_view text, uint8_t* out) {
  size_t full = text.size() / 4 * 4;
  for (size_t i = 0; i < full; i += 4) {
    int a = Val(text[i]), b = Val(text[i + 1]), c = Val(text[i + 2]), d = Val(text[i + 3]);
    if ((a | b | c | d) < 0) return false;
    uint32_t n = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                 (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *out++ = static_cast<uint8_t>(n >> 16);
    *out++ = static_cast<uint8_t>(n >> 8);
    *out++ = static_cast<uint8_t>(n);
  }
  size_t rem = text.size() - full;
  if (rem == 2) {
    int a = Val(text[full]), b = Val(text[full + 1]);
    if ((a | b) < 0 || (b & 0x0f) != 0) return false;
    *out++ = static_cast<uint8_t>((a << 2) | (b >> 4));
  } else if (rem == 3) {
    int a = Val(text[full]), b = Val(text[full + 1]), c = Val(text[full + 2]);
    if ((a | b | c) < 0 || (c & 0x03) != 0) return false;
    *out++ = static_cast<uint8_t>((a << 2) | (b >> 4));
    *out++ = static_cast<uint8_t>(((b & 0x0f) << 4) | (c >> 2));
  }
  return true;
}

size_t DecodedSize(size_t unpadded_len) { return unpadded_len / 4 * 3 + (unpadded_len % 4) * 3 / 4; }

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t sp = line.find(' ', start);
    if (sp == std::string_view::npos) {
      parts.push_back(line.substr(start));
      return parts;
    }
    parts.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
}

bool IsValidArg(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 33 && c <= 126; });
}

}  // namespace

size_t PaddedBase64EncodeInto(std::span<const uint8_t> data, char* out) {
  char* start = out;
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t n = (static_cast<uint32_t>(data[i]) << 16) | (static_cast<uint32_t>(data[i + 1]) << 8) |
                 data[i + 2];
    *out++ = kAlphabet[(n >> 18) & 63];
    *out++ = kAlphabet[(n >> 12) & 63];
    *out++ = kAlphabet[(n >> 6) & 63];
    *out++ = kAlphabet[n & 63];
  }
  size_t rem = data.size() - i;
  if (rem == 1) {
    uint32_t n = static_cast<uint32_t>(data[i]) << 16;
    *out++ = kAlphabet[(n >> 18) & 63];
    *out++ = kAlphabet[(n >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (rem == 2) {
    uint32_t n = (static_cast<uint32_t>(data[i]) << 16) | (static_cast<uint32_t>(data[i + 1]) << 8);
    *out++ = kAlphabet[(n >> 18) & 63];
    *out++ = kAlphabet[(n >> 12) & 63];
    *out++ = kAlphabet[(n >> 6) & 63];
    *out++ = '=';
  }
  return static_cast<size_t>(out - start);
}

std::optional<size_t> PaddedBase64DecodeInto(std::string_view text, std::span<uint8_t> out) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  if (pad == 1 && text.size() >= 2 && text[text.size() - 2] == '=') return std::nullopt;
  std::string_view body = text.substr(0, text.size() - pad);
  if (body.size() % 4 == 1) return std::nullopt;
  size_t n = DecodedSize(body.size());
  if (n > out.size()) return std::nullopt;
  if (!DecodeUnpadded(body, out.data())) return std::nullopt;
  return n;
}

std::string RawBase64Encode(std::span<const uint8_t> data) {
  std::string out((data.size() + 2) / 3 * 4, '\0');
  size_t n = PaddedBase64EncodeInto(data, out.data());
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::optional<std::vector<uint8_t>> RawBase64Decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<uint8_t> out(DecodedSize(text.size()));
  if (!DecodeUnpadded(text, out.data())) return std::nullopt;
  return out;
}

BufferedReader::BufferedReader(ByteSource& src, size_t capacity) : src_(src), buf_(capacity) {}

Result<bool> BufferedReader::Fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size()) return true;
  XGW_TRY(size_t n, src_.Read(std::span<uint8_t>(buf_.data() + end_, buf_.size() - end_)));
  if (n == 0) {
    eof_ = true;
    return false;
  }
  end_ += n;
  return true;
}

Result<size_t> BufferedReader::Read(std::span<uint8_t> buf) {
  if (buf.empty()) return size_t{0};
  if (begin_ == end_) {
    if (eof_) return size_t{0};
    if (buf.size() >= 4096) {
      XGW_TRY(size_t n, src_.Read(buf));
      if (n == 0) eof_ = true;
      return n;
    }
    XGW_TRY(bool more, Fill());
    if (!more) return size_t{0};
  }
  size_t n = std::min(buf.size(), end_ - begin_);
  std::memcpy(buf.data(), buf_.data() + begin_, n);
  begin_ += n;
  return n;
}

Result<std::string_view> BufferedReader::ReadLine(size_t max_len) {
  size_t scanned = 0;
  for (;;) {
    const uint8_t* start = buf_.data() + begin_;
    size_t avail = end_ - begin_;
    size_t limit = std::min(avail, max_len);
    const void* nl = scanned < limit ? std::memchr(start + scanned, '\n', limit - scanned) : nullptr;
    if (nl != nullptr) {
      size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - start) + 1;
      begin_ += len;
      return std::string_view(reinterpret_cast<const char*>(start), len);
    }
    scanned = limit;
    if (avail >= max_len || eof_) {
      size_t len = limit;
      begin_ += len;
      return std::string_view(reinterpret_cast<const char*>(start), len);
    }
    XGW_TRY(bool more, Fill());
    (void)more;
  }
}

Result<std::span<const uint8_t>> BufferedReader::Peek(size_t n) {
  while (end_ - begin_ < n && !eof_) {
    XGW_TRY(bool more, Fill());
    if (!more) break;
  }
  return std::span<const uint8_t>(buf_.data() + begin_, std::min(n, end_ - begin_));
}

Result<Header> ParseHeader(BufferedReader& in) {
  Header h;
  auto next_line = [&]() -> Result<std::string_view> {
    XGW_TRY(std::string_view line, in.ReadLine(kMaxLine));
    if (line.empty() || line.back() != '\n') {
      if (line.size() == kMaxLine) return Fail(ErrorCode::kHeader, "header line is too long");
      return Fail(ErrorCode::kHeader, "header is truncated");
    }
    h.mac_input.append(line);
    if (h.mac_input.size() > kMaxHeader) return Fail(ErrorCode::kHeader, "header is too large");
    return line.substr(0, line.size() - 1);
  };

  XGW_TRY(std::string_view intro, in.ReadLine(kIntro.size()));
  if (intro != kIntro) {
    if (intro.starts_with("age-encryption.org/"))
      return Fail(ErrorCode::kHeader, "unsupported age format version");
    return Fail(ErrorCode::kHeader, "input is not an age file (missing age-encryption.org/v1 line)");
  }
  h.mac_input.assign(intro);

  for (;;) {
    XGW_TRY(std::string_view line, next_line());
    if (line.starts_with("---")) {
      auto parts = SplitSpaces(line);
      if (parts[0] != "---" || parts.size() != 2)
        return Fail(ErrorCode::kHeader, "malformed header mac line");
      auto mac = RawBase64Decode(parts[1]);
      if (!mac || mac->size() != 32) return Fail(ErrorCode::kHeader, "malformed header mac");
      std::memcpy(h.mac.data(), mac->data(), 32);
      // The MAC covers everything up to and including "---", without the
      // space, the MAC and the newline.
      h.mac_input.resize(h.mac_input.size() - line.size() - 1 + 3);
      return h;
    }
    if (!line.starts_with("->")) return Fail(ErrorCode::kHeader, "unexpected line in header");
    auto parts = SplitSpaces(line);
    if (parts[0] != "->" || parts.size() < 2)
      return Fail(ErrorCode::kHeader, "malformed stanza line in header");
    for (size_t i = 1; i < parts.size(); ++i) {
      if (!IsValidArg(parts[i])) return Fail(ErrorCode::kHeader, "malformed stanza argument in header");
    }
    Stanza s;
    s.type.assign(parts[1]);
    for (size_t i = 2; i < parts.size(); ++i) s.args.emplace_back(parts[i]);
    for (;;) {
      XGW_TRY(std::string_view body_line, next_line());
      if (body_line.size() > 64) return Fail(ErrorCode::kHeader, "stanza body line is too long");
      auto bytes = RawBase64Decode(body_line);
      if (!bytes) return Fail(ErrorCode::kHeader, "malformed stanza body in header");
      s.body.insert(s.body.end(), bytes->begin(), bytes->end());
      if (bytes->size() < kBytesPerLine) break;  // a short line ends the body
    }
    h.stanzas.push_back(std::move(s));
  }
}

std::string EncodeHeaderWithoutMac(std::span<const Stanza> stanzas) {
  std::string out(kIntro);
  for (const Stanza& s : stanzas) {
    out += "-> ";
    out += s.type;
    for (const std::string& a : s.args) {
      out += ' ';
      out += a;
    }
    out += '\n';
    std::string b64 = RawBase64Encode(s.body);
    // 64-column lines; the last line is always short, possibly empty.
    size_t pos = 0;
    for (; pos + 64 <= b64.size(); pos += 64) {
      out.append(b64, pos, 64);
      out += '\n';
    }
    out.append(b64, pos, std::string::npos);
    out += '\n';
  }
  out += "---";
  return out;
}

}  // namespace xgw::age
