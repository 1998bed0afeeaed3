// Verification of the audit log, offline and on the client side. None of
// these trust the database: they recompute from event bytes and check
// against Ed25519-signed checkpoints and a verifier key given by the caller
// ("<origin>+<key id>+<base64 key>", see crypto/signed_note.h).
#ifndef XGW_GATEWAY_AUDIT_VERIFY_H_
#define XGW_GATEWAY_AUDIT_VERIFY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/merkle.h"
#include "audit/audit_event.h"

namespace xgw {

struct VerifyReport {
  uint64_t events = 0;
  MerkleHash root{};
  uint64_t nodes_checked = 0;        // stored tree hashes (leaf and interior, in tiles) checked
  uint64_t stored_checkpoints = 0;   // signature and root verified
  uint64_t trusted_checkpoints = 0;  // verified consistent with the log
};

// Recomputes every leaf hash from the stored canonical event bytes and the
// whole tree; checks indices are 0..n-1, every stored tile of hashes, every
// stored checkpoint (signature by `verifier_key`, root at its size), and each
// trusted checkpoint note (saved outside the log) against the log: it must
// be signed by the key, no larger than the log, and its root must equal the
// recomputed head at its size (i.e. the log only grew since). Reads the file
// read-only. kCorrupt with a list of the first problems if anything fails;
// kIo / kKey if the check cannot run.
Result<VerifyReport> VerifyLog(const std::string& db_path,
                               std::span<const std::string> trusted_checkpoint_notes,
                               std::string_view verifier_key);

// Client side: both checkpoints must be signed by the key and the proof must
// show the old tree is a prefix of the new one. kSignature otherwise.
Result<void> VerifyConsistency(std::string_view old_checkpoint, std::string_view new_checkpoint,
                               std::span<const MerkleHash> proof, std::string_view verifier_key);
// The event bytes (canonical JSON) are the leaf at `index` of the tree the
// signed checkpoint commits to.
Result<void> VerifyInclusion(std::string_view event_bytes, uint64_t index,
                             std::span<const MerkleHash> proof, std::string_view checkpoint,
                             std::string_view verifier_key);

struct DeletionReceiptInfo {
  AuditEvent event;   // the verified deletion event
  uint64_t index = 0;
  uint64_t tree_size = 0;
};
// Verifies a receipt from AuditLog::DeletionReceipt offline with only the
// gateway's verifier key. kFormat / kSignature on any failure.
Result<DeletionReceiptInfo> VerifyDeletionReceipt(std::string_view receipt_json,
                                                  std::string_view verifier_key);

}  // namespace xgw

#endif  // XGW_GATEWAY_AUDIT_VERIFY_H_
