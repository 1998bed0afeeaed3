// One file past ~800 lines on purpose, for now: the committer, its recovery
// after a failed commit, checkpoints and queries all work on AuditLog::Impl's
// private state (queue, frontier, connections). The split comes with the
// audit library's own folder and its storage interface (issue 16).
#include "audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "crypto/signed_note.h"
#include "audit/checkpoint.h"
#include "audit/fault_points.h"
#include "audit/sqlite_util.h"

namespace xgw {

using audit_internal::Db;
using audit_internal::Stmt;

namespace {

// Every table refuses UPDATE and DELETE through triggers: writers that go
// around this API (a script, a confused tool) cannot silently rewrite
// history. An attacker can drop the triggers, which is why VerifyLog trusts
// nothing in the file and checks against signed checkpoints.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  idx INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  event BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_action ON events(action, idx);
CREATE INDEX IF NOT EXISTS events_by_time ON events(time_ms);
CREATE TABLE IF NOT EXISTS event_keys(
  kind TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY(kind, key, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes(
  level INTEGER NOT NULL, pos INTEGER NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY(level, pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS keys_no_update BEFORE UPDATE ON event_keys
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS keys_no_delete BEFORE DELETE ON event_keys
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_update BEFORE UPDATE ON nodes
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_delete BEFORE DELETE ON nodes
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
)sql";

// Serves complete subtrees from the tables: leaves from events, interior
// nodes from nodes. One indexed look-up each.
class DbNodeSource final : public MerkleNodeSource {
 public:
  Result<void> Prepare(const Db& db) {
    XGW_CHECK(leaf_.Prepare(db, "SELECT leaf_hash FROM events WHERE idx = ?"));
    return node_.Prepare(db, "SELECT hash FROM nodes WHERE level = ? AND pos = ?");
  }
  Result<MerkleHash> CompleteSubtree(unsigned level, uint64_t position) override {
    Stmt& s = level == 0 ? leaf_ : node_;
    s.Reset();
    if (level == 0) {
      s.Bind(1, static_cast<int64_t>(position));
    } else {
      s.Bind(1, static_cast<int64_t>(level));
      s.Bind(2, static_cast<int64_t>(position));
    }
    XGW_TRY(bool row, s.Step());
    if (!row) return Fail(ErrorCode::kCorrupt, "audit log is missing a merkle node");
    auto h = s.Hash(0);
    s.Reset();
    return h;
  }

 private:
  Stmt leaf_, node_;
};

using Keys = std::vector<std::pair<char, std::string>>;

struct Pending {
  std::string bytes;
  int64_t time_ms = 0;
  std::string action;
  std::string outcome;
  Keys keys;
  bool done = false;
  Result<uint64_t> result = Fail(ErrorCode::kIo, "audit append did not run");
};

// The query keys of an event: exchange 'x', protocol 'p', organisation 'o',
// user 'u' (actor or acted upon).
Keys KeysOf(const AuditEvent& event) {
  Keys keys;
  if (!event.exchange_id.empty()) keys.emplace_back('x', event.exchange_id);
  if (!event.protocol_id.empty()) keys.emplace_back('p', event.protocol_id);
  for (auto& o : ConcernedOrganisations(event)) keys.emplace_back('o', std::move(o));
  if (event.actor.type == ActorType::kUser) keys.emplace_back('u', event.actor.id);
  if (!event.user_id.empty() && event.user_id != event.actor.id) keys.emplace_back('u', event.user_id);
  return keys;
}

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

std::string_view NoteBody(std::string_view note) {
  const size_t split = note.rfind("\n\n");
  return split == std::string_view::npos ? note : note.substr(0, split + 1);
}

// The audit log is as private as xgwd.db, whatever the umask: a new file is
// created 0600 before SQLite opens it (SQLite gives its -wal and -shm files
// the database file's mode), and an existing one, with its -wal and -shm,
// loses any group or other permission (chmod by path: opening and closing a
// descriptor here would drop SQLite's POSIX locks, see Database::Open).
Result<void> MakeAuditFilesPrivate(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Fail(ErrorCode::kIo, "stat " + path + ": " + std::strerror(errno));
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      return Fail(ErrorCode::kIo, "create " + path + ": " + std::strerror(errno));
    }
    if (fd >= 0) ::close(fd);  // ours alone: no lock of anyone's on it yet
    return {};
  }
  for (const std::string& p : {path, path + "-wal", path + "-shm"}) {
    if (::stat(p.c_str(), &st) != 0 || (st.st_mode & 077) == 0) continue;
    if (::chmod(p.c_str(), st.st_mode & 0700) != 0) {
      return Fail(ErrorCode::kIo, "chmod " + p + " (it is readable by others; make it 0600): " +
                                      std::strerror(errno));
    }
  }
  return {};
}

}  // namespace

struct AuditLog::Impl {
  AuditLogOptions options;
  std::optional<NoteVerifier> verifier;
  std::optional<NoteSigner> signer;

