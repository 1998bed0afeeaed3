// The embedded IdentityStore: the gateway's SQLite database (tables of
// gateway/migrations.cc). Changes and the operator's reads are serialised on
// one writer connection; the lookups every request makes (Authenticate,
// OrganisationForPin) read the last committed state on a pool of read-only
// connections and never wait for a change in progress. The daemon's other
// services borrow the same pool (readers()).
#ifndef XGW_GATEWAY_SQLITE_IDENTITY_STORE_H_
#define XGW_GATEWAY_SQLITE_IDENTITY_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "gateway/database.h"
#include "gateway/identity_store.h"

namespace xgw {

class SqliteIdentityStore final : public IdentityStore {
 public:
  // Opens the database at `path` and applies pending migrations, with a
  // pool of read-only connections: the per-request lookups' own plus
  // `shared_readers` for the other services of the daemon (readers()).
  static Result<std::unique_ptr<SqliteIdentityStore>> Open(const std::string& path, size_t shared_readers = 0);

  // The daemon's one pool of read-only connections to the gateway database
  // (reads that decide without waiting for a change in progress).
  ReadPool& readers() { return *readers_; }

  Result<Organisation> CreateOrganisation(const NewOrganisation& org, int64_t now,
                                          std::string id,
                                          const BeforeCommit& before_commit) override;
  Result<std::vector<Organisation>> ListOrganisations() override;
  Result<Organisation> GetOrganisation(const std::string& id) override;
  Result<User> CreateUser(const std::string& org_id, const std::string& display_name,
                          const std::vector<std::string>& roles, int64_t now,
                          std::string id, const BeforeCommit& before_commit) override;
  Result<std::vector<User>> ListUsers(const std::string& org_id) override;
  Result<User> GetUser(const std::string& id) override;
  Result<User> SetRoles(const std::string& user_id, const std::vector<std::string>& roles,
                        const BeforeCommit& before_commit) override;
  Result<User> SetKeys(const std::string& user_id, const std::string& age_recipient,
                       const std::string& ed25519_verify_key, int64_t now,
                       const BeforeCommit& before_commit) override;
  Result<IssuedToken> IssueToken(const std::string& user_id, int64_t ttl_seconds,
                                 const std::optional<std::string>& label, int64_t now,
                                 std::string id,
                                 const BeforeCommit& before_commit) override;
  Result<std::vector<TokenInfo>> ListTokens(const std::string& user_id) override;
  Result<TokenInfo> GetToken(const std::string& token_id) override;
  Result<TokenInfo> RevokeToken(const std::string& token_id, int64_t now,
                                const BeforeCommit& before_commit) override;
  Result<Principal> Authenticate(std::string_view secret, int64_t now) override;
  Result<std::optional<int64_t>> EarliestTokenExpiry(int64_t now) override;
  Result<PinAdded> AddClientPin(const std::string& org_id, const std::string& pin,
                                const BeforeCommit& before_commit) override;
  Result<Organisation> RemoveClientPin(const std::string& org_id, const std::string& pin_hex,
                                       const BeforeCommit& before_commit) override;
  Result<std::optional<std::string>> OrganisationForPin(const std::string& pin) override;

  // Accounts and sessions: sqlite_account_store.cc.
  Result<Account> GetAccount(const std::string& user_id) override;
  Result<Account> GetAccountByName(const std::string& signin_name) override;
  Result<void> Invite(const std::string& user_id, const std::string& signin_name, const std::string& invitation_id,
                      const std::string& code_hash, int64_t now, int64_t expires_at,
                      const BeforeCommit& before_commit) override;
  Result<Account> AccountForInvitation(const std::string& code_hash, int64_t now) override;
  Result<void> SetPendingEnrolment(const std::string& user_id, const std::string& password_hash,
                                   const std::string& totp_pending_sealed, int64_t now) override;
  Result<void> CompleteEnrolment(const std::string& user_id, const std::string& code_hash, int64_t totp_step,
                                 const std::vector<std::string>& recovery_hashes, int64_t now,
                                 const BeforeCommit& before_commit) override;
  Result<Account> RecordSigninFailure(const std::string& user_id, int64_t now, int64_t lockout_after) override;
  Result<void> OpenSession(const NewSession& session, const SecondFactor& factor, int64_t now,
                           const BeforeCommit& before_commit) override;
  Result<void> ChangePassword(const std::string& user_id, const std::string& password_hash,
                              const SecondFactor& factor, const std::string& keep_session, int64_t now,
                              const BeforeCommit& before_commit) override;
  Result<void> ReplaceRecoveryCodes(const std::string& user_id, const std::vector<std::string>& hashes,
                                    const BeforeCommit& before_commit) override;
  Result<void> ResetMfa(const std::string& user_id, int64_t now, const BeforeCommit& before_commit) override;
  Result<void> Unlock(const std::string& user_id, const BeforeCommit& before_commit) override;
  Result<void> SetDisabled(const std::string& user_id, bool disabled, int64_t now,
                           const BeforeCommit& before_commit) override;
  Result<SessionPrincipal> AuthenticateSession(const std::string& hash, int64_t now) override;
  Result<std::vector<KeyHistoryEntry>> KeyHistory(const std::string& user_id) override;
  Result<KeyBackup> PutKeyBackup(const std::string& user_id, const std::string& file, int64_t now,
                                 const BeforeCommit& before_commit = {}) override;
  Result<KeyBackup> GetKeyBackup(const std::string& user_id) override;
  Result<void> DeleteKeyBackup(const std::string& user_id, const BeforeCommit& before_commit = {}) override;
  Result<void> EndSession(const std::string& session_id, int64_t now, const BeforeCommit& before_commit) override;
  Result<void> SetSsoSubject(const std::string& user_id, const std::string& subject_hash, int64_t now,
                             const BeforeCommit& before_commit = {}) override;
  Result<void> DeleteSsoSubject(const std::string& user_id, const BeforeCommit& before_commit = {}) override;
  Result<std::optional<int64_t>> SsoSubjectUpdatedAt(const std::string& user_id) override;
  Result<SsoUser> UserForSsoSubject(const std::string& org_id, const std::string& subject_hash) override;

 private:
  SqliteIdentityStore(Database db, std::unique_ptr<ReadPool> readers) : db_(std::move(db)), readers_(std::move(readers)) {}
  // Runs before_commit, then commits (the transaction rolls back if either fails).
  static Result<void> Commit(Transaction& tx, const BeforeCommit& before_commit);
  Result<Organisation> GetOrganisationLocked(const std::string& id);
  Result<User> GetUserLocked(const std::string& id);
  Result<TokenInfo> GetTokenLocked(const std::string& id);
  Result<void> ReplaceRolesLocked(const std::string& user_id, const std::vector<std::string>& roles);
  Result<Account> GetAccountLocked(const std::string& where, const std::string& key);
  // REQUIRES: mu_ held, inside a transaction.
  Result<void> ConsumeFactorLocked(const std::string& user_id, const SecondFactor& factor, int64_t now);

  // Held by every change from its first read to its COMMIT (and by the
  // operator reads on db_).
  std::mutex mu_;
  Database db_;
  // The per-request lookups read committed state here, so they never wait
  // for a change in progress.
  std::unique_ptr<ReadPool> readers_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_SQLITE_IDENTITY_STORE_H_
