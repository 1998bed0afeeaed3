// Single sign-on in the embedded store: the subject registered per person
// (table of migration 10, "sso-identities"), kept as a hash. Shares
// sqlite_identity_store.cc's connection and lock.
#include "gateway/sqlite_identity_store.h"

namespace xgw {

Result<void> SqliteIdentityStore::SetSsoSubject(const std::string& user_id, const std::string& subject_hash,
                                                int64_t now, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto user, GetUserLocked(user_id));
  XGW_TRY(auto taken, db_.Prepare("SELECT user_id FROM sso_identities WHERE org_id = ? AND subject_hash = ?"));
  taken.Bind(1, user.org_id).Bind(2, subject_hash);
  XGW_TRY(bool row, taken.Step());
  if (row && taken.Text(0) != user_id) {
    return Fail(ErrorCode::kConflict, "subject: another user of this organisation is registered with it");
  }
  XGW_TRY(auto st, db_.Prepare("INSERT INTO sso_identities(user_id, org_id, subject_hash, updated_at) "
                               "VALUES (?,?,?,?) ON CONFLICT(user_id) DO UPDATE SET "
                               "org_id = excluded.org_id, subject_hash = excluded.subject_hash, "
                               "updated_at = excluded.updated_at"));
  st.Bind(1, user_id).Bind(2, user.org_id).Bind(3, subject_hash).Bind(4, now);
  XGW_CHECK(st.Run());
  return Commit(tx, before_commit);
}

Result<void> SqliteIdentityStore::DeleteSsoSubject(const std::string& user_id, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto st, db_.Prepare("DELETE FROM sso_identities WHERE user_id = ?"));
  st.Bind(1, user_id);
  XGW_CHECK(st.Run());
  if (db_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no single sign-on subject is registered for this user");
  return Commit(tx, before_commit);
}

Result<std::optional<int64_t>> SqliteIdentityStore::SsoSubjectUpdatedAt(const std::string& user_id) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT updated_at FROM sso_identities WHERE user_id = ?"));
  st.Bind(1, user_id);
  XGW_TRY(bool row, st.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(st.Int(0));
}

Result<SsoUser> SqliteIdentityStore::UserForSsoSubject(const std::string& org_id, const std::string& subject_hash) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT u.id, u.org_id, u.disabled_at IS NOT NULL FROM sso_identities s "
                               "JOIN users u ON u.id = s.user_id "
                               "WHERE s.org_id = ? AND s.subject_hash = ? AND u.org_id = s.org_id"));
  st.Bind(1, org_id).Bind(2, subject_hash);
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no user is registered with this single sign-on subject");
  return SsoUser{st.Text(0), st.Text(1), st.Int(2) != 0};
}

}  // namespace xgw
