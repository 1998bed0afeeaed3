// Organisations, users, their public keys and API bearer tokens: the
// identity store's interface (the embedded SQLite implementation is
// SqliteIdentityStore, gateway/sqlite_identity_store.h).
//
// Validation lives here so that every path into the database applies it:
// invalid input fails with kInvalidArgument and a message that names the
// field (never its value). Unknown ids fail with kNotFound.
//
// Thread safety: all methods may be called from any thread. Changes and the
// operator's reads are serialised on one writer connection; the lookups every
// request makes (Authenticate, OrganisationForPin) read the last committed
// state on their own connections and never wait for a change in progress.
#ifndef XGW_GATEWAY_IDENTITY_STORE_H_
#define XGW_GATEWAY_IDENTITY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto/error.h"
#include "gateway/ids.h"

namespace xgw {

struct Organisation {
  std::string id;
  std::string name;
  std::optional<std::string> enterprise_number;  // digits only
  std::optional<std::string> dpo_contact;
  std::vector<std::string> client_cert_pins;     // lower-case hex SPKI SHA-256
  int64_t created_at = 0;
  std::string time_zone = "Europe/Brussels";     // IANA name its people read times in
};

struct NewOrganisation {
  std::string name;
  std::optional<std::string> enterprise_number;  // as typed; normalised by the store
  std::optional<std::string> dpo_contact;
  std::vector<std::string> client_cert_pins;     // "sha256:<hex>" or "sha256//<base64>"
  std::optional<std::string> time_zone = std::nullopt;  // an IANA zone name; default Europe/Brussels
};

// The outcome of IdentityStore::AddClientPin.
struct PinAdded {
  Organisation org;  // after the change
  std::string pin;   // lower-case hex
  bool added = false;  // false: the organisation already had this pin
};

struct UserKeys {
  std::string age_recipient;       // "age1..."
  std::string ed25519_verify_key;  // base64 of 32 bytes
  int64_t updated_at = 0;
};

struct User {
  std::string id;
  std::string org_id;
  std::string display_name;
  std::vector<std::string> roles;  // sorted, unique
  std::optional<UserKeys> keys;
  int64_t created_at = 0;
};

struct TokenInfo {
  std::string id;
  std::string user_id;
  std::optional<std::string> label;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> revoked_at;
  std::optional<int64_t> last_used_at;
};

// A freshly issued token: `secret` is returned exactly once and not stored.
struct IssuedToken {
  TokenInfo info;
  std::string secret;
};

// Who is calling: the result of a successful Authenticate.
struct Principal {
  std::string user_id;
  std::string org_id;
  std::vector<std::string> roles;
  std::string token_id;
  int64_t expires_at = 0;  // when this credential stops working (unix seconds)
  bool HasRole(std::string_view role) const;
};

// A person's sign-in record (gateway/sqlite_account_store.cc). Secrets are
// stored hashed (password: Argon2id) or sealed (TOTP: crypto_secretbox).
struct Account {
  std::string user_id;
  std::string org_id;
  std::string signin_name;
  std::string state;                // "invited", "active" or "reset"
  std::string password_hash;        // "" until enrolment
  std::string totp_sealed;          // "" until enrolment completes
  std::string totp_pending_sealed;  // between enrolment and its confirmation
  int64_t totp_last_step = 0;       // the newest time step accepted (replay guard)
  int64_t failures = 0;             // consecutive failed sign-ins
  int64_t last_failure_at = 0;
  std::optional<int64_t> locked_at;
  std::optional<int64_t> disabled_at;  // of the user (users.disabled_at)
};

// A session row about to be written (gateway/sessions.h makes them).
struct NewSession {
  std::string id;         // "ses-..."
  std::string user_id;
  std::string hash;       // SecretHash of the session secret
  std::string csrf_hash;  // SecretHash of the CSRF token
  std::string client;     // "browser" or "cli"
  int64_t idle_seconds = 0;
  int64_t absolute_expires_at = 0;
};

// What proves the second factor of a sign-in, consumed atomically with it.
struct SecondFactor {
  std::optional<int64_t> totp_step;            // accepted only if newer than the last one used
  std::optional<std::string> recovery_hash;    // accepted only if unused
};

// A session found by Router::Authenticate.
struct SessionPrincipal {
  Principal principal;    // token_id = session id, expires_at = min(idle, absolute)
  std::string csrf_hash;
};

// A public key a person registered (IdentityStore::KeyHistory).
struct KeyHistoryEntry {
  std::string age_recipient;
  std::string ed25519_verify_key;
  int64_t from = 0;
  std::optional<int64_t> until;  // when the next key replaced it; none for the current key
};

// A person's identity file wrapped with their passphrase, kept by the gateway
// for them (it cannot open it: crypto/keyfile.h CheckPassphraseWrapped).
struct KeyBackup {
  std::string file;  // armored age file, scrypt recipient only
  int64_t updated_at = 0;
};

// Called inside a change's transaction once every check passed and its rows
// are written, just before COMMIT: the router's audit record of an
// operator's change. If it fails, the change is rolled back and its error
// returned; a change refused by a check never calls it. Empty: nothing to call.
// A person found by their single sign-on subject.
struct SsoUser {
  std::string user_id;
  std::string org_id;
  bool disabled = false;
};

using BeforeCommit = std::function<Result<void>()>;

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // The embedded store (SqliteIdentityStore) on the database at `path`.
  static Result<std::unique_ptr<IdentityStore>> Open(const std::string& path);

