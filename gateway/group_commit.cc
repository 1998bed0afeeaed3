#include "gateway/group_commit.h"

#include <algorithm>
#include <exception>

#include "crypto/io.h"
#include "gateway/database.h"

namespace xgw {

Result<void> GroupCommit::Run(const std::function<Result<void>()>& work) {
  Job job;
  job.work = &work;
  std::unique_lock lock(mu_);
  queue_.push_back(&job);
  while (!job.done) {
    if (flushing_) {
      cv_.wait(lock);
      continue;
    }
    // Leader: flush everything queued so far (this job included).
    flushing_ = true;
    std::vector<Job*> batch;
    batch.swap(queue_);
    lock.unlock();
    try {
      flush_(batch);
    } catch (const std::exception&) {
      // Never leave followers waiting for a leader that is gone.
      for (Job* j : batch) j->result = Fail(ErrorCode::kInternal, "group commit failed");
    }
    lock.lock();
    for (Job* j : batch) j->done = true;
    ++batches_;
    jobs_ += batch.size();
    flushing_ = false;
    cv_.notify_all();
  }
  return std::move(job.result);
}

uint64_t GroupCommit::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

uint64_t GroupCommit::jobs() const {
  std::lock_guard lock(mu_);
  return jobs_;
}

GroupCommit::Flush SyncThenFlush(std::string dir, GroupCommit::Flush then) {
  return [dir = std::move(dir), then = std::move(then)](std::vector<GroupCommit::Job*>& batch) {
    if (auto synced = SyncDirectory(dir); !synced) {
      for (GroupCommit::Job* j : batch) j->result = tl::unexpected(synced.error());
      return;
    }
    then(batch);
  };
}

GroupCommit::Flush SqliteTransactionFlush(Database& db, std::mutex& db_mu) {
  return [&db, &db_mu](std::vector<GroupCommit::Job*>& batch) {
    std::lock_guard lock(db_mu);
    auto fail_all = [&batch](const Error& e) {
      for (GroupCommit::Job* j : batch) j->result = tl::unexpected(e);
    };
    auto tx = Transaction::Begin(db);
    if (!tx) return fail_all(tx.error());
    for (GroupCommit::Job* j : batch) {
      // A savepoint per job: one job's failure must not undo its neighbours.
      if (auto s = db.Run("SAVEPOINT job"); !s) return fail_all(s.error());
      j->result = (*j->work)();
      if (!j->result) {
        if (auto r = db.Run("ROLLBACK TO job"); !r) return fail_all(r.error());
      }
      if (auto r = db.Run("RELEASE job"); !r) return fail_all(r.error());
    }
    if (auto c = tx->Commit(); !c) fail_all(c.error());
  };
}

DirectorySync DirectorySync::For(std::string dir) {
  return DirectorySync([dir = std::move(dir)] { return SyncDirectory(dir); });
}

DirectorySync::Ticket DirectorySync::Changed() {
  std::lock_guard lock(mu_);
  return ++changes_;
}

Result<void> DirectorySync::SyncedPast(Ticket ticket) {
  std::unique_lock lock(mu_);
  while (synced_ < ticket) {
    if (syncing_) {
      cv_.wait(lock);
      continue;
    }
    // Leader: this fsync covers every change ticketed so far.
    syncing_ = true;
    const Ticket covers = changes_;
    lock.unlock();
    Result<void> r = Fail(ErrorCode::kInternal, "directory sync failed");
    try {
      r = sync_();
    } catch (const std::exception&) {
    }
    lock.lock();
    syncing_ = false;
    ++syncs_;
    if (r) synced_ = std::max(synced_, covers);
    cv_.notify_all();
    // A failed fsync says nothing about the entries: its leader reports it;
    // the waiters try again with a fsync of their own.
    if (!r) return r;
  }
  return {};
}

uint64_t DirectorySync::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

}  // namespace xgw
