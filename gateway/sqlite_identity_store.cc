#include "gateway/sqlite_identity_store.h"

#include <algorithm>

#include "gateway/identity_rules.h"
#include "gateway/ids.h"
#include "gateway/migrations.h"
#include "policy/timezone.h"

namespace xgw {
namespace {

constexpr int64_t kLastUsedGranularity = 60;  // seconds; avoids a write per request
// Connections for the lookups every request makes (Authenticate,
// OrganisationForPin): requests are served by one thread per core.
constexpr size_t kPerRequestReaders = 2;

constexpr const char* kPinRule =
    "give \"sha256:\" followed by the 64 hex digits of the SHA-256 of the certificate's "
    "SubjectPublicKeyInfo, or \"sha256//\" followed by its standard base64 (44 characters)";

Result<std::vector<std::string>> CheckRoles(const std::vector<std::string>& roles) {
  if (roles.size() > 32) return Fail(ErrorCode::kInvalidArgument, "roles: at most 32 roles");
  for (size_t i = 0; i < roles.size(); ++i) {
    if (!IsValidRoleName(roles[i])) {
      return Fail(ErrorCode::kInvalidArgument,
                  "roles[" + std::to_string(i) +
                      "]: a role is 1-64 characters of a-z, 0-9, '_', '-', '.', starting with a "
                      "letter");
    }
  }
  std::vector<std::string> out = roles;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

bool Principal::HasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

Result<std::unique_ptr<IdentityStore>> IdentityStore::Open(const std::string& path) {
  XGW_TRY(auto store, SqliteIdentityStore::Open(path));
  return std::unique_ptr<IdentityStore>(std::move(store));
}

Result<std::unique_ptr<SqliteIdentityStore>> SqliteIdentityStore::Open(const std::string& path,
                                                                       size_t shared_readers) {
  XGW_TRY(auto db, Database::Open(path));
  XGW_CHECK(ApplyMigrations(db).map([](int) {}));
  XGW_TRY(auto readers, ReadPool::Open(path, kPerRequestReaders + shared_readers));
  return std::unique_ptr<SqliteIdentityStore>(new SqliteIdentityStore(std::move(db), std::move(readers)));
}

Result<void> SqliteIdentityStore::Commit(Transaction& tx, const BeforeCommit& before_commit) {
  if (before_commit) XGW_CHECK(before_commit());
  return tx.Commit();
}

Result<Organisation> SqliteIdentityStore::CreateOrganisation(const NewOrganisation& in, int64_t now, std::string id,
                                                       const BeforeCommit& before_commit) {
  if (!IsCleanText(in.name, 200)) {
    return Fail(ErrorCode::kInvalidArgument,
                "name: give 1-200 bytes of UTF-8 text without control characters");
  }
  Organisation org;
  org.id = std::move(id);
  org.name = in.name;
  org.created_at = now;
  if (in.enterprise_number) {
    auto n = NormaliseEnterpriseNumber(*in.enterprise_number);
    if (!n) {
      return Fail(ErrorCode::kInvalidArgument,
                  "enterprise_number: give a KBO number (10 digits with a valid mod-97 check, "
                  "e.g. 0123.456.749) or an 8-digit KvK number");
    }
    org.enterprise_number = *n;
  }
  if (in.dpo_contact) {
    if (!IsCleanText(*in.dpo_contact, 320)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "dpo_contact: give 1-320 bytes of text without control characters");
    }
    org.dpo_contact = in.dpo_contact;
  }
  if (in.time_zone) {
    // A zone this machine's tz database knows (and no path tricks: Load
    // refuses those), so that every client can show times in it.
    if (in.time_zone->size() > 64 || !TimeZone::Load(*in.time_zone)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "time_zone: give an IANA time zone name such as Europe/Brussels or Europe/Amsterdam");
    }
    org.time_zone = *in.time_zone;
  }
  for (size_t i = 0; i < in.client_cert_pins.size(); ++i) {
    auto pin = NormalisePin(in.client_cert_pins[i]);
    if (!pin) {
      return Fail(ErrorCode::kInvalidArgument,
                  "client_cert_pins[" + std::to_string(i) + "]: " + kPinRule);
    }
    org.client_cert_pins.push_back(*pin);
  }
  std::sort(org.client_cert_pins.begin(), org.client_cert_pins.end());
  org.client_cert_pins.erase(std::unique(org.client_cert_pins.begin(), org.client_cert_pins.end()),
                             org.client_cert_pins.end());

  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  if (org.enterprise_number) {
    // One organisation per enterprise number (issue 17 item 5): a second one
    // would make protocol parties (matched by this number) ambiguous.
    XGW_TRY(auto dup, db_.Prepare("SELECT 1 FROM organisations WHERE enterprise_number = ?"));
    dup.Bind(1, *org.enterprise_number);
    XGW_TRY(bool taken, dup.Step());
    if (taken) {
      return Fail(ErrorCode::kConflict,
                  "enterprise_number: an organisation with this enterprise number is already registered");
    }
  }
  XGW_TRY(auto st, db_.Prepare("INSERT INTO organisations(id, name, enterprise_number, "
                               "dpo_contact, created_at, time_zone) VALUES (?,?,?,?,?,?)"));
  st.Bind(1, org.id).Bind(2, org.name).Bind(3, org.enterprise_number).Bind(4, org.dpo_contact).Bind(
      5, now).Bind(6, org.time_zone);
  XGW_CHECK(st.Run());
  for (const auto& pin : org.client_cert_pins) {
    XGW_TRY(auto ps, db_.Prepare("INSERT INTO organisation_client_pins(pin, org_id) VALUES (?,?)"));
    ps.Bind(1, pin).Bind(2, org.id);
    if (auto r = ps.Run(); !r) {
      if (r.error().code == ErrorCode::kConflict) {
        return Fail(ErrorCode::kConflict,
                    "client_cert_pins: a pin is already registered to another organisation");
      }
      return tl::unexpected<Error>(r.error());
    }
  }
  XGW_CHECK(Commit(tx, before_commit));
  return org;
}

Result<Organisation> SqliteIdentityStore::GetOrganisationLocked(const std::string& id) {
  XGW_TRY(auto st, db_.Prepare("SELECT id, name, enterprise_number, dpo_contact, created_at, time_zone "
                               "FROM organisations WHERE id = ?"));
  st.Bind(1, id);
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such organisation");
  Organisation org{st.Text(0), st.Text(1), st.OptText(2), st.OptText(3), {}, st.Int(4), st.Text(5)};
  XGW_TRY(auto ps, db_.Prepare(
                       "SELECT pin FROM organisation_client_pins WHERE org_id = ? ORDER BY pin"));
  ps.Bind(1, id);
  XGW_TRY(org.client_cert_pins, ps.TextColumn());
  return org;
}

Result<Organisation> SqliteIdentityStore::GetOrganisation(const std::string& id) {
  std::lock_guard lock(mu_);
  return GetOrganisationLocked(id);
}

Result<std::vector<Organisation>> SqliteIdentityStore::ListOrganisations() {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  {
    XGW_TRY(auto st, db_.Prepare("SELECT id FROM organisations ORDER BY created_at, id"));
    XGW_TRY(ids, st.TextColumn());
  }
  std::vector<Organisation> out;
  for (const auto& id : ids) {
    XGW_TRY(auto org, GetOrganisationLocked(id));
    out.push_back(std::move(org));
  }
  return out;
}

Result<void> SqliteIdentityStore::ReplaceRolesLocked(const std::string& user_id,
                                               const std::vector<std::string>& roles) {
  XGW_TRY(auto del, db_.Prepare("DELETE FROM user_roles WHERE user_id = ?"));
  del.Bind(1, user_id);
  XGW_CHECK(del.Run());
  for (const auto& role : roles) {
    XGW_TRY(auto ins, db_.Prepare("INSERT INTO user_roles(user_id, role) VALUES (?,?)"));
    ins.Bind(1, user_id).Bind(2, role);
    XGW_CHECK(ins.Run());
  }
  return {};
}

Result<User> SqliteIdentityStore::CreateUser(const std::string& org_id, const std::string& display_name,
                                       const std::vector<std::string>& roles_in, int64_t now,
                                       std::string id, const BeforeCommit& before_commit) {
  if (!IsCleanText(display_name, 200)) {
    return Fail(ErrorCode::kInvalidArgument,
                "display_name: give 1-200 bytes of UTF-8 text without control characters");
  }
  XGW_TRY(auto roles, CheckRoles(roles_in));
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetOrganisationLocked(org_id).map([](auto&&) {}));
  User user{std::move(id), org_id, display_name, roles, std::nullopt, now};
  XGW_TRY(auto st, db_.Prepare(
                       "INSERT INTO users(id, org_id, display_name, created_at) VALUES (?,?,?,?)"));
  st.Bind(1, user.id).Bind(2, org_id).Bind(3, display_name).Bind(4, now);
  XGW_CHECK(st.Run());
  XGW_CHECK(ReplaceRolesLocked(user.id, roles));
  XGW_CHECK(Commit(tx, before_commit));
  return user;
}

