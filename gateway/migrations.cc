#include "gateway/migrations.h"

#include <ctime>

namespace xgw {
namespace {

constexpr Migration kMigrations[] = {
    {1, "identities",
     R"sql(
CREATE TABLE organisations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  enterprise_number TEXT,
  dpo_contact TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE organisation_client_pins (
  pin TEXT PRIMARY KEY,          -- lower-case hex SHA-256 of the client certificate's SPKI
  org_id TEXT NOT NULL REFERENCES organisations(id)
);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organisations(id),
  display_name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX users_by_org ON users(org_id);
CREATE TABLE user_roles (
  user_id TEXT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  PRIMARY KEY (user_id, role)
);
CREATE TABLE user_keys (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  age_recipient TEXT NOT NULL,
  ed25519_verify_key TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  hash TEXT NOT NULL UNIQUE,     -- lower-case hex SHA-256 of the secret; the secret is never stored
  label TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
)sql"},
};

}  // namespace

std::span<const Migration> KnownMigrations() { return kMigrations; }

Result<int> SchemaVersion(Database& db) {
  XGW_CHECK(db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"));
  XGW_TRY(auto st, db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  XGW_TRY(bool row, st.Step());
  return row ? static_cast<int>(st.Int(0)) : 0;
}

Result<int> ApplyMigrations(Database& db, std::span<const Migration> migrations) {
  XGW_TRY(int version, SchemaVersion(db));
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  if (version > newest) {
    return Fail(ErrorCode::kConflict,
                "database schema version " + std::to_string(version) +
                    " is newer than this xgwd knows (" + std::to_string(newest) +
                    "); run a newer xgwd or restore a matching backup");
  }
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    XGW_TRY(auto tx, Transaction::Begin(db));
    if (auto r = db.Exec(m.sql); !r) {
      return Fail(ErrorCode::kIo, "migration " + std::to_string(m.version) + " (" + m.name +
                                      ") failed: " + r.error().message);
    }
    XGW_TRY(auto st, db.Prepare(
                         "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?,?,?)"));
    st.Bind(1, static_cast<int64_t>(m.version)).Bind(2, m.name).Bind(3,
                                                                    static_cast<int64_t>(std::time(nullptr)));
    XGW_CHECK(st.Run());
    XGW_CHECK(tx.Commit());
    version = m.version;
  }
  return version;
}

}  // namespace xgw
