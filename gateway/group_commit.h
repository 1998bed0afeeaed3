// Group commit for the gateway's sync points.
//
// An upload is acknowledged only after its data reached the disk: the blob's
// directory entry (rename + directory fsync) and its SQLite row (WAL fsync).
// One fsync per upload, waited for in sequence, caps the gateway at about one
// upload per fsync latency whatever the number of clients. GroupCommit lets
// concurrent callers share one sync: every caller queues its job; one of them
// (the leader) takes everything queued and hands it to `flush` in one batch,
// which does the work of each job and then syncs once; the others wait for the
// batch that holds their job. Jobs queued while a flush runs form the next
// batch, so batches grow with the load and a lone caller is never delayed.
//
// Thread safety: Run may be called from any number of threads.
#ifndef XGW_GATEWAY_GROUP_COMMIT_H_
#define XGW_GATEWAY_GROUP_COMMIT_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/error.h"

namespace xgw {

class Database;

class GroupCommit {
 public:
  struct Job {
    const std::function<Result<void>()>* work = nullptr;
    Result<void> result;
    bool done = false;
  };
  // Runs every job's work, makes the batch durable and sets each job's
  // result. Called by one thread at a time.
  using Flush = std::function<void(std::vector<Job*>& batch)>;

  explicit GroupCommit(Flush flush) : flush_(std::move(flush)) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Returns once a flush that includes this job has finished: its work ran
  // and the sync that followed it succeeded (or the error of either).
  Result<void> Run(const std::function<Result<void>()>& work);

  uint64_t batches() const;
  uint64_t jobs() const;

 private:
  Flush flush_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job*> queue_;
  bool flushing_ = false;
  uint64_t batches_ = 0, jobs_ = 0;
};

// Flush that first fsyncs `dir`, then runs `then` on the same batch: callers
// that renamed a file into `dir` before queueing share one directory fsync
// that makes the new entries durable before their work runs. If the fsync
// fails, no job's work runs and every job fails.
GroupCommit::Flush SyncThenFlush(std::string dir, GroupCommit::Flush then);

// A GroupCommit whose batch is one SQLite transaction (BEGIN IMMEDIATE ...
// COMMIT, so one WAL fsync with synchronous=FULL) on `db`, taken under
// `db_mu` (the mutex that serialises every use of that connection). Each job
// runs inside its own SAVEPOINT: a job that fails is rolled back alone and the
// others still commit. If COMMIT fails, every job of the batch fails.
GroupCommit::Flush SqliteTransactionFlush(Database& db, std::mutex& db_mu);

// Shared fsyncs of one directory, for callers that each changed an entry in
// it (a rename) and must not go on before that entry is durable.
//
// A caller takes a ticket right after its change (Changed) and later waits
// (SyncedPast) for any fsync of the directory that began after that: one
// fsync covers every change made before it started, including those whose
// callers are still busy with other I/O. So a caller that renames, then
// fdatasyncs its file, then waits here usually finds its entry already
// synced by a neighbour's fsync that ran meanwhile, and a lone caller runs
// one itself. At most one fsync runs at a time; callers that need a newer
// one than the running one wait for it and then one of them starts it.
//
// Thread safety: any number of threads.
class DirectorySync {
 public:
  using SyncFn = std::function<Result<void>()>;
  explicit DirectorySync(SyncFn sync) : sync_(std::move(sync)) {}
  static DirectorySync For(std::string dir);
  DirectorySync(const DirectorySync&) = delete;
  DirectorySync& operator=(const DirectorySync&) = delete;
  DirectorySync(DirectorySync&& other) noexcept : sync_(std::move(other.sync_)) {}

  using Ticket = uint64_t;
  // Call after changing an entry of the directory.
  Ticket Changed();
  // Returns once an fsync that began after Changed() returned `ticket` has
  // succeeded, or the error of the fsync that was to cover it.
  Result<void> SyncedPast(Ticket ticket);

  uint64_t syncs() const;  // fsyncs run so far (for tests)

 private:
  SyncFn sync_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Ticket changes_ = 0;  // tickets handed out
  Ticket synced_ = 0;   // every ticket <= synced_ is durable
  bool syncing_ = false;
  uint64_t syncs_ = 0;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_GROUP_COMMIT_H_