Result<User> SqliteIdentityStore::GetUserLocked(const std::string& id) {
  XGW_TRY(auto st, db_.Prepare(
                       "SELECT u.id, u.org_id, u.display_name, u.created_at, k.age_recipient, "
                       "k.ed25519_verify_key, k.updated_at FROM users u "
                       "LEFT JOIN user_keys k ON k.user_id = u.id WHERE u.id = ?"));
  st.Bind(1, id);
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such user");
  User user{st.Text(0), st.Text(1), st.Text(2), {}, std::nullopt, st.Int(3)};
  if (auto age = st.OptText(4)) user.keys = UserKeys{*age, st.Text(5), st.Int(6)};
  XGW_TRY(auto rs, db_.Prepare("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role"));
  rs.Bind(1, id);
  XGW_TRY(user.roles, rs.TextColumn());
  return user;
}

Result<User> SqliteIdentityStore::GetUser(const std::string& id) {
  std::lock_guard lock(mu_);
  return GetUserLocked(id);
}

Result<std::vector<User>> SqliteIdentityStore::ListUsers(const std::string& org_id) {
  std::lock_guard lock(mu_);
  XGW_CHECK(GetOrganisationLocked(org_id).map([](auto&&) {}));
  std::vector<std::string> ids;
  {
    XGW_TRY(auto st, db_.Prepare("SELECT id FROM users WHERE org_id = ? ORDER BY created_at, id"));
    st.Bind(1, org_id);
    XGW_TRY(ids, st.TextColumn());
  }
  std::vector<User> out;
  for (const auto& id : ids) {
    XGW_TRY(auto u, GetUserLocked(id));
    out.push_back(std::move(u));
  }
  return out;
}