  Db writer;
  Stmt ins_event, ins_key, ins_node, ins_checkpoint, set_indexed, begin_stmt, commit_stmt;
  std::mutex write_mu;  // the writer connection and `unindexed`
  std::vector<std::pair<uint64_t, Keys>> unindexed;  // committed, not yet in event_keys

  Db reader;
  DbNodeSource reader_nodes;
  std::mutex read_mu;  // the reader connection

  std::mutex queue_mu;
  std::condition_variable queue_cv, done_cv;
  std::deque<Pending*> queue;
  bool stopping = false;
  bool broken = false;  // a commit failed with unknown outcome: refuse appends
  // When a broken log last tried to recover (Recover), under write_mu.
  std::chrono::steady_clock::time_point last_recovery{};
  size_t unindexed_count = 0;  // committer thread only
  size_t active_writers = 0;   // committer thread only: expected size of the next batch

  mutable std::mutex state_mu;
  MerkleFrontier frontier;  // committed state; written by the committer only
  AuditLogStats stats;      // under state_mu

  std::mutex sign_mu;
  std::condition_variable stop_cv;
  std::thread committer, checkpointer;

  void CommitLoop();
  Result<void> Enqueue(std::span<const AuditEvent> events, std::vector<Pending>& pending);
  void WaitFor(std::vector<Pending>& pending);
  Result<void> CommitBatch(std::vector<Pending*>& batch, MerkleFrontier& f);
  void CheckpointLoop();
  // REQUIRES: write_mu held.
  Result<void> IndexPending();
  // Re-derives the query keys of events committed after the last index
  // write. REQUIRES: write_mu held (or Open, before the threads start).
  Result<void> LoadUnindexed();
  // For a broken log, at most once per kRecoveryInterval: proves the disk
  // takes a durable write again, re-reads the committed tree (a failed COMMIT
  // may or may not have landed) and accepts appends again. Takes write_mu,
  // then queue_mu: REQUIRES neither held.
  void TryRecover();
  Result<void> CatchUpIndex() {
    std::lock_guard wl(write_mu);
    return IndexPending();
  }
  Result<std::optional<std::string>> LatestNote();
  Result<std::string> Sign();
};

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
  Db& w = impl->writer;
  XGW_CHECK(MakeAuditFilesPrivate(path));
  XGW_CHECK(w.Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX));
  XGW_CHECK(w.Exec("PRAGMA journal_mode=WAL"));
  // FULL: every commit fsyncs the WAL, so a returned Append is durable.
  XGW_CHECK(w.Exec("PRAGMA synchronous=FULL"));
  // Fewer, larger WAL checkpoints: each one stalls the committer for an fsync
  // of the main file. (A background checkpointer on its own connection was
  // tried and removed: under sustained appends a passive checkpoint never
  // completes, so it ran back to back, fsyncing the main file alongside
  // every commit's WAL fsync; see docs/audit-log.md.)
  XGW_CHECK(w.Exec("PRAGMA wal_autocheckpoint=8192"));
  XGW_CHECK(w.Exec("BEGIN IMMEDIATE"));
  if (auto r = w.Exec(kSchema); !r) {
    (void)w.Exec("ROLLBACK");
    return tl::unexpected(r.error());
  }
  {
    Stmt get;
    XGW_CHECK(get.Prepare(w, "SELECT value FROM meta WHERE key = 'origin'"));
    XGW_TRY(bool row, get.Step());
    if (row) {
      if (get.Text(0) != impl->options.origin) {
        (void)w.Exec("ROLLBACK");
        return Fail(ErrorCode::kConflict, "audit log " + path + " belongs to another origin");
      }
    } else {
      Stmt put;
      XGW_CHECK(put.Prepare(w, "INSERT INTO meta(key, value) VALUES ('origin', ?), ('schema', '1'), "
                               "('indexed_upto', '0')"));
      put.Bind(1, impl->options.origin);
      XGW_CHECK(put.Step());
    }
  }
  XGW_CHECK(w.Exec("COMMIT"));
  XGW_CHECK(impl->ins_event.Prepare(
      w, "INSERT INTO events(idx, time_ms, action, outcome, leaf_hash, event) VALUES (?,?,?,?,?,?)"));
  XGW_CHECK(impl->ins_key.Prepare(w, "INSERT INTO event_keys(kind, key, idx) VALUES (?,?,?)"));
  XGW_CHECK(impl->ins_node.Prepare(w, "INSERT INTO nodes(level, pos, hash) VALUES (?,?,?)"));
  XGW_CHECK(impl->ins_checkpoint.Prepare(w, "INSERT INTO checkpoints(size, note) VALUES (?,?)"));
  XGW_CHECK(impl->set_indexed.Prepare(w, "UPDATE meta SET value = ? WHERE key = 'indexed_upto'"));
  XGW_CHECK(impl->begin_stmt.Prepare(w, "BEGIN IMMEDIATE"));
  XGW_CHECK(impl->commit_stmt.Prepare(w, "COMMIT"));
  XGW_CHECK(impl->LoadUnindexed());
  XGW_CHECK(impl->IndexPending());

