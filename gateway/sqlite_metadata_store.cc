// SQL of the protocols, exchanges, quotas and subject index (tables of
// gateway/migrations.cc). What each statement is for is said at the
// MetadataStore method it implements.
#include "gateway/sqlite_metadata_store.h"

#include <algorithm>

#include "crypto/hash.h"
#include "gateway/migrations.h"
#include "gateway/subject_index_upload.h"

namespace xgw {

namespace {

constexpr const char* kExchangeColumns =
    "id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state, manifest, "
    "manifest_signature, signer, rows, byte_size, size, created_at, delivered_at, "
    "first_download_at, acknowledged_at, expires_at, deleted_at, deleted_reason";

// kExchangeColumns with the manifest and its signature left out (NULL): a
// manifest can be large (one 64-hex value per subject), and lists and sweeps
// never need it; ReadExchange reads it.
constexpr const char* kExchangeListColumns =
    "id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state, NULL, "
    "NULL, signer, rows, byte_size, size, created_at, delivered_at, "
    "first_download_at, acknowledged_at, expires_at, deleted_at, deleted_reason";

ExchangeRow ExchangeFrom(const Statement& st) {
  ExchangeRow e;
  e.id = st.Text(0);
  e.protocol_id = st.Text(1);
  e.version_hash = st.Text(2);
  e.sender_org = st.Text(3);
  e.sender_user = st.Text(4);
  e.sender_party = st.Text(5);
  e.mode = st.Text(6);
  e.state = st.Text(7);
  e.manifest = st.OptText(8);
  e.manifest_signature = st.OptText(9);
  e.signer = st.Text(10);
  e.rows = st.Int(11);
  e.byte_size = st.Int(12);
  e.size = st.OptInt(13);
  e.created_at = st.Int(14);
  e.delivered_at = st.OptInt(15);
  e.first_download_at = st.OptInt(16);
  e.acknowledged_at = st.OptInt(17);
  e.expires_at = st.OptInt(18);
  e.deleted_at = st.OptInt(19);
  e.deleted_reason = st.OptText(20);
  return e;
}

// The WHERE clause of a filter, with one parameter (?1).
const char* FilterSql(ExchangeFilter::Set set) {
  switch (set) {
    case ExchangeFilter::Set::kExpiredBy:
      return "state IN ('available','acknowledged') AND expires_at <= ?1";
    case ExchangeFilter::Set::kPendingSince:
      // An upload in chunks is waited for while its chunks keep coming.
      return "state = 'pending' AND created_at <= ?1 AND NOT EXISTS (SELECT 1 FROM upload_chunks c "
             "WHERE c.exchange_id = exchanges.id AND c.received_at > ?1)";
    case ExchangeFilter::Set::kSentBy:
      return "sender_org = ?1 AND state != 'pending'";
    case ExchangeFilter::Set::kDeliveredToOrg:
      // An index lookup through the protocols the organisation is a party
      // of, not every live exchange of the gateway.
      return "state IN ('available','acknowledged') AND protocol_id IN "
             "(SELECT protocol_id FROM protocol_parties WHERE org_id = ?1)";
    case ExchangeFilter::Set::kOpenOfProtocol:
      return "protocol_id = ?1 AND state IN ('pending','available','acknowledged')";
  }
  return "0";
}

bool FilterTakesKey(ExchangeFilter::Set set) {
  return set != ExchangeFilter::Set::kExpiredBy && set != ExchangeFilter::Set::kPendingSince;
}

Result<std::vector<StoredAcceptance>> AcceptancesOf(Database& c, const std::string& id, const std::string& hash) {
  XGW_TRY(auto st, c.Prepare("SELECT party, version_hash, COALESCE(accepted_by, ''), at FROM protocol_acceptances "
                             "WHERE protocol_id = ? AND version_hash = ? ORDER BY party"));
  st.Bind(1, id).Bind(2, hash);
  std::vector<StoredAcceptance> out;
  while (true) {
    XGW_TRY(bool more, st.Step());
    if (!more) return out;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Int(3)});
  }
}

