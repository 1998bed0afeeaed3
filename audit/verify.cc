#include "audit/verify.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "crypto/signed_note.h"
#include "audit/checkpoint.h"
#include "audit/audit_store.h"
#include "audit/merkle_tiles.h"
#include "audit/sqlite_audit_store.h"

namespace xgw {

namespace {

constexpr size_t kMaxReportedProblems = 8;

class Problems {
 public:
  void Add(std::string p) {
    ++count_;
    if (list_.size() < kMaxReportedProblems) list_.push_back(std::move(p));
  }
  bool empty() const { return count_ == 0; }
  Error ToError() const {
    std::string m = "audit log verification failed (" + std::to_string(count_) + " problem" +
                    (count_ == 1 ? "" : "s") + "): ";
    for (size_t i = 0; i < list_.size(); ++i) m += (i ? "; " : "") + list_[i];
    if (count_ > list_.size()) m += "; ...";
    return Error{ErrorCode::kCorrupt, m};
  }

 private:
  size_t count_ = 0;
  std::vector<std::string> list_;
};

Result<NoteVerifier> Key(std::string_view verifier_key) { return ParseVerifierKey(verifier_key); }

}  // namespace

namespace {

// Leaves from the stored event bytes, in one pass: indices must be 0..n-1.
Result<void> RecomputeLeaves(AuditStore& store, MerkleTree& tree, Problems& problems, VerifyReport& report) {
  XGW_TRY(uint64_t size, store.Size());
  // A hostile file may claim any size: reserve only what a real log holds.
  tree.Reserve(std::min<uint64_t>(size, uint64_t{1} << 26));
  uint64_t expected = 0;
  XGW_CHECK(store.ForEachEvent(0, [&](int64_t idx, std::string_view event, bool decoded) -> Result<bool> {
    if (idx < 0 || static_cast<uint64_t>(idx) != expected) {
      problems.Add("event at position " + std::to_string(expected) + " has index " + std::to_string(idx) +
                   " (events deleted, inserted or renumbered)");
    }
    if (!decoded) problems.Add("event " + std::to_string(expected) + " is not in a known stored form");
    tree.Append(MerkleLeafHash(event));
    ++expected;
    return true;
  }));
  report.events = expected;
  return {};
}

// Every stored tile must equal the recomputed tree, and every full tile of
// that tree must be stored.
Result<void> CheckTiles(AuditStore& store, const MerkleTree& tree, Problems& problems, VerifyReport& report) {
  const auto& levels = tree.levels();
  uint64_t want = 0, stored = 0;
  for (size_t l = 0; l < levels.size(); l += kAuditTileHeight) want += levels[l].size() / kAuditTileWidth;
  XGW_CHECK(store.ForEachTile([&](unsigned level, uint64_t index, std::string_view bytes) -> Result<void> {
    ++stored;
    const std::string where = "stored tile (" + std::to_string(level) + ", " + std::to_string(index) + ")";
    const size_t tree_level = size_t{level} * kAuditTileHeight;
    if (tree_level >= levels.size() || index >= levels[tree_level].size() / kAuditTileWidth) {
      problems.Add(where + " is outside the recomputed tree");
      return {};
    }
    auto hashes = audit_internal::ParseTile(bytes);
    if (!hashes) {
      problems.Add(where + " is not " + std::to_string(kAuditTileWidth) + " hashes");
      return {};
    }
    for (uint64_t i = 0; i < kAuditTileWidth; ++i) {
      const uint64_t pos = index * kAuditTileWidth + i;
      if ((*hashes)[i] == levels[tree_level][pos]) continue;
      problems.Add(level == 0 ? "event " + std::to_string(pos) + " does not match its stored leaf hash"
                              : where + " differs from the recomputed tree");
      return {};
    }
    report.nodes_checked += kAuditTileWidth;
    return {};
  }));
  if (stored != want) {
    problems.Add("the log stores " + std::to_string(stored) + " merkle tiles, the recomputed tree has " +
                 std::to_string(want));
  }
  return {};
}

Result<void> CheckStoredCheckpoints(AuditStore& store, const MerkleTree& tree, const NoteVerifier& verifier,
                                    Problems& problems, VerifyReport& report) {
  const uint64_t n = report.events;
  return store.ForEachCheckpoint([&](int64_t size, std::string_view note) -> Result<void> {
    const std::string where = "stored checkpoint of size " + std::to_string(size);
    auto cp = OpenCheckpoint(note, verifier);
    if (!cp) {
      problems.Add(where + ": " + cp.error().message);
    } else if (static_cast<int64_t>(cp->size) != size) {
      problems.Add(where + ": signed size differs from its row");
    } else if (cp->size > n) {
      problems.Add(where + ": the log is shorter than this checkpoint (truncated)");
    } else if (tree.RootAt(cp->size) != cp->root) {
      problems.Add(where + ": root does not match the recomputed tree");
    } else {
      ++report.stored_checkpoints;
    }
    return {};
  });
}

void CheckTrustedCheckpoints(std::span<const std::string> notes, const MerkleTree& tree,
                             const NoteVerifier& verifier, Problems& problems, VerifyReport& report) {
  const uint64_t n = report.events;
  for (size_t i = 0; i < notes.size(); ++i) {
    const std::string where = "trusted checkpoint " + std::to_string(i + 1);
    auto cp = OpenCheckpoint(notes[i], verifier);
    if (!cp) {
      problems.Add(where + ": " + cp.error().message);
    } else if (cp->size > n) {
      problems.Add(where + " (size " + std::to_string(cp->size) + "): the log is shorter (events were removed)");
    } else if (tree.RootAt(cp->size) != cp->root) {
      problems.Add(where + " (size " + std::to_string(cp->size) +
                   "): the log is not consistent with it (history was rewritten)");
    } else {
      ++report.trusted_checkpoints;
    }
  }
}

}  // namespace

Result<VerifyReport> VerifyLog(const std::string& db_path,
                               std::span<const std::string> trusted_checkpoint_notes,
                               std::string_view verifier_key) {
  XGW_TRY(NoteVerifier verifier, Key(verifier_key));
  XGW_TRY(auto store, OpenSqliteAuditStoreReadOnly(db_path));
  // One read snapshot: consistent even if xgwd appends meanwhile.
  XGW_CHECK(store->BeginSnapshot());
  VerifyReport report;
  Problems problems;
  XGW_TRY(auto origin, store->Origin());
  if (!origin) {
    problems.Add("the log has no origin");
  } else if (*origin != verifier.name) {
    problems.Add("the log's origin does not match the verifier key name");
  }
  MerkleTree tree;
  XGW_CHECK(RecomputeLeaves(*store, tree, problems, report));
  XGW_CHECK(CheckTiles(*store, tree, problems, report));
  report.root = tree.Root();
  XGW_CHECK(CheckStoredCheckpoints(*store, tree, verifier, problems, report));
  CheckTrustedCheckpoints(trusted_checkpoint_notes, tree, verifier, problems, report);
  store->EndSnapshot();
  if (!problems.empty()) return tl::unexpected(problems.ToError());
  return report;
}

Result<void> VerifyConsistency(std::string_view old_checkpoint, std::string_view new_checkpoint,
                               std::span<const MerkleHash> proof, std::string_view verifier_key) {
  XGW_TRY(NoteVerifier v, Key(verifier_key));
  XGW_TRY(Checkpoint a, OpenCheckpoint(old_checkpoint, v));
  XGW_TRY(Checkpoint b, OpenCheckpoint(new_checkpoint, v));
  return VerifyMerkleConsistency(a.size, b.size, a.root, b.root, proof);
}

Result<void> VerifyInclusion(std::string_view event_bytes, uint64_t index,
                             std::span<const MerkleHash> proof, std::string_view checkpoint,
                             std::string_view verifier_key) {
  XGW_TRY(NoteVerifier v, Key(verifier_key));
  XGW_TRY(Checkpoint cp, OpenCheckpoint(checkpoint, v));
  return VerifyMerkleInclusion(index, cp.size, MerkleLeafHash(event_bytes), proof, cp.root);
}

Result<DeletionReceiptInfo> VerifyDeletionReceipt(std::string_view receipt_json,
                                                  std::string_view verifier_key) {
  XGW_TRY(NoteVerifier v, Key(verifier_key));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(receipt_json);
  } catch (const nlohmann::json::exception&) {
    return Fail(ErrorCode::kFormat, "deletion receipt is not valid json");
  }
  if (!j.is_object() || j.value("format", "") != "xgw-deletion-receipt/v1") {
    return Fail(ErrorCode::kFormat, "not an xgw deletion receipt (format xgw-deletion-receipt/v1)");
  }
  if (!j.contains("event") || !j["event"].is_string() || !j.contains("index") ||
      !j["index"].is_number_unsigned() || !j.contains("inclusion_proof") ||
      !j["inclusion_proof"].is_array() || !j.contains("checkpoint") || !j["checkpoint"].is_string()) {
    return Fail(ErrorCode::kFormat, "deletion receipt needs event, index, inclusion_proof and checkpoint");
  }
  const std::string event = j["event"].get<std::string>();
  DeletionReceiptInfo info;
  XGW_TRY(info.event, ParseAuditEvent(event));
  if ((info.event.action != AuditAction::kExchangeDeletedExpiry &&
       info.event.action != AuditAction::kExchangeDeleted) ||
      info.event.outcome != AuditOutcome::kSuccess || info.event.exchange_id.empty()) {
    return Fail(ErrorCode::kFormat, "deletion receipt event is not a successful exchange deletion");
  }
  std::vector<MerkleHash> proof;
  for (const auto& p : j["inclusion_proof"]) {
    if (!p.is_string()) return Fail(ErrorCode::kFormat, "deletion receipt proof entry is not a string");
    XGW_TRY(MerkleHash h, HashFromBase64(p.get<std::string>()));
    proof.push_back(h);
  }
  info.index = j["index"].get<uint64_t>();
  XGW_TRY(Checkpoint cp, OpenCheckpoint(j["checkpoint"].get<std::string>(), v));
  info.tree_size = cp.size;
  XGW_CHECK(VerifyMerkleInclusion(info.index, cp.size, MerkleLeafHash(event), proof, cp.root));
  return info;
}

}  // namespace xgw
