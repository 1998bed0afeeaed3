// Key custody in the embedded store: the history of people's public keys and
// the passphrase-wrapped identity files they keep on the gateway (tables of
// migration 8, "key-custody"). Shares sqlite_identity_store.cc's connection
// and lock. The gateway holds no key it can use: a backup is accepted only if
// it is wrapped with a passphrase (CheckPassphraseWrapped).
#include "crypto/keyfile.h"
#include "gateway/sqlite_identity_store.h"

namespace xgw {

Result<std::vector<KeyHistoryEntry>> SqliteIdentityStore::KeyHistory(const std::string& user_id) {
  std::lock_guard lock(mu_);
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  XGW_TRY(auto st, db_.Prepare("SELECT age_recipient, ed25519_verify_key, valid_from FROM user_key_history "
                               "WHERE user_id = ? ORDER BY seq"));
  st.Bind(1, user_id);
  std::vector<KeyHistoryEntry> out;
  for (;;) {
    XGW_TRY(bool row, st.Step());
    if (!row) break;
    if (!out.empty()) out.back().until = st.Int(2);
    out.push_back({st.Text(0), st.Text(1), st.Int(2), std::nullopt});
  }
  return out;
}

Result<KeyBackup> SqliteIdentityStore::PutKeyBackup(const std::string& user_id, const std::string& file,
                                                    int64_t now, const BeforeCommit& before_commit) {
  XGW_CHECK(age::CheckPassphraseWrapped(file));
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  XGW_TRY(auto st, db_.Prepare("INSERT INTO key_backups(user_id, file, updated_at) VALUES (?,?,?) "
                               "ON CONFLICT(user_id) DO UPDATE SET file = excluded.file, "
                               "updated_at = excluded.updated_at"));
  st.Bind(1, user_id).Bind(2, file).Bind(3, now);
  XGW_CHECK(st.Run());
  XGW_CHECK(Commit(tx, before_commit));
  return KeyBackup{file, now};
}

Result<KeyBackup> SqliteIdentityStore::GetKeyBackup(const std::string& user_id) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT file, updated_at FROM key_backups WHERE user_id = ?"));
  st.Bind(1, user_id);
  XGW_TRY(bool row, st.Step());
  if (!row) {
    return Fail(ErrorCode::kNotFound,
                "no key backup is kept for this user (store one with `xgw key backup`)");
  }
  return KeyBackup{st.Text(0), st.Int(1)};
}

Result<void> SqliteIdentityStore::DeleteKeyBackup(const std::string& user_id, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto st, db_.Prepare("DELETE FROM key_backups WHERE user_id = ?"));
  st.Bind(1, user_id);
  XGW_CHECK(st.Run());
  if (db_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no key backup is kept for this user");
  return Commit(tx, before_commit);
}

}  // namespace xgw
