// Internal to xgw_audit: AuditLog's private state, shared by audit_log.cc
// (open, appends, leader/follower group commit, recovery) and audit_log_read.cc
// (checkpoints, proofs, queries, receipts).
#ifndef XGW_AUDIT_AUDIT_LOG_INTERNAL_H_
#define XGW_AUDIT_AUDIT_LOG_INTERNAL_H_

#include <atomic>
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

// The thread waiting for the events of one Append / AppendAll / Ticket,
// woken by the leader that commits its last event or that hands it the lead
// (audit_log.cc, "Leader/follower group commit").
struct Waiter {
  // Futex word: a leader adds one to wake the thread sleeping on it.
  std::atomic<uint32_t> signal{0};
  // Leaders that decided to wake this waiter and have not finished yet; the
  // waiter does not return (and free itself) before it is back to zero.
  std::atomic<uint32_t> wakers{0};
  size_t remaining = 0;   // its events not yet done (queue_mu)
  bool attached = false;  // a thread waits for (or leads) these events (queue_mu)
  bool sleeping = false;  // that thread sleeps on `signal` (queue_mu)
};

struct Pending {
  std::string bytes;   // canonical JSON, what the leaf hash is over
  std::string stored;  // its stored form (event_codec.h)
  MerkleHash leaf{};   // leaf hash of `bytes`, computed by the appender
  AuditIndexEntry index;
  Waiter* waiter = nullptr;
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
  std::condition_variable queue_cv;   // the background thread: a ticket to commit, stop, idle index
  std::condition_variable linger_cv;  // a lingering leader: more events queued
  std::deque<Pending*> queue;
  bool leading = false;  // a thread is committing a batch (the leader)
  bool stopping = false;
  bool broken = false;  // a commit failed with unknown outcome: refuse appends
  // When a broken log last tried to recover (TryRecover), under write_mu.
  std::chrono::steady_clock::time_point last_recovery{};
  // Under queue_mu, written by leaders:
  size_t unindexed_count = 0;
  size_t active_writers = 0;  // expected size of the next batch
  size_t lingering_for = 0;   // > 0: a leader waits until the queue holds this many
  uint64_t commit_seq = 0;    // batches committed (or failed) since open
  std::chrono::microseconds last_commit{0};
  std::vector<Pending*> leader_batch;  // the leader's

  mutable std::mutex state_mu;
  audit_internal::TreeState tree;  // committed state; written by the leader only
  AuditLogStats stats;             // under state_mu

  std::mutex sign_mu;
  std::condition_variable stop_cv;
  std::thread background, checkpointer;

  // Open, after the stores: the committed tree (rebuilding missing tiles,
  // e.g. after a migration) checked against the latest checkpoint.
  Result<void> LoadTree();
  // Recomputes every full tile from the events and stores the missing ones.
  Result<void> RebuildTiles(uint64_t size);
  // Commits queued tickets nobody waits for, writes the query index when
  // appends pause, and drains the queue at close.
  void BackgroundLoop();
  // Validates and serialises `events` into `pending`, queues them for
  // `waiter`; with `wait`, then waits for them (leading commits as needed).
  Result<void> Submit(std::span<const AuditEvent> events, std::vector<Pending>& pending,
                      audit_internal::Waiter& waiter, bool wait);
  // Waits until every event of `waiter` is done, committing batches as
  // leader whenever nobody else does.
  void WaitOrLead(audit_internal::Waiter& waiter);
  // REQUIRES: lk holds queue_mu, !leading, !queue.empty(). Commits one batch;
  // returns with lk held again.
  void Lead(std::unique_lock<std::mutex>& lk);
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