Result<std::string> VersionDocument(Database& c, const std::string& id, const std::string& hash) {
  XGW_TRY(auto st, c.Prepare("SELECT document FROM protocol_versions WHERE protocol_id = ? AND version_hash = ?"));
  st.Bind(1, id).Bind(2, hash);
  XGW_TRY(bool row, st.Step());
  return row ? st.Text(0) : std::string();
}

// Deliveries since window w began, at most `limit`: a range of the index
// exchanges_by_delivery. No upper bound at "now": a delivery the clock
// stands before (a system clock stepped back, a manual clock restarted)
// happened all the same and must not give its slot back.
Result<uint64_t> CountDeliveries(Database& c, const std::string& protocol_id, const std::string& party,
                                 const TransferWindow& w, uint64_t limit) {
  XGW_TRY(auto st, c.Prepare("SELECT COUNT(*) FROM (SELECT 1 FROM exchanges WHERE protocol_id = ? AND "
                             "sender_party = ? AND delivered_at >= ? LIMIT ?)"));
  st.Bind(1, protocol_id).Bind(2, party).Bind(3, FromInstant(w.since))
      .Bind(4, static_cast<int64_t>(std::min<uint64_t>(limit, uint64_t{1} << 40)));
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kInternal, "COUNT returned no row");
  return static_cast<uint64_t>(st.Int(0));
}

// The transfers of window w: one row of transfer_counts, kept by
// CountTransferLocked; without one (no delivery in this window since the
// table exists, or none under this period definition), the exchanges
// themselves are counted.
Result<uint64_t> CountTransfers(Database& c, const std::string& protocol_id, const std::string& party,
                                const TransferWindow& w) {
  XGW_TRY(auto st, c.Prepare("SELECT n FROM transfer_counts WHERE protocol_id = ? AND sender_party = ? "
                             "AND period = ? AND since = ?"));
  st.Bind(1, protocol_id).Bind(2, party).Bind(3, w.period).Bind(4, FromInstant(w.since));
  XGW_TRY(bool row, st.Step());
  if (row) return std::min<uint64_t>(static_cast<uint64_t>(st.Int(0)), w.limit);
  return CountDeliveries(c, protocol_id, party, w, w.limit);
}

}  // namespace

Result<std::unique_ptr<SqliteMetadataStore>> SqliteMetadataStore::Open(const std::string& path, ReadPool& readers) {
  XGW_TRY(auto db, Database::Open(path));
  XGW_CHECK(ApplyMigrations(db));  // a no-op when the identity store already did
  return std::unique_ptr<SqliteMetadataStore>(new SqliteMetadataStore(std::move(db), readers));
}

// ---- protocols --------------------------------------------------------------

Result<std::optional<StoredProtocol>> SqliteMetadataStore::ReadProtocolOn(Database& c, const std::string& id) {
  XGW_TRY(auto st, c.Prepare("SELECT version_hash, document, state, proposed_at, activated_at, "
                             "suspended_at, terminated_at FROM protocols WHERE id = ?"));
  st.Bind(1, id);
  XGW_TRY(bool row, st.Step());
  if (!row) return std::optional<StoredProtocol>();
  StoredProtocol r;
  r.id = id;
  r.version_hash = st.Text(0);
  r.document = st.Text(1);
  auto state = ProtocolStateFromName(st.Text(2));
  if (!state) return Fail(ErrorCode::kCorrupt, "stored protocol has an unknown state");
  r.state = *state;
  r.proposed_at = st.Int(3);
  r.activated_at = st.OptInt(4);
  r.suspended_at = st.OptInt(5);
  r.terminated_at = st.OptInt(6);
  XGW_TRY(auto ps, c.Prepare("SELECT party, org_id FROM protocol_parties WHERE protocol_id = ?"));
  ps.Bind(1, id);
  while (true) {
    XGW_TRY(bool more, ps.Step());
    if (!more) break;
    r.party_org[ps.Text(0)] = ps.Text(1);
  }
  XGW_TRY(r.acceptances, AcceptancesOf(c, id, r.version_hash));
  XGW_TRY(auto pv, c.Prepare("SELECT version_hash, document, proposed_at, COALESCE(proposed_by, '') "
                             "FROM protocol_versions WHERE protocol_id = ? AND state = 'proposed' "
                             "AND version_hash != ?"));
  pv.Bind(1, id).Bind(2, r.version_hash);
  XGW_TRY(bool has_pending, pv.Step());
  if (has_pending) {
    StoredProtocol::Pending p;
    p.version_hash = pv.Text(0);
    p.document = pv.Text(1);
    p.proposed_at = pv.Int(2);
    p.proposed_by = pv.Text(3);
    XGW_TRY(p.acceptances, AcceptancesOf(c, id, p.version_hash));
    r.pending = std::move(p);
  }
  return std::optional<StoredProtocol>(std::move(r));
}

