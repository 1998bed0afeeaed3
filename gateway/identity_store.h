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
};

struct NewOrganisation {
  std::string name;
  std::optional<std::string> enterprise_number;  // as typed; normalised by the store
  std::optional<std::string> dpo_contact;
  std::vector<std::string> client_cert_pins;     // "sha256:<hex>" or "sha256//<base64>"
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
  bool HasRole(std::string_view role) const;
};

// Called inside a change's transaction once every check passed and its rows
// are written, just before COMMIT: the router's audit record of an
// operator's change. If it fails, the change is rolled back and its error
// returned; a change refused by a check never calls it. Empty: nothing to call.
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
};

}  // namespace xgw

#endif  // XGW_GATEWAY_IDENTITY_STORE_H_