  XGW_CHECK(impl->reader.Open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX));
  XGW_CHECK(impl->reader_nodes.Prepare(impl->reader));
  uint64_t size = 0;
  {
    Stmt s;
    XGW_CHECK(s.Prepare(impl->reader, "SELECT COALESCE(MAX(idx) + 1, 0) FROM events"));
    XGW_CHECK(s.Step());
    size = static_cast<uint64_t>(s.Int(0));
  }
  XGW_TRY(impl->frontier, MerkleFrontier::Load(impl->reader_nodes, size));
  // Refuse to run on a log that contradicts its own latest checkpoint.
  XGW_TRY(auto latest, impl->LatestNote());
  if (latest) {
    XGW_TRY(Checkpoint cp, ParseCheckpoint(NoteBody(*latest)));
    if (impl->verifier) XGW_CHECK(OpenCheckpoint(*latest, *impl->verifier));
    if (cp.size > size) return Fail(ErrorCode::kCorrupt, "audit log is shorter than its latest checkpoint");
    XGW_TRY(MerkleHash root, MerkleRoot(impl->reader_nodes, cp.size));
    if (root != cp.root) return Fail(ErrorCode::kCorrupt, "audit log does not match its latest checkpoint");
  }
  Impl* p = impl.get();
  impl->committer = std::thread([p] { p->CommitLoop(); });
  if (impl->options.checkpoint_interval.count() > 0 && impl->signer) {
    impl->checkpointer = std::thread([p] { p->CheckpointLoop(); });
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
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

Result<void> AuditLog::Impl::LoadUnindexed() {
  unindexed.clear();
  Stmt s;
  XGW_CHECK(s.Prepare(writer, "SELECT idx, event FROM events WHERE idx >= "
                              "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_upto') ORDER BY idx"));
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) break;
    auto ev = ParseAuditEvent(s.Text(1));
    if (!ev) return Fail(ErrorCode::kCorrupt, "audit event " + std::to_string(s.Int(0)) + " does not parse");
    unindexed.emplace_back(static_cast<uint64_t>(s.Int(0)), KeysOf(*ev));
  }
  return {};
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
  auto recovered = [&]() -> Result<MerkleFrontier> {
    (void)writer.Exec("ROLLBACK");
    if (FaultPointActive("audit-commit")) return Fail(ErrorCode::kIo, "injected fault: audit commit");
    // A durable write of its own: the probe that the disk takes one again.
    XGW_CHECK(writer.Exec("BEGIN IMMEDIATE"));
    if (auto w = writer.Exec("INSERT OR REPLACE INTO meta(key, value) VALUES ('probe', '1')"); !w) {
      (void)writer.Exec("ROLLBACK");
      return tl::unexpected(w.error());
    }
    if (auto c = writer.Exec("COMMIT"); !c) {
      (void)writer.Exec("ROLLBACK");
      return tl::unexpected(c.error());
    }
    uint64_t size = 0;
    {
      Stmt st;
      XGW_CHECK(st.Prepare(writer, "SELECT COALESCE(MAX(idx) + 1, 0) FROM events"));
      XGW_CHECK(st.Step());
      size = static_cast<uint64_t>(st.Int(0));
    }
    MerkleFrontier f;
    {
      std::lock_guard rl(read_mu);
      XGW_TRY(f, MerkleFrontier::Load(reader_nodes, size));
    }
    XGW_CHECK(LoadUnindexed());
    return f;
  }();
  if (!recovered) {
    std::fprintf(stderr, "xgwd: audit log still failing, appends refused: %s\n",
                 ToString(recovered.error()).c_str());
    return;
  }
  {
    std::lock_guard lk(state_mu);
    frontier = std::move(*recovered);
  }
  std::lock_guard lk(queue_mu);
  broken = false;
  std::fprintf(stderr, "xgwd: audit log writable again; appends accepted\n");
}