Result<std::optional<StoredProtocol>> SqliteMetadataStore::ReadProtocol(const std::string& id) {
  return readers_.Read([&](Database& c) { return ReadProtocolOn(c, id); });
}

Result<std::optional<StoredProtocol>> SqliteMetadataStore::ReadProtocolVersion(const std::string& id,
                                                                               const std::string& hash) {
  return readers_.Read([&](Database& c) -> Result<std::optional<StoredProtocol>> {
    XGW_TRY(auto r, ReadProtocolOn(c, id));
    if (!r || r->version_hash == hash) return r;
    XGW_TRY(std::string document, VersionDocument(c, id, hash));
    if (document.empty()) {
      return Fail(ErrorCode::kCorrupt, "an exchange refers to a protocol version the gateway does not hold");
    }
    r->document = std::move(document);
    r->version_hash = hash;
    return r;
  });
}

Result<std::vector<std::string>> SqliteMetadataStore::ProtocolIds(bool open_only) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(open_only ? "SELECT id FROM protocols WHERE state IN ('proposed','valid','suspended') "
                                           "ORDER BY id"
                                         : "SELECT id FROM protocols ORDER BY id"));
  return st.TextColumn();
}

Result<std::vector<StoredVersion>> SqliteMetadataStore::Versions(const std::string& id) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT version_hash, document, state, proposed_at, COALESCE(proposed_by, ''), "
                               "activated_at, ended_at FROM protocol_versions WHERE protocol_id = ? "
                               "ORDER BY proposed_at, rowid"));
  st.Bind(1, id);
  std::vector<StoredVersion> out;
  while (true) {
    XGW_TRY(bool more, st.Step());
    if (!more) return out;
    StoredVersion v;
    v.version_hash = st.Text(0);
    v.document = st.Text(1);
    v.state = st.Text(2);
    v.proposed_at = st.Int(3);
    v.proposed_by = st.Text(4);
    v.activated_at = st.OptInt(5);
    v.ended_at = st.OptInt(6);
    XGW_TRY(v.acceptances, AcceptancesOf(db_, id, v.version_hash));
    out.push_back(std::move(v));
  }
}

Result<std::string> SqliteMetadataStore::VersionStateLocked(const std::string& id, const std::string& hash) {
  XGW_TRY(auto st, db_.Prepare("SELECT state FROM protocol_versions WHERE protocol_id = ? AND version_hash = ?"));
  st.Bind(1, id).Bind(2, hash);
  XGW_TRY(bool row, st.Step());
  return row ? st.Text(0) : std::string();
}

Result<std::string> SqliteMetadataStore::VersionState(const std::string& id, const std::string& hash) {
  std::lock_guard lock(mu_);
  return VersionStateLocked(id, hash);
}

Result<void> SqliteMetadataStore::WithdrawPendingLocked(const std::string& id, int64_t now) {
  XGW_TRY(auto st, db_.Prepare("UPDATE protocol_versions SET state = 'withdrawn', ended_at = ? "
                               "WHERE protocol_id = ? AND state = 'proposed'"));
  st.Bind(1, now).Bind(2, id);
  return st.Run();
}