  // Creations take the new id from the caller when it must be known before
  // (the router's audit record of the change names it); by default a fresh
  // random one. Every change runs `before_commit` (see BeforeCommit).
  virtual Result<Organisation> CreateOrganisation(const NewOrganisation& org, int64_t now,
                                                  std::string id = NewId(kOrgPrefix),
                                                  const BeforeCommit& before_commit = {}) = 0;
  virtual Result<std::vector<Organisation>> ListOrganisations() = 0;
  virtual Result<Organisation> GetOrganisation(const std::string& id) = 0;

  virtual Result<User> CreateUser(const std::string& org_id, const std::string& display_name,
                                  const std::vector<std::string>& roles, int64_t now,
                                  std::string id = NewId(kUserPrefix), const BeforeCommit& before_commit = {}) = 0;
  virtual Result<std::vector<User>> ListUsers(const std::string& org_id) = 0;
  virtual Result<User> GetUser(const std::string& id) = 0;
  virtual Result<User> SetRoles(const std::string& user_id, const std::vector<std::string>& roles,
                                const BeforeCommit& before_commit = {}) = 0;
  virtual Result<User> SetKeys(const std::string& user_id, const std::string& age_recipient,
                               const std::string& ed25519_verify_key, int64_t now,
                               const BeforeCommit& before_commit = {}) = 0;

  // REQUIRES: ttl_seconds > 0 (the API clamps it to the configured maximum).
  virtual Result<IssuedToken> IssueToken(const std::string& user_id, int64_t ttl_seconds,
                                         const std::optional<std::string>& label, int64_t now,
                                         std::string id = NewId(kTokenPrefix),
                                         const BeforeCommit& before_commit = {}) = 0;
  virtual Result<std::vector<TokenInfo>> ListTokens(const std::string& user_id) = 0;
  virtual Result<TokenInfo> GetToken(const std::string& token_id) = 0;
  // Idempotent: revoking a revoked token keeps the first revocation time.
  virtual Result<TokenInfo> RevokeToken(const std::string& token_id, int64_t now,
                                        const BeforeCommit& before_commit = {}) = 0;

  // Maps a bearer secret to its principal. Every failure (malformed, unknown,
  // expired, revoked, user gone) is the same kUnauthenticated error, so the
  // answer does not reveal which; the lookup is by hash, so timing depends on
  // the hash, not on how much of a secret matched.
  virtual Result<Principal> Authenticate(std::string_view secret, int64_t now) = 0;

  // The earliest expiry (unix seconds) of any API token that still works at
  // `now` (not revoked, not expired, its user not disabled); none if there is
  // no such token. For the /metrics gauge.
  virtual Result<std::optional<int64_t>> EarliestTokenExpiry(int64_t now) = 0;

  // Registers a client-certificate pin (any form NormalisePin accepts) on an
  // existing organisation. Idempotent for a pin the organisation already
  // has; kConflict if another organisation has it (a pin maps to one
  // organisation only), kNotFound for an unknown organisation.
  virtual Result<PinAdded> AddClientPin(const std::string& org_id, const std::string& pin,
                                        const BeforeCommit& before_commit = {}) = 0;
  // Removes a pin (lower-case hex) from an organisation; kNotFound if the
  // organisation does not have it. Takes effect on the next request: the
  // router looks pins up per request.
  virtual Result<Organisation> RemoveClientPin(const std::string& org_id, const std::string& pin_hex,
                                               const BeforeCommit& before_commit = {}) = 0;

  // The organisation a client-certificate pin (lower-case hex) belongs to.
  virtual Result<std::optional<std::string>> OrganisationForPin(const std::string& pin) = 0;

