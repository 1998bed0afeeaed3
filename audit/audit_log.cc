// AuditLog: opening, appends and the group commit, recovery after a
// failed commit. Reads (checkpoints, proofs, queries, receipts) are in
// audit_log_read.cc; the bytes live behind AuditStore (audit_store.h).
#include "audit/audit_log.h"

#include <algorithm>
#include <cstdio>

#include "audit/audit_log_internal.h"
#include "audit/checkpoint.h"
#include "audit/event_codec.h"
#include "audit/leaf_hash.h"
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
// already queued), the next leader waits briefly for the rest. The wait is
// bounded by half the last commit's duration (it is only worth it when a
// commit is expensive compared with the wait) and by max_commit_linger; it
// ends as soon as the expected writers are back, and a lone writer (one
// active writer) is never delayed.
constexpr std::chrono::microseconds kMinLinger{20};

}  // namespace

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lk(impl_->queue_mu);
    impl_->stopping = true;
  }
  impl_->queue_cv.notify_all();
  impl_->linger_cv.notify_all();
  impl_->stop_cv.notify_all();
  if (impl_->background.joinable()) impl_->background.join();
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
  impl->background = std::thread([p] { p->BackgroundLoop(); });
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
    t.edge.AppendLeaf(t.frontier, audit_internal::LeafHash(event), tiles);
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
  audit_internal::Waiter waiter;
  XGW_CHECK(impl_->Submit(std::span<const AuditEvent>(&event, 1), pending, waiter, true));
  return std::move(pending.front().result);
}

Result<void> AuditLog::AppendAll(std::span<const AuditEvent> events) {
  std::vector<Pending> pending(events.size());
  audit_internal::Waiter waiter;
  XGW_CHECK(impl_->Submit(events, pending, waiter, true));
  for (auto& p : pending) XGW_CHECK(p.result.map([](uint64_t) {}));
  return {};
}

struct AuditLog::Ticket::State {
  AuditLog::Impl* impl = nullptr;
  std::vector<Pending> pending;  // never resized once queued: leaders hold pointers
  audit_internal::Waiter waiter;
  bool waited = false;
};

AuditLog::Ticket::Ticket(std::unique_ptr<State> state) : state_(std::move(state)) {}

AuditLog::Ticket::~Ticket() {
  if (state_ && !state_->waited) state_->impl->WaitOrLead(state_->waiter);
}

Result<void> AuditLog::Ticket::Wait() {
  state_->impl->WaitOrLead(state_->waiter);
  state_->waited = true;
  for (auto& p : state_->pending) XGW_CHECK(p.result.map([](uint64_t) {}));
  return {};
}