Result<bool> SqliteMetadataStore::Propose(const Proposal& p, const ApproveProposal& approve) {
  // One lock from the read to the commit: two operators proposing at once
  // must not both see "no pending version".
  std::lock_guard lock(mu_);
  XGW_TRY(auto existing, ReadProtocolOn(db_, p.id));
  XGW_TRY(std::string version_state, VersionStateLocked(p.id, p.version_hash));
  XGW_TRY(bool approved, approve(existing, version_state));
  if (!approved) return false;
  XGW_TRY(auto tx, Transaction::Begin(db_));
  if (!existing) {
    XGW_TRY(auto st, db_.Prepare("INSERT INTO protocols(id, version_hash, document, state, proposed_at) "
                                 "VALUES (?, ?, ?, 'proposed', ?)"));
    st.Bind(1, p.id).Bind(2, p.version_hash).Bind(3, p.document).Bind(4, p.now);
    XGW_CHECK(st.Run());
  } else if (existing->state == ProtocolState::kProposed) {
    // Never in force: the new document simply takes the old one's place.
    XGW_TRY(auto st, db_.Prepare("UPDATE protocols SET version_hash = ?, document = ?, proposed_at = ? WHERE id = ?"));
    st.Bind(1, p.version_hash).Bind(2, p.document).Bind(3, p.now).Bind(4, p.id);
    XGW_CHECK(st.Run());
  }
  XGW_CHECK(WithdrawPendingLocked(p.id, p.now));
  XGW_TRY(auto vs, db_.Prepare("INSERT INTO protocol_versions(protocol_id, version_hash, document, state, "
                               "proposed_at, proposed_by) VALUES (?, ?, ?, 'proposed', ?, ?)"));
  vs.Bind(1, p.id).Bind(2, p.version_hash).Bind(3, p.document).Bind(4, p.now).Bind(5, p.proposed_by);
  XGW_CHECK(vs.Run());
  for (const auto& [party, org] : p.party_org) {
    // Parties of every version stay on record: a party dropped by an
    // amendment still sees the protocol and what was sent under the
    // versions it was part of.
    XGW_TRY(auto ps, db_.Prepare("INSERT OR IGNORE INTO protocol_parties(protocol_id, party, org_id) VALUES (?,?,?)"));
    ps.Bind(1, p.id).Bind(2, party).Bind(3, org);
    XGW_CHECK(ps.Run());
  }
  XGW_CHECK(tx.Commit());
  return true;
}

Result<bool> SqliteMetadataStore::ActivateVersion(const std::string& id, const std::string& hash,
                                                  const std::string& document, int64_t now,
                                                  const std::function<Result<void>()>& audit) {
  // Held from the check to the commit: a concurrent proposal (which
  // withdraws this version) or activation must not interleave.
  std::lock_guard lock(mu_);
  XGW_TRY(std::string state, VersionStateLocked(id, hash));
  if (state == "current") return false;  // a concurrent last acceptance got there first
  if (state != "proposed") {
    return Fail(ErrorCode::kConflict, "version " + hash + " is no longer pending (it is " + state + ")");
  }
  XGW_CHECK(audit());
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto old, db_.Prepare("UPDATE protocol_versions SET state = 'superseded', ended_at = ? "
                                "WHERE protocol_id = ? AND state = 'current'"));
  old.Bind(1, now).Bind(2, id);
  XGW_CHECK(old.Run());
  XGW_TRY(auto cur, db_.Prepare("UPDATE protocol_versions SET state = 'current', activated_at = ? "
                                "WHERE protocol_id = ? AND version_hash = ?"));
  cur.Bind(1, now).Bind(2, id).Bind(3, hash);
  XGW_CHECK(cur.Run());
  XGW_TRY(auto row, db_.Prepare("UPDATE protocols SET version_hash = ?, document = ?, activated_at = ? WHERE id = ?"));
  row.Bind(1, hash).Bind(2, document).Bind(3, now).Bind(4, id);
  XGW_CHECK(row.Run());
  XGW_CHECK(tx.Commit());
  return true;
}

