// People's accounts and sessions in the embedded store: the tables of
// migration 7 ("accounts"). Kept apart from sqlite_identity_store.cc, whose
// connections and lock it shares. No secret reaches this file in the clear:
// it sees Argon2id hashes, SHA-256 hashes of one-time secrets and sealed
// TOTP secrets only.
#include <algorithm>

#include "gateway/sqlite_identity_store.h"

namespace xgw {
namespace {

// A session's last_seen_at is written at most this often (seconds): its
// idle expiry may come up to this much early, never late.
constexpr int64_t kLastSeenGranularity = 30;

constexpr const char* kAccountColumns =
    "SELECT a.user_id, u.org_id, a.signin_name, a.state, a.password_hash, a.totp_secret, a.totp_pending, "
    "a.totp_last_step, a.failures, a.last_failure_at, a.locked_at, u.disabled_at "
    "FROM accounts a JOIN users u ON u.id = a.user_id ";

Account ReadAccount(const Statement& st) {
  Account a;
  a.user_id = st.Text(0);
  a.org_id = st.Text(1);
  a.signin_name = st.Text(2);
  a.state = st.Text(3);
  a.password_hash = st.OptText(4).value_or("");
  a.totp_sealed = st.OptText(5).value_or("");
  a.totp_pending_sealed = st.OptText(6).value_or("");
  a.totp_last_step = st.Int(7);
  a.failures = st.Int(8);
  a.last_failure_at = st.Int(9);
  a.locked_at = st.OptInt(10);
  a.disabled_at = st.OptInt(11);
  return a;
}

// One statement whose parameters are all text.
Result<void> RunSql(Database& db, const char* sql, const std::vector<std::string>& text) {
  XGW_TRY(auto st, db.Prepare(sql));
  int i = 1;
  for (const auto& t : text) st.Bind(i++, t);
  return st.Run();
}

}  // namespace

Result<Account> SqliteIdentityStore::GetAccountLocked(const std::string& where, const std::string& key) {
  XGW_TRY(auto st, db_.Prepare(std::string(kAccountColumns) + where));
  st.Bind(1, key);
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no account for this user");
  return ReadAccount(st);
}

Result<Account> SqliteIdentityStore::GetAccount(const std::string& user_id) {
  std::lock_guard lock(mu_);
  return GetAccountLocked("WHERE a.user_id = ?", user_id);
}

Result<Account> SqliteIdentityStore::GetAccountByName(const std::string& signin_name) {
  std::lock_guard lock(mu_);
  return GetAccountLocked("WHERE a.signin_name = ? COLLATE NOCASE", signin_name);
}

Result<void> SqliteIdentityStore::Invite(const std::string& user_id, const std::string& signin_name,
                                         const std::string& invitation_id, const std::string& code_hash, int64_t now,
                                         int64_t expires_at, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  auto existing = GetAccountLocked("WHERE a.user_id = ?", user_id);
  if (existing && existing->state == "active") {
    return Fail(ErrorCode::kConflict,
                "this user has an active account; reset its MFA first (POST /api/v1/users/{user}/mfa-reset)");
  }
  {
    XGW_TRY(auto st, db_.Prepare("SELECT user_id FROM accounts WHERE signin_name = ? COLLATE NOCASE"));
    st.Bind(1, signin_name);
    XGW_TRY(bool row, st.Step());
    if (row && st.Text(0) != user_id) {
      return Fail(ErrorCode::kConflict, "signin_name: another account has this sign-in name");
    }
  }
  XGW_TRY(auto up, db_.Prepare(
                       "INSERT INTO accounts(user_id, signin_name, state, updated_at) VALUES (?,?,'invited',?) "
                       "ON CONFLICT(user_id) DO UPDATE SET signin_name = excluded.signin_name, state = 'invited', "
                       "password_hash = NULL, totp_secret = NULL, totp_pending = NULL, failures = 0, "
                       "locked_at = NULL, updated_at = excluded.updated_at"));
  up.Bind(1, user_id).Bind(2, signin_name).Bind(3, now);
  XGW_CHECK(up.Run());
  XGW_TRY(auto old, db_.Prepare(
                        "UPDATE invitations SET revoked_at = ? WHERE user_id = ? AND used_at IS NULL "
                        "AND revoked_at IS NULL"));
  old.Bind(1, now).Bind(2, user_id);
  XGW_CHECK(old.Run());
  XGW_TRY(auto ins, db_.Prepare(
                        "INSERT INTO invitations(id, user_id, code_hash, created_at, expires_at) VALUES (?,?,?,?,?)"));
  ins.Bind(1, invitation_id).Bind(2, user_id).Bind(3, code_hash).Bind(4, now).Bind(5, expires_at);
  XGW_CHECK(ins.Run());
  return Commit(tx, before_commit);
}

Result<Account> SqliteIdentityStore::AccountForInvitation(const std::string& code_hash, int64_t now) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(
                       "SELECT user_id FROM invitations WHERE code_hash = ? AND used_at IS NULL AND "
                       "revoked_at IS NULL AND expires_at > ?"));
  st.Bind(1, code_hash).Bind(2, now);
  XGW_TRY(bool row, st.Step());
  if (!row) {
    return Fail(ErrorCode::kUnauthenticated,
                "the invitation code is unknown, used or expired; ask an operator for a new invitation");
  }
  const std::string user_id = st.Text(0);
  XGW_TRY(auto account, GetAccountLocked("WHERE a.user_id = ?", user_id));
  if (account.disabled_at) {
    return Fail(ErrorCode::kUnauthenticated,
                "the invitation code is unknown, used or expired; ask an operator for a new invitation");
  }
  return account;
}

