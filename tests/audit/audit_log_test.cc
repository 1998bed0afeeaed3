// The durable log: appends, group commit, proofs, checkpoints, queries and
// deletion receipts, on real SQLite files.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <set>
#include <thread>

#include "crypto/signed_note.h"
#include "audit/audit_log.h"
#include "audit/checkpoint.h"
#include "audit/verify.h"
#include "tests/audit/audit_test_util.h"

using namespace xgw;
using namespace xgw::testing;

namespace {

std::string Vkey() { return FormatVerifierKey(kOrigin, FixedKey()->public_key()); }

std::unique_ptr<AuditLog> OpenLog(const std::string& path, AuditLogOptions o = Options()) {
  auto log = AuditLog::Open(path, std::move(o));
  REQUIRE(log);
  return std::move(*log);
}

int ExecRaw(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return rc;
}

Checkpoint Body(const std::string& note) {
  return *ParseCheckpoint(note.substr(0, note.rfind("\n\n") + 1));
}

}  // namespace

TEST_CASE("AppendReturnsConsecutiveIndicesAndSurvivesReopen") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  TreeHead head;
  {
    auto log = OpenLog(path);
    for (int i = 0; i < 10; ++i) CHECK(*log->Append(UserEvent(i)) == static_cast<uint64_t>(i));
    head = log->Head();
    CHECK(head.size == 10);
  }
  auto log = OpenLog(path);
  CHECK(log->Head().size == 10);
  CHECK(log->Head().root == head.root);
  CHECK(*log->Append(UserEvent(10)) == 10);
  auto rec = log->Get(3);
  REQUIRE(rec);
  CHECK(rec->event == *ToCanonicalJson(UserEvent(3)));
  CHECK(rec->leaf_hash == MerkleLeafHash(rec->event));
}

TEST_CASE("InvalidEventIsRefusedAndNotRecorded") {
  TempDir dir;
  auto log = OpenLog(dir.File("audit.db"));
  AuditEvent e = UserEvent(1);
  e.reason = "free text";
  CHECK(log->Append(e).error().code == ErrorCode::kInvalidArgument);
  CHECK(log->Head().size == 0);
}

TEST_CASE("AppendAllRecordsEveryEventInOrderUsuallyInOneCommit") {
  TempDir dir;
  auto log = OpenLog(dir.File("audit.db"));
  REQUIRE(log->Append(UserEvent(0)));
  const uint64_t commits_before = log->Stats().commits;
  const std::vector<AuditEvent> events = {UserEvent(1), UserEvent(2), UserEvent(3)};
  REQUIRE(log->AppendAll(events));
  CHECK(log->Head().size == 4);
  for (uint64_t i = 1; i <= 3; ++i) {
    auto rec = log->Get(i);
    REQUIRE(rec);
    CHECK(rec->event == *ToCanonicalJson(events[i - 1]));
  }
  CHECK(log->Stats().commits == commits_before + 1);  // alone, the three share one commit
  // One invalid event: nothing of the call is queued.
  AuditEvent bad = UserEvent(5);
  bad.reason = "free text";
  const std::vector<AuditEvent> mixed = {UserEvent(4), bad};
  CHECK(log->AppendAll(mixed).error().code == ErrorCode::kInvalidArgument);
  CHECK(log->Head().size == 4);
}

TEST_CASE("QueuedEventsAreRecordedByWaitOrByTheTicketsEnd") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  {
    auto log = OpenLog(path);
    const std::vector<AuditEvent> first = {UserEvent(0), UserEvent(1)};
    auto ticket = log->Queue(first);
    REQUIRE(ticket);
    REQUIRE((*ticket)->Wait());
    CHECK(log->Head().size == 2);
    const std::vector<AuditEvent> second = {UserEvent(2)};
    auto unwaited = log->Queue(second);
    REQUIRE(unwaited);
    unwaited->reset();  // its destructor waits: the event is recorded before it returns
    CHECK(log->Head().size == 3);
    AuditEvent bad = UserEvent(3);
    bad.reason = "free text";
    const std::vector<AuditEvent> invalid = {bad};
    CHECK(log->Queue(invalid).error().code == ErrorCode::kInvalidArgument);
  }
  auto log = OpenLog(path);
  CHECK(log->Head().size == 3);
  auto rec = log->Get(2);
  REQUIRE(rec);
  CHECK(rec->event == *ToCanonicalJson(UserEvent(2)));
}