Result<void> SqliteMetadataStore::SetProtocolState(const std::string& id, ProtocolState from, ProtocolState to,
                                                   const std::string& hash, int64_t now) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  if (to == ProtocolState::kExpired) {
    XGW_TRY(auto st, db_.Prepare("UPDATE protocols SET state = 'expired' WHERE id = ? AND "
                                 "state IN ('proposed','valid','suspended')"));
    st.Bind(1, id);
    XGW_CHECK(st.Run());
  } else {
    const char* column = to == ProtocolState::kValid       ? "activated_at"
                         : to == ProtocolState::kSuspended ? "suspended_at"
                                                           : "terminated_at";
    XGW_TRY(auto st, db_.Prepare(std::string("UPDATE protocols SET state = ?, ") + column + " = ? WHERE id = ?"));
    st.Bind(1, std::string(ProtocolStateName(to))).Bind(2, now).Bind(3, id);
    XGW_CHECK(st.Run());
  }
  if (to == ProtocolState::kValid && from == ProtocolState::kProposed) {
    // The first version comes into force.
    XGW_TRY(auto v, db_.Prepare("UPDATE protocol_versions SET state = 'current', activated_at = ? "
                                "WHERE protocol_id = ? AND version_hash = ?"));
    v.Bind(1, now).Bind(2, id).Bind(3, hash);
    XGW_CHECK(v.Run());
  }
  if (to == ProtocolState::kTerminated || to == ProtocolState::kExpired) XGW_CHECK(WithdrawPendingLocked(id, now));
  return tx.Commit();
}

Result<void> SqliteMetadataStore::RecordAcceptance(const std::string& id, const StoredAcceptance& a) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("INSERT OR REPLACE INTO protocol_acceptances(protocol_id, party, version_hash, "
                               "accepted_by, at) VALUES (?,?,?,?,?)"));
  st.Bind(1, id).Bind(2, a.party).Bind(3, a.version_hash).Bind(4, a.accepted_by).Bind(5, a.at);
  return st.Run();
}

// ---- exchanges --------------------------------------------------------------

Result<std::optional<ExchangeRow>> SqliteMetadataStore::ReadExchange(const std::string& id) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(std::string("SELECT ") + kExchangeColumns + " FROM exchanges WHERE id = ?"));
  st.Bind(1, id);
  XGW_TRY(bool row, st.Step());
  if (!row) return std::optional<ExchangeRow>();
  return std::optional<ExchangeRow>(ExchangeFrom(st));
}

Result<std::vector<ExchangeRow>> SqliteMetadataStore::ListExchanges(const ExchangeFilter& filter,
                                                                    const std::optional<ListCursor>& after,
                                                                    std::optional<int64_t> limit) {
  std::string sql = std::string("SELECT ") + kExchangeListColumns + " FROM exchanges WHERE (" +
                    FilterSql(filter.set) + ")";
  if (after) sql += " AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))";
  sql += " ORDER BY created_at, id";
  if (limit) sql += " LIMIT ?4";
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(sql));
  if (FilterTakesKey(filter.set)) {
    st.Bind(1, filter.key);
  } else {
    st.Bind(1, filter.bound);
  }
  if (after) st.Bind(2, after->created_at).Bind(3, after->id);
  if (limit) st.Bind(4, *limit);
  std::vector<ExchangeRow> out;
  while (true) {
    XGW_TRY(bool more, st.Step());
    if (!more) return out;
    out.push_back(ExchangeFrom(st));
  }
}

Result<std::unordered_map<std::string, std::string>> SqliteMetadataStore::OpenExchangeStates() {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT id, state FROM exchanges WHERE state IN ('available','acknowledged','pending')"));
  std::unordered_map<std::string, std::string> out;
  while (true) {
    XGW_TRY(bool more, st.Step());
    if (!more) return out;
    out.emplace(st.Text(0), st.Text(1));
  }
}

Result<uint64_t> SqliteMetadataStore::CountLive() {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT COUNT(*) FROM exchanges WHERE state IN ('available','acknowledged')"));
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kInternal, "COUNT returned no row");
  return static_cast<uint64_t>(st.Int(0));
}

Result<std::optional<int64_t>> SqliteMetadataStore::OldestExpiryLeft(int64_t now) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT MIN(expires_at) FROM exchanges WHERE state IN ('available','acknowledged') "
                               "AND expires_at <= ?"));
  st.Bind(1, now);
  XGW_TRY(bool row, st.Step());
  return row ? st.OptInt(0) : std::optional<int64_t>();
}

Result<uint64_t> SqliteMetadataStore::TransfersInWindow(const std::string& protocol_id, const std::string& party,
                                                        const TransferWindow& w) {
  return readers_.Read([&](Database& c) { return CountTransfers(c, protocol_id, party, w); });
}

