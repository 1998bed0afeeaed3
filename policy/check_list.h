// Checks a list against a protocol while streaming it once, and builds its
// manifest on the way. Memory does not depend on the row count except for the
// subject index: 32 bytes per subject identifier while checking, kept raw
// (32 bytes per distinct value) in either form.
#ifndef XGW_POLICY_CHECK_LIST_H_
#define XGW_POLICY_CHECK_LIST_H_

#include <cstdint>
#include <span>
#include <string>

#include "crypto/error.h"
#include "policy/decisions.h"
#include "policy/header_locator.h"
#include "policy/header_match.h"
#include "policy/list_reader.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "policy/violation.h"

namespace xgw {

struct CheckListOptions {
  // Row-level violations listed in full; the rest are only counted.
  size_t max_row_violations = 100;
  // Organisation key for the subject index (HMAC-SHA-256); empty: no index.
  std::span<const uint8_t> subject_key;
  std::string subject_key_id;
  // The manifest describes the index by count and SHA-256 (streamed form,
  // the values in ListCheck::subject_values) instead of listing it.
  bool stream_subject_index = false;
  // Where the header row is: detected below title rows by default, or the
  // row the sender names (xgw send --header-row N).
  HeaderSearch header;
};

struct ListCheck {
  Violations violations;          // header and cell problems, reader failures
  uint64_t suppressed = 0;        // row-level violations beyond the cap
  Manifest manifest;              // complete even when there are violations
  // The streamed subject index: sorted, unique, raw. Empty in the listed
  // form, whose values are in manifest.subject_index (one copy in memory).
  std::vector<Sha256Digest> subject_values;
  HeaderMatch header;             // the header row found and how its columns map
  bool ok() const { return violations.empty(); }
};

// Locates the header row (LocateHeader: title rows above it are skipped) and
// reads `reader` to its end, reporting every header problem (header_not_found,
// header_row_not_found, column_misspelt, column_not_allowed, duplicate_column:
// HeaderViolations), row problem (ragged_row, required_value_missing,
// invalid_value naming row, column and rule) and a malformed or oversized input
// (list_malformed, list_limit_exceeded) as violations. Fails only on I/O errors.
// Does not judge the manifest itself: pass it to DecideSend for that.
Result<ListCheck> CheckList(const Protocol& protocol, ListReader& reader, const CheckListOptions& options = {});

// CheckList followed by DecideSend on the resulting manifest: every reason the
// list may not be sent. A required field reported as column_misspelt (or
// every one, when no header was found) is not reported missing again. The daemon's plaintext mode and the client use this.
Result<ListCheck> CheckListForSend(const Protocol& protocol, const ProtocolStatus& status, ListReader& reader,
                                   const SendRequest& request, const CheckListOptions& options = {});

// The canonical form of one row for rows_sha256: a JSON array of the
// normalised values (JCS string escaping) followed by "\n". Exposed for tests.
void AppendCanonicalRow(const std::vector<std::string>& values, std::string* out);

}  // namespace xgw

#endif  // XGW_POLICY_CHECK_LIST_H_