// Validates and serialises one Pending per event and queues them for the
// committer (nothing is queued if one is invalid or the log refuses).
Result<void> AuditLog::Impl::Enqueue(std::span<const AuditEvent> events, std::vector<Pending>& pending) {
  for (size_t i = 0; i < events.size(); ++i) {
    Pending& p = pending[i];
    const AuditEvent& event = events[i];
    XGW_TRY(p.bytes, ToCanonicalJson(event));
    p.time_ms = event.time_ms;
    p.action = std::string(AuditActionName(event.action));
    p.outcome = std::string(AuditOutcomeName(event.outcome));
    p.keys = KeysOf(event);
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
    MerkleFrontier f;
    {
      std::lock_guard lk(state_mu);
      f = frontier;
    }
    const uint64_t first = f.size();
    Result<void> r;
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::lock_guard wl(write_mu);
      r = CommitBatch(batch, f);
      if (r) {
        for (size_t i = 0; i < batch.size(); ++i) unindexed.emplace_back(first + i, std::move(batch[i]->keys));
        if (unindexed.size() >= kIndexBatch) (void)IndexPending();
      }
      unindexed_count = unindexed.size();
    }
    last_commit = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    if (r) {
      std::lock_guard lk(state_mu);
      frontier = f;
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

Result<void> AuditLog::Impl::CommitBatch(std::vector<Pending*>& batch, MerkleFrontier& f) {
  begin_stmt.Reset();
  {
    auto b = begin_stmt.Step();
    begin_stmt.Reset();
    XGW_CHECK(b);
  }
  auto body = [&]() -> Result<void> {
    for (Pending* p : batch) {
      const int64_t idx = static_cast<int64_t>(f.size());
      const MerkleHash leaf = MerkleLeafHash(p->bytes);
      ins_event.Reset();
      ins_event.Bind(1, idx);
      ins_event.Bind(2, p->time_ms);
      ins_event.Bind(3, p->action);
      ins_event.Bind(4, p->outcome);
      ins_event.BindBlob(5, leaf);
      ins_event.BindBlob(6, std::span<const uint8_t>(
                                reinterpret_cast<const uint8_t*>(p->bytes.data()), p->bytes.size()));
      XGW_CHECK(ins_event.Step());
      Result<void> node_result;
      f.Append(leaf, [&](unsigned level, uint64_t pos, const MerkleHash& h) {
        if (!node_result) return;
        ins_node.Reset();
        ins_node.Bind(1, static_cast<int64_t>(level));
        ins_node.Bind(2, static_cast<int64_t>(pos));
        ins_node.BindBlob(3, h);
        auto s = ins_node.Step();
        if (!s) node_result = tl::unexpected(s.error());
      });
      XGW_CHECK(node_result);
    }
    return {};
  }();
  if (!body) {
    (void)writer.Exec("ROLLBACK");
    return body;
  }
  commit_stmt.Reset();
  Result<bool> c = FaultPointActive("audit-commit")
                       ? Result<bool>(Fail(ErrorCode::kIo, "injected fault: audit commit"))
                       : commit_stmt.Step();
  commit_stmt.Reset();
  if (!c) {
    // The outcome of a failed COMMIT (e.g. fsync error) is unknown; the
    // in-memory tree can no longer be trusted to match the file.
    (void)writer.Exec("ROLLBACK");
    std::lock_guard lk(queue_mu);
    broken = true;
    return tl::unexpected(c.error());
  }
  return {};
}

Result<void> AuditLog::Impl::IndexPending() {
  if (unindexed.empty()) return {};
  XGW_CHECK(writer.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Result<void> {
    for (const auto& [idx, keys] : unindexed) {
      for (const auto& [kind, key] : keys) {
        ins_key.Reset();
        ins_key.Bind(1, std::string_view(&kind, 1));
        ins_key.Bind(2, key);
        ins_key.Bind(3, static_cast<int64_t>(idx));
        XGW_CHECK(ins_key.Step());
      }
    }
    set_indexed.Reset();
    set_indexed.Bind(1, std::to_string(unindexed.back().first + 1));
    XGW_CHECK(set_indexed.Step());
    set_indexed.Reset();
    return {};
  }();
  if (!body || !writer.Exec("COMMIT")) {
    (void)writer.Exec("ROLLBACK");
    return body ? Fail(ErrorCode::kIo, "cannot commit the audit query index") : body;
  }
  unindexed.clear();
  return {};
}

TreeHead AuditLog::Head() const {
  std::lock_guard lk(impl_->state_mu);
  return TreeHead{impl_->frontier.size(), impl_->frontier.Root()};
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
  Stmt s;
  XGW_CHECK(s.Prepare(reader, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1"));
  XGW_TRY(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
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
  {
    std::lock_guard lk(state_mu);
    head = TreeHead{frontier.size(), frontier.Root()};
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
      XGW_TRY(proof, MerkleConsistencyProof(reader_nodes, last.size, head.size));
    }
    if (!VerifyMerkleConsistency(last.size, head.size, last.root, head.root, proof)) {
      return Fail(ErrorCode::kCorrupt, "audit log is not consistent with its last checkpoint; refusing to sign");
    }
  }
  Checkpoint cp{options.origin, head.size, head.root, {}};
  XGW_TRY(std::string note, ::xgw::SignCheckpoint(cp, *signer));
  std::lock_guard wl(write_mu);
  ins_checkpoint.Reset();
  ins_checkpoint.Bind(1, static_cast<int64_t>(head.size));
  ins_checkpoint.Bind(2, note);
  XGW_CHECK(ins_checkpoint.Step());
  ins_checkpoint.Reset();
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

Result<AuditRecord> AuditLog::Get(uint64_t index) {
  std::lock_guard lk(impl_->read_mu);
  Stmt s;
  XGW_CHECK(s.Prepare(impl_->reader, "SELECT event, leaf_hash FROM events WHERE idx = ?"));
  s.Bind(1, static_cast<int64_t>(index));
  XGW_TRY(bool row, s.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no audit event at index " + std::to_string(index));
  AuditRecord r;
  r.index = index;
  r.event = s.Text(0);
  XGW_TRY(r.leaf_hash, s.Hash(1));
  return r;
}

Result<std::vector<MerkleHash>> AuditLog::InclusionProof(uint64_t index, uint64_t tree_size) {
  if (tree_size > Head().size) return Fail(ErrorCode::kInvalidArgument, "tree size exceeds the log");
  std::lock_guard lk(impl_->read_mu);
  return MerkleInclusionProof(impl_->reader_nodes, index, tree_size);
}

Result<std::vector<MerkleHash>> AuditLog::ConsistencyProof(uint64_t old_size, uint64_t new_size) {
  if (new_size > Head().size) return Fail(ErrorCode::kInvalidArgument, "tree size exceeds the log");
  std::lock_guard lk(impl_->read_mu);
  return MerkleConsistencyProof(impl_->reader_nodes, old_size, new_size);
}

Result<AuditPage> AuditLog::Query(const AuditQuery& q) {
  const size_t limit = std::clamp<size_t>(q.limit, 1, kMaxAuditQueryLimit);
  std::vector<std::pair<char, std::string>> keys;
  if (q.exchange_id) keys.emplace_back('x', *q.exchange_id);
  if (q.protocol_id) keys.emplace_back('p', *q.protocol_id);
  if (q.organisation) keys.emplace_back('o', *q.organisation);
  if (q.user) keys.emplace_back('u', *q.user);
  // The most selective filter drives the scan through an index: a key of
  // event_keys if any (kind, key, idx is its primary key, so paging by idx
  // is an index range), otherwise events by action, otherwise by index.
  XGW_CHECK(impl_->CatchUpIndex());
  std::string sql;
  if (!keys.empty()) {
    sql = "SELECT e.idx, e.event, e.leaf_hash FROM event_keys k JOIN events e ON e.idx = k.idx "
          "WHERE k.kind = ?1 AND k.key = ?2 AND k.idx > ?3";
  } else {
    sql = "SELECT e.idx, e.event, e.leaf_hash FROM events e WHERE e.idx > ?3";
  }
  if (q.action) sql += " AND e.action = ?4";
  if (q.from_ms) sql += " AND e.time_ms >= ?5";
  if (q.until_ms) sql += " AND e.time_ms < ?6";
  if (q.before) sql += " AND e.idx < ?16";
  for (size_t i = 1; i < keys.size(); ++i) {
    const std::string a = std::to_string(7 + 2 * (i - 1)), b = std::to_string(8 + 2 * (i - 1));
    sql += " AND EXISTS (SELECT 1 FROM event_keys k" + a + " WHERE k" + a + ".kind = ?" + a +
           " AND k" + a + ".key = ?" + b + " AND k" + a + ".idx = e.idx)";
  }
  sql += keys.empty() ? " ORDER BY e.idx LIMIT ?15" : " ORDER BY k.idx LIMIT ?15";
  std::lock_guard lk(impl_->read_mu);
  Stmt s;
  XGW_CHECK(s.Prepare(impl_->reader, sql));
  if (!keys.empty()) {
    s.Bind(1, std::string_view(&keys[0].first, 1));
    s.Bind(2, keys[0].second);
  }
  s.Bind(3, q.after ? static_cast<int64_t>(*q.after) : int64_t{-1});
  if (q.action) s.Bind(4, AuditActionName(*q.action));
  if (q.from_ms) s.Bind(5, *q.from_ms);
  if (q.until_ms) s.Bind(6, *q.until_ms);
  for (size_t i = 1; i < keys.size(); ++i) {
    s.Bind(static_cast<int>(7 + 2 * (i - 1)), std::string_view(&keys[i].first, 1));
    s.Bind(static_cast<int>(8 + 2 * (i - 1)), keys[i].second);
  }
  s.Bind(15, static_cast<int64_t>(limit));
  if (q.before) s.Bind(16, static_cast<int64_t>(*q.before));
  AuditPage page;
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) break;
    AuditRecord r;
    r.index = static_cast<uint64_t>(s.Int(0));
    r.event = s.Text(1);
    XGW_TRY(r.leaf_hash, s.Hash(2));
    page.records.push_back(std::move(r));
  }
  if (page.records.size() == limit) page.next = page.records.back().index;
  return page;
}

Result<std::vector<AuditRecord>> AuditLog::Range(uint64_t first, uint64_t end, size_t limit) {
  std::vector<AuditRecord> out;
  if (first >= end || limit == 0) return out;
  std::lock_guard lk(impl_->read_mu);
  Stmt s;
  XGW_CHECK(s.Prepare(impl_->reader,
                      "SELECT idx, event, leaf_hash FROM events WHERE idx >= ?1 AND idx < ?2 ORDER BY idx LIMIT ?3"));
  s.Bind(1, static_cast<int64_t>(first));
  s.Bind(2, static_cast<int64_t>(end));
  s.Bind(3, static_cast<int64_t>(limit));
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) break;
    AuditRecord r;
    r.index = static_cast<uint64_t>(s.Int(0));
    r.event = s.Text(1);
    // A stored hash of the wrong length is the file's problem, not the
    // reader's: callers recompute leaves from the bytes.
    if (auto h = s.Hash(2)) r.leaf_hash = *h;
    out.push_back(std::move(r));
  }
  return out;
}

Result<nlohmann::json> AuditLog::DeletionReceipt(const std::string& exchange_id) {
  if (!IsSafeId(exchange_id)) return Fail(ErrorCode::kInvalidArgument, "exchange id is not a safe id");
  XGW_CHECK(impl_->CatchUpIndex());
  AuditRecord rec;
  {
    std::lock_guard lk(impl_->read_mu);
    Stmt s;
    XGW_CHECK(s.Prepare(impl_->reader,
                        "SELECT e.idx, e.event, e.leaf_hash FROM event_keys k JOIN events e ON e.idx = k.idx "
                        "WHERE k.kind = 'x' AND k.key = ?1 AND e.outcome = 'success' AND "
                        "e.action IN ('exchange.deleted_expiry', 'exchange.deleted') "
                        "ORDER BY k.idx DESC LIMIT 1"));
    s.Bind(1, exchange_id);
    XGW_TRY(bool row, s.Step());
    if (!row) return Fail(ErrorCode::kNotFound, "exchange " + exchange_id + " has no deletion event");
    rec.index = static_cast<uint64_t>(s.Int(0));
    rec.event = s.Text(1);
    XGW_TRY(rec.leaf_hash, s.Hash(2));
  }
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