Result<void> SqliteIdentityStore::SetPendingEnrolment(const std::string& user_id, const std::string& password_hash,
                                                      const std::string& totp_pending_sealed, int64_t now) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(
                       "UPDATE accounts SET password_hash = ?, totp_pending = ?, updated_at = ? "
                       "WHERE user_id = ? AND state = 'invited'"));
  st.Bind(1, password_hash).Bind(2, totp_pending_sealed).Bind(3, now).Bind(4, user_id);
  XGW_CHECK(st.Run());
  if (db_.Changes() == 0) return Fail(ErrorCode::kConflict, "this account is not waiting for enrolment");
  return {};
}

Result<void> SqliteIdentityStore::CompleteEnrolment(const std::string& user_id, const std::string& code_hash,
                                                    int64_t totp_step, const std::vector<std::string>& recovery_hashes,
                                                    int64_t now, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto inv, db_.Prepare(
                        "UPDATE invitations SET used_at = ? WHERE code_hash = ? AND user_id = ? AND used_at IS NULL "
                        "AND revoked_at IS NULL AND expires_at > ?"));
  inv.Bind(1, now).Bind(2, code_hash).Bind(3, user_id).Bind(4, now);
  XGW_CHECK(inv.Run());
  if (db_.Changes() == 0) {
    return Fail(ErrorCode::kUnauthenticated,
                "the invitation code is unknown, used or expired; ask an operator for a new invitation");
  }
  XGW_TRY(auto up, db_.Prepare(
                       "UPDATE accounts SET state = 'active', totp_secret = totp_pending, totp_pending = NULL, "
                       "totp_last_step = ?, failures = 0, locked_at = NULL, updated_at = ? "
                       "WHERE user_id = ? AND state = 'invited' AND totp_pending IS NOT NULL "
                       "AND password_hash IS NOT NULL"));
  up.Bind(1, totp_step).Bind(2, now).Bind(3, user_id);
  XGW_CHECK(up.Run());
  if (db_.Changes() == 0) return Fail(ErrorCode::kConflict, "choose a password first (POST /api/v1/auth/enrolment)");
  XGW_CHECK(RunSql(db_, "DELETE FROM recovery_codes WHERE user_id = ?", {user_id}));
  for (const auto& h : recovery_hashes) {
    XGW_CHECK(RunSql(db_, "INSERT INTO recovery_codes(user_id, code_hash) VALUES (?,?)", {user_id, h}));
  }
  return Commit(tx, before_commit);
}

Result<Account> SqliteIdentityStore::RecordSigninFailure(const std::string& user_id, int64_t now,
                                                         int64_t lockout_after) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto st, db_.Prepare(
                       "UPDATE accounts SET failures = failures + 1, last_failure_at = ?, "
                       "locked_at = CASE WHEN locked_at IS NULL AND failures + 1 >= ? THEN ? ELSE locked_at END "
                       "WHERE user_id = ?"));
  st.Bind(1, now).Bind(2, lockout_after).Bind(3, now).Bind(4, user_id);
  XGW_CHECK(st.Run());
  XGW_TRY(auto account, GetAccountLocked("WHERE a.user_id = ?", user_id));
  XGW_CHECK(tx.Commit());
  return account;
}

