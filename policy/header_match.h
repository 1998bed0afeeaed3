// How a list's header row maps onto a protocol's fields, in words a clerk can
// act on: columns named by Excel letter and header text, a misspelt header
// matched to the field it probably means ("did you mean ..."), and the header
// row found below title rows. Used by CheckList (so the same in xgw and xgwd)
// and by `xgw send --drop-extra`.
//
// Header texts are echoed only when the row is plainly a header (a cell
// names a field; texts that are no field name only when three quarters of
// the row's named cells name a field or come close to one, and CheckList
// hides them again when rows turn out longer than the header): a list
// without a clean header row would otherwise put a person's data in a
// message.
#ifndef XGW_POLICY_HEADER_MATCH_H_
#define XGW_POLICY_HEADER_MATCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/protocol.h"
#include "policy/violation.h"

namespace xgw {

// 0 -> "A", 25 -> "Z", 26 -> "AA".
std::string ColumnLetter(size_t index);

// `text` fit for a message: at most `max_bytes` (cut on a character
// boundary, "..." added), control characters and quotes replaced by '?'.
std::string DisplayText(std::string_view text, size_t max_bytes = 40);

enum class ColumnStatus {
  kField,                // names a field (canonical name or alias)
  kDuplicate,            // names a field an earlier column already names
  kProbableMisspelling,  // close to a name of a field no column names
  kNotAField,            // none of the above
  kUnnamed,              // empty header cell (allowed while the column is empty)
};

struct ColumnMatch {
  ColumnStatus status = ColumnStatus::kNotAField;
  int field = -1;            // kField/kDuplicate: the field; kProbableMisspelling/kNotAField: the nearest, or -1
  std::string nearest_name;  // the field's name or alias closest to the header (did-you-mean)
  int duplicate_of = -1;     // kDuplicate: the column naming the field first
  std::string label;         // `column C "Rijksregisternr"`, or `column C` when not echoed
};

struct HeaderMatch {
  uint64_t header_row = 0;            // spreadsheet row number of the header
  std::vector<uint64_t> title_rows;   // non-blank rows above it, skipped (at most 20)
  bool recognised = false;            // at least one column names a field
  std::vector<ColumnMatch> columns;   // one per header cell
  std::string sheet;                  // XLSX: the sheet read
  std::vector<std::string> sheets;    // XLSX: every sheet of the workbook
};

// How much `cells` look like this protocol's header: 2 per cell naming a
// field, 1 per cell close to a name. Bounded work whatever the row holds.
int HeaderRowScore(const Protocol& protocol, const std::vector<std::string>& cells);

// Maps each header cell to a field (columns, recognised, labels).
void MatchHeader(const Protocol& protocol, const std::vector<std::string>& header, HeaderMatch* match);

// Names the columns that are no field by letter only. For a list whose
// structure is broken (rows longer than the header, a read error): its
// "header" may be a header run together with data.
void HideUnknownHeaderTexts(HeaderMatch* match);

// The header's problems: header_not_found, column_misspelt,
// column_not_allowed, duplicate_column. `header_search_rows` is how many rows
// detection looked at (named in header_not_found).
Violations HeaderViolations(const Protocol& protocol, const HeaderMatch& match, uint64_t header_search_rows);

// What a row-level message calls field `field_index`'s column:
// `column C "Rijksregisternr" (national_number)`.
std::string FieldColumnLabel(const Protocol& protocol, const HeaderMatch& match, size_t column);

}  // namespace xgw

#endif  // XGW_POLICY_HEADER_MATCH_H_
