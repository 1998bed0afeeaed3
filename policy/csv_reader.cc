// Streaming CSV reader. One pass over a 256 KiB buffer (grown only for a
// record longer than it); cells are returned as views into it.
#include <cstring>
#include <optional>

#include "crypto/secret.h"
#include "policy/byte_scan.h"
#include "policy/hash_pipeline.h"
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

// Bytes that end a run of ordinary cell bytes, per separator.
struct StopTable {
  explicit StopTable(char delim) {
    stop[static_cast<uint8_t>(delim)] = true;
    stop['\n'] = stop['\r'] = stop['"'] = true;
  }
  bool stop[256] = {};
};

// Cells are views into the read buffer: a record is parsed where it was read,
// quoted cells are unescaped in place (they only shrink), and a record cut by
// the end of the buffer is moved to its front before the next read. Only
// Windows-1252 cells, which grow when transcoded, are copied (to transcoded_).
class CsvReader final : public ListReader {
 public:
  CsvReader(ByteSource& source, const ReaderLimits& limits)
      : source_(source), limits_(limits), buf_(kBufferSize) {}

  ~CsvReader() override {
    WipeMemory(buf_.data(), buf_.size());
    WipeMemory(transcoded_.data(), transcoded_.size());
    WipeMemory(scratch_.data(), scratch_.size());
  }

  Result<void> Start() {
    // The separator is detected on the first line: read until it is whole
    // (or the buffer is full), however few bytes each read returns.
    bool quoted = false, line_end = false;
    for (size_t scanned = 0;;) {
      size_t added;
      XGW_CHECK(Refill(&added));
      for (; scanned < len_ && !line_end; ++scanned) {
        if (buf_[scanned] == '"') quoted = !quoted;
        line_end = !quoted && (buf_[scanned] == '\n' || buf_[scanned] == '\r');
      }
      if (line_end || added == 0 || len_ == buf_.size()) break;
    }
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
    stops_.emplace(delim_);
    std::vector<std::string_view> cells;
    for (;;) {
      XGW_TRY(bool more, ReadRecord());
      if (!more) return Fail(ErrorCode::kFormat, "csv has no header row (the file is empty)");
      if (fields_.size() == 1 && fields_[0].len == 0) continue;  // blank line before the header
      break;
    }
    CellViews(&cells);
    header_.assign(cells.begin(), cells.end());
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
    CellViews(cells);
    return true;
  }

  uint64_t RowNumber() const override { return row_number_; }
  InputFormat Format() const override { return InputFormat::kCsv; }
  std::string_view Encoding() const override {
    return cp1252_ ? "windows-1252" : bom_ ? "utf-8-bom" : "utf-8";
  }
  uint64_t SourceBytes() const override { return bytes_; }
  Sha256Digest SourceSha256() const override { return digest_; }

  void HashSourceOn(HashPipeline* hashes) override {
    hashes_ = eof_ ? nullptr : hashes;  // at the end the digest is already known
    if (hashes_) source_lane_ = hashes_->AddLane([this](std::span<const uint8_t> b) { sha_.Update(b); });
  }

 private:
  // A finished cell: `len` bytes at `offset` from the record's start in buf_,
  // or, with kTranscoded set in `offset`, from the start of transcoded_.
  // Two words, written at once on the hot path.
  struct Cell {
    size_t offset;
    size_t len;
  };
  static constexpr size_t kTranscoded = size_t{1} << (8 * sizeof(size_t) - 1);