Result<std::unique_ptr<AuditLog::Ticket>> AuditLog::Queue(std::span<const AuditEvent> events) {
  auto state = std::make_unique<Ticket::State>();
  state->impl = impl_.get();
  state->pending.resize(events.size());
  XGW_CHECK(impl_->Submit(events, state->pending, state->waiter, false));
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

// Leader/follower group commit. There is no committer thread in the
// durable path: an appender that finds no commit running becomes the leader
// and commits everything queued (at most max_batch) in its own thread; the
// appenders that queue meanwhile sleep, each on its own futex word, and the
// leader wakes exactly the ones whose events it committed, plus the owner
// of the next queued event, who leads the next batch. A lone writer thus
// commits without any hand-off (the committer thread cost two wake-ups per
// append), and 16 writers wake once per append instead of on a broadcast.
// A ticket's events (Queue) are committed by the background thread unless
// a waiting thread leads first, so Queue still returns at once.
//
// Serialising, the stored form and the leaf hash are computed here, in the
// appender's thread, before queueing: the leader's serial section only
// writes rows and tiles.
Result<void> AuditLog::Impl::Submit(std::span<const AuditEvent> events, std::vector<Pending>& pending,
                                    audit_internal::Waiter& waiter, bool wait) {
  for (size_t i = 0; i < events.size(); ++i) {
    Pending& p = pending[i];
    const AuditEvent& event = events[i];
    XGW_TRY(p.bytes, ToCanonicalJson(event));
    p.stored = EncodeStoredEvent(p.bytes);
    p.leaf = audit_internal::LeafHash(p.bytes);
    p.index.time_ms = event.time_ms;
    p.index.keys = audit_internal::KeysOf(event);
    p.waiter = &waiter;
  }
  bool was_broken = false;
  {
    std::lock_guard lk(queue_mu);
    was_broken = broken;
  }
  if (was_broken) TryRecover();
  {
    std::lock_guard lk(queue_mu);
    if (stopping) return Fail(ErrorCode::kIo, "audit log is closing; the action must not proceed");
    if (broken) {
      return Fail(ErrorCode::kIo, "audit log had a failed commit and refuses appends until a "
                                  "durable write succeeds again");
    }
    waiter.remaining = pending.size();
    waiter.attached = wait;
    if (pending.empty()) return {};
    for (auto& p : pending) queue.push_back(&p);
    if (lingering_for > 0 && queue.size() >= lingering_for) linger_cv.notify_one();
    // Nobody may wait for a ticket soon: the background thread leads.
    if (!wait && !leading) queue_cv.notify_one();
  }
  if (wait) WaitOrLead(waiter);
  return {};
}

void AuditLog::Impl::WaitOrLead(audit_internal::Waiter& waiter) {
  std::unique_lock lk(queue_mu);
  waiter.attached = true;
  for (;;) {
    if (waiter.remaining == 0) break;
    if (!leading && !queue.empty()) {
      Lead(lk);
      continue;
    }
    waiter.sleeping = true;
    const uint32_t seen = waiter.signal.load(std::memory_order_acquire);
    lk.unlock();
    waiter.signal.wait(seen, std::memory_order_acquire);
    lk.lock();
    waiter.sleeping = false;
  }
  waiter.attached = false;
  lk.unlock();
  // A leader that chose to wake this waiter may still be about to touch it
  // (a few instructions after the futex wake-up that got us here).
  for (int spins = 0; waiter.wakers.load(std::memory_order_acquire) != 0; ++spins) {
#if defined(__x86_64__) || defined(__i386__)
    if (spins < 256) {
      __builtin_ia32_pause();
      continue;
    }
#endif
    std::this_thread::yield();
  }
}

void AuditLog::Impl::Lead(std::unique_lock<std::mutex>& lk) {
  leading = true;
  // Group-commit linger (see kMinLinger): wait briefly for the writers the
  // last commit released, so that this batch is full.
  const size_t want = std::min(active_writers, options.max_batch);
  if (!stopping && queue.size() < want && options.max_commit_linger.count() > 0) {
    const auto linger = std::min(std::max(last_commit / 2, kMinLinger), options.max_commit_linger);
    lingering_for = want;
    linger_cv.wait_for(lk, linger, [&] { return stopping || queue.size() >= want; });
    lingering_for = 0;
  }
  while (!queue.empty() && leader_batch.size() < options.max_batch) {
    leader_batch.push_back(queue.front());
    queue.pop_front();
  }
  lk.unlock();

  audit_internal::TreeState t;
  {
    std::lock_guard sl(state_mu);
    t = tree;
  }
  const uint64_t first = t.frontier.size();
  Result<void> r;
  size_t unindexed_now = 0;
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::lock_guard wl(write_mu);
    r = CommitBatch(leader_batch, t);
    if (r) {
      for (size_t i = 0; i < leader_batch.size(); ++i) {
        leader_batch[i]->index.index = first + i;
        unindexed.push_back(std::move(leader_batch[i]->index));
      }
      if (unindexed.size() >= kIndexBatch) (void)IndexPending();
    }
    unindexed_now = unindexed.size();
  }
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  if (r) {
    std::lock_guard sl(state_mu);
    tree = std::move(t);
    ++stats.commits;
    stats.events += leader_batch.size();
  }

  lk.lock();
  last_commit = took;
  const bool index_grew = unindexed_count == 0 && unindexed_now > 0;
  unindexed_count = unindexed_now;
  ++commit_seq;
  active_writers = leader_batch.size() + queue.size();
  std::vector<audit_internal::Waiter*> wake;
  for (size_t i = 0; i < leader_batch.size(); ++i) {
    Pending& p = *leader_batch[i];
    if (r) {
      p.result = first + i;
    } else {
      p.result = Fail(r.error().code, "audit event not recorded: " + r.error().message);
    }
    p.done = true;
    if (--p.waiter->remaining == 0 && p.waiter->sleeping) wake.push_back(p.waiter);
  }
  leader_batch.clear();
  leading = false;
  // Hand the lead to the owner of the next event: wake it if it sleeps; a
  // running owner finds the lead free itself; a ticket nobody waits for goes
  // to the background thread (as does closing, and a new index backlog).
  bool wake_background = stopping || index_grew;
  if (!queue.empty()) {
    audit_internal::Waiter* next = queue.front()->waiter;
    if (next->sleeping) {
      wake.push_back(next);
    } else if (!next->attached) {
      wake_background = true;
    }
  }
  if (wake_background) queue_cv.notify_one();
  for (audit_internal::Waiter* w : wake) w->wakers.fetch_add(1, std::memory_order_relaxed);
  lk.unlock();
  // Woken after unlocking, so that they do not block on queue_mu at once.
  for (audit_internal::Waiter* w : wake) {
    w->signal.fetch_add(1, std::memory_order_release);
    w->signal.notify_one();
    w->wakers.fetch_sub(1, std::memory_order_release);
  }
  lk.lock();
}

// The query index is written when appends pause for kIndexIdle (and at
// close); queued tickets nobody waits for are committed here.
void AuditLog::Impl::BackgroundLoop() {
  std::unique_lock lk(queue_mu);
  // Something to lead: closing, or a ticket whose owner does not wait yet.
  const auto ready = [&] {
    return !leading && !queue.empty() && (stopping || !queue.front()->waiter->attached);
  };
  for (;;) {
    if (ready()) {
      Lead(lk);
      continue;
    }
    if (stopping && !leading && queue.empty()) break;
    const auto wake = [&] { return ready() || (stopping && !leading); };
    if (unindexed_count == 0) {
      queue_cv.wait(lk, [&] { return wake() || unindexed_count > 0; });
      continue;
    }
    const uint64_t seq = commit_seq;
    if (queue_cv.wait_for(lk, kIndexIdle, wake) || commit_seq != seq || leading || stopping) continue;
    lk.unlock();
    {
      std::lock_guard wl(write_mu);
      (void)IndexPending();  // on failure, retried later and at open
      const size_t n = unindexed.size();
      lk.lock();
      unindexed_count = n;
    }
  }
  lk.unlock();
  std::lock_guard wl(write_mu);
  (void)IndexPending();
}

Result<void> AuditLog::Impl::CommitBatch(std::vector<Pending*>& batch, TreeState& t) {
  const uint64_t first = t.frontier.size();
  std::vector<AuditLeaf> leaves;
  std::vector<AuditTile> tiles;
  leaves.reserve(batch.size());
  for (Pending* p : batch) {
    leaves.push_back(AuditLeaf{p->stored});
    t.edge.AppendLeaf(t.frontier, p->leaf, tiles);
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
