// AuditLog's reads: head, checkpoints (signing included), proofs, queries,
// ranges and deletion receipts, all through the reader store.
#include <algorithm>

#include "audit/audit_log.h"
#include "audit/audit_log_internal.h"
#include "audit/checkpoint.h"

namespace xgw {

using audit_internal::NoteBody;
using audit_internal::TileNodeSource;

TreeHead AuditLog::Head() const {
  std::lock_guard lk(impl_->state_mu);
  return TreeHead{impl_->tree.frontier.size(), impl_->tree.frontier.Root()};
}

bool AuditLog::Writable() const {
  std::lock_guard lk(impl_->queue_mu);
  return !impl_->broken;
}

AuditLogStats AuditLog::Stats() const {
  std::lock_guard lk(impl_->state_mu);
  return impl_->stats;
}

Result<std::string> AuditLog::VerifierKey() const {
  if (!impl_->verifier) return Fail(ErrorCode::kKey, "audit log has no signing key");
  return FormatVerifierKey(impl_->verifier->name, impl_->verifier->key);
}

Result<std::optional<std::string>> AuditLog::Impl::LatestNote() {
  std::lock_guard lk(read_mu);
  return reader->LatestCheckpoint();
}

Result<std::string> AuditLog::LatestCheckpoint() {
  XGW_TRY(auto note, impl_->LatestNote());
  if (!note) return Fail(ErrorCode::kNotFound, "no checkpoint has been signed yet");
  return *note;
}

Result<std::string> AuditLog::SignCheckpoint() { return impl_->Sign(); }

Result<std::string> AuditLog::Impl::Sign() {
  if (!signer) return Fail(ErrorCode::kKey, "audit log has no signing key");
  std::lock_guard sl(sign_mu);
  TreeHead head;
  audit_internal::TileEdge edge;
  {
    std::lock_guard lk(state_mu);
    head = TreeHead{tree.frontier.size(), tree.frontier.Root()};
    edge = tree.edge;
  }
  XGW_TRY(auto last_note, LatestNote());
  if (last_note) {
    // Never sign a head inconsistent with the last one we signed.
    XGW_TRY(Checkpoint last, OpenCheckpoint(*last_note, *verifier));
    if (last.size > head.size) return Fail(ErrorCode::kCorrupt, "audit log is shorter than its last checkpoint");
    if (last.size == head.size) {
      if (last.root != head.root) return Fail(ErrorCode::kCorrupt, "audit log head differs from its last checkpoint");
      return *last_note;
    }
    std::vector<MerkleHash> proof;
    {
      std::lock_guard lk(read_mu);
      TileNodeSource source(*reader, edge);
      XGW_TRY(proof, MerkleConsistencyProof(source, last.size, head.size));
    }
    if (!VerifyMerkleConsistency(last.size, head.size, last.root, head.root, proof)) {
      return Fail(ErrorCode::kCorrupt, "audit log is not consistent with its last checkpoint; refusing to sign");
    }
  }
  Checkpoint cp{options.origin, head.size, head.root, {}};
  XGW_TRY(std::string note, ::xgw::SignCheckpoint(cp, *signer));
  std::lock_guard wl(write_mu);
  XGW_CHECK(writer->AddCheckpoint(head.size, note));
  return note;
}

void AuditLog::Impl::CheckpointLoop() {
  std::unique_lock lk(queue_mu);
  while (!stopping) {
    stop_cv.wait_for(lk, options.checkpoint_interval);
    if (stopping) break;
    lk.unlock();
    // A failure here (I/O, inconsistency) leaves the log without a newer
    // checkpoint; SignCheckpoint on demand reports the reason.
    (void)Sign();
    lk.lock();
  }
}

namespace {

void HashLeaves(std::vector<AuditRecord>& records) {
  for (auto& r : records) r.leaf_hash = MerkleLeafHash(r.event);
}

}  // namespace

Result<AuditRecord> AuditLog::Get(uint64_t index) {
  XGW_TRY(auto records, Range(index, index + 1, 1));
  if (records.empty()) return Fail(ErrorCode::kNotFound, "no audit event at index " + std::to_string(index));
  return std::move(records.front());
}

Result<std::vector<MerkleHash>> AuditLog::InclusionProof(uint64_t index, uint64_t tree_size) {
  const auto edge = impl_->EdgeSnapshot();
  if (tree_size > edge.size()) return Fail(ErrorCode::kInvalidArgument, "tree size exceeds the log");
  std::lock_guard lk(impl_->read_mu);
  TileNodeSource source(*impl_->reader, edge);
  return MerkleInclusionProof(source, index, tree_size);
}

Result<std::vector<MerkleHash>> AuditLog::ConsistencyProof(uint64_t old_size, uint64_t new_size) {
  const auto edge = impl_->EdgeSnapshot();
  if (new_size > edge.size()) return Fail(ErrorCode::kInvalidArgument, "tree size exceeds the log");
  std::lock_guard lk(impl_->read_mu);
  TileNodeSource source(*impl_->reader, edge);
  return MerkleConsistencyProof(source, old_size, new_size);
}

// The most selective filter drives the scan: exchange, protocol,
// organisation, user, then action (all keys of the query index).
Result<AuditPage> AuditLog::Query(const AuditQuery& q) {
  const size_t limit = std::clamp<size_t>(q.limit, 1, kMaxAuditQueryLimit);
  AuditKeys keys;
  if (q.exchange_id) keys.emplace_back('x', *q.exchange_id);
  if (q.protocol_id) keys.emplace_back('p', *q.protocol_id);
  if (q.organisation) keys.emplace_back('o', *q.organisation);
  if (q.user) keys.emplace_back('u', *q.user);
  if (q.action) keys.emplace_back('a', std::string(AuditActionName(*q.action)));
  XGW_CHECK(impl_->CatchUpIndex());
  AuditPage page;
  {
    std::lock_guard lk(impl_->read_mu);
    XGW_TRY(page.records, impl_->reader->Query(keys, q, limit));
  }
  HashLeaves(page.records);
  if (page.records.size() == limit) page.next = page.records.back().index;
  return page;
}

Result<std::vector<AuditRecord>> AuditLog::Range(uint64_t first, uint64_t end, size_t limit) {
  std::vector<AuditRecord> out;
  if (first >= end || limit == 0) return out;
  {
    std::lock_guard lk(impl_->read_mu);
    XGW_TRY(out, impl_->reader->Range(first, end, limit));
  }
  HashLeaves(out);
  return out;
}

namespace {

// An exchange has few events (its life cycle): they are read in pages and
// the last successful deletion among them is taken.
Result<std::optional<AuditRecord>> LatestDeletion(AuditLog& log, const std::string& exchange_id) {
  std::optional<AuditRecord> found;
  AuditQuery q;
  q.exchange_id = exchange_id;
  q.limit = kMaxAuditQueryLimit;
  for (;;) {
    XGW_TRY(AuditPage page, log.Query(q));
    for (auto& r : page.records) {
      auto ev = ParseAuditEvent(r.event);
      if (!ev) return Fail(ErrorCode::kCorrupt, "audit event " + std::to_string(r.index) + " does not parse");
      if ((ev->action == AuditAction::kExchangeDeletedExpiry || ev->action == AuditAction::kExchangeDeleted) &&
          ev->outcome == AuditOutcome::kSuccess) {
        found = std::move(r);
      }
    }
    if (!page.next) return found;
    q.after = page.next;
  }
}

}  // namespace

Result<nlohmann::json> AuditLog::DeletionReceipt(const std::string& exchange_id) {
  if (!IsSafeId(exchange_id)) return Fail(ErrorCode::kInvalidArgument, "exchange id is not a safe id");
  XGW_TRY(auto found, LatestDeletion(*this, exchange_id));
  if (!found) return Fail(ErrorCode::kNotFound, "exchange " + exchange_id + " has no deletion event");
  const AuditRecord& rec = *found;
  XGW_TRY(auto latest, impl_->LatestNote());
  std::string note;
  if (latest) {
    XGW_TRY(Checkpoint cp, ParseCheckpoint(NoteBody(*latest)));
    if (cp.size > rec.index) note = *latest;
  }
  if (note.empty()) {
    XGW_TRY(note, impl_->Sign());
  }
  XGW_TRY(Checkpoint cp, ParseCheckpoint(NoteBody(note)));
  XGW_TRY(auto proof, InclusionProof(rec.index, cp.size));
  nlohmann::json p = nlohmann::json::array();
  for (const auto& h : proof) p.push_back(Base64Encode(h));
  return nlohmann::json{{"format", "xgw-deletion-receipt/v1"},
                        {"event", rec.event},
                        {"index", rec.index},
                        {"inclusion_proof", p},
                        {"checkpoint", note}};
}

}  // namespace xgw