Result<void> SqliteMetadataStore::InsertExchangeLocked(const ExchangeRow& e, std::span<const Sha256Digest> subjects) {
  XGW_TRY(auto st, db_.Prepare("INSERT INTO exchanges(id, protocol_id, version_hash, sender_org, sender_user, "
                               "sender_party, mode, state, manifest, manifest_signature, signer, rows, "
                               "byte_size, created_at, delivered_at, expires_at, size) "
                               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  st.Bind(1, e.id).Bind(2, e.protocol_id).Bind(3, e.version_hash).Bind(4, e.sender_org)
      .Bind(5, e.sender_user).Bind(6, e.sender_party).Bind(7, e.mode).Bind(8, e.state)
      .Bind(9, e.manifest).Bind(10, e.manifest_signature).Bind(11, e.signer).Bind(12, e.rows)
      .Bind(13, e.byte_size).Bind(14, e.created_at).Bind(15, e.delivered_at).Bind(16, e.expires_at)
      .Bind(17, e.size);
  XGW_CHECK(st.Run());
  // Stored as lower-case hex (the form of the listed manifest).
  for (const auto& v : subjects) {
    XGW_TRY(auto sub, db_.Prepare("INSERT OR IGNORE INTO exchange_subjects(value, exchange_id) VALUES (?, ?)"));
    sub.Bind(1, HexEncode(v)).Bind(2, e.id);
    XGW_CHECK(sub.Run());
  }
  return {};
}

Result<void> SqliteMetadataStore::InsertStreamedSubjectsLocked(const std::string& id,
                                                               const SubjectIndexUpload& index) {
  // The values are stored as the listed form stores them (lower-case hex),
  // so that one lookup finds both.
  return index.ForEach([&](std::span<const Sha256Digest> values) -> Result<void> {
    for (const auto& v : values) {
      XGW_TRY(auto sub, db_.Prepare("INSERT OR IGNORE INTO exchange_subjects(value, exchange_id) VALUES (?, ?)"));
      sub.Bind(1, HexEncode(v)).Bind(2, id);
      XGW_CHECK(sub.Run());
    }
    return {};
  });
}

Result<void> SqliteMetadataStore::InsertPending(const ExchangeRow& row, std::span<const Sha256Digest> subjects) {
  const std::function<Result<void>()> insert = [&]() { return InsertExchangeLocked(row, subjects); };
  return writes_.Run(insert);
}

// Records in transfer_counts one more delivery in window w; inside the
// transaction that made the exchange available (its row already says so). A
// window's first row starts from the exchanges themselves, so deliveries made
// before the table existed, or under a protocol version with another period,
// are counted too.
Result<void> SqliteMetadataStore::CountTransferLocked(const std::string& protocol_id, const std::string& party,
                                                      const TransferWindow& w) {
  XGW_TRY(auto up, db_.Prepare("UPDATE transfer_counts SET n = n + 1 WHERE protocol_id = ? AND "
                               "sender_party = ? AND period = ? AND since = ?"));
  up.Bind(1, protocol_id).Bind(2, party).Bind(3, w.period).Bind(4, FromInstant(w.since));
  XGW_CHECK(up.Run());
  if (db_.Changes() == 1) return {};
  XGW_TRY(uint64_t n, CountDeliveries(db_, protocol_id, party, w, uint64_t{1} << 40));
  XGW_TRY(auto ins, db_.Prepare("INSERT INTO transfer_counts(protocol_id, sender_party, period, since, n) "
                                "VALUES (?, ?, ?, ?, ?)"));
  ins.Bind(1, protocol_id).Bind(2, party).Bind(3, w.period).Bind(4, FromInstant(w.since))
      .Bind(5, static_cast<int64_t>(n));
  return ins.Run();
}

Result<ProtocolState> SqliteMetadataStore::ProtocolStateLocked(const std::string& id) {
  XGW_TRY(auto st, db_.Prepare("SELECT state FROM protocols WHERE id = ?"));
  st.Bind(1, id);
  XGW_TRY(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kCorrupt, "an exchange's protocol is missing from the database");
  auto state = ProtocolStateFromName(st.Text(0));
  if (!state) return Fail(ErrorCode::kCorrupt, "stored protocol has an unknown state");
  return *state;
}

Result<bool> SqliteMetadataStore::Publish(const Publication& p, const DecidePublication& decide) {
  const ExchangeRow& e = p.row;
  bool still_pending = false;
  const std::function<Result<void>()> publish = [&]() -> Result<void> {
    // Read inside the transaction: a suspension or termination committed
    // before it refuses the exchange, one committed after it finds the
    // exchange to delete; and no other completion can come between the
    // count and its increment.
    XGW_TRY(ProtocolState state, ProtocolStateLocked(e.protocol_id));
    XGW_TRY(uint64_t transfers, CountTransfers(db_, e.protocol_id, e.sender_party, p.window));
    XGW_TRY(Violations late, decide(state, transfers));
    if (!late.empty()) return Fail(ErrorCode::kPolicy, "the protocol no longer allows this transfer");
    if (p.insert) {
      XGW_CHECK(InsertExchangeLocked(e, p.listed_subjects));
      still_pending = true;
    } else {
      XGW_TRY(auto st, db_.Prepare("UPDATE exchanges SET state = 'available', delivered_at = ?, "
                                   "expires_at = ?, size = ? WHERE id = ? AND state = 'pending'"));
      st.Bind(1, e.delivered_at).Bind(2, e.expires_at).Bind(3, e.size).Bind(4, e.id);
      XGW_CHECK(st.Run());
      still_pending = db_.Changes() == 1;
      if (!still_pending) return {};
    }
    if (p.streamed_subjects != nullptr) XGW_CHECK(InsertStreamedSubjectsLocked(e.id, *p.streamed_subjects));
    return CountTransferLocked(e.protocol_id, e.sender_party, p.window);
  };
  XGW_CHECK(writes_.Run(publish));
  return still_pending;
}

Result<void> SqliteMetadataStore::MarkDeleted(const std::string& id, const std::string& state,
                                              const std::string& reason, int64_t now) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto st, db_.Prepare("UPDATE exchanges SET state = ?, manifest = NULL, manifest_signature = NULL, "
                               "deleted_at = ?, deleted_reason = ? WHERE id = ?"));
  st.Bind(1, state).Bind(2, now).Bind(3, reason).Bind(4, id);
  XGW_CHECK(st.Run());
  XGW_TRY(auto chunks, db_.Prepare("DELETE FROM upload_chunks WHERE exchange_id = ?"));
  chunks.Bind(1, id);
  XGW_CHECK(chunks.Run());
  if (state == "discarded") {
    XGW_TRY(auto sub, db_.Prepare("DELETE FROM exchange_subjects WHERE exchange_id = ?"));
    sub.Bind(1, id);
    XGW_CHECK(sub.Run());
  }
  return tx.Commit();
}