  // Keeps the current record (from record_) at the front of the buffer and
  // reads after it, growing the buffer when the record fills it (the row
  // limits bound that). Sets *added to the number of bytes read; 0 at the end.
  Result<void> Refill(size_t* added = nullptr) {
    if (added) *added = 0;
    if (record_ > 0) {
      const size_t keep = len_ - record_;
      std::memmove(buf_.data(), buf_.data() + record_, keep);
      pos_ -= record_;
      write_ -= record_;
      field_start_ -= record_;
      len_ = keep;
      record_ = 0;
    }
    if (eof_) return {};
    if (len_ == buf_.size()) Grow();
    XGW_TRY(size_t n, source_.Read(std::span<uint8_t>(buf_.data() + len_, buf_.size() - len_)));
    if (n == 0) {
      eof_ = true;
      if (hashes_) hashes_->Drain();  // sha_ is the worker's until then
      digest_ = sha_.Finish();
      return {};
    }
    if (hashes_) {
      hashes_->Append(source_lane_, std::span<const uint8_t>(buf_.data() + len_, n));
    } else {
      sha_.Update(std::span<const uint8_t>(buf_.data() + len_, n));
    }
    len_ += n;
    bytes_ += n;
    if (added) *added = n;
    return {};
  }

  void Grow() {
    std::vector<uint8_t> bigger(buf_.size() * 2);
    std::memcpy(bigger.data(), buf_.data(), len_);
    WipeMemory(buf_.data(), buf_.size());
    buf_.swap(bigger);
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
    return "row " + std::to_string(row_number_ + 1) + " column " + std::to_string(fields_.size() + 1);
  }

  // Accounts for cell bytes just placed at write_ (n of them, possibly 0):
  // the limits count cells after unquoting, and earlier cells of the row as
  // finished (transcoded).
  Result<void> Appended(size_t n) {
    write_ += n;
    const size_t field = write_ - field_start_;
    if (field > limits_.max_field_bytes || row_bytes_ + field > limits_.max_row_bytes) [[unlikely]] {
      return LimitExceeded(field);
    }
    return {};
  }

  // Kept out of line so that the checks above stay small enough to inline.
  [[gnu::noinline]] Result<void> LimitExceeded(size_t field) const {
    if (field > limits_.max_field_bytes) {
      return Fail(ErrorCode::kLimit, "csv cell at " + Where() + " is longer than " +
                                         std::to_string(limits_.max_field_bytes) + " bytes");
    }
    return Fail(ErrorCode::kLimit, "csv row " + std::to_string(row_number_ + 1) + " is longer than " +
                                       std::to_string(limits_.max_row_bytes) + " bytes");
  }

  Result<void> FinishField() {
    Cell cell{field_start_ - record_, write_ - field_start_};
    if (high_) XGW_CHECK(CheckEncoding(&cell));
    row_bytes_ += cell.len;
    fields_.push_back(cell);
    if (fields_.size() > limits_.max_columns) [[unlikely]] return TooManyColumns();
    return {};
  }

  [[gnu::noinline]] Result<void> TooManyColumns() const {
    return Fail(ErrorCode::kLimit, "csv row " + std::to_string(row_number_ + 1) + " has more than " +
                                       std::to_string(limits_.max_columns) + " columns");
  }

