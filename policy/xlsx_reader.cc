// XLSX reader on libzip, pugixml for the small parts (relationships,
// workbook, styles) and XmlStream for the large ones: the worksheet is
// inflated in chunks and read one row at a time, and the shared strings are
// streamed into one compact pool. Memory is one row, the shared strings and a
// parse buffer, whatever the number of rows.
// The archive is checked against the limits before anything is inflated, and
// every member is inflated with a hard cap, since declared sizes can lie.
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <pugixml.hpp>

#include "crypto/secret.h"
#include "policy/list_reader.h"
#include "policy/validators.h"
#include "policy/workbook_kind.h"
#include "policy/xml_stream.h"

namespace xgw {

namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};

// Resolves a relationship target against the folder of the part that owns it.
std::string ResolvePart(const std::string& base_dir, std::string target) {
  if (!target.empty() && target[0] == '/') return target.substr(1);
  std::string path = base_dir + target;
  // Collapse "dir/../" segments.
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (const auto& s : parts) out += (out.empty() ? "" : "/") + s;
  return out;
}

// True for number formats that show a date or time.
bool IsDateFormatCode(std::string_view code) {
  bool in_quote = false;
  for (size_t i = 0; i < code.size(); ++i) {
    char c = code[i];
    if (c == '"') in_quote = !in_quote;
    if (in_quote) continue;
    if (c == '\\' || c == '_' || c == '*') {
      ++i;
      continue;
    }
    if (c == '[') {  // [Red], [$-413], [h] (elapsed hours count as time)
      auto close = code.find(']', i);
      if (close == std::string_view::npos) return false;
      auto inner = code.substr(i + 1, close - i - 1);
      if (!inner.empty() && (inner[0] == 'h' || inner[0] == 'm' || inner[0] == 's')) return true;
      i = close;
      continue;
    }
    char l = static_cast<char>(c | 0x20);
    if (l == 'd' || l == 'm' || l == 'y' || l == 'h' || l == 's') return true;
  }
  return false;
}

bool IsBuiltinDateFormat(unsigned id) {
  return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
         (id >= 50 && id <= 58) || (id >= 71 && id <= 81);
}

// "C12" -> column index 2 (0-based); -1 if malformed.
long ColumnOf(std::string_view ref) {
  long col = 0;
  size_t n = 0;
  for (; n < ref.size() && ref[n] >= 'A' && ref[n] <= 'Z'; ++n) {
    col = col * 26 + (ref[n] - 'A' + 1);
    if (n > 3) return -1;
  }
  return n == 0 ? -1 : col - 1;
}