Result<void> SqliteMetadataStore::RecordFirstDownload(const std::string& id, int64_t at, int64_t expires_at) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto up, db_.Prepare("UPDATE exchanges SET first_download_at = ?, expires_at = ? "
                               "WHERE id = ? AND first_download_at IS NULL"));
  up.Bind(1, at).Bind(2, expires_at).Bind(3, id);
  return up.Run();
}

Result<void> SqliteMetadataStore::RecordAcknowledged(const std::string& id, int64_t at, int64_t expires_at) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto up, db_.Prepare("UPDATE exchanges SET state = 'acknowledged', acknowledged_at = ?, "
                               "expires_at = ? WHERE id = ? AND state = 'available'"));
  up.Bind(1, at).Bind(2, expires_at).Bind(3, id);
  return up.Run();
}

Result<void> SqliteMetadataStore::RecordViolationReport(const std::string& exchange_id, const std::string& user,
                                                        const std::string& org, const std::string& code,
                                                        const std::string& details_json, int64_t at) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("INSERT INTO violation_reports(exchange_id, reporter_user, reporter_org, code, "
                               "details, at) VALUES (?,?,?,?,?,?)"));
  st.Bind(1, exchange_id).Bind(2, user).Bind(3, org).Bind(4, code).Bind(5, details_json).Bind(6, at);
  return st.Run();
}

