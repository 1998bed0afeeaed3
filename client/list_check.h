// The receiving side's check of a decrypted list against its signed
// manifest and the protocol; kept apart from the command so tests can drive
// it with lists built in memory.
#ifndef XGW_CLIENT_LIST_CHECK_H_
#define XGW_CLIENT_LIST_CHECK_H_

#include <span>
#include <string>
#include <vector>

#include "crypto/error.h"
#include "crypto/io.h"
#include "policy/check_list.h"
#include "policy/manifest.h"
#include "policy/protocol.h"

namespace xgw::cli {

struct ReceivedCheck {
  std::string code;                      // "" ok, "manifest_mismatch" or "content_not_allowed"
  std::vector<std::string> mismatches;   // manifest members that differ ("columns", "sha256", ...)
  Violations violations;                 // content problems (row/column/rule)
  bool ok() const { return code.empty(); }
};

// Compares the manifest the list really has (`actual`, from CheckList) with
// the signed one (`declared`). The subject index is compared only when
// `compare_index` (the receiver has the same organisation key).
std::vector<std::string> ManifestMismatches(const Manifest& declared, const Manifest& actual, bool compare_index);

// Reads the plaintext list from `plain` (CSV streamed; XLSX buffered in
// secret memory), checks it against the protocol and the declared manifest.
Result<ReceivedCheck> CheckReceivedList(const Protocol& protocol, const Manifest& declared, ByteSource& plain,
                                        std::span<const uint8_t> subject_key);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_LIST_CHECK_H_