  // A cell with a byte >= 0x80: UTF-8, or the first sign of Windows-1252
  // (then it and every later such cell are transcoded into transcoded_).
  Result<void> CheckEncoding(Cell* cell) {
    high_ = false;
    std::string_view field(reinterpret_cast<const char*>(buf_.data()) + field_start_, write_ - field_start_);
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
      *cell = {transcoded_.size() | kTranscoded, scratch_.size()};
      transcoded_ += scratch_;
    }
    return {};
  }

  void CellViews(std::vector<std::string_view>* cells) const {
    const char* row = reinterpret_cast<const char*>(buf_.data()) + record_;
    for (const Cell& c : fields_) {
      if (c.offset & kTranscoded) {
        cells->emplace_back(transcoded_.data() + (c.offset & ~kTranscoded), c.len);
      } else {
        cells->emplace_back(row + c.offset, c.len);
      }
    }
  }

  // Reads one record into fields_. A blank line is a record with one empty
  // cell. Returns false at end of input.
  Result<bool> ReadRecord() {
    if (!transcoded_.empty()) {
      WipeMemory(transcoded_.data(), transcoded_.size());
      transcoded_.clear();
    }
    fields_.clear();
    record_ = field_start_ = write_ = pos_;
    row_bytes_ = 0;
    high_ = false;
    enum { kStart, kUnquoted, kQuoted, kQuoteSeen } state = kStart;
    bool any = false;
    for (;;) {
      if (pos_ == len_) {
        size_t added;
        XGW_CHECK(Refill(&added));
        if (added == 0) {
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
          if (state == kStart) field_start_ = write_ = pos_;
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
            field_start_ = write_ = pos_;
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
            field_start_ = write_ = pos_;
            any = true;
            state = kQuoted;
          } else {
            // Fast path: the run of ordinary bytes stays where it is
            // (write_ == pos_ in an unquoted cell).
            using namespace byte_scan;
            const uint8_t* data = buf_.data();
            const bool* stop = stops_->stop;
            const auto d = static_cast<uint8_t>(delim_);
            size_t i = pos_;
            uint64_t or_bits = 0;
            bool found = false;
            while (!found && len_ - i >= 8) {
              const uint64_t x = Load8(data + i);
              const uint64_t m = ZeroBytes(x ^ (kOnes * d)) | ZeroBytes(x ^ (kOnes * '\n')) |
                                 ZeroBytes(x ^ (kOnes * '\r')) | ZeroBytes(x ^ (kOnes * '"'));
              const size_t k = m ? FirstFlagged(m) : 8;
              // The bytes before the stop belong to the run.
              or_bits |= k == 8 ? x : x & ((uint64_t{1} << (8 * k)) - 1);
              i += k;
              found = m != 0;
            }
            while (!found && i < len_ && !stop[data[i]]) or_bits |= data[i++];
            if (or_bits & kHighBits) high_ = true;
            const size_t n = i - pos_;
            pos_ = i;
            XGW_CHECK(Appended(n));
            any = true;
            state = kUnquoted;
          }
          break;
        case kQuoted: {
          const uint8_t* quote =
              static_cast<const uint8_t*>(std::memchr(buf_.data() + pos_, '"', len_ - pos_));
          const size_t i = quote ? static_cast<size_t>(quote - buf_.data()) : len_;
          const uint8_t* data = buf_.data();
          uint8_t or_bits = 0;
          for (size_t k = pos_; k < i; ++k) or_bits |= data[k];
          if (or_bits & 0x80) high_ = true;
          const size_t n = i - pos_;
          // After a doubled quote the cell lags behind the input: shift the run.
          if (write_ != pos_) std::memmove(buf_.data() + write_, buf_.data() + pos_, n);
          pos_ = i;
          XGW_CHECK(Appended(n));
          if (i < len_) {
            ++pos_;
            state = kQuoteSeen;
          }
          break;
        }
        case kQuoteSeen:
          if (c == '"') {
            ++pos_;
            buf_[write_] = b;
            XGW_CHECK(Appended(1));
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
  // buf_[record_, len_) holds the current record and what follows it;
  // parsing is at pos_; the current cell's bytes are [field_start_, write_).
  size_t record_ = 0, pos_ = 0, len_ = 0, field_start_ = 0, write_ = 0;
  bool eof_ = false;
  Sha256 sha_;
  HashPipeline* hashes_ = nullptr;  // when set, sha_ is updated on its worker
  size_t source_lane_ = 0;
  Sha256Digest digest_{};
  uint64_t bytes_ = 0;
  char delim_ = ',';
  std::optional<StopTable> stops_;
  bool bom_ = false, cp1252_ = false, seen_multibyte_ = false, skip_lf_ = false, high_ = false;
  std::vector<Cell> fields_;
  size_t row_bytes_ = 0;  // finished cells of the current row, as returned
  std::string transcoded_, scratch_;
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