// Consumes a second factor of `user_id` (a TOTP step newer than the last
// one used, or an unused recovery code) and resets the failure count.
// REQUIRES: mu_ held, inside a transaction.
Result<void> SqliteIdentityStore::ConsumeFactorLocked(const std::string& user_id, const SecondFactor& factor,
                                                      int64_t now) {
  static const char* kReplayed = "the one-time code was already used";
  if (factor.totp_step) {
    XGW_TRY(auto st, db_.Prepare(
                         "UPDATE accounts SET totp_last_step = ? WHERE user_id = ? AND totp_last_step < ? "
                         "AND state = 'active'"));
    st.Bind(1, *factor.totp_step).Bind(2, user_id).Bind(3, *factor.totp_step);
    XGW_CHECK(st.Run());
    if (db_.Changes() == 0) return Fail(ErrorCode::kUnauthenticated, kReplayed);
  }
  if (factor.recovery_hash) {
    XGW_TRY(auto st, db_.Prepare(
                         "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL"));
    st.Bind(1, now).Bind(2, user_id).Bind(3, *factor.recovery_hash);
    XGW_CHECK(st.Run());
    if (db_.Changes() == 0) return Fail(ErrorCode::kUnauthenticated, kReplayed);
  }
  XGW_TRY(auto reset, db_.Prepare("UPDATE accounts SET failures = 0 WHERE user_id = ?"));
  reset.Bind(1, user_id);
  return reset.Run();
}

Result<void> SqliteIdentityStore::ChangePassword(const std::string& user_id, const std::string& password_hash,
                                                 const SecondFactor& factor, const std::string& keep_session,
                                                 int64_t now, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto account, GetAccountLocked("WHERE a.user_id = ?", user_id));
  if (account.state != "active") return Fail(ErrorCode::kConflict, "this account has not completed enrolment");
  XGW_CHECK(ConsumeFactorLocked(user_id, factor, now));
  XGW_TRY(auto up, db_.Prepare("UPDATE accounts SET password_hash = ?, updated_at = ? WHERE user_id = ?"));
  up.Bind(1, password_hash).Bind(2, now).Bind(3, user_id);
  XGW_CHECK(up.Run());
  // Whoever knew the old password may hold a session: all end but this one.
  XGW_TRY(auto ses, db_.Prepare(
                        "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id != ?"));
  ses.Bind(1, now).Bind(2, user_id).Bind(3, keep_session);
  XGW_CHECK(ses.Run());
  return Commit(tx, before_commit);
}

Result<void> SqliteIdentityStore::OpenSession(const NewSession& s, const SecondFactor& factor, int64_t now,
                                              const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(ConsumeFactorLocked(s.user_id, factor, now));
  XGW_TRY(auto ins, db_.Prepare(
                        "INSERT INTO sessions(id, user_id, hash, csrf_hash, client, created_at, last_seen_at, "
                        "idle_seconds, absolute_expires_at) VALUES (?,?,?,?,?,?,?,?,?)"));
  ins.Bind(1, s.id)
      .Bind(2, s.user_id)
      .Bind(3, s.hash)
      .Bind(4, s.csrf_hash)
      .Bind(5, s.client)
      .Bind(6, now)
      .Bind(7, now)
      .Bind(8, s.idle_seconds)
      .Bind(9, s.absolute_expires_at);
  XGW_CHECK(ins.Run());
  return Commit(tx, before_commit);
}

Result<void> SqliteIdentityStore::ReplaceRecoveryCodes(const std::string& user_id,
                                                       const std::vector<std::string>& hashes,
                                                       const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto account, GetAccountLocked("WHERE a.user_id = ?", user_id));
  if (account.state != "active") return Fail(ErrorCode::kConflict, "this account has not completed enrolment");
  XGW_CHECK(RunSql(db_, "DELETE FROM recovery_codes WHERE user_id = ?", {user_id}));
  for (const auto& h : hashes) {
    XGW_CHECK(RunSql(db_, "INSERT INTO recovery_codes(user_id, code_hash) VALUES (?,?)", {user_id, h}));
  }
  return Commit(tx, before_commit);
}