Result<User> SqliteIdentityStore::SetRoles(const std::string& user_id, const std::vector<std::string>& roles_in,
                                     const BeforeCommit& before_commit) {
  XGW_TRY(auto roles, CheckRoles(roles_in));
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  XGW_CHECK(ReplaceRolesLocked(user_id, roles));
  XGW_CHECK(Commit(tx, before_commit));
  return GetUserLocked(user_id);
}

Result<User> SqliteIdentityStore::SetKeys(const std::string& user_id, const std::string& age_recipient,
                                    const std::string& verify_key, int64_t now,
                                    const BeforeCommit& before_commit) {
  if (!IsAgeRecipientShape(age_recipient)) {
    return Fail(ErrorCode::kInvalidArgument,
                "age_recipient: give an age X25519 recipient (\"age1\" followed by 58 lower-case "
                "Bech32 characters), as printed by age-keygen or xgw keys");
  }
  if (!IsEd25519VerifyKey(verify_key)) {
    return Fail(ErrorCode::kInvalidArgument,
                "ed25519_verify_key: give the standard base64 (padded) of a 32-byte Ed25519 "
                "public key");
  }
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  // A change of keys starts a history entry; registering the same keys again does not.
  XGW_TRY(auto hist, db_.Prepare(
                         "INSERT INTO user_key_history(user_id, age_recipient, ed25519_verify_key, valid_from) "
                         "SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM user_keys WHERE user_id = ?1 "
                         "AND age_recipient = ?2 AND ed25519_verify_key = ?3)"));
  hist.Bind(1, user_id).Bind(2, age_recipient).Bind(3, verify_key).Bind(4, now);
  XGW_CHECK(hist.Run());
  XGW_TRY(auto st, db_.Prepare(
                       "INSERT INTO user_keys(user_id, age_recipient, ed25519_verify_key, "
                       "updated_at) VALUES (?,?,?,?) ON CONFLICT(user_id) DO UPDATE SET "
                       "age_recipient = excluded.age_recipient, ed25519_verify_key = "
                       "excluded.ed25519_verify_key, updated_at = excluded.updated_at"));
  st.Bind(1, user_id).Bind(2, age_recipient).Bind(3, verify_key).Bind(4, now);
  XGW_CHECK(st.Run());
  XGW_CHECK(Commit(tx, before_commit));
  return GetUserLocked(user_id);
}

