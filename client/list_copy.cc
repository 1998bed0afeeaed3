#include "client/list_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "crypto/secret.h"
#include "policy/header_locator.h"
#include "policy/workbook_kind.h"

namespace xgw::cli {

namespace {

bool LooksLikeXlsx(const std::string& path) {
  if (path.size() >= 5) {
    std::string ext = path.substr(path.size() - 5);
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".xlsx") return true;
  }
  auto f = FileSource::Open(path);
  if (!f) return false;
  uint8_t magic[8] = {0};
  auto n = ReadFull(*f, magic);
  if (!n || *n < 4) return false;
  // An .xls or a password-protected workbook: the XLSX reader names them.
  if (*n == 8 && HasCompoundSignature(magic)) return true;
  return magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

// One CSV cell: quoted when it holds the separator, a quote or a line end.
void AppendCell(std::string_view cell, std::string* out) {
  if (cell.find_first_of(";\"\r\n") == std::string_view::npos) {
    out->append(cell);
    return;
  }
  out->push_back('"');
  for (char c : cell) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendRow(const std::vector<std::string_view>& cells, const std::vector<bool>& keep, std::string* out) {
  bool first = true;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) continue;
    if (!first) out->push_back(';');
    first = false;
    if (i < cells.size()) AppendCell(cells[i], out);
  }
  out->append("\r\n");
}

// Creates `<stem>.cleaned.csv` (or -2, -3, ...) exclusively.
Result<std::pair<int, std::string>> CreateCopyFile(const std::string& path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  const std::string stem = dot != std::string::npos && (slash == std::string::npos || dot > slash) ? path.substr(0, dot) : path;
  for (int n = 1; n <= 99; ++n) {
    std::string candidate = stem + ".cleaned" + (n == 1 ? "" : "-" + std::to_string(n)) + ".csv";
    int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) return std::make_pair(fd, candidate);
    if (errno != EEXIST) return tl::unexpected(IoError("create", candidate, errno));
  }
  return Fail(ErrorCode::kConflict, "99 cleaned copies of " + path + " exist already; remove the old ones");
}

}  // namespace

Result<OpenList> OpenListFile(const std::string& path, const std::string& sheet) {
  OpenList out;
  if (LooksLikeXlsx(path)) {
    XGW_TRY(out.reader, OpenXlsxFile(path, sheet));
    return out;
  }
  XGW_TRY(auto f, FileSource::Open(path));
  out.file = std::make_unique<FileSource>(std::move(f));
  XGW_TRY(out.reader, OpenCsvReader(*out.file));
  return out;
}

std::vector<size_t> ExtraColumns(const ListCheck& check) {
  std::vector<size_t> out;
  for (const auto& v : check.violations) {
    if (v.code != "column_not_allowed") continue;
    for (size_t i = 0; i < check.header.columns.size(); ++i) {
      if (v.column == "column " + ColumnLetter(i) && std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<CleanedCopy> WriteCleanedCopy(const Protocol& protocol, const std::string& path, const std::string& sheet,
                                     const HeaderSearch& search, const std::vector<size_t>& drop) {
  XGW_TRY(OpenList list, OpenListFile(path, sheet));
  HeaderMatch match;
  XGW_TRY(auto located, LocateHeader(protocol, *list.reader, search, &match));
  const auto& header = located->Header();
  std::vector<bool> keep(header.size(), true);
  CleanedCopy copy;
  for (size_t i : drop) {
    if (i >= keep.size()) continue;
    keep[i] = false;
    copy.dropped.push_back(match.columns[i].label);
  }
  XGW_TRY(auto created, CreateCopyFile(path));
  copy.path = created.second;
  FileSink sink = FileSink::Borrow(created.first);
  auto fail = [&](const Error& e) {
    ::close(created.first);
    ::unlink(copy.path.c_str());
    return tl::unexpected(e);
  };
  std::string buf = "\xEF\xBB\xBF";  // UTF-8 BOM: Excel opens the copy as UTF-8
  AppendRow(std::vector<std::string_view>(header.begin(), header.end()), keep, &buf);
  std::vector<std::string_view> cells;
  for (;;) {
    auto more = located->Next(&cells);
    if (!more) return fail(more.error());
    if (*more) AppendRow(cells, keep, &buf);
    if (buf.size() >= (1u << 20) || !*more) {
      auto w = sink.Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buf.data()), buf.size()));
      WipeMemory(buf.data(), buf.size());
      buf.clear();
      if (!w) return fail(w.error());
    }
    if (!*more) break;
  }
  if (auto f = sink.Flush(); !f) return fail(f.error());
  if (::fsync(created.first) != 0 || ::close(created.first) != 0) {
    const int err = errno;
    ::unlink(copy.path.c_str());
    return tl::unexpected(IoError("write", copy.path, err));
  }
  return copy;
}

}  // namespace xgw::cli
