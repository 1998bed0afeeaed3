// A reason a list, a manifest or a transfer is refused.
#ifndef XGW_POLICY_VIOLATION_H_
#define XGW_POLICY_VIOLATION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace xgw {

// `code` is stable and machine-readable (docs/protocol-format.md lists them
// all, e.g. "column_not_allowed"); `message` is plain English for people.
// Neither ever contains a cell value. Columns are named by Excel letter and,
// once the header row is recognised, by header text (`column C "Naam"`,
// policy/header_match.h); `column` is the canonical field name or "column C".
struct Violation {
  std::string code;
  std::string message;
  uint64_t row = 0;    // spreadsheet row number, 0 if not about one row
  std::string column;  // canonical field name or "column N"; empty if n/a
};

using Violations = std::vector<Violation>;

}  // namespace xgw

#endif  // XGW_POLICY_VIOLATION_H_