// Spreadsheet numbers as text: integral values without a fraction or exponent,
// others with up to 15 significant digits.
std::string FormatNumber(std::string_view v) {
  bool plain = !v.empty();
  for (size_t i = 0; i < v.size(); ++i) {
    if (!((v[i] >= '0' && v[i] <= '9') || (i == 0 && v[i] == '-'))) plain = false;
  }
  if (plain) return std::string(v);
  double d = std::strtod(std::string(v).c_str(), nullptr);
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

// Excel serial (1900 system: day 0 = 1899-12-30 counting the fictional
// 1900-02-29; 1904 system: day 0 = 1904-01-01) to ISO text.
std::string SerialToIso(double serial, bool date1904) {
  using namespace std::chrono;
  if (!std::isfinite(serial) || serial < 0 || serial > 2958466) return "#DATE_OUT_OF_RANGE";
  auto whole = static_cast<int64_t>(std::floor(serial));
  auto secs = static_cast<int64_t>(std::llround((serial - static_cast<double>(whole)) * 86400.0));
  if (secs >= 86400) {
    ++whole;
    secs -= 86400;
  }
  sys_days epoch = date1904 ? sys_days{year{1904} / January / 1} : sys_days{year{1899} / December / 30};
  // The 1900 system counts a fictional 1900-02-29 (serial 60): serials before
  // it are one day off, and 60 itself is returned as the impossible date so
  // that date validation refuses it.
  if (!date1904 && whole == 60) return "1900-02-29";
  if (!date1904 && whole < 60) ++whole;
  year_month_day ymd{epoch + days{whole}};
  char buf[40];
  if (secs == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  }
  return buf;
}

// Appends to a buffer that holds personal data: when it must grow, the old
// block is wiped before it is freed.
void AppendWiped(std::string* s, std::string_view v) {
  if (s->size() + v.size() > s->capacity()) {
    std::string bigger;
    bigger.reserve(std::max(s->capacity() * 2, s->size() + v.size()));
    bigger.append(*s);
    WipeMemory(s->data(), s->size());
    s->swap(bigger);
  }
  s->append(v);
}

// Largest single tag or text run the XML tokenizer holds, per byte of the row
// limit: entities take more room than the text they stand for ("&amp;" is 5
// bytes for 1).
constexpr size_t kXmlTokenBytesPerRowByte = 6;

// Inflates one zip member in chunks, refusing more than `cap` bytes whatever
// it declares.
class ZipMemberInput final : public XmlInput {
 public:
  static Result<std::unique_ptr<ZipMemberInput>> Open(zip_t* zip, const std::string& name, uint64_t cap) {
    zip_stat_t st;
    if (zip_stat(zip, name.c_str(), 0, &st) != 0) {
      return Fail(ErrorCode::kFormat, "xlsx part " + name + " is missing; is this an xlsx workbook?");
    }
    if ((st.valid & ZIP_STAT_SIZE) && st.size > cap) {
      return Fail(ErrorCode::kLimit, "xlsx part " + name + " is larger than " + std::to_string(cap) + " bytes");
    }
    zip_file_t* f = zip_fopen(zip, name.c_str(), 0);
    if (!f) return Fail(ErrorCode::kFormat, "xlsx part " + name + " cannot be opened");
    uint64_t declared = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
    return std::unique_ptr<ZipMemberInput>(new ZipMemberInput(f, name, cap, declared));
  }
  ~ZipMemberInput() override { zip_fclose(file_); }

  Result<size_t> Read(char* buf, size_t cap) override {
    zip_int64_t got = zip_fread(file_, buf, cap);
    if (got < 0) return Fail(ErrorCode::kFormat, "xlsx part " + name_ + " is corrupt");
    total_ += static_cast<uint64_t>(got);
    if (total_ > cap_) {
      return Fail(ErrorCode::kLimit, "xlsx part " + name_ + " inflates beyond " + std::to_string(cap_) + " bytes");
    }
    return static_cast<size_t>(got);
  }
  uint64_t DeclaredSize() const { return declared_; }

 private:
  ZipMemberInput(zip_file_t* f, std::string name, uint64_t cap, uint64_t declared)
      : file_(f), name_(std::move(name)), cap_(cap), declared_(declared) {}
  zip_file_t* file_;
  std::string name_;
  uint64_t cap_;
  uint64_t declared_;
  uint64_t total_ = 0;
};

// Concatenated text of the <t> children of the element just started (<si> or
// <is>), and of the <t> children of its <r> runs, skipping phonetic runs
// (<rPh>); of each <t>, its first text, as pugixml's text() gave. Consumes the
// events up to the element's end.
Result<void> CollectRichText(XmlStream& xml, std::string* out) {
  const size_t base = xml.Depth();
  size_t runs = base;  // deepest element on the path that is <si>/<is> or a run inside it
  size_t t_depth = 0;  // depth of the open <t> whose text is wanted
  bool t_done = false;
  for (;;) {
    XGW_TRY(auto ev, xml.Next());
    const size_t d = xml.Depth();
    switch (ev) {
      case XmlStream::Event::kStart:
        if (d == runs + 1) {
          if (xml.LocalName() == "r") {
            runs = d;
          } else if (xml.LocalName() == "t") {
            t_depth = d;
            t_done = false;
          }
        }
        break;
      case XmlStream::Event::kEnd:
        if (d == base) return {};
        if (d == runs) --runs;
        if (d == t_depth) t_depth = 0;
        break;
      case XmlStream::Event::kText:
        if (t_depth != 0 && d == t_depth && !t_done) {
          AppendWiped(out, xml.Text());
          t_done = true;
        }
        break;
      case XmlStream::Event::kEof:
        return Fail(ErrorCode::kInternal, "xlsx text ended early");  // XmlStream reports truncation first
    }
  }
}

enum class CellType { kNumber, kShared, kInline, kBool, kText };

CellType CellTypeOf(const std::string_view* t) {
  if (!t) return CellType::kNumber;
  if (*t == "s") return CellType::kShared;
  if (*t == "inlineStr") return CellType::kInline;
  if (*t == "b") return CellType::kBool;
  if (*t == "str" || *t == "e" || *t == "d") return CellType::kText;
  return CellType::kNumber;
}

// Sheet names are listed in messages; a hostile workbook may have thousands,
// or long ones with control characters.
constexpr size_t kMaxSheetNames = 50;

std::string SheetLabel(std::string_view name) {
  size_t cut = std::min<size_t>(name.size(), 64);
  while (cut < name.size() && cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  std::string out;
  for (char c : name.substr(0, cut)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == '"' ? '?' : c);
  if (!IsValidUtf8(out)) return "(unreadable name)";
  return out;
}

class XlsxReader final : public ListReader {
 public:
  XlsxReader(std::span<const uint8_t> data, const ReaderLimits& limits) : data_(data), limits_(limits) {}
  ~XlsxReader() override {
    xml_.reset();
    sheet_input_.reset();
    zip_.reset();
    WipeMemory(row_buf_.data(), row_buf_.size());
    WipeMemory(v_.data(), v_.size());
    WipeMemory(inline_.data(), inline_.size());
    WipeMemory(shared_pool_.data(), shared_pool_.size());
    for (auto& s : header_) WipeMemory(s.data(), s.size());
    WipeMemory(owned_.data(), owned_.size());
  }

  void Own(std::vector<uint8_t> bytes) {
    owned_ = std::move(bytes);
    data_ = owned_;
  }

  // Reads from a file that libzip reads as it needs (not held in memory).
  // The file is hashed first through the same open file.
  Result<void> OpenFile(const std::string& path) {
    FILE* fp = std::fopen(path.c_str(), "rb");
    if (!fp) return Fail(ErrorCode::kIo, "cannot open " + path);
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
      std::fclose(fp);
      return Fail(ErrorCode::kIo, "cannot read " + path + " (not a regular file)");
    }
    file_bytes_ = static_cast<uint64_t>(st.st_size);
    if (file_bytes_ > limits_.max_file_bytes) {
      std::fclose(fp);
      return Fail(ErrorCode::kLimit, "xlsx file is larger than " + std::to_string(limits_.max_file_bytes) + " bytes");
    }
    Sha256 hash;
    std::vector<uint8_t> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
      size_t got = std::fread(buf.data(), 1, buf.size(), fp);
      hash.Update(std::span<const uint8_t>(buf.data(), got));
      total += got;
      if (got < buf.size()) break;
    }
    WipeMemory(buf.data(), buf.size());
    if (std::ferror(fp) || total != file_bytes_) {
      std::fclose(fp);
      return Fail(ErrorCode::kIo, "cannot read " + path + " (changed while read?)");
    }
    digest_ = hash.Finish();
    std::rewind(fp);
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t* src = zip_source_filep_create(fp, 0, static_cast<zip_int64_t>(file_bytes_), &zerr);
    if (!src) {
      std::fclose(fp);
      zip_error_fini(&zerr);
      return Fail(ErrorCode::kInternal, "cannot create zip source");
    }
    return OpenArchive(src, &zerr);
  }

  Result<void> OpenMemory() {
    if (data_.size() > limits_.max_file_bytes) {
      return Fail(ErrorCode::kLimit, "xlsx file is larger than " + std::to_string(limits_.max_file_bytes) + " bytes");
    }
    file_bytes_ = data_.size();
    digest_ = Sha256::Hash(data_);
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t* src = zip_source_buffer_create(data_.data(), data_.size(), 0, &zerr);
    if (!src) return Fail(ErrorCode::kInternal, "cannot create zip source");
    return OpenArchive(src, &zerr);
  }

  Result<void> Start(const std::string& sheet_name) {
    XGW_CHECK(CheckArchive());

    XGW_TRY(std::string rels, ReadMember("_rels/.rels", 1 << 20));
    std::string workbook_path = "xl/workbook.xml";
    {
      pugi::xml_document doc;
      if (doc.load_buffer(rels.data(), rels.size())) {
        for (auto r : doc.child("Relationships").children("Relationship")) {
          std::string_view type = r.attribute("Type").value();
          if (type.size() >= 14 && type.substr(type.size() - 14) == "officeDocument") {
            workbook_path = ResolvePart("", r.attribute("Target").value());
          }
        }
      }
    }
    std::string base = workbook_path.substr(0, workbook_path.rfind('/') + 1);
    XGW_TRY(std::string workbook, ReadMember(workbook_path, 16 << 20));
    std::string wb_rels_path = base + "_rels/" + workbook_path.substr(base.size()) + ".rels";
    XGW_TRY(std::string wb_rels, ReadMember(wb_rels_path, 16 << 20));

    std::map<std::string, std::string> rel_targets;
    std::string shared_path, styles_path;
    {
      pugi::xml_document doc;
      if (!doc.load_buffer(wb_rels.data(), wb_rels.size())) return Fail(ErrorCode::kFormat, "xlsx workbook relationships do not parse");
      for (auto r : doc.child("Relationships").children("Relationship")) {
        std::string_view type = r.attribute("Type").value();
        std::string target = ResolvePart(base, r.attribute("Target").value());
        rel_targets[r.attribute("Id").value()] = target;
        if (type.ends_with("/sharedStrings")) shared_path = target;
        if (type.ends_with("/styles")) styles_path = target;
      }
    }
    std::string sheet_path;
    {
      pugi::xml_document doc;
      if (!doc.load_buffer(workbook.data(), workbook.size())) return Fail(ErrorCode::kFormat, "xlsx workbook does not parse");
      auto wb = doc.child("workbook");
      date1904_ = wb.child("workbookPr").attribute("date1904").as_bool();
      for (auto s : wb.child("sheets").children("sheet")) {
        if (sheet_names_.size() < kMaxSheetNames) sheet_names_.push_back(SheetLabel(s.attribute("name").value()));
        if (!sheet_path.empty() || (!sheet_name.empty() && sheet_name != s.attribute("name").value())) continue;
        auto it = rel_targets.find(s.attribute("r:id").value());
        if (it == rel_targets.end()) return Fail(ErrorCode::kFormat, "xlsx sheet has no relationship target");
        sheet_path = it->second;
        sheet_ = s.attribute("name").value();
      }
    }
    if (sheet_path.empty()) {
      return Fail(ErrorCode::kNotFound, sheet_name.empty() ? "xlsx workbook has no sheet"
                                                           : "the workbook has no sheet named \"" + SheetLabel(sheet_name) +
                                                                 "\"; " + SheetList());
    }
    if (!styles_path.empty()) XGW_CHECK(LoadStyles(styles_path));
    if (!shared_path.empty()) XGW_CHECK(LoadSharedStrings(shared_path));

    XGW_TRY(sheet_input_, ZipMemberInput::Open(zip_.get(), sheet_path, limits_.max_sheet_xml_bytes));
    xml_ = std::make_unique<XmlStream>(*sheet_input_, "xlsx sheet XML", MaxTokenBytes());
    row_buf_.reserve(4096);

    // The header is the first row with any non-empty cell.
    std::vector<std::string_view> cells;
    for (;;) {
      XGW_TRY(bool more, Next(&cells));
      if (!more) {
        return Fail(ErrorCode::kFormat, "the sheet \"" + SheetLabel(sheet_) + "\" is empty (no header row); " + SheetList());
      }
      bool blank = std::all_of(cells.begin(), cells.end(), [](std::string_view c) { return c.empty(); });
      if (blank) continue;
      for (auto c : cells) header_.emplace_back(c);
      return {};
    }
  }

  const std::vector<std::string>& Header() const override { return header_; }

  Result<bool> Next(std::vector<std::string_view>* cells) override {
    cells->clear();
    if (!xml_) return false;
    for (;;) {
      XGW_TRY(auto ev, xml_->Next());
      const size_t d = xml_->Depth();
      if (ev == XmlStream::Event::kEof) {
        // The whole part was read, so libzip has checked its CRC.
        xml_.reset();
        sheet_input_.reset();
        zip_.reset();
        return false;
      }
      // Rows are the <row> children of the first <sheetData> of the first
      // <worksheet>; anything after that is read only to check the XML.
      if (ev == XmlStream::Event::kStart) {
        if (d == 1 && state_ == SheetState::kBeforeWorksheet && xml_->LocalName() == "worksheet") {
          state_ = SheetState::kInWorksheet;
        } else if (d == 2 && state_ == SheetState::kInWorksheet && xml_->LocalName() == "sheetData") {
          state_ = SheetState::kInSheetData;
        } else if (d == 3 && state_ == SheetState::kInSheetData && xml_->LocalName() == "row") {
          XGW_CHECK(ReadRow(cells));
          return true;
        }
      } else if (ev == XmlStream::Event::kEnd) {
        if ((d == 1 && state_ == SheetState::kInWorksheet) || (d == 2 && state_ == SheetState::kInSheetData)) {
          state_ = SheetState::kDone;
        }
      }
    }
  }

  uint64_t RowNumber() const override { return row_number_; }
  std::vector<std::string> SheetNames() const override { return sheet_names_; }
  std::string SheetName() const override { return sheet_; }
  InputFormat Format() const override { return InputFormat::kXlsx; }
  std::string_view Encoding() const override { return "xlsx"; }
  uint64_t SourceBytes() const override { return file_bytes_; }
  Sha256Digest SourceSha256() const override { return digest_; }

 private:
  enum class SheetState { kBeforeWorksheet, kInWorksheet, kInSheetData, kDone };

  // Where a cell's value lives until the row is complete: the tokenizer's
  // buffer moves on, so values are copied to row_buf_ (or are shared strings
  // and constants, which stay put).
  struct CellRef {
    const char* fixed = nullptr;  // when not in row_buf_
    size_t offset = 0;
    size_t size = 0;
  };

  // "the workbook's sheets: "Blad1", "Lijst" (choose one with --sheet NAME)".
  std::string SheetList() const {
    std::string out = "the workbook's sheets: ";
    for (size_t i = 0; i < sheet_names_.size(); ++i) out += (i ? ", \"" : "\"") + sheet_names_[i] + "\"";
    if (sheet_names_.size() == kMaxSheetNames) out += ", ...";
    return out + " (choose the sheet with the list: xgw send --sheet NAME)";
  }

  size_t MaxTokenBytes() const {
    return std::max(limits_.max_row_bytes, limits_.max_field_bytes) * kXmlTokenBytesPerRowByte + 4096;
  }

  Result<void> OpenArchive(zip_source_t* src, zip_error_t* zerr) {
    zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, zerr);
    if (!z) {
      zip_source_free(src);
      zip_error_fini(zerr);
      return Fail(ErrorCode::kFormat, "file is not an xlsx workbook (not a valid zip archive)");
    }
    zip_.reset(z);
    return {};
  }

  // REQUIRES: the last event was the start of a <row>.
  Result<void> ReadRow(std::vector<std::string_view>* cells) {
    const std::string_view* r_attr = xml_->Attr("r");
    uint64_t r = r_attr ? ParseXmlUnsigned(*r_attr, UINT64_MAX) : 0;
    row_number_ = r > row_number_ ? r : row_number_ + 1;
    if (++rows_seen_ > limits_.max_rows + 1) {
      return Fail(ErrorCode::kLimit, "xlsx sheet has more than " + std::to_string(limits_.max_rows) + " rows");
    }
    WipeMemory(row_buf_.data(), row_buf_.size());
    row_buf_.clear();
    refs_.clear();
    row_bytes_ = 0;
    const size_t row_depth = xml_->Depth();
    bool in_cell = false;
    size_t v_depth = 0;  // depth of the open <v> whose text is wanted
    bool seen_v = false, seen_is = false, v_text = false;
    bool has_r = false;
    long ref_col = 0;
    CellType type = CellType::kNumber;
    unsigned style = 0;
    for (;;) {
      XGW_TRY(auto ev, xml_->Next());
      const size_t d = xml_->Depth();
      if (ev == XmlStream::Event::kStart) {
        if (d == row_depth + 1 && xml_->LocalName() == "c") {
          in_cell = true;
          seen_v = seen_is = v_text = false;
          v_depth = 0;
          const std::string_view* ref = xml_->Attr("r");
          has_r = ref != nullptr;
          ref_col = has_r ? ColumnOf(*ref) : 0;
          type = CellTypeOf(xml_->Attr("t"));
          const std::string_view* s = xml_->Attr("s");
          style = s ? static_cast<unsigned>(ParseXmlUnsigned(*s, UINT32_MAX)) : 0;
          WipeMemory(v_.data(), v_.size());
          v_.clear();
          WipeMemory(inline_.data(), inline_.size());
          inline_.clear();
        } else if (in_cell && d == row_depth + 2 && xml_->LocalName() == "v" && !seen_v) {
          seen_v = true;
          v_depth = d;
        } else if (in_cell && d == row_depth + 2 && xml_->LocalName() == "is" && !seen_is) {
          seen_is = true;
          XGW_CHECK(CollectRichText(*xml_, &inline_));
        }
      } else if (ev == XmlStream::Event::kText) {
        if (v_depth != 0 && d == v_depth && !v_text) {
          AppendWiped(&v_, xml_->Text());
          v_text = true;
        }
      } else if (ev == XmlStream::Event::kEnd) {
        if (d == row_depth) break;
        if (d == v_depth) v_depth = 0;
        if (in_cell && d == row_depth + 1) {
          in_cell = false;
          long col = has_r ? ref_col : static_cast<long>(refs_.size());
          XGW_CHECK(AddCell(col, type, style, v_text));
        }
      } else {
        return Fail(ErrorCode::kInternal, "xlsx row ended early");  // XmlStream reports truncation first
      }
    }
    // Trailing empty cells (formatting only) are not data.
    while (!refs_.empty() && refs_.back().size == 0) refs_.pop_back();
    for (const auto& c : refs_) {
      cells->emplace_back(c.fixed ? c.fixed : row_buf_.data() + c.offset, c.size);
    }
    return {};
  }

  // Adds the cell just read (v_ and inline_) at column `col`.
  Result<void> AddCell(long col, CellType type, unsigned style, bool has_v_text) {
    if (col < 0 || static_cast<size_t>(col) < refs_.size()) {
      return Fail(ErrorCode::kFormat, "xlsx cell reference out of order in row " + std::to_string(row_number_));
    }
    if (static_cast<size_t>(col) >= limits_.max_columns) {
      return Fail(ErrorCode::kLimit, "xlsx row " + std::to_string(row_number_) + " has more than " +
                                         std::to_string(limits_.max_columns) + " columns");
    }
    refs_.resize(static_cast<size_t>(col));
    CellRef ref;
    auto in_row = [&](std::string_view text) {
      ref.offset = row_buf_.size();
      ref.size = text.size();
      AppendWiped(&row_buf_, text);
    };
    switch (type) {
      case CellType::kShared: {
        uint64_t idx = has_v_text ? ParseXmlUnsigned(v_, UINT64_MAX) : UINT64_MAX;
        if (idx >= SharedCount()) {
          return Fail(ErrorCode::kFormat, "xlsx shared string index out of range in row " + std::to_string(row_number_));
        }
        ref.fixed = shared_pool_.data() + shared_offsets_[idx];
        ref.size = static_cast<size_t>(shared_offsets_[idx + 1] - shared_offsets_[idx]);
        break;
      }
      case CellType::kInline:
        in_row(inline_);
        break;
      case CellType::kBool: {
        static constexpr std::string_view kTrue = "TRUE", kFalse = "FALSE";
        ref.fixed = v_ == "1" ? kTrue.data() : kFalse.data();
        ref.size = v_ == "1" ? kTrue.size() : kFalse.size();
        break;
      }
      case CellType::kText:
        in_row(v_);
        break;
      case CellType::kNumber:
        if (!v_.empty()) {
          bool is_date = style < date_styles_.size() && date_styles_[style];
          std::string text = is_date ? SerialToIso(std::strtod(v_.c_str(), nullptr), date1904_) : FormatNumber(v_);
          in_row(text);
          WipeMemory(text.data(), text.size());
        }
        break;
    }
    if (ref.size > limits_.max_field_bytes) {
      return Fail(ErrorCode::kLimit, "xlsx cell in row " + std::to_string(row_number_) + " column " +
                                         std::to_string(col + 1) + " is longer than " +
                                         std::to_string(limits_.max_field_bytes) + " bytes");
    }
    row_bytes_ += ref.size;
    if (row_bytes_ > limits_.max_row_bytes) {
      return Fail(ErrorCode::kLimit, "xlsx row " + std::to_string(row_number_) + " is longer than " +
                                         std::to_string(limits_.max_row_bytes) + " bytes");
    }
    refs_.push_back(ref);
    return {};
  }

  Result<void> CheckArchive() {
    zip_int64_t n = zip_get_num_entries(zip_.get(), 0);
    if (n < 0 || static_cast<uint64_t>(n) > limits_.max_entries) {
      return Fail(ErrorCode::kLimit, "xlsx archive has more than " + std::to_string(limits_.max_entries) + " members");
    }
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; ++i) {
      zip_stat_t st;
      if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0) {
        return Fail(ErrorCode::kFormat, "xlsx archive member " + std::to_string(i) + " cannot be read");
      }
      if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) continue;
      total += st.size;
      if (total > limits_.max_uncompressed_bytes) {
        return Fail(ErrorCode::kLimit, "xlsx archive inflates to more than " +
                                           std::to_string(limits_.max_uncompressed_bytes) + " bytes (zip bomb?)");
      }
      if (st.size > (1u << 20) && st.size / std::max<uint64_t>(st.comp_size, 1) > limits_.max_compression_ratio) {
        return Fail(ErrorCode::kLimit, "xlsx archive member " + std::to_string(i) + " has a compression ratio above " +
                                           std::to_string(limits_.max_compression_ratio) + " (zip bomb?)");
      }
    }
    return {};
  }

  // Inflates one small member whole (relationships, workbook, styles).
  Result<std::string> ReadMember(const std::string& name, uint64_t cap) {
    XGW_TRY(auto input, ZipMemberInput::Open(zip_.get(), name, cap));
    std::string out;
    out.reserve(static_cast<size_t>(input->DeclaredSize()));
    char buf[65536];
    for (;;) {
      auto got = input->Read(buf, sizeof buf);
      if (!got) {
        WipeMemory(out.data(), out.size());
        return tl::unexpected(got.error());
      }
      if (*got == 0) break;
      out.append(buf, *got);
    }
    WipeMemory(buf, sizeof buf);
    return out;
  }

  Result<void> LoadStyles(const std::string& path) {
    XGW_TRY(std::string xml, ReadMember(path, 16 << 20));
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size())) return Fail(ErrorCode::kFormat, "xlsx styles do not parse");
    auto ss = doc.child("styleSheet");
    std::map<unsigned, bool> custom;
    for (auto f : ss.child("numFmts").children("numFmt")) {
      custom[f.attribute("numFmtId").as_uint()] = IsDateFormatCode(f.attribute("formatCode").value());
    }
    for (auto xf : ss.child("cellXfs").children("xf")) {
      unsigned id = xf.attribute("numFmtId").as_uint();
      auto it = custom.find(id);
      date_styles_.push_back(it != custom.end() ? it->second : IsBuiltinDateFormat(id));
    }
    return {};
  }

  // Shared strings are the one part held whole, bounded on their own: at most
  // max_shared_strings strings, and at most max_shared_strings_bytes of XML
  // (so of text). They are kept back to back in one pool with their offsets:
  // memory is the text plus 8 bytes per string.
  Result<void> LoadSharedStrings(const std::string& path) {
    XGW_TRY(auto input, ZipMemberInput::Open(zip_.get(), path, limits_.max_shared_strings_bytes));
    // Text is never longer than the XML it comes from: reserving the declared
    // size avoids copies, and untouched pages cost no memory.
    shared_pool_.reserve(static_cast<size_t>(std::min(input->DeclaredSize(), limits_.max_shared_strings_bytes)));
    shared_offsets_.assign(1, 0);
    XmlStream xml(*input, "xlsx shared strings XML", MaxTokenBytes());
    bool in_sst = false, sst_done = false;
    for (;;) {
      XGW_TRY(auto ev, xml.Next());
      if (ev == XmlStream::Event::kEof) break;
      const size_t d = xml.Depth();
      if (ev == XmlStream::Event::kStart) {
        if (d == 1 && !sst_done && xml.LocalName() == "sst") {
          in_sst = true;
        } else if (d == 2 && in_sst && xml.LocalName() == "si") {
          if (SharedCount() >= limits_.max_shared_strings) {
            return Fail(ErrorCode::kLimit,
                        "xlsx has more than " + std::to_string(limits_.max_shared_strings) + " shared strings");
          }
          XGW_CHECK(CollectRichText(xml, &shared_pool_));
          shared_offsets_.push_back(shared_pool_.size());
        }
      } else if (ev == XmlStream::Event::kEnd && d == 1 && in_sst) {
        in_sst = false;
        sst_done = true;
      }
    }
    return {};
  }

  uint64_t SharedCount() const { return shared_offsets_.empty() ? 0 : shared_offsets_.size() - 1; }

  std::span<const uint8_t> data_;
  std::vector<uint8_t> owned_;
  ReaderLimits limits_;
  std::unique_ptr<zip_t, ZipCloser> zip_;
  uint64_t file_bytes_ = 0;
  Sha256Digest digest_{};
  bool date1904_ = false;
  std::vector<bool> date_styles_;
  std::string shared_pool_;
  std::vector<uint64_t> shared_offsets_;
  std::unique_ptr<ZipMemberInput> sheet_input_;
  std::unique_ptr<XmlStream> xml_;
  SheetState state_ = SheetState::kBeforeWorksheet;
  std::string row_buf_;  // this row's values, back to back
  std::vector<CellRef> refs_;
  size_t row_bytes_ = 0;
  std::string v_;       // the current cell's <v> text
  std::string inline_;  // the current cell's <is> text
  std::vector<std::string> header_;
  std::vector<std::string> sheet_names_;  // as SheetLabel shows them
  std::string sheet_;                     // the sheet read
  uint64_t row_number_ = 0;
  uint64_t rows_seen_ = 0;
};

}  // namespace

Result<std::unique_ptr<ListReader>> OpenXlsxBuffer(std::span<const uint8_t> data, const std::string& sheet,
                                                   const ReaderLimits& limits) {
  if (HasCompoundSignature(data)) return tl::unexpected(*CompoundFileError(SniffCompoundBuffer(data)));
  auto reader = std::make_unique<XlsxReader>(data, limits);
  XGW_CHECK(reader->OpenMemory());
  XGW_CHECK(reader->Start(sheet));
  return std::unique_ptr<ListReader>(std::move(reader));
}

Result<std::unique_ptr<ListReader>> OpenXlsxFile(const std::string& path, const std::string& sheet,
                                                 const ReaderLimits& limits) {
  XGW_TRY(CompoundKind kind, SniffCompoundPath(path));
  if (auto refused = CompoundFileError(kind)) return tl::unexpected(*refused);
  auto reader = std::make_unique<XlsxReader>(std::span<const uint8_t>(), limits);
  XGW_CHECK(reader->OpenFile(path));
  XGW_CHECK(reader->Start(sheet));
  return std::unique_ptr<ListReader>(std::move(reader));
}

}  // namespace xgw
