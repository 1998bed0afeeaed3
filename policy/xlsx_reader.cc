// XLSX reader on libzip (from memory via zip_source_buffer) and pugixml.
// The archive is checked against the limits before anything is inflated, and
// every member is inflated with a hard cap, since declared sizes can lie.
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <deque>
#include <map>
#include <pugixml.hpp>

#include "crypto/secret.h"
#include "policy/list_reader.h"

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
long ColumnOf(const char* ref) {
  long col = 0;
  size_t n = 0;
  for (; ref[n] >= 'A' && ref[n] <= 'Z'; ++n) {
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

// Concatenated text of <t> descendants, skipping phonetic runs (<rPh>).
void CollectText(const pugi::xml_node& node, std::string* out) {
  for (auto child : node.children()) {
    std::string_view name = child.name();
    if (name == "t") out->append(child.text().get());
    else if (name == "r") CollectText(child, out);
  }
}

class XlsxReader final : public ListReader {
 public:
  XlsxReader(std::span<const uint8_t> data, const ReaderLimits& limits) : data_(data), limits_(limits) {}
  ~XlsxReader() override {
    WipeMemory(sheet_xml_.data(), sheet_xml_.size());
    for (auto& s : shared_) WipeMemory(s.data(), s.size());
    for (auto& s : storage_) WipeMemory(s.data(), s.size());
    WipeMemory(owned_.data(), owned_.size());
  }

  void Own(std::vector<uint8_t> bytes) {
    owned_ = std::move(bytes);
    data_ = owned_;
  }

  Result<void> Start(const std::string& sheet_name) {
    if (data_.size() > limits_.max_file_bytes) {
      return Fail(ErrorCode::kLimit, "xlsx file is larger than " + std::to_string(limits_.max_file_bytes) + " bytes");
    }
    digest_ = Sha256::Hash(data_);
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t* src = zip_source_buffer_create(data_.data(), data_.size(), 0, &zerr);
    if (!src) return Fail(ErrorCode::kInternal, "cannot create zip source");
    zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z) {
      zip_source_free(src);
      zip_error_fini(&zerr);
      return Fail(ErrorCode::kFormat, "file is not an xlsx workbook (not a valid zip archive)");
    }
    zip_.reset(z);
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
        if (!sheet_name.empty() && sheet_name != s.attribute("name").value()) continue;
        auto it = rel_targets.find(s.attribute("r:id").value());
        if (it == rel_targets.end()) return Fail(ErrorCode::kFormat, "xlsx sheet has no relationship target");
        sheet_path = it->second;
        break;
      }
    }
    if (sheet_path.empty()) {
      return Fail(ErrorCode::kNotFound, sheet_name.empty() ? "xlsx workbook has no sheet"
                                                           : "xlsx workbook has no sheet with the requested name");
    }
    if (!styles_path.empty()) XGW_CHECK(LoadStyles(styles_path));
    if (!shared_path.empty()) XGW_CHECK(LoadSharedStrings(shared_path));

    XGW_TRY(sheet_xml_, ReadMember(sheet_path, limits_.max_sheet_xml_bytes));
    auto parsed = sheet_.load_buffer_inplace(sheet_xml_.data(), sheet_xml_.size(),
                                             pugi::parse_default & ~pugi::parse_wconv_attribute);
    if (!parsed) {
      return Fail(ErrorCode::kFormat, "xlsx sheet XML does not parse (at byte " + std::to_string(parsed.offset) + ")");
    }
    row_ = sheet_.child("worksheet").child("sheetData").child("row");
    zip_.reset();

    // The header is the first row with any non-empty cell.
    std::vector<std::string_view> cells;
    for (;;) {
      XGW_TRY(bool more, Next(&cells));
      if (!more) return Fail(ErrorCode::kFormat, "xlsx sheet is empty (no header row)");
      bool blank = std::all_of(cells.begin(), cells.end(), [](std::string_view c) { return c.empty(); });
      if (blank) continue;
      for (auto c : cells) header_.emplace_back(c);
      return {};
    }
  }

  const std::vector<std::string>& Header() const override { return header_; }

  Result<bool> Next(std::vector<std::string_view>* cells) override {
    cells->clear();
    if (!row_) return false;
    auto row = row_;
    row_ = row_.next_sibling("row");
    uint64_t r = row.attribute("r").as_ullong(0);
    row_number_ = r > row_number_ ? r : row_number_ + 1;
    if (++rows_seen_ > limits_.max_rows + 1) {
      return Fail(ErrorCode::kLimit, "xlsx sheet has more than " + std::to_string(limits_.max_rows) + " rows");
    }
    for (auto& s : storage_) WipeMemory(s.data(), s.size());
    size_t used = 0;
    size_t row_bytes = 0;
    for (auto c : row.children("c")) {
      long col = c.attribute("r") ? ColumnOf(c.attribute("r").value()) : static_cast<long>(cells->size());
      if (col < 0 || static_cast<size_t>(col) < cells->size()) {
        return Fail(ErrorCode::kFormat, "xlsx cell reference out of order in row " + std::to_string(row_number_));
      }
      if (static_cast<size_t>(col) >= limits_.max_columns) {
        return Fail(ErrorCode::kLimit, "xlsx row " + std::to_string(row_number_) + " has more than " +
                                           std::to_string(limits_.max_columns) + " columns");
      }
      cells->resize(static_cast<size_t>(col), std::string_view());
      std::string_view type = c.attribute("t").value();
      std::string_view v = c.child("v").text().get();
      std::string_view value;
      if (type == "s") {
        auto idx = c.child("v").text().as_ullong(UINT64_MAX);
        if (idx >= shared_.size()) {
          return Fail(ErrorCode::kFormat, "xlsx shared string index out of range in row " + std::to_string(row_number_));
        }
        value = shared_[idx];
      } else if (type == "inlineStr") {
        value = Store(used, [&](std::string* s) { CollectText(c.child("is"), s); });
      } else if (type == "b") {
        value = v == "1" ? "TRUE" : "FALSE";
      } else if (type == "str" || type == "e" || type == "d") {
        value = v;
      } else if (!v.empty()) {
        unsigned style = c.attribute("s").as_uint(0);
        bool is_date = style < date_styles_.size() && date_styles_[style];
        value = Store(used, [&](std::string* s) {
          *s = is_date ? SerialToIso(std::strtod(std::string(v).c_str(), nullptr), date1904_) : FormatNumber(v);
        });
      }
      if (value.size() > limits_.max_field_bytes) {
        return Fail(ErrorCode::kLimit, "xlsx cell in row " + std::to_string(row_number_) + " column " +
                                           std::to_string(col + 1) + " is longer than " +
                                           std::to_string(limits_.max_field_bytes) + " bytes");
      }
      row_bytes += value.size();
      if (row_bytes > limits_.max_row_bytes) {
        return Fail(ErrorCode::kLimit, "xlsx row " + std::to_string(row_number_) + " is longer than " +
                                           std::to_string(limits_.max_row_bytes) + " bytes");
      }
      cells->push_back(value);
    }
    // Trailing empty cells (formatting only) are not data.
    while (!cells->empty() && cells->back().empty()) cells->pop_back();
    return true;
  }

  uint64_t RowNumber() const override { return row_number_; }
  InputFormat Format() const override { return InputFormat::kXlsx; }
  std::string_view Encoding() const override { return "xlsx"; }
  uint64_t SourceBytes() const override { return data_.size(); }
  Sha256Digest SourceSha256() const override { return digest_; }

 private:
  template <typename Fill>
  std::string_view Store(size_t& used, Fill fill) {
    if (used == storage_.size()) storage_.emplace_back();
    std::string& s = storage_[used++];
    s.clear();
    fill(&s);
    return s;
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

  // Inflates one member, refusing more than `cap` bytes whatever it declares.
  Result<std::string> ReadMember(const std::string& name, uint64_t cap) {
    zip_stat_t st;
    if (zip_stat(zip_.get(), name.c_str(), 0, &st) != 0) {
      return Fail(ErrorCode::kFormat, "xlsx part " + name + " is missing; is this an xlsx workbook?");
    }
    if ((st.valid & ZIP_STAT_SIZE) && st.size > cap) {
      return Fail(ErrorCode::kLimit, "xlsx part " + name + " is larger than " + std::to_string(cap) + " bytes");
    }
    zip_file_t* f = zip_fopen(zip_.get(), name.c_str(), 0);
    if (!f) return Fail(ErrorCode::kFormat, "xlsx part " + name + " cannot be opened");
    std::string out;
    out.reserve((st.valid & ZIP_STAT_SIZE) ? static_cast<size_t>(st.size) : 0);
    char buf[65536];
    for (;;) {
      zip_int64_t got = zip_fread(f, buf, sizeof buf);
      if (got < 0) {
        zip_fclose(f);
        WipeMemory(out.data(), out.size());
        return Fail(ErrorCode::kFormat, "xlsx part " + name + " is corrupt");
      }
      if (got == 0) break;
      if (out.size() + static_cast<uint64_t>(got) > cap) {
        zip_fclose(f);
        WipeMemory(out.data(), out.size());
        return Fail(ErrorCode::kLimit, "xlsx part " + name + " inflates beyond " + std::to_string(cap) + " bytes");
      }
      out.append(buf, static_cast<size_t>(got));
    }
    WipeMemory(buf, sizeof buf);
    zip_fclose(f);
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

  Result<void> LoadSharedStrings(const std::string& path) {
    XGW_TRY(std::string xml, ReadMember(path, limits_.max_shared_strings_bytes));
    pugi::xml_document doc;
    auto ok = doc.load_buffer_inplace(xml.data(), xml.size());
    if (!ok) {
      WipeMemory(xml.data(), xml.size());
      return Fail(ErrorCode::kFormat, "xlsx shared strings do not parse");
    }
    for (auto si : doc.child("sst").children("si")) {
      if (shared_.size() >= limits_.max_shared_strings) {
        WipeMemory(xml.data(), xml.size());
        return Fail(ErrorCode::kLimit, "xlsx has more than " + std::to_string(limits_.max_shared_strings) + " shared strings");
      }
      shared_.emplace_back();
      CollectText(si, &shared_.back());
    }
    WipeMemory(xml.data(), xml.size());
    return {};
  }

  std::span<const uint8_t> data_;
  std::vector<uint8_t> owned_;
  ReaderLimits limits_;
  std::unique_ptr<zip_t, ZipCloser> zip_;
  Sha256Digest digest_{};
  bool date1904_ = false;
  std::vector<bool> date_styles_;
  std::vector<std::string> shared_;
  std::string sheet_xml_;
  pugi::xml_document sheet_;
  pugi::xml_node row_;
  std::deque<std::string> storage_;  // deque: views into earlier cells stay valid
  std::vector<std::string> header_;
  uint64_t row_number_ = 0;
  uint64_t rows_seen_ = 0;
};

}  // namespace

Result<std::unique_ptr<ListReader>> OpenXlsxBuffer(std::span<const uint8_t> data, const std::string& sheet,
                                                   const ReaderLimits& limits) {
  auto reader = std::make_unique<XlsxReader>(data, limits);
  XGW_CHECK(reader->Start(sheet));
  return std::unique_ptr<ListReader>(std::move(reader));
}

Result<std::unique_ptr<ListReader>> OpenXlsxFile(const std::string& path, const std::string& sheet,
                                                 const ReaderLimits& limits) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Fail(ErrorCode::kIo, "cannot open " + path);
  auto size = static_cast<uint64_t>(in.tellg());
  if (size > limits.max_file_bytes) {
    return Fail(ErrorCode::kLimit, "xlsx file is larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
    return Fail(ErrorCode::kIo, "cannot read " + path);
  }
  auto reader = std::make_unique<XlsxReader>(std::span<const uint8_t>(), limits);
  reader->Own(std::move(bytes));
  XGW_CHECK(reader->Start(sheet));
  return std::unique_ptr<ListReader>(std::move(reader));
}

}  // namespace xgw
