// A thin, move-only wrapper over one SQLite connection. Every value reaches
// SQL through bound parameters; there is no string-formatting API.
//
// Thread safety: none. IdentityStore (and later stores) serialise access
// with their own mutex.
#ifndef XGW_GATEWAY_DATABASE_H_
#define XGW_GATEWAY_DATABASE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace xgw {

class StatementCache;

class Statement {
 public:
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  ~Statement() = default;

  // Parameters are numbered from 1, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, const std::string& value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, const std::optional<std::string>& value);
  Statement& Bind(int index, const std::optional<int64_t>& value);
  Statement& BindNull(int index);

  // Advances: true if a row is available, false when done.
  Result<bool> Step();
  // Steps until done (for INSERT/UPDATE/DELETE); fails on a constraint violation
  // with kConflict.
  Result<void> Run();
  // Steps until done and returns the first column of every row as text.
  Result<std::vector<std::string>> TextColumn();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::optional<std::string> OptText(int column) const;
  std::optional<int64_t> OptInt(int column) const;

 private:
  friend class Database;
  // Hands the statement back to its connection's cache (reset, bindings
  // cleared) or, without one, finalizes it.
  struct Deleter {
    std::shared_ptr<StatementCache> cache;
    std::string sql;
    void operator()(sqlite3_stmt* s) const;
  };
  Statement(sqlite3* db, sqlite3_stmt* stmt, Deleter deleter) : db_(db), stmt_(stmt, std::move(deleter)) {}
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Deleter> stmt_;
  Error bind_error_{ErrorCode::kInternal, ""};
  bool bind_failed_ = false;
};

class Database {
 public:
  // Opens (creating if needed, mode 0600) a database in WAL mode with foreign
  // keys on and a busy timeout.
  static Result<Database> Open(const std::string& path);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database() = default;

  // Runs SQL without parameters (schema, pragmas, several statements).
  Result<void> Exec(const std::string& sql);
  // A statement for `sql`, reused from an earlier Prepare of the same text
  // when one is free (preparing costs more than most of the gateway's
  // queries); handed back when the Statement is destroyed.
  Result<Statement> Prepare(std::string_view sql);
  // Runs one statement without parameters (BEGIN, COMMIT, SAVEPOINT ...)
  // through Prepare, so that it is parsed once per connection.
  Result<void> Run(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;

 private:
  struct Deleter {
    void operator()(sqlite3* db) const;
  };
  explicit Database(sqlite3* db);
  std::unique_ptr<sqlite3, Deleter> db_;
  // Declared after db_: destroyed first, so its statements are finalized
  // before the connection closes.
  std::shared_ptr<StatementCache> cache_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless committed.
class Transaction {
 public:
  static Result<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_), done_(other.done_) {
    other.done_ = true;
  }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> Commit();

 private:
  explicit Transaction(Database& db) : db_(&db) {}
  Database* db_;
  bool done_ = false;
};

// Read-only connections to one database (query_only, small page cache),
// lent one at a time. The writer connection's mutex is held across a group
// commit, fsync included; reads that only decide (which protocol, how many
// transfers) run on a pool connection instead and do not wait for it: in
// WAL mode a reader sees the last committed state while a writer commits.
// Each lease is one read transaction, so every statement of it sees the same
// snapshot.
//
// Thread safety: Read may be called from any number of threads; a caller
// waits while every connection is lent.
class ReadPool {
 public:
  // `size` connections to the existing database at `path` (its writer must
  // have created it and set WAL mode).
  static Result<std::unique_ptr<ReadPool>> Open(const std::string& path, size_t size);

  // Runs f(Database&) inside BEGIN ... COMMIT on a free connection and
  // returns its result (a Result<T>).
  template <typename F>
  auto Read(F&& f) -> decltype(f(std::declval<Database&>())) {
    Lease lease(*this);
    XGW_CHECK(lease.db().Run("BEGIN"));
    auto r = f(lease.db());
    // COMMIT of a read transaction only ends the snapshot; if it fails the
    // connection must not keep the snapshot open.
    if (!lease.db().Run("COMMIT")) (void)lease.db().Run("ROLLBACK");
    return r;
  }

 private:
  class Lease {
   public:
    explicit Lease(ReadPool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Database& db() { return *db_; }

   private:
    ReadPool& pool_;
    Database* db_;
  };
  ReadPool() = default;

  std::vector<Database> connections_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Database*> free_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_DATABASE_H_
