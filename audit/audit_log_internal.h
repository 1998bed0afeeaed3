// Internal to xgw_audit: AuditLog's private state, shared by audit_log.cc
// (open, appends, the committer, recovery) and audit_log_read.cc
// (checkpoints, proofs, queries, receipts).
#ifndef XGW_AUDIT_AUDIT_LOG_INTERNAL_H_
#define XGW_AUDIT_AUDIT_LOG_INTERNAL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_store.h"
#include "audit/merkle_tiles.h"
#include "crypto/signed_note.h"

namespace xgw {

namespace audit_internal {

struct Pending {
  std::string bytes;   // canonical JSON, what the leaf hash is over
  std::string stored;  // its stored form (event_codec.h)
  AuditIndexEntry index;
  bool done = false;
  Result<uint64_t> result = Fail(ErrorCode::kIo, "audit append did not run");
};

// The query keys of an event: exchange 'x', protocol 'p', organisation 'o',
// user 'u' (actor or acted upon), action 'a'.
AuditKeys KeysOf(const AuditEvent& event);

std::string_view NoteBody(std::string_view note);

// The committed tree: frontier (head) and tile edge, always of equal size.
struct TreeState {
  MerkleFrontier frontier;
  audit_internal::TileEdge edge;
};

}  // namespace audit_internal

struct AuditLog::Impl {
  using Pending = audit_internal::Pending;

  AuditLogOptions options;
  std::optional<NoteVerifier> verifier;
  std::optional<NoteSigner> signer;

  std::unique_ptr<AuditStore> writer;
  std::mutex write_mu;  // the writer store and `unindexed`
  std::vector<AuditIndexEntry> unindexed;  // committed, not yet in the query index

  std::unique_ptr<AuditStore> reader;
  std::mutex read_mu;  // the reader store

  std::mutex queue_mu;
  std::condition_variable queue_cv, done_cv;
  std::deque<Pending*> queue;
  bool stopping = false;
  bool broken = false;  // a commit failed with unknown outcome: refuse appends
  // When a broken log last tried to recover (TryRecover), under write_mu.
  std::chrono::steady_clock::time_point last_recovery{};
  size_t unindexed_count = 0;  // committer thread only
  size_t active_writers = 0;   // committer thread only: expected size of the next batch

  mutable std::mutex state_mu;
  audit_internal::TreeState tree;  // committed state; written by the committer only
  AuditLogStats stats;             // under state_mu

  std::mutex sign_mu;
  std::condition_variable stop_cv;
  std::thread committer, checkpointer;

  // Open, after the stores: the committed tree (rebuilding missing tiles,
  // e.g. after a migration) checked against the latest checkpoint.
  Result<void> LoadTree();
  // Recomputes every full tile from the events and stores the missing ones.
  Result<void> RebuildTiles(uint64_t size);
  void CommitLoop();
  Result<void> Enqueue(std::span<const AuditEvent> events, std::vector<Pending>& pending);
  void WaitFor(std::vector<Pending>& pending);
  Result<void> CommitBatch(std::vector<Pending*>& batch, audit_internal::TreeState& t);
  void CheckpointLoop();
  // REQUIRES: write_mu held.
  Result<void> IndexPending();
  // Re-derives the index entries of events committed after the last index
  // write. REQUIRES: write_mu held (or Open, before the threads start).
  Result<void> LoadUnindexed(size_t limit);
  // For a broken log, at most once per kRecoveryInterval: proves the disk
  // takes a durable write again, re-reads the committed tree (a failed commit
  // may or may not have landed) and accepts appends again. Takes write_mu,
  // then queue_mu: REQUIRES neither held.
  void TryRecover();
  // The tree of the committed size, read through `store`.
  Result<audit_internal::TreeState> ReadTree(AuditStore& store);
  Result<void> CatchUpIndex() {
    std::lock_guard wl(write_mu);
    return IndexPending();
  }
  audit_internal::TileEdge EdgeSnapshot() const {
    std::lock_guard lk(state_mu);
    return tree.edge;
  }
  Result<std::optional<std::string>> LatestNote();
  Result<std::string> Sign();
};

}  // namespace xgw

#endif  // XGW_AUDIT_AUDIT_LOG_INTERNAL_H_