Result<IssuedToken> SqliteIdentityStore::IssueToken(const std::string& user_id, int64_t ttl_seconds,
                                              const std::optional<std::string>& label,
                                              int64_t now, std::string id,
                                              const BeforeCommit& before_commit) {
  if (ttl_seconds <= 0) return Fail(ErrorCode::kInvalidArgument, "ttl_seconds: must be positive");
  if (label && !IsCleanText(*label, 100)) {
    return Fail(ErrorCode::kInvalidArgument,
                "label: give 1-100 bytes of text without control characters");
  }
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  IssuedToken t;
  t.secret = NewTokenSecret();
  t.info = TokenInfo{std::move(id), user_id, label, now, now + ttl_seconds, std::nullopt,
                     std::nullopt};
  XGW_TRY(auto st, db_.Prepare("INSERT INTO api_tokens(id, user_id, hash, label, created_at, "
                               "expires_at) VALUES (?,?,?,?,?,?)"));
  st.Bind(1, t.info.id)
      .Bind(2, user_id)
      .Bind(3, TokenHash(t.secret))
      .Bind(4, label)
      .Bind(5, now)
      .Bind(6, t.info.expires_at);
  XGW_CHECK(st.Run());
  XGW_CHECK(Commit(tx, before_commit));
  return t;
}

Result<TokenInfo> SqliteIdentityStore::GetTokenLocked(const std::string& id) {
  XGW_TRY(auto st, db_.Prepare("SELECT id, user_id, label, created_at, expires_at, revoked_at, "
                               "last_used_at FROM api_tokens WHERE id = ?"));
  st.Bind(1, id);
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such token");
  return TokenInfo{st.Text(0),  st.Text(1),   st.OptText(2), st.Int(3),
                   st.Int(4),   st.OptInt(5), st.OptInt(6)};
}

Result<TokenInfo> SqliteIdentityStore::GetToken(const std::string& id) {
  std::lock_guard lock(mu_);
  return GetTokenLocked(id);
}

Result<std::vector<TokenInfo>> SqliteIdentityStore::ListTokens(const std::string& user_id) {
  std::lock_guard lock(mu_);
  XGW_CHECK(GetUserLocked(user_id).map([](auto&&) {}));
  XGW_TRY(auto st, db_.Prepare("SELECT id, user_id, label, created_at, expires_at, revoked_at, "
                               "last_used_at FROM api_tokens WHERE user_id = ? "
                               "ORDER BY created_at, id"));
  st.Bind(1, user_id);
  std::vector<TokenInfo> out;
  while (true) {
    XGW_TRY(bool row, st.Step());
    if (!row) break;
    out.push_back(TokenInfo{st.Text(0), st.Text(1), st.OptText(2), st.Int(3), st.Int(4),
                            st.OptInt(5), st.OptInt(6)});
  }
  return out;
}

Result<TokenInfo> SqliteIdentityStore::RevokeToken(const std::string& id, int64_t now,
                                             const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetTokenLocked(id).map([](auto&&) {}));
  XGW_TRY(auto st, db_.Prepare(
                       "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"));
  st.Bind(1, now).Bind(2, id);
  XGW_CHECK(st.Run());
  XGW_TRY(auto token, GetTokenLocked(id));
  XGW_CHECK(Commit(tx, before_commit));
  return token;
}