TEST_CASE("ConcurrentAppendsGetDistinctIndicesAndAllAreDurable") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  constexpr int kThreads = 16, kEach = 50;
  std::vector<std::vector<uint64_t>> got(kThreads);
  {
    auto log = OpenLog(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          auto r = log->Append(UserEvent(t * 1000 + i));
          if (r) got[static_cast<size_t>(t)].push_back(*r);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::set<uint64_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  CHECK(all.size() == kThreads * kEach);
  CHECK(*all.rbegin() == kThreads * kEach - 1);
  auto log = OpenLog(path);
  REQUIRE(log->SignCheckpoint());
  auto report = VerifyLog(path, {}, Vkey());
  REQUIRE(report);
  CHECK(report->events == kThreads * kEach);
}

TEST_CASE("EachConcurrentAppenderGetsTheIndexOfItsOwnEventEvenWhenWritersComeAndGo") {
  // Group commit wakes each appender individually and lingers for writers
  // that re-append; writers here stop at different times, so the committer
  // must neither hand out another writer's index nor wait for absent ones.
  TempDir dir;
  const std::string path = dir.File("audit.db");
  constexpr int kThreads = 24;
  std::vector<std::vector<std::pair<uint64_t, int>>> got(kThreads);  // index, event number
  {
    auto log = OpenLog(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 1 + t * 3; ++i) {
          const int n = t * 1000 + i;
          auto r = log->Append(UserEvent(n));
          if (r) got[static_cast<size_t>(t)].emplace_back(*r, n);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  auto log = OpenLog(path);
  std::set<uint64_t> seen;
  size_t total = 0;
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(got[static_cast<size_t>(t)].size() == static_cast<size_t>(1 + t * 3));
    for (const auto& [index, n] : got[static_cast<size_t>(t)]) {
      ++total;
      CHECK(seen.insert(index).second);
      auto rec = log->Get(index);
      REQUIRE(rec);
      CHECK(rec->event == *ToCanonicalJson(UserEvent(n)));
    }
  }
  CHECK(log->Head().size == total);
  CHECK(*seen.rbegin() == total - 1);
}

TEST_CASE("ProofsFromTheStoreVerifyAgainstSignedCheckpoints") {
  TempDir dir;
  auto log = OpenLog(dir.File("audit.db"));
  for (int i = 0; i < 37; ++i) REQUIRE(log->Append(UserEvent(i)));
  auto cp1 = log->SignCheckpoint();
  REQUIRE(cp1);
  for (int i = 37; i < 100; ++i) REQUIRE(log->Append(UserEvent(i)));
  auto cp2 = log->SignCheckpoint();
  REQUIRE(cp2);
  CHECK(Body(*cp2).size == 100);
  CHECK(*log->LatestCheckpoint() == *cp2);
  for (uint64_t i : {0u, 1u, 36u, 50u, 99u}) {
    auto proof = log->InclusionProof(i, 100);
    REQUIRE(proof);
    CHECK(VerifyInclusion(log->Get(i)->event, i, *proof, *cp2, Vkey()));
    CHECK_FALSE(VerifyInclusion(log->Get((i + 1) % 100)->event, i, *proof, *cp2, Vkey()));
  }
  auto cproof = log->ConsistencyProof(37, 100);
  REQUIRE(cproof);
  CHECK(VerifyConsistency(*cp1, *cp2, *cproof, Vkey()));
  CHECK_FALSE(VerifyConsistency(*cp2, *cp1, *cproof, Vkey()));
  const std::string other = FormatVerifierKey(kOrigin, FixedKey(7)->public_key());
  CHECK(VerifyConsistency(*cp1, *cp2, *cproof, other).error().code == ErrorCode::kSignature);
  CHECK(log->InclusionProof(5, 101).error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("SigningTwiceWithoutGrowthReturnsTheSameCheckpoint") {
  TempDir dir;
  auto log = OpenLog(dir.File("audit.db"));
  REQUIRE(log->Append(UserEvent(1)));
  auto a = log->SignCheckpoint();
  auto b = log->SignCheckpoint();
  REQUIRE(a);
  CHECK(*a == *b);
}

TEST_CASE("LogWithoutKeyCannotSign") {
  TempDir dir;
  AuditLogOptions o = Options();
  o.signing_key.reset();
  auto log = OpenLog(dir.File("audit.db"), o);
  REQUIRE(log->Append(UserEvent(1)));
  CHECK(log->SignCheckpoint().error().code == ErrorCode::kKey);
  CHECK(log->LatestCheckpoint().error().code == ErrorCode::kNotFound);
}

TEST_CASE("BackgroundThreadSignsCheckpointsAtTheInterval") {
  TempDir dir;
  AuditLogOptions o = Options();
  o.checkpoint_interval = std::chrono::milliseconds(20);
  auto log = OpenLog(dir.File("audit.db"), o);
  REQUIRE(log->Append(UserEvent(1)));
  Result<std::string> cp = Fail(ErrorCode::kNotFound, "");
  for (int i = 0; i < 200 && !cp; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    cp = log->LatestCheckpoint();
  }
  REQUIRE(cp);
  CHECK(Body(*cp).size == 1);
}

TEST_CASE("ReopeningWithAnotherOriginFails") {
  TempDir dir;
  { OpenLog(dir.File("audit.db")); }
  AuditLogOptions o = Options();
  o.origin = "other.log";
  CHECK(AuditLog::Open(dir.File("audit.db"), o).error().code == ErrorCode::kConflict);
}

TEST_CASE("TriggersRefuseUpdateAndDeleteOutsideTheApi") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  {
    auto log = OpenLog(path);
    for (int i = 0; i < 17; ++i) REQUIRE(log->Append(UserEvent(i)));  // one full tile
    REQUIRE(log->SignCheckpoint());
  }
  CHECK(ExecRaw(path, "UPDATE events SET event = 'x'") != SQLITE_OK);
  CHECK(ExecRaw(path, "DELETE FROM events") != SQLITE_OK);
  CHECK(ExecRaw(path, "DELETE FROM checkpoints") != SQLITE_OK);
  CHECK(ExecRaw(path, "UPDATE tiles SET hashes = x'00'") != SQLITE_OK);
  CHECK(ExecRaw(path, "DELETE FROM tiles") != SQLITE_OK);
  CHECK(VerifyLog(path, {}, Vkey()));
}

TEST_CASE("OpenRefusesALogThatContradictsItsLatestCheckpoint") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  {
    auto log = OpenLog(path);
    for (int i = 0; i < 20; ++i) REQUIRE(log->Append(UserEvent(i)));
    REQUIRE(log->SignCheckpoint());
  }
  // O(log n) check at open: the stored tiles must lead to the latest
  // checkpoint's root (full recomputation is VerifyLog's job). Two leaf
  // hashes of the tile swapped:
  REQUIRE(ExecRaw(path, "DROP TRIGGER tiles_no_update; UPDATE tiles SET hashes = "
                        "substr(hashes, 33, 32) || substr(hashes, 1, 32) || substr(hashes, 65) "
                        "WHERE level = 0 AND idx = 0") == SQLITE_OK);
  CHECK(AuditLog::Open(path, Options()).error().code == ErrorCode::kCorrupt);
}

TEST_CASE("QueriesFilterByEveryDimensionAndPageByIndex") {
  TempDir dir;
  auto log = OpenLog(dir.File("audit.db"));
  for (int i = 0; i < 60; ++i) {
    REQUIRE(log->Append(UserEvent(i, i % 2 ? AuditAction::kExchangeDownloaded
                                           : AuditAction::kExchangeUploaded)));
  }
  AuditQuery q;
  q.exchange_id = "x-3";  // i = 3, 13, ..., 53
  auto page = log->Query(q);
  REQUIRE(page);
  CHECK(page->records.size() == 6);
  CHECK(page->records[0].index == 3);
  CHECK(!page->next);

  AuditQuery by_user;
  by_user.user = "u-2";  // i % 7 == 2
  CHECK(log->Query(by_user)->records.size() == 9);
  AuditQuery by_org;
  by_org.organisation = "org-thuispunt";
  by_org.limit = 25;
  auto p1 = log->Query(by_org);
  REQUIRE(p1);
  CHECK(p1->records.size() == 25);
  REQUIRE(p1->next);
  by_org.after = p1->next;
  auto p2 = log->Query(by_org);
  CHECK(p2->records.front().index == 25);
  AuditQuery actor_org;
  actor_org.organisation = "org-1";
  CHECK(log->Query(actor_org)->records.size() == 20);
  AuditQuery by_protocol;
  by_protocol.protocol_id = "2024_VB_00591";
  by_protocol.limit = 5000;  // capped
  CHECK(log->Query(by_protocol)->records.size() == 60);
  AuditQuery by_action;
  by_action.action = AuditAction::kExchangeUploaded;
  by_action.exchange_id = "x-4";
  CHECK(log->Query(by_action)->records.size() == 6);
  AuditQuery by_time;
  by_time.from_ms = 1727474399000 + 10;
  by_time.until_ms = 1727474399000 + 20;
  CHECK(log->Query(by_time)->records.size() == 10);
  by_time.action = AuditAction::kExchangeDownloaded;
  by_time.user = "u-4";  // i in [10,20), odd, i % 7 == 4 -> 11
  auto t = log->Query(by_time);
  REQUIRE(t->records.size() == 1);
  CHECK(t->records[0].index == 11);
}

TEST_CASE("QueryBeforeKeepsToATreeSizeAndRangeListsStoredRowsWithTheirGaps") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  {
    auto log = OpenLog(path);
    for (int i = 0; i < 30; ++i) REQUIRE(log->Append(UserEvent(i)));
    AuditQuery q;
    q.organisation = "org-thuispunt";
    q.before = 12;
    auto page = log->Query(q);
    REQUIRE(page);
    REQUIRE(page->records.size() == 12);
    CHECK(page->records.back().index == 11);
    CHECK(!page->next);
    auto range = log->Range(10, 25, 100);
    REQUIRE(range);
    REQUIRE(range->size() == 15);
    for (size_t i = 0; i < range->size(); ++i) {
      CHECK((*range)[i].index == 10 + i);
      CHECK(MerkleLeafHash((*range)[i].event) == (*range)[i].leaf_hash);
    }
    CHECK(log->Range(28, 40, 100)->size() == 2);
    CHECK(log->Range(0, 30, 4)->size() == 4);
    CHECK(log->Range(5, 5, 4)->empty());
  }
  // A row removed behind the log's back is absent from Range, not an error.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DROP TRIGGER events_no_delete; DELETE FROM events WHERE idx = 15", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto log = OpenLog(path);
  auto range = log->Range(14, 17, 100);
  REQUIRE(range);
  REQUIRE(range->size() == 2);
  CHECK((*range)[0].index == 14);
  CHECK((*range)[1].index == 16);
}

TEST_CASE("DeletionReceiptVerifiesOfflineWithOnlyTheVerifierKey") {
  TempDir dir;
  auto log = OpenLog(dir.File("audit.db"));
  for (int i = 0; i < 20; ++i) REQUIRE(log->Append(UserEvent(i)));
  REQUIRE(log->Append(DeletionEvent("x-7", 1727560800000)));
  for (int i = 20; i < 25; ++i) REQUIRE(log->Append(UserEvent(i)));
  auto receipt = log->DeletionReceipt("x-7");
  REQUIRE(receipt);
  const std::string text = receipt->dump();
  auto info = VerifyDeletionReceipt(text, Vkey());
  REQUIRE(info);
  CHECK(info->event.exchange_id == "x-7");
  CHECK(info->index == 20);
  CHECK(info->tree_size == 26);

  nlohmann::json forged = *receipt;
  forged["event"] = *ToCanonicalJson(DeletionEvent("x-8", 1727560800000));
  CHECK_FALSE(VerifyDeletionReceipt(forged.dump(), Vkey()));
  forged = *receipt;
  forged["index"] = 19;
  CHECK_FALSE(VerifyDeletionReceipt(forged.dump(), Vkey()));
  CHECK_FALSE(VerifyDeletionReceipt(text, FormatVerifierKey(kOrigin, FixedKey(3)->public_key())));
  CHECK(log->DeletionReceipt("x-1").error().code == ErrorCode::kNotFound);
}
