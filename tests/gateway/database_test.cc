#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gateway/database.h"
#include "tests/gateway/temp_dir.h"

using namespace xgw;
using xgw::test::TempDir;

namespace {

Database OpenDb(const TempDir& dir) {
  auto db = Database::Open(dir.path + "/t.db");
  REQUIRE(db);
  return std::move(*db);
}

}  // namespace

TEST_CASE("PreparedStatementsAreReusedWithFreshBindings") {
  TempDir dir;
  Database db = OpenDb(dir);
  REQUIRE(db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"));
  const std::string insert = "INSERT INTO t(k, v) VALUES (?, ?)";
  for (int i = 1; i <= 3; ++i) {
    auto st = db.Prepare(insert);
    REQUIRE(st);
    st->Bind(1, int64_t{i});
    if (i != 2) st->Bind(2, "v" + std::to_string(i));  // row 2: parameter 2 left unbound
    REQUIRE(st->Run());
  }
  // A reused statement does not keep the previous call's bindings.
  auto rows = db.Prepare("SELECT k || ':' || COALESCE(v, 'null') FROM t ORDER BY k");
  REQUIRE(rows);
  CHECK(*rows->TextColumn() == std::vector<std::string>{"1:v1", "2:null", "3:v3"});
}

TEST_CASE("TwoLiveStatementsOfTheSameTextAreIndependent") {
  TempDir dir;
  Database db = OpenDb(dir);
  REQUIRE(db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);"));
  const std::string sql = "SELECT k FROM t WHERE k >= ? ORDER BY k";
  auto a = db.Prepare(sql);
  auto b = db.Prepare(sql);
  REQUIRE(a);
  REQUIRE(b);
  a->Bind(1, int64_t{1});
  b->Bind(1, int64_t{3});
  REQUIRE(*a->Step());
  REQUIRE(*b->Step());
  CHECK(a->Int(0) == 1);
  CHECK(b->Int(0) == 3);
  REQUIRE(*a->Step());
  CHECK(a->Int(0) == 2);
  CHECK_FALSE(*b->Step());
}

// A statement handed back mid-result must not keep its read snapshot open:
// a later write on the same connection, after another connection committed,
// would otherwise fail at once with SQLITE_BUSY_SNAPSHOT.
TEST_CASE("AStatementHandedBackMidResultReleasesItsRead") {
  TempDir dir;
  Database a = OpenDb(dir);
  REQUIRE(a.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);"));
  auto b = Database::Open(dir.path + "/t.db");
  REQUIRE(b);
  {
    auto st = a.Prepare("SELECT k FROM t ORDER BY k");
    REQUIRE(st);
    REQUIRE(*st->Step());  // a read is open on `a`
  }
  REQUIRE(b->Run("INSERT INTO t VALUES (3)"));
  auto tx = Transaction::Begin(a);
  REQUIRE(tx);
  REQUIRE(a.Run("INSERT INTO t VALUES (4)"));
  REQUIRE(tx->Commit());
  auto n = a.Prepare("SELECT COUNT(*) FROM t");
  REQUIRE(n);
  REQUIRE(*n->Step());
  CHECK(n->Int(0) == 4);
}

// Opening a second connection to a database this process already has open
// must not drop the first one's file locks (closing any descriptor of a file
// releases every POSIX lock the process holds on it). Without its shared
// lock, another process closing its own connection believes it is the last
// one, checkpoints and deletes the WAL file that this process still writes
// to: those commits then live only in an unlinked file.
TEST_CASE("ASecondConnectionKeepsTheFirstOnesWalAliveForOtherProcesses") {
  TempDir dir;
  const std::string path = dir.path + "/t.db";
  Database first = OpenDb(dir);
  REQUIRE(first.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY)"));
  Database second = OpenDb(dir);
  REQUIRE(second.Exec("INSERT INTO t(k) VALUES (1)"));
  REQUIRE(std::filesystem::exists(path + "-wal"));
  // Another process (an operator's sqlite3, a backup) opens and closes it:
  // a fresh program, since a forked child shares SQLite's idea of our locks.
  const std::string cli = "sqlite3 '" + path + "' 'SELECT COUNT(*) FROM t' > /dev/null";
  REQUIRE(std::system(cli.c_str()) == 0);
  CHECK(std::filesystem::exists(path + "-wal"));
  // What this process commits next is visible to a connection opened now.
  REQUIRE(first.Exec("INSERT INTO t(k) VALUES (2)"));
  Database third = OpenDb(dir);
  auto rows = third.Prepare("SELECT COUNT(*) FROM t");
  REQUIRE(rows);
  auto count = rows->TextColumn();
  REQUIRE(count);
  CHECK(*count == std::vector<std::string>{"2"});
}

namespace {

Result<int64_t> CountRowsOn(Database& c) {
  XGW_TRY(auto st, c.Prepare("SELECT COUNT(*) FROM t"));
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kInternal, "no row");
  return st.Int(0);
}

// A table t on a writer connection, and a pool of `size` readers of it.
struct PooledTable {
  explicit PooledTable(size_t size) {
    REQUIRE(writer.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY)"));
    auto p = ReadPool::Open(dir.path + "/t.db", size);
    REQUIRE(p);
    pool = std::move(*p);
  }
  Result<int64_t> Count() {
    return pool->Read([](Database& c) { return CountRowsOn(c); });
  }
  TempDir dir;
  Database writer = OpenDb(dir);
  std::unique_ptr<ReadPool> pool;
};

}  // namespace

TEST_CASE("APoolReadSeesTheLastCommitWithoutWaitingForAnOpenWriteTransaction") {
  PooledTable t(2);
  // The writer holds its write lock (as a group commit does across its fsync).
  auto tx = Transaction::Begin(t.writer);
  REQUIRE(tx);
  REQUIRE(t.writer.Run("INSERT INTO t(k) VALUES (1)"));
  const auto before = t.Count();
  REQUIRE(before);
  CHECK(*before == 0);
  REQUIRE(tx->Commit());
  const auto after = t.Count();
  REQUIRE(after);
  CHECK(*after == 1);
}

TEST_CASE("APoolConnectionRefusesWritesAndKeepsServingReads") {
  PooledTable t(1);
  const auto wrote = t.pool->Read([](Database& c) { return c.Run("INSERT INTO t(k) VALUES (1)"); });
  CHECK_FALSE(wrote);
  // The lease was handed back with its read ended: the same connection serves again.
  const auto n = t.Count();
  REQUIRE(n);
  CHECK(*n == 0);
}

TEST_CASE("ConcurrentPoolReadersShareFewerConnectionsThanThreads") {
  PooledTable t(2);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) {
        if (t.Count()) ++ok;
      }
    });
  }
  for (int64_t k = 1; k <= 50; ++k) {  // commits while the readers read
    auto ins = t.writer.Prepare("INSERT INTO t(k) VALUES (?)");
    REQUIRE(ins);
    ins->Bind(1, k);
    REQUIRE(ins->Run());
  }
  for (auto& th : threads) th.join();
  CHECK(ok == 300);
}