// ---- uploads in chunks --------------------------------------------------------

namespace {

constexpr const char* kChunkColumns = "exchange_id, n, size, sha256, file, received_at";

UploadChunk ChunkFrom(const Statement& st) {
  return UploadChunk{st.Text(0), st.Int(1), static_cast<uint64_t>(st.Int(2)), st.Text(3), st.Text(4), st.Int(5)};
}

}  // namespace

Result<std::optional<UploadChunk>> SqliteMetadataStore::RecordChunk(const UploadChunk& chunk, uint64_t max_total) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto tx, Transaction::Begin(db_));
  XGW_TRY(auto state, db_.Prepare("SELECT state FROM exchanges WHERE id = ?"));
  state.Bind(1, chunk.exchange_id);
  XGW_TRY(bool found, state.Step());
  if (!found || state.Text(0) != "pending") return Fail(ErrorCode::kConflict, "the exchange is not pending");
  XGW_TRY(auto held, db_.Prepare(std::string("SELECT ") + kChunkColumns + " FROM upload_chunks WHERE exchange_id = ? AND n = ?"));
  held.Bind(1, chunk.exchange_id).Bind(2, chunk.n);
  XGW_TRY(bool exists, held.Step());
  if (exists) return std::optional<UploadChunk>(ChunkFrom(held));
  XGW_TRY(auto total, db_.Prepare("SELECT COALESCE(SUM(size), 0) FROM upload_chunks WHERE exchange_id = ?"));
  total.Bind(1, chunk.exchange_id);
  XGW_CHECK(total.Step());
  if (static_cast<uint64_t>(total.Int(0)) + chunk.size > max_total) {
    return Fail(ErrorCode::kLimit, "the chunks would hold more than the upload may (" + std::to_string(max_total) +
                                       " bytes)");
  }
  XGW_TRY(auto ins, db_.Prepare("INSERT INTO upload_chunks(exchange_id, n, size, sha256, file, received_at) "
                                "VALUES (?,?,?,?,?,?)"));
  ins.Bind(1, chunk.exchange_id).Bind(2, chunk.n).Bind(3, static_cast<int64_t>(chunk.size)).Bind(4, chunk.sha256);
  ins.Bind(5, chunk.file).Bind(6, chunk.received_at);
  XGW_CHECK(ins.Run());
  XGW_CHECK(tx.Commit());
  return std::optional<UploadChunk>();
}

Result<std::vector<UploadChunk>> SqliteMetadataStore::ListChunks(const std::string& exchange_id) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(std::string("SELECT ") + kChunkColumns + " FROM upload_chunks WHERE exchange_id = ? ORDER BY n"));
  st.Bind(1, exchange_id);
  std::vector<UploadChunk> out;
  while (true) {
    XGW_TRY(bool more, st.Step());
    if (!more) return out;
    out.push_back(ChunkFrom(st));
  }
}

Result<void> SqliteMetadataStore::DeleteChunks(const std::string& exchange_id, std::optional<int64_t> n) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare(n ? "DELETE FROM upload_chunks WHERE exchange_id = ? AND n = ?"
                                 : "DELETE FROM upload_chunks WHERE exchange_id = ?"));
  st.Bind(1, exchange_id);
  if (n) st.Bind(2, *n);
  return st.Run();
}

// ---- subject index ----------------------------------------------------------

Result<std::vector<std::string>> SqliteMetadataStore::ExchangesOfSubject(const std::string& value_hex) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("SELECT exchange_id FROM exchange_subjects WHERE value = ?"));
  st.Bind(1, value_hex);
  return st.TextColumn();
}

Result<void> SqliteMetadataStore::PruneSubjects(int64_t deleted_before) {
  std::lock_guard lock(mu_);
  XGW_TRY(auto st, db_.Prepare("DELETE FROM exchange_subjects WHERE exchange_id IN "
                               "(SELECT id FROM exchanges WHERE deleted_at IS NOT NULL AND deleted_at <= ?)"));
  st.Bind(1, deleted_before);
  return st.Run();
}

}  // namespace xgw
