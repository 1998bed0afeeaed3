// A thin, move-only wrapper over one SQLite connection. Every value reaches
// SQL through bound parameters; there is no string-formatting API.
//
// Thread safety: none. IdentityStore (and later stores) serialise access
// with their own mutex.
#ifndef XGW_GATEWAY_DATABASE_H_
#define XGW_GATEWAY_DATABASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace xgw {

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
  struct Deleter {
    void operator()(sqlite3_stmt* s) const;
  };
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
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

  // Runs SQL without parameters (schema, pragmas, BEGIN/COMMIT).
  Result<void> Exec(const std::string& sql);
  Result<Statement> Prepare(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;

 private:
  struct Deleter {
    void operator()(sqlite3* db) const;
  };
  explicit Database(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Deleter> db_;
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

}  // namespace xgw

#endif  // XGW_GATEWAY_DATABASE_H_
