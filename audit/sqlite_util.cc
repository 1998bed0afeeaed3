#include "audit/sqlite_util.h"

namespace xgw::audit_internal {

Result<void> Db::Open(const std::string& path, int flags) {
  Close();
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
    Error e = Err("open audit log " + path);
    Close();
    return tl::unexpected(e);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 10000);
  return {};
}

void Db::Close() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Result<void> Db::Exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return tl::unexpected(Err("sqlite"));
  return {};
}

Error Db::Err(std::string_view what) const {
  return Error{ErrorCode::kIo, std::string(what) + ": " +
                                   (db_ ? sqlite3_errmsg(db_) : "cannot allocate sqlite handle")};
}

Result<void> Stmt::Prepare(const Db& db, std::string_view sql) {
  db_ = &db;
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
  if (sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
    return tl::unexpected(db.Err("prepare audit statement"));
  }
  return {};
}

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return tl::unexpected(db_->Err("audit log statement"));
}

std::string Stmt::Text(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

Result<MerkleHash> Stmt::Hash(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  auto h = HashFromBytes(std::span<const uint8_t>(static_cast<const uint8_t*>(p), static_cast<size_t>(n)));
  if (!h) return Fail(ErrorCode::kCorrupt, "audit log holds a hash that is not 32 bytes");
  return h;
}

}  // namespace xgw::audit_internal
