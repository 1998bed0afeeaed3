#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway/database.h"
#include "gateway/group_commit.h"
#include "tests/gateway/temp_dir.h"

namespace fs = std::filesystem;
using namespace xgw;
using xgw::test::TempDir;

namespace {

int64_t CountRows(Database& db) {
  auto st = db.Prepare("SELECT COUNT(*) FROM t");
  REQUIRE(st);
  REQUIRE(st->Step());
  return st->Int(0);
}

}  // namespace

TEST_CASE("ConcurrentJobsEachRunOnceAndShareFlushes") {
  std::atomic<int> flushes{0};
  std::atomic<int> ran{0};
  GroupCommit gc([&](std::vector<GroupCommit::Job*>& batch) {
    ++flushes;
    for (auto* j : batch) j->result = (*j->work)();
    // A slow sync: callers arriving meanwhile must queue for the next batch.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  });
  constexpr int kThreads = 8, kJobsEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kJobsEach; ++i) {
        std::function<Result<void>()> work = [&]() -> Result<void> {
          ++ran;
          return {};
        };
        if (!gc.Run(work)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(ran == kThreads * kJobsEach);
  CHECK(gc.jobs() == kThreads * kJobsEach);
  CHECK(gc.batches() == static_cast<uint64_t>(flushes.load()));
  // Eight callers against a 2 ms sync: batches hold several jobs each.
  CHECK(gc.batches() < gc.jobs() / 2);
}

TEST_CASE("AFailingJobIsRolledBackAloneAndItsNeighboursCommit") {
  TempDir dir;
  auto db = Database::Open(dir.path + "/t.db");
  REQUIRE(db);
  REQUIRE(db->Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"));
  std::mutex mu;
  auto sqlite = SqliteTransactionFlush(*db, mu);
  GroupCommit gc(sqlite);
  auto insert = [&](const std::string& k, bool fail_after) {
    return std::function<Result<void>()>([&, k, fail_after]() -> Result<void> {
      XGW_TRY(auto st, db->Prepare("INSERT INTO t(k, v) VALUES (?, 1)"));
      st.Bind(1, k);
      XGW_CHECK(st.Run());
      if (fail_after) return Fail(ErrorCode::kConflict, "job refuses after writing");
      return {};
    });
  };
  const auto a = insert("a", false), b = insert("b", true), c = insert("c", false);
  // Three jobs in one batch (Flush is called directly, as a leader would).
  GroupCommit::Job ja, jb, jc;
  ja.work = &a;
  jb.work = &b;
  jc.work = &c;
  std::vector<GroupCommit::Job*> batch{&ja, &jb, &jc};
  sqlite(batch);
  CHECK(ja.result);
  CHECK_FALSE(jb.result);
  CHECK(jc.result);
  CHECK(CountRows(*db) == 2);
  // Through Run as well: a failed job reports its own error.
  const auto dup = insert("a", false);
  auto r = gc.Run(dup);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kConflict);
  CHECK(CountRows(*db) == 2);
  CHECK(gc.Run(insert("d", false)));
  CHECK(CountRows(*db) == 3);
}

TEST_CASE("ADirectorySyncThatFailsFailsTheBatchWithoutRunningItsWork") {
  TempDir dir;
  std::atomic<int> ran{0};
  GroupCommit gc(SyncThenFlush(dir.path + "/missing", [&](std::vector<GroupCommit::Job*>& batch) {
    for (auto* j : batch) j->result = (*j->work)();
    ++ran;
  }));
  const std::function<Result<void>()> work = []() -> Result<void> { return {}; };
  auto r = gc.Run(work);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("missing") != std::string::npos);
  CHECK(ran == 0);
  GroupCommit ok(SyncThenFlush(dir.path, [&](std::vector<GroupCommit::Job*>& batch) {
    for (auto* j : batch) j->result = (*j->work)();
    ++ran;
  }));
  CHECK(ok.Run(work));
  CHECK(ran == 1);
}

TEST_CASE("ADirectoryChangeIsCoveredOnlyByAnFsyncThatBeganAfterIt") {
  int syncs = 0;
  DirectorySync* self = nullptr;
  DirectorySync::Ticket during = 0;
  DirectorySync ds([&]() -> Result<void> {
    // A change made while this fsync runs is not covered by it.
    if (++syncs == 1) during = self->Changed();
    return {};
  });
  self = &ds;
  const auto first = ds.Changed();
  REQUIRE(ds.SyncedPast(first));
  CHECK(syncs == 1);
  // Already covered: no new fsync.
  CHECK(ds.SyncedPast(first));
  CHECK(syncs == 1);
  REQUIRE(during > first);
  CHECK(ds.SyncedPast(during));
  CHECK(syncs == 2);
  CHECK(ds.syncs() == 2);
}

TEST_CASE("AFailedDirectoryFsyncIsReportedAndTheNextOneCoversTheChange") {
  bool fail = true;
  DirectorySync ds([&]() -> Result<void> {
    if (fail) return Fail(ErrorCode::kIo, "fsync blobs: Input/output error");
    return {};
  });
  const auto t = ds.Changed();
  auto r = ds.SyncedPast(t);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("Input/output error") != std::string::npos);
  fail = false;
  CHECK(ds.SyncedPast(t));
  CHECK(ds.syncs() == 2);
}

TEST_CASE("ConcurrentDirectoryChangesShareFsyncsAndEachWaitsForOneThatCoversIt") {
  // `made` counts changes; each fsync notes how many were made when it began
  // and, once done, publishes that as covered.
  std::atomic<uint64_t> made{0}, covered{0};
  DirectorySync ds([&]() -> Result<void> {
    const uint64_t at_start = made.load();
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    covered.store(std::max(covered.load(), at_start));
    return {};
  });
  constexpr int kThreads = 8, kChangesEach = 40;
  std::atomic<int> uncovered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kChangesEach; ++i) {
        // Counted before the ticket: an fsync that covers the ticket began
        // after it, so it saw this change counted.
        const uint64_t mine = ++made;
        const auto ticket = ds.Changed();
        std::this_thread::sleep_for(std::chrono::microseconds(100));  // the caller's own fdatasync
        if (!ds.SyncedPast(ticket) || covered.load() < mine) ++uncovered;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(uncovered == 0);
  CHECK(ds.syncs() < static_cast<uint64_t>(kThreads * kChangesEach));
}
