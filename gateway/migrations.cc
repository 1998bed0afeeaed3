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
    {2, "protocols-exchanges",
     R"sql(
CREATE TABLE protocols (
  id TEXT PRIMARY KEY,              -- protocol id from the document, e.g. 2024_VB_00591
  version_hash TEXT NOT NULL,       -- hex SHA-256 of document
  document TEXT NOT NULL,           -- the submitted document as canonical JSON
  state TEXT NOT NULL,              -- draft|proposed|valid|suspended|expired|terminated
  proposed_at INTEGER NOT NULL,
  activated_at INTEGER,
  suspended_at INTEGER,
  terminated_at INTEGER
);
CREATE TABLE protocol_parties (
  protocol_id TEXT NOT NULL REFERENCES protocols(id),
  party TEXT NOT NULL,              -- protocol-local party id
  org_id TEXT NOT NULL REFERENCES organisations(id),
  PRIMARY KEY (protocol_id, party)
);
CREATE INDEX protocol_parties_by_org ON protocol_parties(org_id);
CREATE TABLE protocol_acceptances (
  protocol_id TEXT NOT NULL REFERENCES protocols(id),
  party TEXT NOT NULL,
  version_hash TEXT NOT NULL,
  accepted_by TEXT NOT NULL,        -- user id of the operator/DPO who recorded it
  at INTEGER NOT NULL,
  PRIMARY KEY (protocol_id, party)
);
CREATE TABLE exchanges (
  id TEXT PRIMARY KEY,
  protocol_id TEXT NOT NULL REFERENCES protocols(id),
  version_hash TEXT NOT NULL,
  sender_org TEXT NOT NULL,
  sender_user TEXT NOT NULL,
  sender_party TEXT NOT NULL,
  mode TEXT NOT NULL,               -- e2e|gateway
  state TEXT NOT NULL,              -- pending|available|acknowledged|revoked|deleted|discarded
  manifest TEXT,                    -- canonical JSON; NULL once deleted
  manifest_signature TEXT,          -- base64; NULL once deleted
  signer TEXT NOT NULL,             -- user:<id> | gateway
  rows INTEGER NOT NULL,
  byte_size INTEGER NOT NULL,       -- declared list size
  size INTEGER,                     -- ciphertext size once uploaded
  created_at INTEGER NOT NULL,
  delivered_at INTEGER,
  first_download_at INTEGER,
  acknowledged_at INTEGER,
  expires_at INTEGER,
  deleted_at INTEGER,
  deleted_reason TEXT
);
CREATE INDEX exchanges_by_protocol ON exchanges(protocol_id, sender_party);
CREATE INDEX exchanges_by_state_expiry ON exchanges(state, expires_at);
CREATE TABLE exchange_subjects (
  value TEXT NOT NULL,              -- lower-case hex HMAC from the manifest's subject index
  exchange_id TEXT NOT NULL REFERENCES exchanges(id),
  PRIMARY KEY (value, exchange_id)
);
CREATE INDEX exchange_subjects_by_exchange ON exchange_subjects(exchange_id);
CREATE TABLE violation_reports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  exchange_id TEXT NOT NULL REFERENCES exchanges(id),
  reporter_user TEXT NOT NULL,
  reporter_org TEXT NOT NULL,
  code TEXT NOT NULL,
  details TEXT NOT NULL,            -- JSON: violation codes with row/column, never values
  at INTEGER NOT NULL
);
)sql"},
    // Protocol versions: one protocol id, many documents over time. The
    // `protocols` row keeps the version in force (or, before the first
    // activation, the proposed one); every version, that one included, has a
    // row here. Acceptances are per version. Existing rows become the first
    // version of their protocol and keep their acceptances.
    {3, "protocol-versions",
     R"sql(
CREATE TABLE protocol_versions (
  protocol_id TEXT NOT NULL REFERENCES protocols(id),
  version_hash TEXT NOT NULL,       -- hex SHA-256 of document
  document TEXT NOT NULL,           -- canonical JSON
  state TEXT NOT NULL,              -- proposed|current|superseded|withdrawn
  proposed_at INTEGER NOT NULL,
  proposed_by TEXT,                 -- user id of the operator; NULL for versions from schema 2
  activated_at INTEGER,
  ended_at INTEGER,                 -- when it was superseded or withdrawn
  PRIMARY KEY (protocol_id, version_hash)
);
INSERT INTO protocol_versions(protocol_id, version_hash, document, state, proposed_at, activated_at)
  SELECT id, version_hash, document,
         CASE WHEN state IN ('valid', 'suspended', 'expired') THEN 'current'
              WHEN state = 'terminated' AND activated_at IS NOT NULL THEN 'current'
              WHEN state = 'terminated' THEN 'withdrawn'
              ELSE 'proposed' END,
         proposed_at, activated_at
  FROM protocols;
ALTER TABLE protocol_acceptances RENAME TO protocol_acceptances_schema2;
CREATE TABLE protocol_acceptances (
  protocol_id TEXT NOT NULL REFERENCES protocols(id),
  version_hash TEXT NOT NULL,
  party TEXT NOT NULL,
  accepted_by TEXT NOT NULL,        -- user id of the operator/DPO who recorded it
  at INTEGER NOT NULL,
  PRIMARY KEY (protocol_id, version_hash, party)
);
INSERT INTO protocol_acceptances(protocol_id, version_hash, party, accepted_by, at)
  SELECT protocol_id, version_hash, party, accepted_by, at FROM protocol_acceptances_schema2;
DROP TABLE protocol_acceptances_schema2;
)sql"},
    {4, "transfer-quota-index",
     R"sql(
-- A send decision counts the sending party's deliveries in the current
-- period (one-off / quota): a range on delivered_at, not the whole history.
CREATE INDEX exchanges_by_delivery ON exchanges(protocol_id, sender_party, delivered_at);
)sql"},
    {5, "transfer-counts",
     R"sql(
-- Deliveries per sending party and frequency window (policy
-- RelevantTransfers: period = "one_off" or "<per>@<zone>", since = the
-- window's first second), kept in the transaction that makes an exchange
-- available, so that a send decision reads one row instead of counting the
-- period's deliveries. A window without a row is counted from exchanges.
CREATE TABLE transfer_counts (
  protocol_id TEXT NOT NULL,
  sender_party TEXT NOT NULL,
  period TEXT NOT NULL,
  since INTEGER NOT NULL,
  n INTEGER NOT NULL CHECK (n >= 0),
  PRIMARY KEY (protocol_id, sender_party, period, since)
) WITHOUT ROWID;
)sql"},
    {6, "sent-box-index",
     R"sql(
-- The sent box lists an organisation's exchanges: an index lookup instead of
-- a scan of every exchange the gateway ever carried.
CREATE INDEX exchanges_by_sender_org ON exchanges(sender_org, created_at);
)sql"},
    {7, "accounts",
     R"sql(
-- People's sign-in (gateway/sqlite_account_store.cc): one row per user who
-- was ever invited. Secrets are stored only as hashes (passwords: Argon2id;
-- invitation, recovery and session secrets: SHA-256 of 256-bit random
-- values) or encrypted (the TOTP secret: crypto_secretbox under the key
-- file keys/accounts-secretbox.key, which is not in this database).
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
CREATE TABLE accounts (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  signin_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  state TEXT NOT NULL CHECK (state IN ('invited', 'active', 'reset')),
  password_hash TEXT,            -- crypto_pwhash_str (Argon2id)
  totp_secret TEXT,              -- base64 of nonce || crypto_secretbox(secret)
  totp_pending TEXT,             -- the same, between enrolment and its confirmation
  totp_last_step INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  last_failure_at INTEGER NOT NULL DEFAULT 0,
  locked_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE TABLE invitations (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX invitations_by_user ON invitations(user_id);
CREATE TABLE recovery_codes (
  user_id TEXT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  used_at INTEGER,
  PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  hash TEXT NOT NULL UNIQUE,     -- SHA-256 of the session secret
  csrf_hash TEXT NOT NULL,       -- SHA-256 of the CSRF token (browser sessions)
  client TEXT NOT NULL CHECK (client IN ('browser', 'cli')),
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  idle_seconds INTEGER NOT NULL,
  absolute_expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX sessions_by_user ON sessions(user_id);
)sql"},
    {8, "key-custody",
     R"sql(
-- Every public key a person registered, and from when: the DPO sees each
-- change, and a key stays answerable for the lists sent while it was current.
CREATE TABLE user_key_history (
  seq INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  age_recipient TEXT NOT NULL,
  ed25519_verify_key TEXT NOT NULL,
  valid_from INTEGER NOT NULL
);
CREATE INDEX user_key_history_by_user ON user_key_history(user_id, seq);
INSERT INTO user_key_history(user_id, age_recipient, ed25519_verify_key, valid_from)
  SELECT user_id, age_recipient, ed25519_verify_key, updated_at FROM user_keys;
-- A person's identity file wrapped with their passphrase (age scrypt,
-- armored): the gateway keeps it for them and cannot open it.
CREATE TABLE key_backups (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  file TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql"},
    {9, "upload-chunks",
     R"sql(
-- The chunks of an upload in parts (PUT /api/v1/exchanges/{id}/content/chunks/{n}):
-- each one durable in <state>/chunks/<exchange>/<file> before it is
-- recorded here, so that an upload cut off resumes where it stopped, on
-- this instance or another. Removed when the upload completes or the
-- exchange is discarded.
CREATE TABLE upload_chunks (
  exchange_id TEXT NOT NULL REFERENCES exchanges(id),
  n INTEGER NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  file TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (exchange_id, n)
);
)sql"},
    {10, "sso-identities",
     R"sql(
-- Single sign-on: the value a person's organisation's identity provider
-- puts in the configured claim, registered by an operator, kept as a hash
-- (gateway/api_sso.cc SsoSubjectHash), one per person, unique in the
-- organisation.
CREATE TABLE sso_identities (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  org_id TEXT NOT NULL REFERENCES organisations(id),
  subject_hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (org_id, subject_hash)
);
)sql"},
    {11, "organisation-time-zone",
     R"sql(
-- The zone an organisation's people read times in (IANA name); the clients
-- show times in it.
ALTER TABLE organisations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Europe/Brussels';
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