  // People's accounts (sqlite_account_store.cc). kNotFound for no account.
  virtual Result<Account> GetAccount(const std::string& user_id) = 0;
  // By sign-in name, case-insensitively.
  virtual Result<Account> GetAccountByName(const std::string& signin_name) = 0;
  // Creates or re-opens the account of `user_id` for enrolment with a new
  // invitation (older unused ones stop working). kConflict if the account is
  // active (reset its MFA first) or another account has the name.
  virtual Result<void> Invite(const std::string& user_id, const std::string& signin_name,
                              const std::string& invitation_id, const std::string& code_hash, int64_t now,
                              int64_t expires_at, const BeforeCommit& before_commit = {}) = 0;
  // The account an unused, unexpired invitation belongs to; kUnauthenticated otherwise.
  virtual Result<Account> AccountForInvitation(const std::string& code_hash, int64_t now) = 0;
  // Enrolment step 1: the chosen password and the TOTP secret waiting for proof.
  virtual Result<void> SetPendingEnrolment(const std::string& user_id, const std::string& password_hash,
                                           const std::string& totp_pending_sealed, int64_t now) = 0;
  // Enrolment step 2: uses the invitation, activates the pending TOTP secret
  // (step `totp_step` counts as used) and stores the recovery codes' hashes.
  // kUnauthenticated if the invitation was used or expired meanwhile.
  virtual Result<void> CompleteEnrolment(const std::string& user_id, const std::string& code_hash,
                                         int64_t totp_step, const std::vector<std::string>& recovery_hashes,
                                         int64_t now, const BeforeCommit& before_commit = {}) = 0;
  // A failed sign-in: failures + 1; locked when it reaches `lockout_after`.
  // Returns the account after the change.
  virtual Result<Account> RecordSigninFailure(const std::string& user_id, int64_t now, int64_t lockout_after) = 0;
  // A successful sign-in: consumes `factor` (kUnauthenticated if it was used
  // meanwhile: a replay), clears the failures and writes `session`, in one
  // transaction.
  virtual Result<void> OpenSession(const NewSession& session, const SecondFactor& factor, int64_t now,
                                   const BeforeCommit& before_commit = {}) = 0;
  // A person's new password (Argon2id hash) after they proved who they are
  // again: `factor` consumed as OpenSession consumes it (kUnauthenticated
  // if it was used meanwhile), failures reset, every session of the user
  // but `keep_session` ended, `before_commit` in the same transaction.
  // kConflict if the account is not active.
  virtual Result<void> ChangePassword(const std::string& user_id, const std::string& password_hash,
                                      const SecondFactor& factor, const std::string& keep_session, int64_t now,
                                      const BeforeCommit& before_commit) = 0;
  virtual Result<void> ReplaceRecoveryCodes(const std::string& user_id, const std::vector<std::string>& hashes,
                                            const BeforeCommit& before_commit = {}) = 0;
  // Operator actions; each also takes effect on the next request.
  // ResetMfa: the account needs a new invitation; its sessions end.
  virtual Result<void> ResetMfa(const std::string& user_id, int64_t now, const BeforeCommit& before_commit = {}) = 0;
  virtual Result<void> Unlock(const std::string& user_id, const BeforeCommit& before_commit = {}) = 0;
  // Disabling revokes every session and API token of the user in the same transaction.
  virtual Result<void> SetDisabled(const std::string& user_id, bool disabled, int64_t now,
                                   const BeforeCommit& before_commit = {}) = 0;
  // Maps a session secret's hash to its principal and slides its idle
  // expiry; the same kUnauthenticated error for every failure.
  virtual Result<SessionPrincipal> AuthenticateSession(const std::string& hash, int64_t now) = 0;
  // Revokes a session (idempotent).
  virtual Result<void> EndSession(const std::string& session_id, int64_t now,
                                  const BeforeCommit& before_commit = {}) = 0;

  // Key custody (sqlite_key_custody.cc). The history has one entry per
  // change of keys (SetKeys adds it in the same transaction), oldest first.
  virtual Result<std::vector<KeyHistoryEntry>> KeyHistory(const std::string& user_id) = 0;
  // Stores or replaces the user's backup; kInvalidArgument unless `file`
  // passes CheckPassphraseWrapped (nothing stored then).
  virtual Result<KeyBackup> PutKeyBackup(const std::string& user_id, const std::string& file, int64_t now,
                                         const BeforeCommit& before_commit = {}) = 0;
  // kNotFound if the user keeps none.
  virtual Result<KeyBackup> GetKeyBackup(const std::string& user_id) = 0;
  virtual Result<void> DeleteKeyBackup(const std::string& user_id, const BeforeCommit& before_commit = {}) = 0;

  // Single sign-on (sqlite_sso_store.cc, migration 10): per user, the hash
  // of the value their organisation's provider puts in the configured claim
  // (SsoSubjectHash). kConflict if another user of the organisation has it.
  virtual Result<void> SetSsoSubject(const std::string& user_id, const std::string& subject_hash, int64_t now,
                                     const BeforeCommit& before_commit = {}) = 0;
  // kNotFound if the user has none.
  virtual Result<void> DeleteSsoSubject(const std::string& user_id, const BeforeCommit& before_commit = {}) = 0;
  virtual Result<std::optional<int64_t>> SsoSubjectUpdatedAt(const std::string& user_id) = 0;
  // The user of `org_id` registered with `subject_hash`; kNotFound if none.
  virtual Result<SsoUser> UserForSsoSubject(const std::string& org_id, const std::string& subject_hash) = 0;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_IDENTITY_STORE_H_
