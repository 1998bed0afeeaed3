#include "gateway/database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <vector>

#include "crypto/io.h"

namespace xgw {
namespace {

Error SqlError(sqlite3* db, std::string_view what) {
  // SQLite messages name tables and constraints, never bound values.
  return Error{ErrorCode::kIo, std::string("sqlite ") + std::string(what) + ": " +
                                   (db ? sqlite3_errmsg(db) : "out of memory") + " (code " +
                                   std::to_string(db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM) + ")"};
}

}  // namespace

// Free prepared statements of one connection, by SQL text. Its own mutex:
// statements may be handed back after the owner's lock is released.
class StatementCache {
 public:
  static constexpr size_t kPerSql = 4;  // concurrent uses of one text kept

  ~StatementCache() {
    for (auto& [sql, list] : free_) {
      for (sqlite3_stmt* s : list) sqlite3_finalize(s);
    }
  }
  sqlite3_stmt* Take(std::string_view sql) {
    std::lock_guard lock(mu_);
    auto it = free_.find(sql);
    if (it == free_.end() || it->second.empty()) return nullptr;
    sqlite3_stmt* s = it->second.back();
    it->second.pop_back();
    return s;
  }
  void Give(const std::string& sql, sqlite3_stmt* s) {
    // reset ends the statement's read (no snapshot stays open in the cache).
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    std::lock_guard lock(mu_);
    auto& list = free_[sql];
    if (list.size() < kPerSql) {
      list.push_back(s);
      return;
    }
    sqlite3_finalize(s);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<sqlite3_stmt*>, std::less<>> free_;
};

void Statement::Deleter::operator()(sqlite3_stmt* s) const {
  if (cache) {
    cache->Give(sql, s);
  } else {
    sqlite3_finalize(s);
  }
}
void Database::Deleter::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

Database::Database(sqlite3* db) : db_(db), cache_(std::make_shared<StatementCache>()) {}

Statement& Statement::Bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_.get(), index, value) != SQLITE_OK && !bind_failed_) {
    bind_failed_ = true;
    bind_error_ = SqlError(db_, "bind");
  }
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  if (sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                          SQLITE_UTF8) != SQLITE_OK &&
      !bind_failed_) {
    bind_failed_ = true;
    bind_error_ = SqlError(db_, "bind");
  }
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::string>& value) {
  return value ? Bind(index, std::string_view(*value)) : BindNull(index);
}

Statement& Statement::Bind(int index, const std::optional<int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_failed_) return tl::unexpected<Error>(bind_error_);
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return Fail(ErrorCode::kConflict, std::string("constraint: ") + sqlite3_errmsg(db_));
  }
  return tl::unexpected<Error>(SqlError(db_, "step"));
}

Result<void> Statement::Run() {
  while (true) {
    XGW_TRY(bool row, Step());
    if (!row) return {};
  }
}

Result<std::vector<std::string>> Statement::TextColumn() {
  std::vector<std::string> out;
  while (true) {
    XGW_TRY(bool row, Step());
    if (!row) return out;
    out.push_back(Text(0));
  }
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }

std::string Statement::Text(int column) const {
  const unsigned char* t = sqlite3_column_text(stmt_.get(), column);
  const int n = sqlite3_column_bytes(stmt_.get(), column);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : std::string();
}

std::optional<std::string> Statement::OptText(int column) const {
  if (sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL) return std::nullopt;
  return Text(column);
}

std::optional<int64_t> Statement::OptInt(int column) const {
  if (sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL) return std::nullopt;
  return Int(column);
}

Result<Database> Database::Open(const std::string& path) {
  // Create a new database file 0600 ourselves (SQLite would honour the umask
  // only; its -wal and -shm files copy the database file's mode). Never open
  // and close an existing one: closing any descriptor of a file drops every
  // POSIX lock this process holds on it, SQLite's included, and without them
  // another process closing its connection deletes the WAL we still write to.
  if (struct stat st{}; ::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return tl::unexpected<Error>(IoError("stat", path, errno));
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return tl::unexpected<Error>(IoError("open", path, errno));
    if (fd >= 0) ::close(fd);  // ours alone: no lock of anyone's on it yet
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) return tl::unexpected<Error>(SqlError(raw, "open"));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  XGW_CHECK(db.Exec("PRAGMA journal_mode=WAL"));
  XGW_CHECK(db.Exec("PRAGMA synchronous=FULL"));
  XGW_CHECK(db.Exec("PRAGMA foreign_keys=ON"));
  XGW_CHECK(db.Exec("PRAGMA secure_delete=ON"));
  return db;
}

Result<std::unique_ptr<ReadPool>> ReadPool::Open(const std::string& path, size_t size) {
  std::unique_ptr<ReadPool> pool(new ReadPool);
  pool->connections_.reserve(size);
  for (size_t i = 0; i < size; ++i) {
    XGW_TRY(Database db, Database::Open(path));
    XGW_CHECK(db.Exec("PRAGMA query_only=1"));
    XGW_CHECK(db.Exec("PRAGMA cache_size=-512"));  // KiB: the hot pages of a decision
    pool->connections_.push_back(std::move(db));
  }
  for (Database& db : pool->connections_) pool->free_.push_back(&db);
  return pool;
}

ReadPool::Lease::Lease(ReadPool& pool) : pool_(pool) {
  std::unique_lock lock(pool_.mu_);
  pool_.freed_.wait(lock, [this] { return !pool_.free_.empty(); });
  db_ = pool_.free_.back();
  pool_.free_.pop_back();
}

ReadPool::Lease::~Lease() {
  {
    std::lock_guard lock(pool_.mu_);
    pool_.free_.push_back(db_);
  }
  pool_.freed_.notify_one();
}

Result<void> Database::Exec(const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return Fail(ErrorCode::kIo, "sqlite exec: " + text);
  }
  return {};
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = cache_->Take(sql);
  if (stmt == nullptr &&
      sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK) {
    return tl::unexpected<Error>(SqlError(db_.get(), "prepare"));
  }
  return Statement(db_.get(), stmt, Statement::Deleter{cache_, std::string(sql)});
}

Result<void> Database::Run(std::string_view sql) {
  XGW_TRY(Statement st, Prepare(sql));
  return st.Run();
}

int64_t Database::Changes() const { return sqlite3_changes64(db_.get()); }

Result<Transaction> Transaction::Begin(Database& db) {
  XGW_CHECK(db.Run("BEGIN IMMEDIATE"));
  return Transaction(db);
}

Transaction::~Transaction() {
  if (!done_) (void)db_->Run("ROLLBACK");
}

Result<void> Transaction::Commit() {
  XGW_CHECK(db_->Run("COMMIT"));
  done_ = true;
  return {};
}

}  // namespace xgw
