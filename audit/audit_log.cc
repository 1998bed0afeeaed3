// AuditLog: opening, appends and the group committer, recovery after a
// failed commit. Reads (checkpoints, proofs, queries, receipts) are in
// audit_log_read.cc; the bytes live behind AuditStore (audit_store.h).
#include "audit/audit_log.h"

#include <algorithm>
#include <cstdio>

#include "audit/audit_log_internal.h"
#include "audit/checkpoint.h"
#include "audit/event_codec.h"
#include "audit/sqlite_audit_store.h"

namespace xgw {

using audit_internal::Pending;
using audit_internal::TileEdge;
using audit_internal::TileNodeSource;
using audit_internal::TreeState;

namespace audit_internal {

AuditKeys KeysOf(const AuditEvent& event) {
  AuditKeys keys;
  if (!event.exchange_id.empty()) keys.emplace_back('x', event.exchange_id);
  if (!event.protocol_id.empty()) keys.emplace_back('p', event.protocol_id);
  for (auto& o : ConcernedOrganisations(event)) keys.emplace_back('o', std::move(o));
  if (event.actor.type == ActorType::kUser) keys.emplace_back('u', event.actor.id);
  if (!event.user_id.empty() && event.user_id != event.actor.id) keys.emplace_back('u', event.user_id);
  keys.emplace_back('a', std::string(AuditActionName(event.action)));
  return keys;
}

std::string_view NoteBody(std::string_view note) {
  const size_t split = note.rfind("\n\n");
  return split == std::string_view::npos ? note : note.substr(0, split + 1);
}

}  // namespace audit_internal

namespace {

// The query index is written in large batches behind the durable append
// path: its keys land on random B-tree pages, and writing those pages in
// every group commit would multiply the bytes fsynced per event. It is
// derived data (rebuilt from the events at open), so lagging is safe;
// queries bring it up to date before they read.
constexpr size_t kIndexBatch = 8192;
constexpr std::chrono::milliseconds kIndexIdle{50};

// Group-commit linger (like PostgreSQL's commit_delay/commit_siblings): the
// writers a commit releases usually append again at once. Without waiting
// for them, their next events would ride in a separate, half-full commit
// while the other half of the writers is still queued, and the batches
// settle at half the writer count. So after a commit, if fewer events are
// queued than writers were active (the batch just released plus those
// already queued), the committer waits briefly for the rest. The wait is
// bounded by half the last commit's duration (it is only worth it when a
// commit is expensive compared with the wait) and by max_commit_linger; it
// ends as soon as the expected writers are back, and never applies to an
// empty queue, so a lone writer is never delayed.
constexpr std::chrono::microseconds kMinLinger{20};

}  // namespace

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lk(impl_->queue_mu);
    impl_->stopping = true;
  }
  impl_->queue_cv.notify_all();
  impl_->stop_cv.notify_all();
  if (impl_->committer.joinable()) impl_->committer.join();
  if (impl_->checkpointer.joinable()) impl_->checkpointer.join();
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, AuditLogOptions options) {
  if (!CheckNoteKeyName(options.origin)) {
    return Fail(ErrorCode::kInvalidArgument, "audit log origin must be a non-empty name without spaces or '+'");
  }
  XGW_TRY(auto writer, OpenSqliteAuditStore(path));
  XGW_TRY(auto reader, OpenSqliteAuditStoreReadOnly(path));
  auto log = Open(std::move(writer), std::move(reader), std::move(options));
  if (!log && log.error().code == ErrorCode::kConflict) {
    return Fail(ErrorCode::kConflict, "audit log " + path + " belongs to another origin");
  }
  return log;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::unique_ptr<AuditStore> writer, std::unique_ptr<AuditStore> reader,
                                                 AuditLogOptions options) {
  auto impl = std::make_unique<Impl>();
  if (!CheckNoteKeyName(options.origin)) {
    return Fail(ErrorCode::kInvalidArgument, "audit log origin must be a non-empty name without spaces or '+'");
  }
  if (options.max_batch == 0) options.max_batch = 1;
  if (options.signing_key) {
    impl->signer = NoteSigner{options.origin, options.signing_key.get()};
    impl->verifier = VerifierFor(*impl->signer);
  }
  impl->options = std::move(options);
  impl->writer = std::move(writer);
  impl->reader = std::move(reader);
  XGW_CHECK(impl->writer->Initialise(impl->options.origin));
  // The query index in bounded steps (a migrated log is indexed from 0).
  for (;;) {
    XGW_CHECK(impl->LoadUnindexed(kIndexBatch));
    if (impl->unindexed.empty()) break;
    XGW_CHECK(impl->IndexPending());
  }
  XGW_CHECK(impl->LoadTree());
  Impl* p = impl.get();
  impl->committer = std::thread([p] { p->CommitLoop(); });
  if (impl->options.checkpoint_interval.count() > 0 && impl->signer) {
    impl->checkpointer = std::thread([p] { p->CheckpointLoop(); });
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

Result<TreeState> AuditLog::Impl::ReadTree(AuditStore& store) {
  XGW_TRY(uint64_t size, store.Size());
  TreeState t;
  XGW_TRY(t.edge, TileEdge::Load(store, size));
  TileNodeSource source(store, t.edge);
  XGW_TRY(t.frontier, MerkleFrontier::Load(source, size));
  return t;
}

Result<void> AuditLog::Impl::LoadTree() {
  XGW_TRY(uint64_t size, writer->Size());
  if (size >= kAuditTileWidth) {
    XGW_TRY(auto last, writer->Tile(0, size / kAuditTileWidth - 1));
    if (!last) XGW_CHECK(RebuildTiles(size));
  }
  XGW_TRY(tree, ReadTree(*writer));
  // Refuse to run on a log that contradicts its own latest checkpoint.
  XGW_TRY(auto latest, LatestNote());
  if (!latest) return {};
  XGW_TRY(Checkpoint cp, ParseCheckpoint(audit_internal::NoteBody(*latest)));
  if (verifier) XGW_CHECK(OpenCheckpoint(*latest, *verifier));
  if (cp.size > size) return Fail(ErrorCode::kCorrupt, "audit log is shorter than its latest checkpoint");
  TileNodeSource source(*writer, tree.edge);
  XGW_TRY(MerkleHash root, MerkleRoot(source, cp.size));
  if (root != cp.root) return Fail(ErrorCode::kCorrupt, "audit log does not match its latest checkpoint");
  return {};
}

// Tiles are derived from the events: a log migrated from schema 1 has none
// yet. They are recomputed and stored in one transaction; LoadTree then
// checks the result against the latest signed checkpoint, so events that
// were altered are refused as before.
Result<void> AuditLog::Impl::RebuildTiles(uint64_t size) {
  TreeState t;
  std::vector<AuditTile> tiles;
  uint64_t expected = 0;
  XGW_CHECK(writer->ForEachEvent(0, [&](int64_t idx, std::string_view event, bool) -> Result<bool> {
    if (idx < 0 || static_cast<uint64_t>(idx) != expected) {
      return Fail(ErrorCode::kCorrupt, "audit log has no event at index " + std::to_string(expected));
    }
    t.edge.AppendLeaf(t.frontier, MerkleLeafHash(event), tiles);
    ++expected;
    return true;
  }));
  if (expected != size) return Fail(ErrorCode::kCorrupt, "audit log events changed while its tiles were rebuilt");
  std::vector<AuditTile> missing;
  for (auto& tile : tiles) {
    XGW_TRY(auto stored, writer->Tile(tile.level, tile.index));
    if (!stored) missing.push_back(std::move(tile));
  }
  bool unknown = false;
  return writer->Append(size, {}, missing, &unknown);
}

Result<uint64_t> AuditLog::Append(const AuditEvent& event) {
  std::vector<Pending> pending(1);
  XGW_CHECK(impl_->Enqueue(std::span<const AuditEvent>(&event, 1), pending));
  impl_->WaitFor(pending);
  return std::move(pending.front().result);
}

Result<void> AuditLog::AppendAll(std::span<const AuditEvent> events) {
  XGW_TRY(auto ticket, Queue(events));
  return ticket->Wait();
}

struct AuditLog::Ticket::State {
  AuditLog::Impl* impl = nullptr;
  std::vector<Pending> pending;  // never resized once queued: the committer holds pointers
  bool waited = false;
};

AuditLog::Ticket::Ticket(std::unique_ptr<State> state) : state_(std::move(state)) {}

AuditLog::Ticket::~Ticket() {
  if (state_ && !state_->waited) state_->impl->WaitFor(state_->pending);
}

Result<void> AuditLog::Ticket::Wait() {
  state_->impl->WaitFor(state_->pending);
  state_->waited = true;
  for (auto& p : state_->pending) XGW_CHECK(p.result.map([](uint64_t) {}));
  return {};
}

Result<std::unique_ptr<AuditLog::Ticket>> AuditLog::Queue(std::span<const AuditEvent> events) {
  auto state = std::make_unique<Ticket::State>();
  state->impl = impl_.get();
  state->pending.resize(events.size());
  XGW_CHECK(impl_->Enqueue(events, state->pending));
  return std::unique_ptr<Ticket>(new Ticket(std::move(state)));
}

Result<void> AuditLog::Impl::LoadUnindexed(size_t limit) {
  unindexed.clear();
  XGW_TRY(uint64_t from, writer->IndexedUpto());
  return writer->ForEachEvent(from, [&](int64_t idx, std::string_view bytes, bool) -> Result<bool> {
    auto ev = ParseAuditEvent(bytes);
    if (!ev) return Fail(ErrorCode::kCorrupt, "audit event " + std::to_string(idx) + " does not parse");
    unindexed.push_back(AuditIndexEntry{static_cast<uint64_t>(idx), ev->time_ms, audit_internal::KeysOf(*ev)});
    return unindexed.size() < limit;
  });
}

// A full disk or a failed fsync breaks the log (CommitBatch); once space is
// back, the log must take appends again without a restart (issue 15 A.3).
void AuditLog::Impl::TryRecover() {
  static constexpr auto kRecoveryInterval = std::chrono::seconds(2);
  std::lock_guard wl(write_mu);
  {
    std::lock_guard lk(queue_mu);
    if (!broken) return;  // another appender recovered it
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_recovery < kRecoveryInterval) return;
  last_recovery = now;
  auto recovered = [&]() -> Result<TreeState> {
    // A durable write of its own: the probe that the disk takes one again.
    XGW_CHECK(writer->ProbeDurableWrite());
    XGW_TRY(TreeState t, ReadTree(*writer));
    XGW_CHECK(LoadUnindexed(SIZE_MAX));
    return t;
  }();
  if (!recovered) {
    std::fprintf(stderr, "xgwd: audit log still failing, appends refused: %s\n",
                 ToString(recovered.error()).c_str());
    return;
  }
  {
    std::lock_guard lk(state_mu);
    tree = std::move(*recovered);
  }
  std::lock_guard lk(queue_mu);
  broken = false;
  std::fprintf(stderr, "xgwd: audit log writable again; appends accepted\n");
}

// Validates and serialises one Pending per event and queues them for the
// committer (nothing is queued if one is invalid or the log refuses). The
// stored form is computed here, in the appender's thread, not the committer's.
Result<void> AuditLog::Impl::Enqueue(std::span<const AuditEvent> events, std::vector<Pending>& pending) {
  for (size_t i = 0; i < events.size(); ++i) {
    Pending& p = pending[i];
    const AuditEvent& event = events[i];
    XGW_TRY(p.bytes, ToCanonicalJson(event));
    p.stored = EncodeStoredEvent(p.bytes);
    p.index.time_ms = event.time_ms;
    p.index.keys = audit_internal::KeysOf(event);
  }
  bool was_broken = false;
  {
    std::lock_guard lk(queue_mu);
    was_broken = broken;
  }
  if (was_broken) TryRecover();
  std::lock_guard lk(queue_mu);
  if (stopping) return Fail(ErrorCode::kIo, "audit log is closing; the action must not proceed");
  if (broken) {
    return Fail(ErrorCode::kIo, "audit log had a failed commit and refuses appends until a "
                                "durable write succeeds again");
  }
  for (auto& p : pending) queue.push_back(&p);
  queue_cv.notify_one();
  return {};
}

// Waits until every one of `pending` (queued by Enqueue) is done.
void AuditLog::Impl::WaitFor(std::vector<Pending>& pending) {
  std::unique_lock lk(queue_mu);
  done_cv.wait(lk, [&] {
    return std::all_of(pending.begin(), pending.end(), [](const Pending& p) { return p.done; });
  });
}

void AuditLog::Impl::CommitLoop() {
  std::vector<Pending*> batch;
  std::chrono::microseconds last_commit{0};
  for (;;) {
    {
      std::unique_lock lk(queue_mu);
      bool idle = false;
      if (unindexed_count == 0) {
        queue_cv.wait(lk, [&] { return stopping || !queue.empty(); });
      } else {
        idle = !queue_cv.wait_for(lk, kIndexIdle, [&] { return stopping || !queue.empty(); });
      }
      const size_t want = std::min(active_writers, options.max_batch);
      if (!idle && !stopping && !queue.empty() && queue.size() < want && options.max_commit_linger.count() > 0) {
        const auto linger = std::min(std::max(last_commit / 2, kMinLinger), options.max_commit_linger);
        queue_cv.wait_for(lk, linger, [&] { return stopping || queue.size() >= want; });
      }
      if (idle || (stopping && queue.empty())) {
        lk.unlock();
        {
          std::lock_guard wl(write_mu);
          (void)IndexPending();  // on failure, retried later and at open
          unindexed_count = unindexed.size();
        }
        if (stopping) return;  // everything queued is done
        continue;
      }
      while (!queue.empty() && batch.size() < options.max_batch) {
        batch.push_back(queue.front());
        queue.pop_front();
      }
    }
    audit_internal::TreeState t;
    {
      std::lock_guard lk(state_mu);
      t = tree;
    }
    const uint64_t first = t.frontier.size();
    Result<void> r;
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::lock_guard wl(write_mu);
      r = CommitBatch(batch, t);
      if (r) {
        for (size_t i = 0; i < batch.size(); ++i) {
          batch[i]->index.index = first + i;
          unindexed.push_back(std::move(batch[i]->index));
        }
        if (unindexed.size() >= kIndexBatch) (void)IndexPending();
      }
      unindexed_count = unindexed.size();
    }
    last_commit = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    if (r) {
      std::lock_guard lk(state_mu);
      tree = std::move(t);
      ++stats.commits;
      stats.events += batch.size();
    }
    {
      std::lock_guard lk(queue_mu);
      active_writers = batch.size() + queue.size();
      for (size_t i = 0; i < batch.size(); ++i) {
        if (r) {
          batch[i]->result = first + i;
        } else {
          batch[i]->result = Fail(r.error().code, "audit event not recorded: " + r.error().message);
        }
        batch[i]->done = true;
      }
    }
    // One broadcast after unlocking. A condition variable per appender,
    // signalled under the lock (it lives in the appender's frame), was
    // tried and measured ~40 % slower with 16 writers: every woken writer
    // immediately blocked again on queue_mu.
    done_cv.notify_all();
    batch.clear();
  }
}

Result<void> AuditLog::Impl::CommitBatch(std::vector<Pending*>& batch, TreeState& t) {
  const uint64_t first = t.frontier.size();
  std::vector<AuditLeaf> leaves;
  std::vector<AuditTile> tiles;
  leaves.reserve(batch.size());
  for (Pending* p : batch) {
    leaves.push_back(AuditLeaf{p->stored});
    t.edge.AppendLeaf(t.frontier, MerkleLeafHash(p->bytes), tiles);
  }
  bool outcome_unknown = false;
  auto r = writer->Append(first, leaves, tiles, &outcome_unknown);
  if (!r && outcome_unknown) {
    // The in-memory tree can no longer be trusted to match the store.
    std::lock_guard lk(queue_mu);
    broken = true;
  }
  return r;
}

Result<void> AuditLog::Impl::IndexPending() {
  if (unindexed.empty()) return {};
  XGW_CHECK(writer->AddIndex(unindexed));
  unindexed.clear();
  return {};
}

}  // namespace xgw
