// The local side of `xgw send`: opening a list as the clerk named it
// (CSV or XLSX, sheet, header row) and, for --drop-extra, writing a cleaned
// copy without the columns the protocol refuses. Kept apart from the command
// so tests can drive it without a gateway.
#ifndef XGW_CLIENT_LIST_COPY_H_
#define XGW_CLIENT_LIST_COPY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/error.h"
#include "crypto/io.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/protocol.h"

namespace xgw::cli {

// An open list: the reader and, for CSV, the file it reads.
struct OpenList {
  std::unique_ptr<FileSource> file;  // heap: the reader keeps its address
  std::unique_ptr<ListReader> reader;
};

// Opens `path` as XLSX (by extension, zip signature, or an OLE compound file,
// which the XLSX reader names: password-protected, .xls) or else as CSV.
Result<OpenList> OpenListFile(const std::string& path, const std::string& sheet);

// The columns `check` refused as extra (column_not_allowed: not a field, or
// data under an empty header), by index. Misspelt and duplicate columns are
// never among them: they hold data the protocol wants.
std::vector<size_t> ExtraColumns(const ListCheck& check);

struct CleanedCopy {
  std::string path;                  // the copy written (CSV, UTF-8 with BOM, ';')
  std::vector<std::string> dropped;  // `column F "Opmerking"`, in order
};

// Writes a CSV copy of `path` beside it (`<name>.cleaned.csv`, or
// `<name>.cleaned-2.csv` ... if that exists: nothing is ever overwritten;
// mode 0600) holding the header row found by `search` and every row after
// it, without the columns `drop`. Title rows above the header are left out,
// so the copy's header is its first row wherever the original's was.
Result<CleanedCopy> WriteCleanedCopy(const Protocol& protocol, const std::string& path, const std::string& sheet,
                                     const HeaderSearch& search, const std::vector<size_t>& drop);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_LIST_COPY_H_