Result<void> SqliteIdentityStore::ResetMfa(const std::string& user_id, int64_t now,
                                           const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetAccountLocked("WHERE a.user_id = ?", user_id).map([](auto&&) {}));
  XGW_TRY(auto st, db_.Prepare(
                       "UPDATE accounts SET state = 'reset', password_hash = NULL, totp_secret = NULL, "
                       "totp_pending = NULL, updated_at = ? WHERE user_id = ?"));
  st.Bind(1, now).Bind(2, user_id);
  XGW_CHECK(st.Run());
  XGW_CHECK(RunSql(db_, "DELETE FROM recovery_codes WHERE user_id = ?", {user_id}));
  XGW_TRY(auto inv, db_.Prepare(
                        "UPDATE invitations SET revoked_at = ? WHERE user_id = ? AND used_at IS NULL "
                        "AND revoked_at IS NULL"));
  inv.Bind(1, now).Bind(2, user_id);
  XGW_CHECK(inv.Run());
  XGW_TRY(auto ses, db_.Prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"));
  ses.Bind(1, now).Bind(2, user_id);
  XGW_CHECK(ses.Run());
  return Commit(tx, before_commit);
}

Result<void> SqliteIdentityStore::Unlock(const std::string& user_id, const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetAccountLocked("WHERE a.user_id = ?", user_id).map([](auto&&) {}));
  XGW_CHECK(RunSql(db_, "UPDATE accounts SET failures = 0, locked_at = NULL WHERE user_id = ?", {user_id}));
  return Commit(tx, before_commit);
}

Result<void> SqliteIdentityStore::SetDisabled(const std::string& user_id, bool disabled, int64_t now,
                                              const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  if (disabled) {
    XGW_TRY(auto u, db_.Prepare("UPDATE users SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL"));
    u.Bind(1, now).Bind(2, user_id);
    XGW_CHECK(u.Run());
    XGW_TRY(auto s, db_.Prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"));
    s.Bind(1, now).Bind(2, user_id);
    XGW_CHECK(s.Run());
    XGW_TRY(auto t, db_.Prepare("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"));
    t.Bind(1, now).Bind(2, user_id);
    XGW_CHECK(t.Run());
  } else {
    XGW_CHECK(RunSql(db_, "UPDATE users SET disabled_at = NULL WHERE id = ?", {user_id}));
  }
  return Commit(tx, before_commit);
}

Result<SessionPrincipal> SqliteIdentityStore::AuthenticateSession(const std::string& hash, int64_t now) {
  static const char* kMessage =
      "the session is missing, unknown, expired or ended; sign in again (POST /api/v1/auth/sessions)";
  SessionPrincipal sp;
  int64_t last_seen = 0, idle = 0, absolute_end = 0;
  XGW_CHECK(readers_->Read([&](Database& c) -> Result<void> {
    XGW_TRY(auto st, c.Prepare(
                         "SELECT s.id, s.user_id, u.org_id, s.csrf_hash, s.last_seen_at, s.idle_seconds, "
                         "s.absolute_expires_at, s.revoked_at, u.disabled_at FROM sessions s "
                         "JOIN users u ON u.id = s.user_id WHERE s.hash = ?"));
    st.Bind(1, hash);
    XGW_TRY(bool row, st.Step());
    if (!row || st.OptInt(7) || st.OptInt(8)) return Fail(ErrorCode::kUnauthenticated, kMessage);
    last_seen = st.Int(4);
    idle = st.Int(5);
    absolute_end = st.Int(6);
    if (now >= last_seen + idle || now >= absolute_end) return Fail(ErrorCode::kUnauthenticated, kMessage);
    sp.principal = Principal{st.Text(1), st.Text(2), {}, st.Text(0)};
    sp.csrf_hash = st.Text(3);
    XGW_TRY(auto rs, c.Prepare("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role"));
    rs.Bind(1, sp.principal.user_id);
    XGW_TRY(sp.principal.roles, rs.TextColumn());
    return {};
  }));
  if (now - last_seen >= kLastSeenGranularity) {
    // The idle expiry slides only with this write, so it waits for the
    // writer; if it fails the request still goes on, its session unslid.
    std::lock_guard lock(mu_);
    auto up = db_.Prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?");
    if (up && up->Bind(1, now).Bind(2, sp.principal.token_id).Bind(3, now).Run()) last_seen = now;
  }
  // The earlier of the idle and the absolute expiry, as stored now.
  sp.principal.expires_at = std::min(last_seen + idle, absolute_end);
  return sp;
}

Result<void> SqliteIdentityStore::EndSession(const std::string& session_id, int64_t now,
                                             const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto st, db_.Prepare("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"));
  st.Bind(1, now).Bind(2, session_id);
  XGW_CHECK(st.Run());
  return Commit(tx, before_commit);
}

}  // namespace xgw
