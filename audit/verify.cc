#include "audit/verify.h"

#include <nlohmann/json.hpp>

#include "crypto/signed_note.h"
#include "audit/checkpoint.h"
#include "audit/sqlite_util.h"

namespace xgw {

using audit_internal::Db;
using audit_internal::Stmt;

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

Result<VerifyReport> VerifyLog(const std::string& db_path,
                               std::span<const std::string> trusted_checkpoint_notes,
                               std::string_view verifier_key) {
  XGW_TRY(NoteVerifier verifier, Key(verifier_key));
  Db db;
  XGW_CHECK(db.Open("file:" + db_path + "?mode=ro", SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX));
  // One read transaction: a consistent snapshot even if xgwd appends meanwhile.
  XGW_CHECK(db.Exec("BEGIN"));
  VerifyReport report;
  Problems problems;
  {
    Stmt s;
    XGW_CHECK(s.Prepare(db, "SELECT value FROM meta WHERE key = 'origin'"));
    XGW_TRY(bool row, s.Step());
    if (!row) {
      problems.Add("the log has no origin");
    } else if (s.Text(0) != verifier.name) {
      problems.Add("the log's origin does not match the verifier key name");
    }
  }
  MerkleTree tree;
  {
    Stmt count;
    XGW_CHECK(count.Prepare(db, "SELECT COUNT(*) FROM events"));
    XGW_CHECK(count.Step());
    tree.Reserve(static_cast<uint64_t>(count.Int(0)));
    Stmt s;
    XGW_CHECK(s.Prepare(db, "SELECT idx, leaf_hash, event FROM events ORDER BY idx"));
    uint64_t expected = 0;
    for (;;) {
      XGW_TRY(bool row, s.Step());
      if (!row) break;
      const int64_t idx = s.Int(0);
      if (idx < 0 || static_cast<uint64_t>(idx) != expected) {
        problems.Add("event at position " + std::to_string(expected) + " has index " +
                     std::to_string(idx) + " (events deleted, inserted or renumbered)");
      }
      const std::string event = s.Text(2);
      const MerkleHash leaf = MerkleLeafHash(event);
      auto stored = s.Hash(1);
      if (!stored || *stored != leaf) {
        problems.Add("event " + std::to_string(expected) + " does not match its stored leaf hash");
      }
      tree.Append(leaf);
      ++expected;
    }
    report.events = expected;
  }
  const auto& levels = tree.levels();
  {
    uint64_t want = 0;
    for (size_t l = 1; l < levels.size(); ++l) want += levels[l].size();
    Stmt s;
    XGW_CHECK(s.Prepare(db, "SELECT level, pos, hash FROM nodes"));
    for (;;) {
      XGW_TRY(bool row, s.Step());
      if (!row) break;
      const int64_t level = s.Int(0), pos = s.Int(1);
      auto h = s.Hash(2);
      if (level < 1 || static_cast<uint64_t>(level) >= levels.size() || pos < 0 ||
          static_cast<uint64_t>(pos) >= levels[static_cast<size_t>(level)].size()) {
        problems.Add("stored node (" + std::to_string(level) + ", " + std::to_string(pos) +
                     ") is outside the recomputed tree");
        continue;
      }
      if (!h || *h != levels[static_cast<size_t>(level)][static_cast<size_t>(pos)]) {
        problems.Add("stored node (" + std::to_string(level) + ", " + std::to_string(pos) +
                     ") differs from the recomputed tree");
      }
      ++report.nodes_checked;
    }
    if (report.nodes_checked != want) {
      problems.Add("the log stores " + std::to_string(report.nodes_checked) +
                   " interior nodes, the recomputed tree has " + std::to_string(want));
    }
  }
  report.root = tree.Root();
  const uint64_t n = report.events;
  {
    Stmt s;
    XGW_CHECK(s.Prepare(db, "SELECT size, note FROM checkpoints ORDER BY size"));
    for (;;) {
      XGW_TRY(bool row, s.Step());
      if (!row) break;
      const std::string where = "stored checkpoint of size " + std::to_string(s.Int(0));
      auto cp = OpenCheckpoint(s.Text(1), verifier);
      if (!cp) {
        problems.Add(where + ": " + cp.error().message);
        continue;
      }
      if (static_cast<int64_t>(cp->size) != s.Int(0)) {
        problems.Add(where + ": signed size differs from its row");
      } else if (cp->size > n) {
        problems.Add(where + ": the log is shorter than this checkpoint (truncated)");
      } else if (tree.RootAt(cp->size) != cp->root) {
        problems.Add(where + ": root does not match the recomputed tree");
      } else {
        ++report.stored_checkpoints;
      }
    }
  }
  for (size_t i = 0; i < trusted_checkpoint_notes.size(); ++i) {
    const std::string where = "trusted checkpoint " + std::to_string(i + 1);
    auto cp = OpenCheckpoint(trusted_checkpoint_notes[i], verifier);
    if (!cp) {
      problems.Add(where + ": " + cp.error().message);
    } else if (cp->size > n) {
      problems.Add(where + " (size " + std::to_string(cp->size) +
                   "): the log is shorter (events were removed)");
    } else if (tree.RootAt(cp->size) != cp->root) {
      problems.Add(where + " (size " + std::to_string(cp->size) +
                   "): the log is not consistent with it (history was rewritten)");
    } else {
      ++report.trusted_checkpoints;
    }
  }
  (void)db.Exec("COMMIT");
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
