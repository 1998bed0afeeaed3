#include "crypto/armor.h"

#include <algorithm>
#include <cstring>

namespace xgw::age {

namespace {
constexpr size_t kBytesPerLine = 48;
constexpr size_t kColumns = 64;
constexpr size_t kOutBuffer = 64 * 1024;
constexpr size_t kMaxWhitespace = 1024;

bool IsSpace(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool AllSpace(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return IsSpace(static_cast<uint8_t>(c)); });
}
}  // namespace

ArmorWriter::ArmorWriter(ByteSink& out) : out_(out), outbuf_(kOutBuffer) {}

Result<void> ArmorWriter::FlushOut() {
  if (outlen_ == 0) return {};
  XGW_CHECK(out_.Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(outbuf_.data()), outlen_)));
  outlen_ = 0;
  return {};
}

Result<void> ArmorWriter::Emit(std::span<const uint8_t> bytes, bool final_line) {
  if (!started_) {
    started_ = true;
    std::memcpy(outbuf_.data(), kArmorHeader.data(), kArmorHeader.size());
    outbuf_[kArmorHeader.size()] = '\n';
    outlen_ = kArmorHeader.size() + 1;
  }
  if (outlen_ + kColumns + 1 > outbuf_.size()) XGW_CHECK(FlushOut());
  if (!bytes.empty()) {
    outlen_ += PaddedBase64EncodeInto(bytes, outbuf_.data() + outlen_);
    outbuf_[outlen_++] = '\n';
  }
  if (final_line) {
    if (outlen_ + kArmorFooter.size() + 1 > outbuf_.size()) XGW_CHECK(FlushOut());
    std::memcpy(outbuf_.data() + outlen_, kArmorFooter.data(), kArmorFooter.size());
    outlen_ += kArmorFooter.size();
    outbuf_[outlen_++] = '\n';
  }
  return {};
}

Result<void> ArmorWriter::Write(std::span<const uint8_t> data) {
  if (closed_) return Fail(ErrorCode::kInternal, "write after close of armor writer");
  if (pending_len_ > 0) {
    size_t n = std::min(kBytesPerLine - pending_len_, data.size());
    std::memcpy(pending_ + pending_len_, data.data(), n);
    pending_len_ += n;
    data = data.subspan(n);
    if (pending_len_ < kBytesPerLine) return {};
    XGW_CHECK(Emit(std::span<const uint8_t>(pending_, kBytesPerLine), false));
    pending_len_ = 0;
  }
  while (data.size() >= kBytesPerLine) {
    XGW_CHECK(Emit(data.first(kBytesPerLine), false));
    data = data.subspan(kBytesPerLine);
  }
  std::memcpy(pending_, data.data(), data.size());
  pending_len_ = data.size();
  return {};
}

Result<void> ArmorWriter::Close() {
  if (closed_) return {};
  closed_ = true;
  XGW_CHECK(Emit(std::span<const uint8_t>(pending_, pending_len_), true));
  pending_len_ = 0;
  XGW_CHECK(FlushOut());
  return out_.Flush();
}

Result<std::string_view> ArmorReader::GetLine() {
  XGW_TRY(std::string_view line, in_.ReadLine(2 * kMaxWhitespace));
  if (line.empty()) return Fail(ErrorCode::kArmor, "armored file ends before its end line");
  if (line.back() != '\n' && line.size() == 2 * kMaxWhitespace)
    return Fail(ErrorCode::kArmor, "armor line is too long");
  if (line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Result<void> ArmorReader::Start() {
  size_t skipped = 0;
  for (;;) {
    XGW_TRY(std::string_view line, GetLine());
    if (AllSpace(line)) {
      skipped += line.size() + 1;
      if (skipped > kMaxWhitespace) return Fail(ErrorCode::kArmor, "too much whitespace before armor");
      continue;
    }
    if (line != kArmorHeader) return Fail(ErrorCode::kArmor, "invalid armor begin line");
    started_ = true;
    return {};
  }
}

Result<void> ArmorReader::DrainTrailing() {
  uint8_t buf[kMaxWhitespace];
  XGW_TRY(size_t n, ReadFull(in_, buf));
  if (!AllSpace(AsText(std::span<const uint8_t>(buf, n))))
    return Fail(ErrorCode::kArmor, "data after the armor end line");
  if (n == kMaxWhitespace) return Fail(ErrorCode::kArmor, "too much whitespace after armor");
  return {};
}

Result<size_t> ArmorReader::DecodeLine(std::span<uint8_t> out) {
  XGW_TRY(std::string_view line, GetLine());
  if (line == kArmorFooter) {
    XGW_CHECK(DrainTrailing());
    done_ = true;
    return size_t{0};
  }
  if (line.empty()) return Fail(ErrorCode::kArmor, "empty line inside armor");
  if (line.size() > kColumns) return Fail(ErrorCode::kArmor, "armor line is longer than 64 columns");
  auto n = PaddedBase64DecodeInto(line, out.first(kBytesPerLine));
  if (!n) return Fail(ErrorCode::kArmor, "invalid base64 in armor");
  if (*n < kBytesPerLine) {
    // A short line is the last one: the end line must follow.
    XGW_TRY(std::string_view end, GetLine());
    if (end != kArmorFooter) return Fail(ErrorCode::kArmor, "invalid armor end line");
    done_ = true;
    auto drained = DrainTrailing();
    if (!drained) {
      // Report after the bytes of this line are delivered.
      failed_ = true;
      error_ = std::move(drained).error();
    }
  }
  return *n;
}

Result<size_t> ArmorReader::Read(std::span<uint8_t> buf) {
  if (line_pos_ < line_len_) {
    size_t n = std::min(buf.size(), line_len_ - line_pos_);
    std::memcpy(buf.data(), line_ + line_pos_, n);
    line_pos_ += n;
    return n;
  }
  if (failed_) return tl::unexpected(error_);
  if (done_ || buf.empty()) return size_t{0};
  auto fail = [&](Error e) -> Result<size_t> {
    failed_ = true;
    error_ = e;
    return tl::unexpected(std::move(e));
  };
  if (!started_) {
    auto r = Start();
    if (!r) return fail(std::move(r).error());
  }
  size_t got = 0;
  while (!done_ && !failed_ && buf.size() - got >= kBytesPerLine) {
    auto r = DecodeLine(buf.subspan(got));
    if (!r) {
      if (got > 0) {
        failed_ = true;
        error_ = std::move(r).error();
        return got;
      }
      return fail(std::move(r).error());
    }
    got += *r;
  }
  if (got > 0 || done_ || failed_) {
    if (got == 0 && failed_) return tl::unexpected(error_);
    return got;
  }
  // Caller's buffer is smaller than a line: decode into our own.
  auto r = DecodeLine(line_);
  if (!r) return fail(std::move(r).error());
  line_len_ = *r;
  line_pos_ = std::min(buf.size(), line_len_);
  std::memcpy(buf.data(), line_, line_pos_);
  if (line_pos_ == 0 && failed_) return tl::unexpected(error_);
  return line_pos_;
}

}  // namespace xgw::age
