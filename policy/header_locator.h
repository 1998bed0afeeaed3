// Finds the header row of a list that has title rows above it ("Lijst CIR
// september", a date, a blank line), or takes the row the sender names.
#ifndef XGW_POLICY_HEADER_LOCATOR_H_
#define XGW_POLICY_HEADER_LOCATOR_H_

#include <cstdint>
#include <memory>

#include "crypto/error.h"
#include "policy/header_match.h"
#include "policy/list_reader.h"
#include "policy/protocol.h"

namespace xgw {

struct HeaderSearch {
  // The header's row number as the spreadsheet shows it; 0: detect it among
  // the first `search_rows` non-blank rows as the one that looks most like
  // the protocol's header (HeaderRowScore; the earliest on a tie, the first
  // row when none does).
  uint64_t header_row = 0;
  uint64_t search_rows = 20;
};

// A ListReader over `source` whose Header() is the located header row and
// whose rows are those after it. The rows read ahead to decide are held
// (wiped when done) and replayed; a read error met while reading ahead comes
// back from Next() where the row would have been. `source` must be freshly
// opened (nothing read by Next yet) and outlive the result.
// Fails with kNotFound when the named row is blank or past the end, or with
// the source's own error while looking for a named row.
Result<std::unique_ptr<ListReader>> LocateHeader(const Protocol& protocol, ListReader& source,
                                                 const HeaderSearch& search, HeaderMatch* match);

}  // namespace xgw

#endif  // XGW_POLICY_HEADER_LOCATOR_H_