Result<Principal> SqliteIdentityStore::Authenticate(std::string_view secret, int64_t now) {
  static const char* kMessage =
      "the bearer token is missing, unknown, expired or revoked; ask an operator for a new one";
  // Hash even a malformed secret so that every failure costs the same work.
  const std::string hash = TokenHash(secret);
  const bool shape_ok = IsTokenSecretShape(secret);
  Principal p;
  std::optional<int64_t> last_used;
  XGW_CHECK(readers_->Read([&](Database& c) -> Result<void> {
    XGW_TRY(auto st, c.Prepare(
                         "SELECT t.id, t.user_id, t.expires_at, t.revoked_at, t.last_used_at, "
                         "u.org_id, u.disabled_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
                         "WHERE t.hash = ?"));
    st.Bind(1, hash);
    XGW_TRY(bool row, st.Step());
    if (!shape_ok || !row) return Fail(ErrorCode::kUnauthenticated, kMessage);
    // A disabled user's tokens were revoked with the change; checked again here.
    if (st.OptInt(3) || st.Int(2) <= now || st.OptInt(6)) return Fail(ErrorCode::kUnauthenticated, kMessage);
    p = Principal{st.Text(1), st.Text(5), {}, st.Text(0)};
    p.expires_at = st.Int(2);
    last_used = st.OptInt(4);
    XGW_TRY(auto rs, c.Prepare("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role"));
    rs.Bind(1, p.user_id);
    XGW_TRY(p.roles, rs.TextColumn());
    return {};
  }));
  if (!last_used || now - *last_used >= kLastUsedGranularity) {
    // Bookkeeping for operators, not worth a wait: while a change holds the
    // writer (its audit commit included) the update is left to a later
    // request, and a failure must not refuse this one.
    std::unique_lock lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) {
      auto up = db_.Prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?");
      if (up) (void)up->Bind(1, now).Bind(2, p.token_id).Run();
    }
  }
  return p;
}

Result<PinAdded> SqliteIdentityStore::AddClientPin(const std::string& org_id, const std::string& text,
                                             const BeforeCommit& before_commit) {
  auto pin = NormalisePin(text);
  if (!pin) return Fail(ErrorCode::kInvalidArgument, std::string("pin: ") + kPinRule);
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetOrganisationLocked(org_id).map([](auto&&) {}));
  bool added = false;
  {
    XGW_TRY(auto st, db_.Prepare("SELECT org_id FROM organisation_client_pins WHERE pin = ?"));
    st.Bind(1, *pin);
    XGW_TRY(bool row, st.Step());
    if (row && st.Text(0) != org_id) {
      return Fail(ErrorCode::kConflict,
                  "pin: this certificate's pin is already registered to another organisation; "
                  "a pin maps to one organisation only, so remove it there first");
    }
    added = !row;
  }
  if (added) {
    XGW_TRY(auto ins, db_.Prepare("INSERT INTO organisation_client_pins(pin, org_id) VALUES (?,?)"));
    ins.Bind(1, *pin).Bind(2, org_id);
    XGW_CHECK(ins.Run());
  }
  XGW_TRY(auto org, GetOrganisationLocked(org_id));
  XGW_CHECK(Commit(tx, before_commit));
  return PinAdded{std::move(org), *pin, added};
}

Result<Organisation> SqliteIdentityStore::RemoveClientPin(const std::string& org_id,
                                                    const std::string& pin_hex,
                                                    const BeforeCommit& before_commit) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_CHECK(GetOrganisationLocked(org_id).map([](auto&&) {}));
  XGW_TRY(auto del, db_.Prepare("DELETE FROM organisation_client_pins WHERE pin = ? AND org_id = ?"));
  del.Bind(1, pin_hex).Bind(2, org_id);
  XGW_CHECK(del.Run());
  if (db_.Changes() == 0) {
    return Fail(ErrorCode::kNotFound, "this organisation has no such client-certificate pin");
  }
  XGW_TRY(auto org, GetOrganisationLocked(org_id));
  XGW_CHECK(Commit(tx, before_commit));
  return org;
}

Result<std::optional<int64_t>> SqliteIdentityStore::EarliestTokenExpiry(int64_t now) {
  return readers_->Read([&](Database& c) -> Result<std::optional<int64_t>> {
    XGW_TRY(auto st, c.Prepare(
                         "SELECT MIN(t.expires_at) FROM api_tokens t JOIN users u ON u.id = t.user_id "
                         "WHERE t.revoked_at IS NULL AND t.expires_at > ? AND u.disabled_at IS NULL"));
    st.Bind(1, now);
    XGW_TRY(bool row, st.Step());
    if (!row) return std::optional<int64_t>();
    return st.OptInt(0);
  });
}

Result<std::optional<std::string>> SqliteIdentityStore::OrganisationForPin(const std::string& pin) {
  return readers_->Read([&](Database& c) -> Result<std::optional<std::string>> {
    XGW_TRY(auto st, c.Prepare("SELECT org_id FROM organisation_client_pins WHERE pin = ?"));
    st.Bind(1, pin);
    XGW_TRY(bool row, st.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(st.Text(0));
  });
}

}  // namespace xgw
