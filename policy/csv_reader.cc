// Streaming CSV reader. One pass over a fixed 256 KiB buffer; the current row
// is the only other memory in use.
#include <cstring>

#include "crypto/secret.h"
#include "policy/list_reader.h"
#include "policy/workbook_kind.h"

namespace xgw {

namespace {

constexpr size_t kBufferSize = 256 * 1024;

// Windows-1252 bytes 0x80..0x9F; 0 marks the five undefined bytes.
constexpr uint16_t kCp1252High[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

bool AppendCp1252(std::string_view in, std::string* out) {
  out->clear();
  for (char ch : in) {
    auto b = static_cast<unsigned char>(ch);
    uint32_t cp = b;
    if (b >= 0x80 && b <= 0x9F) {
      cp = kCp1252High[b - 0x80];
      if (cp == 0) return false;
    }
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return true;
}

class CsvReader final : public ListReader {
 public:
  CsvReader(ByteSource& source, const ReaderLimits& limits)
      : source_(source), limits_(limits), buf_(kBufferSize) {}

  ~CsvReader() override {
    WipeMemory(buf_.data(), buf_.size());
    WipeMemory(row_.data(), row_.size());
    WipeMemory(scratch_.data(), scratch_.size());
  }

  Result<void> Start() {
    XGW_CHECK(Refill());
    // Workbooks sent as CSV: say what they are rather than failing on bytes.
    const std::span<const uint8_t> head(buf_.data(), len_);
    if (HasCompoundSignature(head)) return tl::unexpected(*CompoundFileError(SniffCompoundBuffer(head)));
    if (len_ >= 4 && buf_[0] == 'P' && buf_[1] == 'K' && buf_[2] == 3 && buf_[3] == 4) {
      return Fail(ErrorCode::kFormat, "the file is a zip archive (an .xlsx workbook?), not CSV: send it as xlsx");
    }
    if (len_ >= 2 && ((buf_[0] == 0xFF && buf_[1] == 0xFE) || (buf_[0] == 0xFE && buf_[1] == 0xFF))) {
      return Fail(ErrorCode::kFormat, "csv is UTF-16; save it as UTF-8 CSV");
    }
    if (len_ >= 3 && buf_[0] == 0xEF && buf_[1] == 0xBB && buf_[2] == 0xBF) {
      bom_ = true;
      pos_ = 3;
    }
    DetectDelimiter();
    for (;;) {
      XGW_TRY(bool more, ReadRecord());
      if (!more) return Fail(ErrorCode::kFormat, "csv has no header row (the file is empty)");
      if (ends_.size() == 1 && row_.empty()) continue;  // blank line before the header
      break;
    }
    size_t start = 0;
    for (size_t end : ends_) {
      header_.emplace_back(row_.substr(start, end - start));
      start = end;
    }
    return {};
  }

  const std::vector<std::string>& Header() const override { return header_; }

  Result<bool> Next(std::vector<std::string_view>* cells) override {
    XGW_TRY(bool more, ReadRecord());
    cells->clear();
    if (!more) return false;
    if (row_number_ - 1 > limits_.max_rows) {
      return Fail(ErrorCode::kLimit, "csv has more than " + std::to_string(limits_.max_rows) + " rows");
    }
    size_t start = 0;
    for (size_t end : ends_) {
      cells->emplace_back(row_.data() + start, end - start);
      start = end;
    }
    return true;
  }

  uint64_t RowNumber() const override { return row_number_; }
  InputFormat Format() const override { return InputFormat::kCsv; }
  std::string_view Encoding() const override {
    return cp1252_ ? "windows-1252" : bom_ ? "utf-8-bom" : "utf-8";
  }
  uint64_t SourceBytes() const override { return bytes_; }
  Sha256Digest SourceSha256() const override { return digest_; }

 private:
  Result<void> Refill() {
    pos_ = 0;
    len_ = 0;
    if (eof_) return {};
    XGW_TRY(size_t n, source_.Read(std::span<uint8_t>(buf_.data(), buf_.size())));
    if (n == 0) {
      eof_ = true;
      digest_ = sha_.Finish();
      return {};
    }
    len_ = n;
    bytes_ += n;
    sha_.Update(std::span<const uint8_t>(buf_.data(), n));
    return {};
  }

  // Picks the separator occurring most often outside quotes on the first line.
  void DetectDelimiter() {
    size_t counts[3] = {0, 0, 0};
    bool quoted = false;
    for (size_t i = pos_; i < len_; ++i) {
      char c = static_cast<char>(buf_[i]);
      if (c == '"') quoted = !quoted;
      if (quoted) continue;
      if (c == '\n' || c == '\r') break;
      if (c == ',') ++counts[0];
      if (c == ';') ++counts[1];
      if (c == '\t') ++counts[2];
    }
    delim_ = ',';
    if (counts[1] > counts[0] && counts[1] >= counts[2]) delim_ = ';';
    if (counts[2] > counts[0] && counts[2] > counts[1]) delim_ = '\t';
  }

  std::string Where() const {
    return "row " + std::to_string(row_number_ + 1) + " column " + std::to_string(ends_.size() + 1);
  }

  Result<void> Append(const uint8_t* data, size_t n) {
    row_.append(reinterpret_cast<const char*>(data), n);
    if (row_.size() - field_start_ > limits_.max_field_bytes) {
      return Fail(ErrorCode::kLimit, "csv cell at " + Where() + " is longer than " +
                                         std::to_string(limits_.max_field_bytes) + " bytes");
    }
    if (row_.size() > limits_.max_row_bytes) {
      return Fail(ErrorCode::kLimit, "csv row " + std::to_string(row_number_ + 1) + " is longer than " +
                                         std::to_string(limits_.max_row_bytes) + " bytes");
    }
    return {};
  }

  Result<void> FinishField() {
    if (high_) {
      std::string_view field(row_.data() + field_start_, row_.size() - field_start_);
      if (!cp1252_) {
        if (IsValidUtf8(field)) {
          seen_multibyte_ = true;
        } else if (!seen_multibyte_) {
          cp1252_ = true;  // everything before was ASCII, identical in both encodings
        } else {
          return Fail(ErrorCode::kFormat, "csv mixes UTF-8 and another encoding (invalid UTF-8 at " + Where() +
                                              "); save it as UTF-8 CSV");
        }
      }
      if (cp1252_) {
        if (!AppendCp1252(field, &scratch_)) {
          return Fail(ErrorCode::kFormat, "csv byte at " + Where() + " is neither UTF-8 nor Windows-1252");
        }
        row_.replace(field_start_, std::string::npos, scratch_);
      }
    }
    high_ = false;
    ends_.push_back(row_.size());
    field_start_ = row_.size();
    if (ends_.size() > limits_.max_columns) {
      return Fail(ErrorCode::kLimit, "csv row " + std::to_string(row_number_ + 1) + " has more than " +
                                         std::to_string(limits_.max_columns) + " columns");
    }
    return {};
  }

  // Reads one record into row_/ends_. A blank line is a record with one empty
  // cell. Returns false at end of input.
  Result<bool> ReadRecord() {
    WipeMemory(row_.data(), row_.size());
    row_.clear();
    ends_.clear();
    field_start_ = 0;
    high_ = false;
    enum { kStart, kUnquoted, kQuoted, kQuoteSeen } state = kStart;
    bool any = false;
    for (;;) {
      if (pos_ == len_) {
        XGW_CHECK(Refill());
        if (len_ == 0) {
          if (state == kQuoted) {
            return Fail(ErrorCode::kFormat, "csv ends inside a quoted cell (" + Where() + "); a closing quote is missing");
          }
          if (!any) return false;
          XGW_CHECK(FinishField());
          ++row_number_;
          return true;
        }
      }
      uint8_t b = buf_[pos_];
      char c = static_cast<char>(b);
      if (skip_lf_) {
        skip_lf_ = false;
        if (c == '\n') {
          ++pos_;
          continue;
        }
      }
      switch (state) {
        case kStart:
        case kUnquoted:
          if (c == delim_) {
            ++pos_;
            any = true;
            XGW_CHECK(FinishField());
            state = kStart;
          } else if (c == '\n' || c == '\r') {
            ++pos_;
            skip_lf_ = c == '\r';
            XGW_CHECK(FinishField());
            ++row_number_;
            return true;
          } else if (c == '"') {
            if (state == kUnquoted) {
              return Fail(ErrorCode::kFormat, "csv has a quote inside an unquoted cell at " + Where() +
                                                  "; quote the whole cell and double the quote");
            }
            ++pos_;
            any = true;
            state = kQuoted;
          } else {
            // Fast path: copy the run of ordinary bytes at once.
            size_t i = pos_;
            uint8_t or_bits = 0;
            while (i < len_) {
              uint8_t d = buf_[i];
              if (d == static_cast<uint8_t>(delim_) || d == '\n' || d == '\r' || d == '"') break;
              or_bits |= d;
              ++i;
            }
            if (or_bits & 0x80) high_ = true;
            XGW_CHECK(Append(buf_.data() + pos_, i - pos_));
            pos_ = i;
            any = true;
            state = kUnquoted;
          }
          break;
        case kQuoted: {
          size_t i = pos_;
          uint8_t or_bits = 0;
          while (i < len_ && buf_[i] != '"') or_bits |= buf_[i++];
          if (or_bits & 0x80) high_ = true;
          XGW_CHECK(Append(buf_.data() + pos_, i - pos_));
          pos_ = i;
          if (i < len_) {
            ++pos_;
            state = kQuoteSeen;
          }
          break;
        }
        case kQuoteSeen:
          if (c == '"') {
            ++pos_;
            XGW_CHECK(Append(&b, 1));
            state = kQuoted;
          } else if (c == delim_ || c == '\n' || c == '\r') {
            state = kUnquoted;  // handled as the end of the cell on the next turn
          } else {
            return Fail(ErrorCode::kFormat, "csv has text after a closing quote at " + Where() +
                                                "; quote the whole cell and double inner quotes");
          }
          break;
      }
    }
  }

  ByteSource& source_;
  ReaderLimits limits_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  Sha256 sha_;
  Sha256Digest digest_{};
  uint64_t bytes_ = 0;
  char delim_ = ',';
  bool bom_ = false, cp1252_ = false, seen_multibyte_ = false, skip_lf_ = false, high_ = false;
  std::string row_, scratch_;
  std::vector<size_t> ends_;
  size_t field_start_ = 0;
  std::vector<std::string> header_;
  uint64_t row_number_ = 0;
};

}  // namespace

Result<std::unique_ptr<ListReader>> OpenCsvReader(ByteSource& source, const ReaderLimits& limits) {
  auto reader = std::make_unique<CsvReader>(source, limits);
  XGW_CHECK(reader->Start());
  return std::unique_ptr<ListReader>(std::move(reader));
}

}  // namespace xgw
