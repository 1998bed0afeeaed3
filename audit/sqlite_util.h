// Internal to xgw_audit: a thin RAII layer over the SQLite C API.
#ifndef XGW_GATEWAY_AUDIT_SQLITE_UTIL_H_
#define XGW_GATEWAY_AUDIT_SQLITE_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "crypto/error.h"
#include "crypto/merkle.h"

namespace xgw::audit_internal {

class Db {
 public:
  Db() = default;
  ~Db() { Close(); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  // flags: SQLITE_OPEN_* ; uri allowed.
  Result<void> Open(const std::string& path, int flags);
  void Close();
  sqlite3* get() const { return db_; }
  Result<void> Exec(const char* sql);
  Error Err(std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Result<void> Prepare(const Db& db, std::string_view sql);
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, std::span<const uint8_t> v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // true: a row is ready; false: done.
  Result<bool> Step();
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;
  // Valid until the next Step or Reset.
  std::string_view View(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  Result<MerkleHash> Hash(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  const Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace xgw::audit_internal

#endif  // XGW_GATEWAY_AUDIT_SQLITE_UTIL_H_
