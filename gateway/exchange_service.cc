// Far past ~800 lines: protocol and exchange routes, their SQL, policy calls
// and the sweeper still share one room here. Issue 16 is splitting it: the
// audit routes went to api_audit.cc/AuditQueries and the ciphertexts behind
// BlobStore; next, the SQL behind a metadata store and the routes into one
// api_*.cc per resource. Until then new code goes in its own file where it
// can (e.g. subject_index_upload.cc) and joins here at the route.
#include "gateway/exchange_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <set>
#include <unordered_map>
#include <utility>

#include "crypto/age.h"
#include "crypto/age_format.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/signed_note.h"
#include "audit/fault_points.h"
#include "gateway/api_support.h"
#include "gateway/segment_blob_store.h"
#include "gateway/group_commit.h"
#include "gateway/ids.h"
#include "gateway/migrations.h"
#include "gateway/identity_rules.h"
#include "gateway/problem.h"
#include "gateway/subject_index_upload.h"
#include "gateway/subject_keys.h"
#include "policy/canonical_json.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/decisions.h"
#include "policy/lifecycle.h"
#include "policy/manifest.h"
#include "policy/protocol_diff.h"

namespace xgw {

using nlohmann::json;

namespace {

constexpr std::string_view kExchangePrefix = "exc";

Instant ToInstant(int64_t t) { return Instant(std::chrono::seconds(t)); }
int64_t FromInstant(Instant t) { return static_cast<int64_t>(t.time_since_epoch().count()); }

// Media type of a one-request upload's body (create document, "\n", age file).
constexpr const char* kOneRequestUploadType = "application/vnd.xgw.exchange";
// PUT .../content of an exchange whose manifest streams its subject index:
// the index block, then the age file.
constexpr const char* kIndexedContentType = "application/vnd.xgw.exchange-content";

bool IsProtocolId(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool IsLowerHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Listings (GET /api/v1/exchanges) come in pages of `limit` summaries in
// (created_at, id) order; a page's `next` is the position of its last row,
// "<created_at>.<id>", which the next request passes back as `after`.
constexpr size_t kDefaultListLimit = 100;
constexpr size_t kMaxListLimit = 1000;

struct ListCursor {
  int64_t created_at = 0;
  std::string id;
};

struct ListPage {
  size_t limit = kDefaultListLimit;
  std::optional<ListCursor> after;
};

std::string FormatListCursor(const ListCursor& c) { return std::to_string(c.created_at) + "." + c.id; }

std::optional<ListCursor> ParseListCursor(const std::string& s) {
  const size_t dot = s.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string t = s.substr(0, dot), id = s.substr(dot + 1);
  if (!IsDecimal(t) || !IsValidId(kExchangePrefix, id)) return std::nullopt;
  return ListCursor{std::stoll(t), id};
}

Response WithExtra(Response r, const json& extra) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
    r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return r;
}

json ViolationsJson(const Violations& v) {
  json out = json::array();
  for (const auto& x : v) {
    json j = {{"code", x.code}, {"message", x.message}};
    if (x.row) j["row"] = x.row;
    if (!x.column.empty()) j["column"] = x.column;
    out.push_back(std::move(j));
  }
  return out;
}

// The audit reason for a policy violation code.
std::string ReasonForViolation(const std::string& code) {
  static const std::map<std::string, std::string> kMap = {
      {"column_not_allowed", "column_not_allowed"},
      {"duplicate_column", "column_not_allowed"},
      {"required_column_missing", "column_missing"},
      {"required_value_missing", "value_invalid"},
      {"invalid_value", "value_invalid"},
      {"ragged_row", "validation_failed"},
      {"too_many_rows", "row_limit_exceeded"},
      {"too_many_bytes", "size_limit_exceeded"},
      {"list_limit_exceeded", "size_limit_exceeded"},
      {"one_off_used", "one_off_used"},
      {"period_quota_reached", "quota_exceeded"},
      {"protocol_not_accepted", "protocol_not_accepted"},
      {"protocol_not_yet_valid", "validity_period"},
      {"protocol_expired", "protocol_expired"},
      {"protocol_suspended", "protocol_suspended"},
      {"protocol_terminated", "protocol_terminated"},
      {"sender_not_sending_party", "not_sender"},
      {"format_not_allowed", "unsupported_format"},
      {"protocol_mismatch", "protocol_version_mismatch"},
      {"retention_already_passed", "retention_expired"},
      {"recipient_not_allowed", "recipient_not_allowed"},
  };
  auto it = kMap.find(code);
  return it == kMap.end() ? "validation_failed" : it->second;
}

// A subject-index key file the operator placed but xgwd cannot use. The
// upload stops rather than going ahead without an index (the DPO could never
// find that list); the caller learns which file and what is wrong, the log
// also where the directory is. Neither ever sees key bytes.
Response SubjectKeyProblem(const RequestContext& ctx, const Error& error) {
  std::fprintf(stderr, "xgwd: %s subject-index key unusable (exchanges.subject_keys_dir is %s): %s\n",
               ctx.request_id().c_str(), ctx.config->exchanges.subject_keys_dir.c_str(),
               error.message.c_str());
  return Problem(500, "subject-key-unusable", "Subject-index key unusable",
                 "the gateway cannot use your organisation's subject-index key: " + error.message +
                     ". Nothing was stored; ask the gateway operator to fix the key file",
                 ctx.request_id());
}

}  // namespace

// ---------------------------------------------------------------------------

struct ProtocolRecord {
  std::shared_ptr<const Protocol> protocol;
  ProtocolStatus status;
  std::string document;  // canonical JSON
  int64_t proposed_at = 0;
  std::optional<int64_t> activated_at, suspended_at, terminated_at;
  std::map<std::string, std::string> party_org;  // party id -> gateway org id
  std::map<std::string, std::pair<std::string, int64_t>> accepted;  // party -> (hash, at)
  // A proposed amendment of a protocol already in force (valid or
  // suspended); the version above stays in force until every party of the
  // amendment accepted it. Never set for a protocol whose first version is
  // still only proposed: that version is the one above.
  struct Pending {
    std::shared_ptr<const Protocol> protocol;
    std::string document;
    int64_t proposed_at = 0;
    std::string proposed_by;  // "" for versions from schema 2
    std::vector<Acceptance> acceptances;
    std::map<std::string, std::pair<std::string, int64_t>> accepted_by;  // party -> (user, at)
  };
  std::optional<Pending> pending;
};

struct ExchangeRow {
  std::string id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state;
  std::optional<std::string> manifest, manifest_signature;
  std::string signer;
  int64_t rows = 0, byte_size = 0;
  std::optional<int64_t> size;
  int64_t created_at = 0;
  std::optional<int64_t> delivered_at, first_download_at, acknowledged_at, expires_at, deleted_at;
  std::optional<std::string> deleted_reason;
};

struct ExchangeService::Impl {
  Deps deps;
  std::mutex mu;  // guards db
  Database db;
  ReadPool& readers;  // the daemon's one read pool (IdentityStore): reads that decide, without mu
  std::mutex cache_mu;
  std::map<std::string, std::shared_ptr<const Protocol>> parsed;  // version_hash -> protocol
  std::unique_ptr<BlobStore> blobs;  // ciphertexts
  std::string spool_dir;  // local scratch for streamed subject indexes

  std::thread sweeper;
  std::mutex sweep_mu;
  std::condition_variable sweep_cv;
  bool stop = false;
  bool wake = false;
  std::atomic<uint64_t> live{0};
  // Bytes of secret memory held by gateway-encrypt uploads at this moment
  // (PlaintextSink), bounded by exchanges.plaintext_memory_budget_bytes.
  std::atomic<uint64_t> plaintext_held{0};
  std::optional<int64_t> last_subject_prune;  // under mu

  // Exchanges an upload is publishing or the sweeper is discarding, one
  // at a time. An upload holds its claim from just before the rename that
  // publishes its blob to the end of the transaction that makes the
  // exchange available (or of the clean-up when that fails): a one-request
  // upload has no row in that time, and a two-request one still says
  // "pending", so without the claim the sweeper would take the blob for an
  // orphan, or discard an upload that is being acknowledged.
  std::mutex claims_mu;
  std::set<std::string> claimed;
  std::condition_variable claim_released;

  class Claim {
   public:
    Claim(Impl& impl, std::string id) : impl_(&impl), id_(std::move(id)) {}
    Claim(Claim&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)), id_(std::move(other.id_)) {}
    Claim& operator=(Claim&&) = delete;
    ~Claim() {
      if (!impl_) return;
      {
        std::lock_guard lock(impl_->claims_mu);
        impl_->claimed.erase(id_);
      }
      impl_->claim_released.notify_all();
    }

   private:
    Impl* impl_;
    std::string id_;
  };

  // The claim on `id`, once whoever holds it let go: an upload holds it for
  // one publication, the sweeper or a revocation for one deletion, so the
  // wait is a few milliseconds. For a change that must not skip the
  // exchange (a termination deletes all of its protocol's data).
  Claim ClaimWhenFree(const std::string& id) {
    std::unique_lock lock(claims_mu);
    claim_released.wait(lock, [&] { return claimed.count(id) == 0; });
    claimed.insert(id);
    return Claim(*this, id);
  }

  // The claim on `id`, or nothing if someone else holds it.
  std::optional<Claim> TryClaim(const std::string& id) {
    std::lock_guard lock(claims_mu);
    if (!claimed.insert(id).second) return std::nullopt;
    return std::optional<Claim>(std::in_place, *this, id);
  }

  bool IsClaimed(const std::string& id) {
    std::lock_guard lock(claims_mu);
    return claimed.count(id) > 0;
  }
  // Sync points shared by concurrent uploads (see group_commit.h): the
  // transactions that insert exchange rows or make them available; and the
  GroupCommit db_writes{SqliteTransactionFlush(db, mu)};

  Impl(Deps d, Database database)
      : deps(std::move(d)), db(std::move(database)), readers(deps.identities.readers()) {}

  const Config& config() const { return *deps.config; }
  int64_t Now() const { return deps.clock.Now(); }

  // ---- protocols -----------------------------------------------------------

  Result<std::shared_ptr<const Protocol>> Parse(const std::string& document,
                                                const std::string& hash) {
    {
      std::lock_guard lock(cache_mu);
      if (auto it = parsed.find(hash); it != parsed.end()) return it->second;
    }
    auto p = ParseProtocol(document);
    if (!p) return tl::unexpected(ProblemsToError(p.error()));
    auto sp = std::make_shared<const Protocol>(std::move(*p));
    std::lock_guard lock(cache_mu);
    parsed[hash] = sp;
    return sp;
  }

  // REQUIRES: mu held.
  Result<std::optional<ProtocolRecord>> ReadProtocol(Database& c, const std::string& id) {
    XGW_TRY(auto st, c.Prepare("SELECT version_hash, document, state, proposed_at, activated_at, "
                                "suspended_at, terminated_at FROM protocols WHERE id = ?"));
    st.Bind(1, id);
    XGW_TRY(bool row, st.Step());
    if (!row) return std::optional<ProtocolRecord>();
    ProtocolRecord r;
    const std::string hash = st.Text(0);
    r.document = st.Text(1);
    auto state = ProtocolStateFromName(st.Text(2));
    if (!state) return Fail(ErrorCode::kCorrupt, "stored protocol has an unknown state");
    r.status.state = *state;
    r.proposed_at = st.Int(3);
    r.activated_at = st.OptInt(4);
    r.suspended_at = st.OptInt(5);
    r.terminated_at = st.OptInt(6);
    if (r.terminated_at) r.status.terminated_at = ToInstant(*r.terminated_at);
    XGW_TRY(r.protocol, Parse(r.document, hash));
    XGW_TRY(auto ps, c.Prepare("SELECT party, org_id FROM protocol_parties WHERE protocol_id = ?"));
    ps.Bind(1, id);
    while (true) {
      XGW_TRY(bool more, ps.Step());
      if (!more) break;
      r.party_org[ps.Text(0)] = ps.Text(1);
    }
    XGW_TRY(auto as, c.Prepare("SELECT party, version_hash, at FROM protocol_acceptances "
                                "WHERE protocol_id = ? AND version_hash = ?"));
    as.Bind(1, id).Bind(2, hash);
    while (true) {
      XGW_TRY(bool more, as.Step());
      if (!more) break;
      r.accepted[as.Text(0)] = {as.Text(1), as.Int(2)};
      r.status.acceptances.push_back({as.Text(0), as.Text(1), ToInstant(as.Int(2))});
    }
    XGW_TRY(auto pv, c.Prepare("SELECT version_hash, document, proposed_at, COALESCE(proposed_by, '') "
                                "FROM protocol_versions WHERE protocol_id = ? AND state = 'proposed' "
                                "AND version_hash != ?"));
    pv.Bind(1, id).Bind(2, hash);
    XGW_TRY(bool has_pending, pv.Step());
    if (has_pending) {
      ProtocolRecord::Pending p;
      const std::string pending_hash = pv.Text(0);
      p.document = pv.Text(1);
      p.proposed_at = pv.Int(2);
      p.proposed_by = pv.Text(3);
      XGW_TRY(p.protocol, Parse(p.document, pending_hash));
      XGW_TRY(auto pa, c.Prepare("SELECT party, accepted_by, at FROM protocol_acceptances "
                                  "WHERE protocol_id = ? AND version_hash = ?"));
      pa.Bind(1, id).Bind(2, pending_hash);
      while (true) {
        XGW_TRY(bool more, pa.Step());
        if (!more) break;
        p.accepted_by[pa.Text(0)] = {pa.Text(1), pa.Int(2)};
        p.acceptances.push_back({pa.Text(0), pending_hash, ToInstant(pa.Int(2))});
      }
      r.pending = std::move(p);
    }
    return std::optional<ProtocolRecord>(std::move(r));
  }

  // Why `p` may not be proposed as a new version of `existing` (nullopt: it may).
  // REQUIRES: mu held.
  std::optional<Response> AmendmentRefusal(const RequestContext& ctx, const ProtocolRecord& existing,
                                           const Protocol& p,
                                           const std::map<std::string, std::string>& party_org) {
    const ProtocolState state = existing.status.state;
    if (state == ProtocolState::kTerminated || state == ProtocolState::kExpired) {
      return Problem(409, "protocol-closed", "Protocol closed",
                     "the protocol is " + std::string(ProtocolStateName(state)) +
                         " and cannot be amended; propose a new protocol under another id",
                     ctx.request_id());
    }
    auto known = VersionStateLocked(p.id, p.version_hash);
    if (!known) return ErrorProblem(ctx, known.error());
    if (!known->empty()) {
      return Problem(409, "version-exists", "Version exists",
                     "this version was already proposed (it is " + *known +
                         "); to propose a new version change the document, e.g. its \"version\"",
                     ctx.request_id());
    }
    for (const auto& [party, org] : party_org) {
      auto it = existing.party_org.find(party);
      if (it != existing.party_org.end() && it->second != org) {
        return Problem(422, "party-changed", "Party changed",
                       "party " + party + " belongs to another organisation in the earlier versions; "
                       "a party id must keep its organisation (give the new party another id)",
                       ctx.request_id());
      }
    }
    return std::nullopt;
  }

  // The state of one version ("" if this protocol has no such version).
  // REQUIRES: mu held.
  Result<std::string> VersionStateLocked(const std::string& id, const std::string& hash) {
    XGW_TRY(auto st, db.Prepare("SELECT state FROM protocol_versions WHERE protocol_id = ? AND "
                                "version_hash = ?"));
    st.Bind(1, id).Bind(2, hash);
    XGW_TRY(bool row, st.Step());
    return row ? st.Text(0) : std::string();
  }

  // A proposed version that will never be in force: replaced by a newer
  // proposal, or its protocol ended. REQUIRES: mu held.
  Result<void> WithdrawPendingLocked(const std::string& id, int64_t now) {
    XGW_TRY(auto st, db.Prepare("UPDATE protocol_versions SET state = 'withdrawn', ended_at = ? "
                                "WHERE protocol_id = ? AND state = 'proposed'"));
    st.Bind(1, now).Bind(2, id);
    return st.Run();
  }

  // Why r.pending may not be put in force at `now` (OK: it may): every party
  // of the new version accepted it, the approval holds every party's DPO
  // advice, its validity has not ended.
  static Result<void> CheckPendingActivation(const ProtocolRecord& r, Instant now) {
    ProtocolStatus proposed;
    proposed.state = ProtocolState::kProposed;
    proposed.acceptances = r.pending->acceptances;
    auto ok = CheckTransition(*r.pending->protocol, proposed, ProtocolState::kValid, now);
    if (ok) return ok;
    std::string missing;
    for (const auto& party : r.pending->protocol->parties) {
      if (!r.pending->accepted_by.count(party.id)) missing += (missing.empty() ? "" : ", ") + party.id;
    }
    if (!missing.empty()) {
      return Fail(ErrorCode::kConflict, "version " + r.pending->protocol->version_hash +
                                            " cannot be put in force: not yet accepted by " + missing);
    }
    return Fail(ErrorCode::kConflict, "version " + r.pending->protocol->version_hash +
                                          " cannot be put in force: " + ok.error().message);
  }

  // Puts r.pending in force: audit first, then the old current version is
  // superseded and the protocol row points at the new one. The protocol's
  // state (valid or suspended) does not change.
  Result<void> ActivatePending(const RequestContext& ctx, ProtocolRecord& r) {
    XGW_CHECK(CheckPendingActivation(r, ToInstant(ctx.now)));
    AuditEvent ev = EventFor(ctx, AuditAction::kProtocolActivated, nullptr, &r);
    ev.protocol_version = r.pending->protocol->version_hash;
    for (const auto& party : r.pending->protocol->parties) {
      if (auto it = r.party_org.find(party.id); it != r.party_org.end() && ev.orgs.size() < 16) {
        ev.orgs.push_back(it->second);
      }
    }
    std::sort(ev.orgs.begin(), ev.orgs.end());
    ev.orgs.erase(std::unique(ev.orgs.begin(), ev.orgs.end()), ev.orgs.end());
    const std::string& id = r.protocol->id;
    const std::string& hash = r.pending->protocol->version_hash;
    // Held from the check to the commit: a concurrent proposal (which
    // withdraws this version) or activation must not interleave.
    std::lock_guard lock(mu);
    XGW_TRY(std::string state, VersionStateLocked(id, hash));
    const bool already = state == "current";  // a concurrent last acceptance got there first
    if (state != "proposed" && !already) {
      return Fail(ErrorCode::kConflict, "version " + hash + " is no longer pending (it is " + state + ")");
    }
    if (already) {
      r.protocol = r.pending->protocol;
      r.document = r.pending->document;
      r.pending.reset();
      return {};
    }
    if (!deps.audit.AppendEvent(ev)) return Fail(ErrorCode::kIo, "audit-unavailable");
    XGW_TRY(auto tx, Transaction::Begin(db));
    XGW_TRY(auto old, db.Prepare("UPDATE protocol_versions SET state = 'superseded', ended_at = ? "
                                 "WHERE protocol_id = ? AND state = 'current'"));
    old.Bind(1, ctx.now).Bind(2, id);
    XGW_CHECK(old.Run());
    XGW_TRY(auto cur, db.Prepare("UPDATE protocol_versions SET state = 'current', activated_at = ? "
                                 "WHERE protocol_id = ? AND version_hash = ?"));
    cur.Bind(1, ctx.now).Bind(2, id).Bind(3, hash);
    XGW_CHECK(cur.Run());
    XGW_TRY(auto row, db.Prepare("UPDATE protocols SET version_hash = ?, document = ?, activated_at = ? "
                                 "WHERE id = ?"));
    row.Bind(1, hash).Bind(2, r.pending->document).Bind(3, ctx.now).Bind(4, id);
    XGW_CHECK(row.Run());
    XGW_CHECK(tx.Commit());
    r.protocol = r.pending->protocol;
    r.document = r.pending->document;
    r.activated_at = ctx.now;
    r.status.acceptances = r.pending->acceptances;
    r.accepted.clear();
    for (const auto& a : r.pending->acceptances) r.accepted[a.party] = {hash, FromInstant(a.at)};
    r.pending.reset();
    return {};
  }

  // Marks protocols whose version (in force, or only proposed: nothing can
  // put it in force any more) has reached the end of its validity period as
  // expired (audit first); a proposed version of such a protocol is
  // withdrawn. Stops at the first audit failure; the next pass retries.
  Result<void> ExpireProtocols(int64_t now) {
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mu);
      XGW_TRY(auto st, db.Prepare("SELECT id FROM protocols WHERE state IN ('proposed','valid','suspended') "
                                  "ORDER BY id"));
      XGW_TRY(ids, st.TextColumn());
    }
    for (const auto& id : ids) {
      XGW_TRY(auto r, LoadProtocol(id));
      if (!r || !CheckTransition(*r->protocol, r->status, ProtocolState::kExpired, ToInstant(now))) continue;
      AuditEvent ev;
      ev.time_ms = now * 1000;
      ev.actor = {ActorType::kSystem, "sweeper", ""};
      ev.action = AuditAction::kProtocolExpired;
      ev.reason = "validity_period";
      ev.protocol_id = id;
      ev.protocol_version = r->protocol->version_hash;
      for (const auto& [party, org] : r->party_org) ev.orgs.push_back(org);
      std::sort(ev.orgs.begin(), ev.orgs.end());
      ev.orgs.erase(std::unique(ev.orgs.begin(), ev.orgs.end()), ev.orgs.end());
      if (ev.orgs.size() > 16) ev.orgs.resize(16);
      if (!deps.audit.AppendEvent(ev)) break;
      std::lock_guard lock(mu);
      XGW_TRY(auto tx, Transaction::Begin(db));
      XGW_TRY(auto st, db.Prepare("UPDATE protocols SET state = 'expired' WHERE id = ? AND "
                                  "state IN ('proposed','valid','suspended')"));
      st.Bind(1, id);
      XGW_CHECK(st.Run());
      XGW_CHECK(WithdrawPendingLocked(id, now));
      XGW_CHECK(tx.Commit());
    }
    return {};
  }

  // The stored document of one version ("" if this protocol has no such version).
  Result<std::string> ReadVersionDocument(Database& c, const std::string& id, const std::string& hash) {
    XGW_TRY(auto st, c.Prepare("SELECT document FROM protocol_versions WHERE protocol_id = ? AND "
                                "version_hash = ?"));
    st.Bind(1, id).Bind(2, hash);
    XGW_TRY(bool row, st.Step());
    return row ? st.Text(0) : std::string();
  }

  // The protocol as an exchange sent under version `hash` sees it: the
  // protocol's state and parties, but that version's rules (recipients,
  // retention, limits), whatever version is in force now.
  Result<std::optional<ProtocolRecord>> LoadProtocolVersion(const std::string& id, const std::string& hash) {
    return readers.Read([&](Database& c) -> Result<std::optional<ProtocolRecord>> {
      XGW_TRY(auto r, ReadProtocol(c, id));
      if (!r || r->protocol->version_hash == hash) return r;
      XGW_TRY(std::string document, ReadVersionDocument(c, id, hash));
      if (document.empty()) {
        return Fail(ErrorCode::kCorrupt, "an exchange refers to a protocol version the gateway does not hold");
      }
      r->document = document;
      XGW_TRY(r->protocol, Parse(document, hash));
      return r;
    });
  }

  // The protocol as it stands (a pool connection: never waits for a commit).
  Result<std::optional<ProtocolRecord>> LoadProtocol(const std::string& id) {
    return readers.Read([&](Database& c) { return ReadProtocol(c, id); });
  }

  // The caller's party in a protocol ("" if none).
  static std::string PartyOf(const ProtocolRecord& r, const std::string& org_id) {
    for (const auto& [party, org] : r.party_org) {
      if (org == org_id) return party;
    }
    return "";
  }

  // ---- exchanges -----------------------------------------------------------

  static constexpr const char* kExchangeColumns =
      "id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state, manifest, "
      "manifest_signature, signer, rows, byte_size, size, created_at, delivered_at, "
      "first_download_at, acknowledged_at, expires_at, deleted_at, deleted_reason";

  static ExchangeRow ReadExchange(const Statement& st) {
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

  Result<std::optional<ExchangeRow>> LoadExchange(const std::string& id) {
    std::lock_guard lock(mu);
    XGW_TRY(auto st, db.Prepare(std::string("SELECT ") + kExchangeColumns +
                                " FROM exchanges WHERE id = ?"));
    st.Bind(1, id);
    XGW_TRY(bool row, st.Step());
    if (!row) return std::optional<ExchangeRow>();
    return std::optional<ExchangeRow>(ReadExchange(st));
  }

  // The columns of kExchangeColumns with the manifest and its signature left
  // out (NULL): a manifest can be large (one 64-hex value per subject), and
  // lists and sweeps never need it; LoadExchange reads it.
  static constexpr const char* kExchangeListColumns =
      "id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state, NULL, "
      "NULL, signer, rows, byte_size, size, created_at, delivered_at, "
      "first_download_at, acknowledged_at, expires_at, deleted_at, deleted_reason";

  // Rows matching `where`, without their manifests (kExchangeListColumns),
  // in (created_at, id) order; at most `limit` of them if given.
  Result<std::vector<ExchangeRow>> ExchangesWhere(const std::string& where,
                                                  const std::vector<std::string>& args,
                                                  std::optional<int64_t> limit = std::nullopt) {
    std::lock_guard lock(mu);
    XGW_TRY(auto st, db.Prepare(std::string("SELECT ") + kExchangeListColumns + " FROM exchanges WHERE " +
                                where + " ORDER BY created_at, id" + (limit ? " LIMIT ?" : "")));
    for (size_t i = 0; i < args.size(); ++i) st.Bind(static_cast<int>(i + 1), args[i]);
    if (limit) st.Bind(static_cast<int>(args.size() + 1), *limit);
    std::vector<ExchangeRow> out;
    while (true) {
      XGW_TRY(bool more, st.Step());
      if (!more) break;
      out.push_back(ReadExchange(st));
    }
    return out;
  }

  static bool IsLive(const std::string& state) { return state == "available" || state == "acknowledged"; }

  // Rows a sweep pass reads per query.
  static constexpr int64_t kSweepBatch = 256;

  // What one step of a sweep pass removes, and how it is recorded.
  struct SweepStep {
    const char* where;  // over exchanges, with one parameter
    int64_t bound;      // ... its value
    AuditAction action;
    std::string event_reason;
    const char* state;       // the row's state afterwards
    const char* row_reason;  // its deleted_reason
    const char* metric;      // xgw_deletions_total{reason}
    bool parties_concerned;  // the event names every party, not only the sender
    // If true, event_reason and row_reason are each row's own cause
    // (DeletionCause) instead: which retention rule expired it.
    bool reason_per_row = false;
  };

  // Every exchange matching the step, a bounded batch per query (each one
  // leaves the selection once done): audited, then its data deleted. The
  // event is written once: a pass that stopped between an event and its
  // deletion (a crash, a restored database) finds the event of the earlier
  // pass. Stops, to go on at the next pass, when the audit log refuses an
  // event (nothing is deleted unaudited). Returns how many were removed.
  Result<uint64_t> SweepExchanges(const SweepStep& step, int64_t now) {
    uint64_t removed = 0;
    for (bool more = true; more;) {
      XGW_TRY(auto rows, ExchangesWhere(step.where, {std::to_string(step.bound)}, kSweepBatch));
      more = static_cast<int64_t>(rows.size()) == kSweepBatch;
      const uint64_t removed_before = removed;
      for (const auto& e : rows) {
        // An upload completing this exchange right now holds its claim: it
        // is left to that upload (the next pass sees how it ended). Once
        // claimed, the row is read again: an upload may have completed it
        // since the batch was read.
        const std::optional<Claim> claim = TryClaim(e.id);
        if (!claim) continue;
        XGW_TRY(auto now_row, LoadExchange(e.id));
        if (!now_row || now_row->state != e.state) continue;
        const std::string cause = step.reason_per_row ? DeletionCause(*now_row) : "";
        AuditEvent ev;
        ev.time_ms = now * 1000;
        ev.actor = {ActorType::kSystem, "sweeper", ""};
        ev.action = step.action;
        ev.reason = step.reason_per_row ? cause : step.event_reason;
        ev.exchange_id = e.id;
        ev.protocol_id = e.protocol_id;
        ev.protocol_version = e.version_hash;
        ev.orgs.push_back(e.sender_org);
        if (step.parties_concerned) {
          if (auto pr = LoadProtocol(e.protocol_id); pr && *pr) {
            for (const auto& [party, org] : (*pr)->party_org) ev.orgs.push_back(org);
          }
          std::sort(ev.orgs.begin(), ev.orgs.end());
          ev.orgs.erase(std::unique(ev.orgs.begin(), ev.orgs.end()), ev.orgs.end());
        }
        XGW_TRY(bool recorded, AlreadyAudited(e.id, step.action));
        if (!recorded && !deps.audit.AppendEvent(ev)) return removed;  // fail closed
        XGW_CHECK(DeleteExchangeData(e.id, step.state, step.reason_per_row ? cause : step.row_reason, now));
        deps.metrics.CountDeletion(step.metric);
        ++removed;
      }
      if (removed == removed_before) break;  // all claimed by uploads: the next pass
    }
    return removed;
  }

  // The earliest expires_at of a live exchange that expired by `now`, if any.
  Result<std::optional<int64_t>> OldestExpiryLeft(int64_t now) {
    std::lock_guard lock(mu);
    XGW_TRY(auto st, db.Prepare("SELECT MIN(expires_at) FROM exchanges WHERE state IN ('available','acknowledged') "
                                "AND expires_at <= ?"));
    st.Bind(1, now);
    XGW_TRY(bool row, st.Step());
    return row ? st.OptInt(0) : std::optional<int64_t>();
  }

  // Whether the audit log already holds `action` for this exchange. The
  // sweeper audits a deletion before it deletes: a pass that stopped in
  // between (a crash, a database restored from a backup) finds the event of
  // the earlier pass and deletes without recording the deletion twice.
  Result<bool> AlreadyAudited(const std::string& exchange_id, AuditAction action) {
    AuditQuery q;
    q.exchange_id = exchange_id;
    q.action = action;
    q.limit = 1;
    XGW_TRY(auto page, deps.audit.log().Query(q));
    return !page.records.empty();
  }

  // One page of a listing (GET /api/v1/exchanges): rows matching `where`
  // after the cursor, in (created_at, id) order, offered to `take` until it
  // accepted `page.limit` of them (take returns whether it listed the row;
  // the inbox skips rows the caller may not receive). Reads a bounded batch
  // at a time, so a page costs memory for its own rows only. Returns the
  // cursor of the next page, or nothing when the listing is complete.
  Result<std::optional<ListCursor>> ListPageOf(const std::string& where, std::vector<std::string> args,
                                               const ListPage& page,
                                               const std::function<Result<bool>(const ExchangeRow&)>& take) {
    std::optional<ListCursor> at = page.after;
    size_t taken = 0;
    const int64_t batch = static_cast<int64_t>(page.limit);
    while (true) {
      std::string cond = where;
      std::vector<std::string> bound = args;
      if (at) {
        cond = "(" + where + ") AND (created_at > ? OR (created_at = ? AND id > ?))";
        bound.insert(bound.end(), {std::to_string(at->created_at), std::to_string(at->created_at), at->id});
      }
      XGW_TRY(auto rows, ExchangesWhere(cond, bound, batch));
      for (const auto& e : rows) {
        at = ListCursor{e.created_at, e.id};
        XGW_TRY(bool listed, take(e));
        if (listed && ++taken == page.limit) return at;
      }
      if (static_cast<int64_t>(rows.size()) < batch) return std::optional<ListCursor>();
    }
  }

  // id -> state of every exchange that is pending or live: what the orphan
  // scan compares the blob directory with (ids and states only; a sweep
  // must not hold every row in memory).
  Result<std::unordered_map<std::string, std::string>> ExchangeStates() {
    std::lock_guard lock(mu);
    XGW_TRY(auto st, db.Prepare("SELECT id, state FROM exchanges WHERE state IN ('available','acknowledged','pending')"));
    std::unordered_map<std::string, std::string> out;
    while (true) {
      XGW_TRY(bool more, st.Step());
      if (!more) return out;
      out.emplace(st.Text(0), st.Text(1));
    }
  }

  // What forbids a transfer under `pr` now that the protocol left the valid
  // state since `pr` was read (suspended, terminated, expired); none while it
  // is valid. Read inside the transaction that makes an exchange available:
  // a suspension or termination committed before it refuses the exchange,
  // and a termination committed after it finds the exchange to delete.
  // REQUIRES: mu held, in that transaction.
  Result<Violations> StateViolationsLocked(const ProtocolRecord& pr, int64_t now) {
    XGW_TRY(auto st, db.Prepare("SELECT state FROM protocols WHERE id = ?"));
    st.Bind(1, pr.protocol->id);
    XGW_TRY(bool row, st.Step());
    if (!row) return Fail(ErrorCode::kCorrupt, "an exchange's protocol is missing from the database");
    auto state = ProtocolStateFromName(st.Text(0));
    if (!state) return Fail(ErrorCode::kCorrupt, "stored protocol has an unknown state");
    if (*state == ProtocolState::kValid) return Violations{};
    ProtocolStatus status = pr.status;
    status.state = *state;
    return ActiveViolations(*pr.protocol, status, ToInstant(now));
  }

  // Transfers from `party` under the protocol that reached "available" and
  // count towards a send decision now (SendRequest::transfers_in_window):
  // one row of transfer_counts, kept by CountTransferLocked.
  Result<uint64_t> TransfersInWindow(const Protocol& protocol, const std::string& party, Instant now) {
    return readers.Read([&](Database& c) { return CountTransfers(c, protocol, party, now); });
  }

  // On `c`: the writer (mu held) inside the transaction that decides, or a
  // pool connection.
  Result<uint64_t> CountTransfers(Database& c, const Protocol& protocol, const std::string& party, Instant now) {
    const TransferWindow w = RelevantTransfers(protocol, now);
    XGW_TRY(auto st, c.Prepare("SELECT n FROM transfer_counts WHERE protocol_id = ? AND sender_party = ? "
                                "AND period = ? AND since = ?"));
    st.Bind(1, protocol.id).Bind(2, party).Bind(3, w.period).Bind(4, FromInstant(w.since));
    XGW_TRY(bool row, st.Step());
    if (row) return std::min<uint64_t>(static_cast<uint64_t>(st.Int(0)), w.limit);
    // No row: no delivery in this window since the table exists (or none
    // under this period definition): count the exchanges themselves.
    return CountDeliveries(c, protocol.id, party, w, w.limit);
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

  // Records in transfer_counts that `party` delivered under `protocol` at
  // `at`; inside the transaction that made the exchange available (its row
  // already says so). A window's first row starts from the exchanges
  // themselves, so deliveries made before the table existed, or under a
  // protocol version with another period, are counted too.
  // REQUIRES: mu held, in a transaction.
  Result<void> CountTransferLocked(const Protocol& protocol, const std::string& party, Instant at) {
    const TransferWindow w = RelevantTransfers(protocol, at);
    XGW_TRY(auto up, db.Prepare("UPDATE transfer_counts SET n = n + 1 WHERE protocol_id = ? AND "
                                "sender_party = ? AND period = ? AND since = ?"));
    up.Bind(1, protocol.id).Bind(2, party).Bind(3, w.period).Bind(4, FromInstant(w.since));
    XGW_CHECK(up.Run());
    if (db.Changes() == 1) return {};
    XGW_TRY(uint64_t n, CountDeliveries(db, protocol.id, party, w, uint64_t{1} << 40));
    XGW_TRY(auto ins, db.Prepare("INSERT INTO transfer_counts(protocol_id, sender_party, period, since, n) "
                                 "VALUES (?, ?, ?, ?, ?)"));
    ins.Bind(1, protocol.id).Bind(2, party).Bind(3, w.period).Bind(4, FromInstant(w.since))
        .Bind(5, static_cast<int64_t>(n));
    return ins.Run();
  }

  // May this principal receive under this protocol? Empty: yes.
  Violations ReceiveViolations(const ProtocolRecord& pr, const Principal& p) {
    const std::string party = PartyOf(pr, p.org_id);
    if (party.empty()) {
      return {Violation{"recipient_not_allowed", "your organisation is not a party of the protocol", 0, ""}};
    }
    return MayReceive(*pr.protocol, UserRef{party, p.user_id, p.roles});
  }

  bool IsPartyDpo(const ProtocolRecord& pr, const Principal& p) {
    return p.HasRole(kRoleDpo) && !PartyOf(pr, p.org_id).empty();
  }

  // Who may see an exchange's metadata: the sender's organisation (sender or
  // DPO), allowed recipients, DPOs of a party, operators.
  bool MaySee(const ProtocolRecord& pr, const ExchangeRow& e, const Principal& p) {
    if (p.HasRole(kRoleOperator)) return true;
    if (e.sender_org == p.org_id) return true;
    if (IsPartyDpo(pr, p)) return true;
    return ReceiveViolations(pr, p).empty() && pr.protocol->IsReceiver(PartyOf(pr, p.org_id));
  }

  // A recipient sees an exchange only once its content was delivered: before
  // that (pending, or revoked or discarded while pending) it does not exist
  // for them, and every route answers as for an unknown id.
  bool MayReceiveExchange(const ProtocolRecord& pr, const ExchangeRow& e, const Principal& p) {
    return e.delivered_at.has_value() && ReceiveViolations(pr, p).empty() &&
           pr.protocol->IsReceiver(PartyOf(pr, p.org_id));
  }

  json ExchangeSummary(const ExchangeRow& e) {
    return {{"id", e.id},
            {"protocol_id", e.protocol_id},
            {"version_hash", e.version_hash},
            {"sender_org", e.sender_org},
            {"sender_user", e.sender_user},
            {"mode", e.mode},
            {"state", e.state},
            {"created_at", FormatTime(e.created_at)},
            {"delivered_at", e.delivered_at ? json(FormatTime(*e.delivered_at)) : json(nullptr)},
            {"acknowledged_at", e.acknowledged_at ? json(FormatTime(*e.acknowledged_at)) : json(nullptr)},
            {"expires_at", e.expires_at ? json(FormatTime(*e.expires_at)) : json(nullptr)},
            {"deleted_at", e.deleted_at ? json(FormatTime(*e.deleted_at)) : json(nullptr)},
            {"deleted_reason", e.deleted_reason ? json(*e.deleted_reason) : json(nullptr)},
            {"size", e.size ? json(*e.size) : json(nullptr)},
            {"rows", e.rows}};
  }

  xgw::Expiry ExpiryAndCause(const ProtocolRecord& pr, const ExchangeRow& e) {
    ExchangeEvents ev;
    ev.delivered = ToInstant(e.delivered_at.value_or(e.created_at));
    if (e.first_download_at) ev.first_download = ToInstant(*e.first_download_at);
    if (e.acknowledged_at) ev.acknowledged = ToInstant(*e.acknowledged_at);
    if (pr.terminated_at) ev.protocol_terminated = ToInstant(*pr.terminated_at);
    return ComputeExpiryAndCause(*pr.protocol, ev);
  }
  Instant Expiry(const ProtocolRecord& pr, const ExchangeRow& e) { return ExpiryAndCause(pr, e).at; }

  // Why an expired exchange is deleted: the retention rule (or termination)
  // that set its expiry, as an audit reason code.
  std::string DeletionCause(const ExchangeRow& e) {
    auto pr = LoadProtocolVersion(e.protocol_id, e.version_hash);
    if (!pr || !*pr) return "retention_expired";
    return std::string(ExpiryReason(ExpiryAndCause(**pr, e).cause));
  }

  AuditEvent EventFor(const RequestContext& ctx, AuditAction action, const ExchangeRow* e,
                      const ProtocolRecord* pr) {
    AuditEvent ev;
    ev.time_ms = ctx.now * 1000;
    ev.action = action;
    if (ctx.principal) {
      ev.actor = {ActorType::kUser, ctx.principal->user_id, ctx.principal->org_id};
    }
    if (pr) {
      ev.protocol_id = pr->protocol->id;
      ev.protocol_version = pr->protocol->version_hash;
      for (const auto& [party, org] : pr->party_org) {
        if (ev.orgs.size() < 16) ev.orgs.push_back(org);
      }
    }
    if (e) {
      ev.exchange_id = e->id;
      ev.protocol_id = e->protocol_id;
      ev.protocol_version = e->version_hash;
      ev.orgs.push_back(e->sender_org);
    }
    if (IsSafeId(ctx.request_id())) ev.request_id = ctx.request_id();
    return ev;
  }

  // A refused access to an exchange, recorded for the DPOs who may know of
  // it. A caller whose organisation is no party of the exchange's protocol
  // must not learn through its own DPO that the exchange exists, nor its
  // protocol or parties: the event is then the gateway's (actor system),
  // naming the caller as the user concerned and only the parties as
  // organisations. The caller's DPO reads the router's generic refusal, the
  // same record an unknown id leaves.
  AuditEvent RefusedAccessEvent(const RequestContext& ctx, AuditAction action, const ExchangeRow& e,
                                const ProtocolRecord& pr, std::string reason) {
    AuditEvent ev = EventFor(ctx, action, &e, &pr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = std::move(reason);
    if (ctx.principal && PartyOf(pr, ctx.principal->org_id).empty()) {
      ev.actor = {ActorType::kSystem, "xgwd", ""};
      ev.user_id = ctx.principal->user_id;
    }
    return ev;
  }

  // Deletes the blob durably and marks the exchange; the audit event must
  // already be recorded. Keeps only non-personal metadata, and the keyed
  // subject-index values of a list that was delivered: an access request asks
  // to whom data *have been* disclosed, so they stay for
  // exchanges.subject_index_retention_days (PruneSubjectIndex). A list never
  // delivered ("discarded") disclosed nothing: its values go now.
  Result<void> DeleteExchangeData(const std::string& id, const std::string& state,
                                  const std::string& reason, int64_t now) {
    XGW_CHECK(blobs->Delete(id));
    std::lock_guard lock(mu);
    XGW_TRY(auto tx, Transaction::Begin(db));
    XGW_TRY(auto st, db.Prepare("UPDATE exchanges SET state = ?, manifest = NULL, "
                                "manifest_signature = NULL, deleted_at = ?, deleted_reason = ? "
                                "WHERE id = ?"));
    st.Bind(1, state).Bind(2, now).Bind(3, reason).Bind(4, id);
    XGW_CHECK(st.Run());
    if (state == std::string_view("discarded")) {
      XGW_TRY(auto sub, db.Prepare("DELETE FROM exchange_subjects WHERE exchange_id = ?"));
      sub.Bind(1, id);
      XGW_CHECK(sub.Run());
    }
    XGW_CHECK(tx.Commit());
    return {};
  }

  // Who downloaded exchange `id`, from the audit log: user id, display name,
  // organisation and time of each download, oldest first.
  Result<json> DownloadsOf(const std::string& id) {
    AuditQuery q;
    q.exchange_id = id;
    q.action = AuditAction::kExchangeDownloaded;
    q.limit = kMaxAuditQueryLimit;
    json out = json::array();
    for (;;) {
      XGW_TRY(auto page, deps.audit.log().Query(q));
      for (const auto& rec : page.records) {
        auto ev = ParseAuditEvent(rec.event);
        if (!ev || ev->outcome != AuditOutcome::kSuccess) continue;
        json d = {{"user", ev->actor.id}, {"organisation", ev->actor.org},
                  {"time", FormatTime(ev->time_ms / 1000)}};
        if (auto u = deps.identities.GetUser(ev->actor.id)) d["name"] = u->display_name;
        out.push_back(std::move(d));
      }
      if (!page.next) return out;
      q.after = page.next;
    }
  }

  // Removes the subject-index values of lists deleted more than
  // exchanges.subject_index_retention_days ago; at most once an hour.
  Result<void> PruneSubjectIndex(int64_t now) {
    const int64_t retention = static_cast<int64_t>(config().exchanges.subject_index_retention_days) * 86400;
    std::lock_guard lock(mu);
    if (last_subject_prune && now - *last_subject_prune < 3600 && now >= *last_subject_prune) return {};
    last_subject_prune = now;
    XGW_TRY(auto st, db.Prepare("DELETE FROM exchange_subjects WHERE exchange_id IN "
                                "(SELECT id FROM exchanges WHERE deleted_at IS NOT NULL AND deleted_at <= ?)"));
    st.Bind(1, now - retention);
    return st.Run();
  }

  Result<uint64_t> CountLive() {
    std::lock_guard lock(mu);
    XGW_TRY(auto st, db.Prepare("SELECT COUNT(*) FROM exchanges WHERE state IN ('available','acknowledged')"));
    XGW_TRY(bool row, st.Step());
    (void)row;
    return static_cast<uint64_t>(st.Int(0));
  }

  void RefreshLive() {
    if (auto n = CountLive(); n) {
      live = *n;
      deps.metrics.SetExchangesLive(static_cast<int64_t>(*n));
    }
  }

  // Marks an uploaded exchange available: publish the pending blob, then
  // its durability and the audit events side by side, then the commit. 409 if another upload or the sweeper holds the exchange.
  // With `new_row` the exchange has no row yet (a one-request upload): the
  // row is inserted available, with new_row's subject index, and
  // exchange.created is recorded together with exchange.uploaded. A
  // streamed subject index (`index`, checked) is stored in the same
  // transaction that makes the exchange available.
  Response CompleteUpload(RequestContext& ctx, const ExchangeRow& e, const ProtocolRecord& pr,
                          PendingBlob& blob, const Manifest* new_row = nullptr,
                          const SubjectIndexUpload* index = nullptr);

  // A pending blob that is not an age file with an X25519 recipient stanza:
  // the audited 400 refusal; nullopt if it is one. Reads from its start.
  std::optional<Response> RefuseIfNotAge(RequestContext& ctx, const ExchangeRow* e, const ProtocolRecord& pr,
                                         PendingBlob& blob);

  // What the create document of an end-to-end upload (protocol_id,
  // version_hash, manifest, manifest_signature) asks, decided: either a
  // refusal to answer (audited where the policy decided) or the request.
  struct CreateDecision {
    std::optional<Response> refusal;
    ProtocolRecord pr;
    std::string party, canonical, signature;
    Manifest manifest;
  };
  Result<CreateDecision> DecideCreate(RequestContext& ctx, const json& body);

  // The most ciphertext an upload of a list of byte_size bytes may have:
  // header + 16-byte nonce + plaintext + 16 bytes per 64 KiB chunk, with
  // room for a 64 KiB header; never more than the protocol's and the
  // gateway's limits allow.
  static uint64_t CiphertextCap(const ProtocolRecord& pr, int64_t byte_size, const Config& config) {
    uint64_t cap = MaxCiphertext(static_cast<uint64_t>(byte_size));
    if (pr.protocol->limits.max_bytes) cap = std::min(cap, MaxCiphertext(pr.protocol->limits.max_bytes));
    return std::min(cap, config.limits.max_upload_bytes);
  }
  static uint64_t MaxCiphertext(uint64_t plain) {
    return plain + 16 + 16 * (plain / age::kChunkSize + 1) + 64 * 1024;
  }

  // The exchange row as it will be stored, before it exists.
  static ExchangeRow NewExchangeRow(const RequestContext& ctx, const ProtocolRecord& pr, const std::string& party,
                                    const Manifest& manifest, const std::string& canonical,
                                    const std::string& signature, const std::string& signer,
                                    const std::string& mode);
  // Inserts e (its state, times and size as set) and the manifest's subject
  // index; the caller holds `mu` inside a transaction (a GroupCommit job).
  Result<void> InsertExchangeLocked(const ExchangeRow& e, const Manifest& manifest);
  // Stores the values of a streamed subject index under exchange `id`; as
  // InsertExchangeLocked.
  Result<void> InsertStreamedSubjectsLocked(const std::string& id, const SubjectIndexUpload& index);

  // An upload whose transfer the protocol's frequency no longer allows (see
  // CompleteUpload): audited, its data deleted, the exchange discarded.
  Response RefuseCompletion(RequestContext& ctx, const ExchangeRow& e, const ProtocolRecord& pr,
                            const Violations& v, int64_t now);

  Result<Response> CreateExchange(RequestContext& ctx, const ProtocolRecord& pr,
                                  const std::string& party, const Manifest& manifest,
                                  const std::string& manifest_canonical,
                                  const std::string& signature_b64, const std::string& signer,
                                  const std::string& mode, const AuditEvent* audit_first,
                                  std::string* new_id);
};

// ---------------------------------------------------------------------------
// Upload sink (end-to-end mode): streams the age file to blobs/tmp/<id>.

namespace {

// An upload's pending blob, removed unless Complete publishes it.
class TempBlob {
 public:
  explicit TempBlob(std::unique_ptr<PendingBlob> blob) : blob_(std::move(blob)) {}
  PendingBlob& writer() { return *blob_; }

  // The age-header check, then CompleteUpload.
  Response Complete(ExchangeService::Impl& impl, RequestContext& ctx, const ExchangeRow& e,
                    const ProtocolRecord& pr, const Manifest* new_row = nullptr,
                    const SubjectIndexUpload* index = nullptr) {
    // A new row (one-request upload) does not exist yet: its refusal names
    // the protocol only, as every other refusal of a creation does.
    if (auto refused = impl.RefuseIfNotAge(ctx, new_row ? nullptr : &e, pr, *blob_)) return std::move(*refused);
    return impl.CompleteUpload(ctx, e, pr, *blob_, new_row, index);
  }

 private:
  std::unique_ptr<PendingBlob> blob_;
};

// A streamed subject index that is incomplete, out of order or not the one
// the signed manifest declares (SubjectIndexUpload::Finish).
Response SubjectIndexProblem(const RequestContext& ctx, const Error& error) {
  if (error.code != ErrorCode::kFormat) return ErrorProblem(ctx, error);
  return Problem(400, "subject-index-invalid", "Invalid subject index", error.message + "; nothing was kept",
                 ctx.request_id());
}

// PUT /api/v1/exchanges/{id}/content: the streamed subject index the
// manifest declares (if any), then the age file.
class UploadSink final : public RequestBodySink {
 public:
  UploadSink(ExchangeService::Impl& impl, RequestContext ctx, ExchangeRow e, ProtocolRecord pr,
             uint64_t cap, std::unique_ptr<PendingBlob> blob, SubjectIndexUpload index, std::string index_sha256)
      : impl_(impl), ctx_(std::move(ctx)), e_(std::move(e)), pr_(std::move(pr)), cap_(cap),
        blob_(std::move(blob)), index_(std::move(index)), index_sha256_(std::move(index_sha256)) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    if (index_.bytes_left() != 0) {
      XGW_TRY(size_t took, index_.Take(data));
      data = data.subspan(took);
      if (data.empty()) return {};
    }
    if (blob_.writer().size() + data.size() > cap_) {
      return Fail(ErrorCode::kLimit, "the upload exceeds the size the manifest declares (" +
                                         std::to_string(cap_) + " bytes of ciphertext at most)");
    }
    return blob_.writer().Write(data);
  }
  Response Finish() override {
    // The disk writes the tail while the header is checked and the audit
    // event is committed; CompleteUpload waits for it (fdatasync) after that.
    if (auto w = blob_.writer().Finish(); !w) return ErrorProblem(ctx_, w.error());
    if (auto i = index_.Finish(index_sha256_); !i) return SubjectIndexProblem(ctx_, i.error());
    return blob_.Complete(impl_, ctx_, e_, pr_, nullptr, &index_);
  }

 private:
  ExchangeService::Impl& impl_;
  RequestContext ctx_;
  ExchangeRow e_;
  ProtocolRecord pr_;
  uint64_t cap_;
  TempBlob blob_;
  SubjectIndexUpload index_;
  std::string index_sha256_;
};


// Gateway-encrypt mode: the plaintext list is held only in locked, wiped
// memory (SecretBuffer), checked, then encrypted straight into the temp blob.
//
// The buffer grows with the bytes received (doubling, from 64 KiB), never
// with what the request declares: an idle connection that announced 64 MiB
// holds 64 KiB. Every growth is taken from the daemon-wide budget
// (Impl::plaintext_held); beyond it the upload is refused with 503 and
// Retry-After, and what it held is wiped and given back.
class PlaintextSink final : public RequestBodySink {
 public:
  PlaintextSink(ExchangeService::Impl& impl, RequestContext ctx, ProtocolRecord pr, std::string party,
                InputFormat format, size_t limit)
      : impl_(impl), ctx_(std::move(ctx)), pr_(std::move(pr)), party_(std::move(party)), format_(format),
        limit_(limit), budget_(ctx_.config->exchanges.plaintext_memory_budget_bytes) {}
  ~PlaintextSink() override {
    impl_.plaintext_held -= buf_.size();
    impl_.deps.metrics.AddPlaintextHeld(-static_cast<int64_t>(buf_.size()));
  }
  PlaintextSink(const PlaintextSink&) = delete;
  PlaintextSink& operator=(const PlaintextSink&) = delete;

  Result<void> Write(std::span<const uint8_t> data) override {
    if (used_ + data.size() > limit_) {
      return Fail(ErrorCode::kLimit, "the list exceeds the gateway-encrypt size limit (" +
                                         std::to_string(limit_) + " bytes)");
    }
    XGW_CHECK(Reserve(used_ + data.size()));
    std::copy(data.begin(), data.end(), buf_.data() + used_);
    used_ += data.size();
    return {};
  }
  Response Finish() override;

 private:
  static constexpr size_t kFirstCapacity = 64 * 1024;

  // Grows the buffer to hold `need` bytes, within limit_ and the budget.
  Result<void> Reserve(size_t need) {
    if (need <= buf_.size()) return {};
    size_t next = std::max(buf_.size(), kFirstCapacity);
    while (next < need) next *= 2;
    next = std::min(next, limit_);
    const uint64_t more = next - buf_.size();
    const uint64_t before = impl_.plaintext_held.fetch_add(more);
    if (before + more > budget_) {
      impl_.plaintext_held -= more;
      return Fail(ErrorCode::kUnavailable,
                  "the gateway is holding as many lists in memory as it may; send the list again "
                  "in a few seconds");
    }
    impl_.deps.metrics.AddPlaintextHeld(static_cast<int64_t>(more));
    SecretBuffer grown(next);
    std::copy(buf_.data(), buf_.data() + used_, grown.data());
    buf_ = std::move(grown);  // the old buffer is wiped as it is freed
    return {};
  }

  ExchangeService::Impl& impl_;
  RequestContext ctx_;
  ProtocolRecord pr_;
  std::string party_;
  InputFormat format_;
  size_t limit_;
  uint64_t budget_;
  SecretBuffer buf_;
  size_t used_ = 0;
};

// One-request end-to-end upload (POST /api/v1/exchanges/upload). The body is
// the create document of POST /api/v1/exchanges on one line (compact JSON
// never holds a raw newline), "\n", the streamed subject index its manifest
// declares (count x 32 bytes; none in the listed form), then the age file.
// The document is kept in memory (at most limits.max_json_body_bytes), the
// index spools to an unlinked file, the age file streams to a temp blob, and
// everything is decided at the end exactly as the two-request form decides
// it. The exchange row is written only once the upload is
// complete, already available: half the requests, audit commits and database
// transactions of the two-request form, and no pending row ever.
class OneRequestUploadSink final : public RequestBodySink {
 public:
  OneRequestUploadSink(ExchangeService::Impl& impl, RequestContext ctx, std::string id, std::unique_ptr<PendingBlob> blob,
                       uint64_t head_limit)
      : impl_(impl), ctx_(std::move(ctx)), id_(std::move(id)), head_limit_(head_limit),
        cap_(ctx_.config->limits.max_upload_bytes), blob_(std::move(blob)) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    if (!head_done_) {
      const auto nl = std::find(data.begin(), data.end(), uint8_t{'\n'});
      const size_t take = static_cast<size_t>(nl - data.begin());
      if (head_.size() + take > head_limit_) {
        return Fail(ErrorCode::kLimit, "the create document (the body's first line) exceeds " +
                                           std::to_string(head_limit_) + " bytes");
      }
      head_.append(reinterpret_cast<const char*>(data.data()), take);
      if (nl == data.end()) return {};
      head_done_ = true;
      data = data.subspan(take + 1);
      XGW_CHECK(LimitToDeclaredSize());
    }
    if (index_.bytes_left() != 0) {
      XGW_TRY(size_t took, index_.Take(data));
      data = data.subspan(took);
    }
    if (blob_.writer().size() + data.size() > cap_) {
      return Fail(ErrorCode::kLimit, "the age file exceeds the size the manifest declares (" + std::to_string(cap_) +
                                         " bytes of ciphertext at most); nothing was kept");
    }
    return data.empty() ? Result<void>{} : blob_.writer().Write(data);
  }
  Response Finish() override {
    const std::string& rid = ctx_.request_id();
    if (auto w = blob_.writer().Finish(); !w) return ErrorProblem(ctx_, w.error());
    const json& doc = doc_;
    if (!head_done_ || doc.is_discarded()) {
      return Problem(400, "invalid-body", "Invalid upload",
                     "the body must be the create document (protocol_id, version_hash, manifest, "
                     "manifest_signature) as JSON on one line, a newline, then the age file",
                     rid);
    }
    auto d = impl_.DecideCreate(ctx_, doc);
    if (!d) return ErrorProblem(ctx_, d.error());
    if (d->refusal) return std::move(*d->refusal);
    // A listed index came in the manifest: no block was read.
    const bool streamed = d->manifest.subject_index_streamed;
    if ((streamed ? d->manifest.subject_count : 0) != index_.count()) {
      return SubjectIndexProblem(ctx_, Error{ErrorCode::kFormat, "the subject index read is not the one declared"});
    }
    if (auto i = index_.Finish(streamed ? d->manifest.subject_index_sha256 : std::string(kEmptySubjectIndexSha256));
        !i) {
      return SubjectIndexProblem(ctx_, i.error());
    }
    ExchangeRow e = ExchangeService::Impl::NewExchangeRow(ctx_, d->pr, d->party, d->manifest, d->canonical,
                                                          d->signature, "user:" + ctx_.principal->user_id, "e2e");
    e.id = id_;  // the temp blob is already named after it
    const uint64_t cap = ExchangeService::Impl::CiphertextCap(d->pr, e.byte_size, *ctx_.config);
    if (blob_.writer().size() > cap) {
      return Problem(413, "too-large", "Upload too large",
                     "the age file exceeds the size the manifest declares (" + std::to_string(cap) +
                         " bytes of ciphertext at most); nothing was kept",
                     rid);
    }
    return blob_.Complete(impl_, ctx_, e, d->pr, &d->manifest, &index_);
  }

 private:
  // Once the create document is in, the age file may not outgrow what its
  // manifest declares: refused while it streams, as in the two-request form,
  // not after a gigabyte was written. (The protocol's own limit is applied
  // in Finish, where the protocol is read; parsing here costs no I/O.)
  // A streamed subject index is read next: its size is the manifest's
  // count, within the upload limit; its digest is checked in Finish.
  Result<void> LimitToDeclaredSize() {
    doc_ = json::parse(head_, nullptr, false);
    if (!doc_.is_object() || !doc_.contains("manifest") || !doc_["manifest"].is_object()) return {};
    const json& manifest = doc_["manifest"];
    const json& size = manifest.value("byte_size", json());
    if (size.is_number_unsigned()) {
      cap_ = std::min(cap_, ExchangeService::Impl::MaxCiphertext(size.get<uint64_t>()));
    }
    const json& index = manifest.value("subject_index", json());
    const json& count = index.is_object() ? index.value("count", json()) : json();
    if (!count.is_number_unsigned() || count.get<uint64_t>() == 0) return {};
    if (count.get<uint64_t>() > ctx_.config->limits.max_upload_bytes / SubjectIndexUpload::kValueSize) {
      return Fail(ErrorCode::kLimit, "the subject index the manifest declares exceeds the upload limit (" +
                                         std::to_string(ctx_.config->limits.max_upload_bytes) + " bytes)");
    }
    XGW_TRY(index_, SubjectIndexUpload::Open(impl_.spool_dir, count.get<uint64_t>()));
    return {};
  }

  ExchangeService::Impl& impl_;
  RequestContext ctx_;
  std::string id_;
  uint64_t head_limit_;
  uint64_t cap_;      // most age-file bytes accepted so far
  std::string head_;  // the create document as received
  json doc_ = json::value_t::discarded;  // ... parsed, once complete
  bool head_done_ = false;
  TempBlob blob_;
  SubjectIndexUpload index_;  // the streamed subject index, if the manifest declares one
};
}  // namespace

std::optional<Response> ExchangeService::Impl::RefuseIfNotAge(RequestContext& ctx, const ExchangeRow* e,
                                                             const ProtocolRecord& pr, PendingBlob& blob) {
  auto src = blob.ReadBack();
  if (!src) return ErrorProblem(ctx, src.error());
  age::BufferedReader reader(**src);
  auto header = age::ParseHeader(reader);
  size_t x25519 = 0;
  if (header) {
    for (const auto& st : header->stanzas) x25519 += st.type == "X25519" ? 1 : 0;
  }
  if (header && x25519 > 0) return std::nullopt;
  AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = "age_invalid";
  (void)deps.audit.AppendEvent(ev);
  deps.metrics.CountRefusal("age-invalid");
  return Problem(400, "age-invalid", "Not an age file",
                 header ? "the upload has no X25519 recipient stanza; encrypt it to the "
                          "protocol's recipients (GET /api/v1/protocols/{id}/recipients)"
                        : "the upload is not an age v1 file (binary, not armored); nothing was kept",
                 ctx.request_id());
}

ExchangeRow ExchangeService::Impl::NewExchangeRow(const RequestContext& ctx, const ProtocolRecord& pr,
                                                  const std::string& party, const Manifest& manifest,
                                                  const std::string& canonical, const std::string& signature,
                                                  const std::string& signer, const std::string& mode) {
  ExchangeRow e;
  e.id = NewId(kExchangePrefix);
  e.protocol_id = pr.protocol->id;
  e.version_hash = pr.protocol->version_hash;
  e.sender_org = ctx.principal->org_id;
  e.sender_user = ctx.principal->user_id;
  e.sender_party = party;
  e.mode = mode;
  e.state = "pending";
  e.manifest = canonical;
  e.manifest_signature = signature;
  e.signer = signer;
  e.rows = static_cast<int64_t>(manifest.row_count);
  e.byte_size = static_cast<int64_t>(manifest.byte_size);
  e.created_at = ctx.now;
  return e;
}

Result<void> ExchangeService::Impl::InsertExchangeLocked(const ExchangeRow& e, const Manifest& manifest) {
  XGW_TRY(auto st, db.Prepare(
                       "INSERT INTO exchanges(id, protocol_id, version_hash, sender_org, sender_user, "
                       "sender_party, mode, state, manifest, manifest_signature, signer, rows, "
                       "byte_size, created_at, delivered_at, expires_at, size) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  st.Bind(1, e.id).Bind(2, e.protocol_id).Bind(3, e.version_hash).Bind(4, e.sender_org)
      .Bind(5, e.sender_user).Bind(6, e.sender_party).Bind(7, e.mode).Bind(8, e.state)
      .Bind(9, e.manifest).Bind(10, e.manifest_signature).Bind(11, e.signer).Bind(12, e.rows)
      .Bind(13, e.byte_size).Bind(14, e.created_at).Bind(15, e.delivered_at).Bind(16, e.expires_at)
      .Bind(17, e.size);
  XGW_CHECK(st.Run());
  for (const auto& v : manifest.subject_index) {
    XGW_TRY(auto sub, db.Prepare("INSERT OR IGNORE INTO exchange_subjects(value, exchange_id) VALUES (?, ?)"));
    sub.Bind(1, v).Bind(2, e.id);
    XGW_CHECK(sub.Run());
  }
  return {};
}

Result<void> ExchangeService::Impl::InsertStreamedSubjectsLocked(const std::string& id,
                                                                 const SubjectIndexUpload& index) {
  // The values are stored as the listed form stores them (lower-case hex),
  // so that one lookup finds both.
  return index.ForEach([&](std::span<const Sha256Digest> values) -> Result<void> {
    for (const auto& v : values) {
      XGW_TRY(auto sub, db.Prepare("INSERT OR IGNORE INTO exchange_subjects(value, exchange_id) VALUES (?, ?)"));
      sub.Bind(1, HexEncode(v)).Bind(2, id);
      XGW_CHECK(sub.Run());
    }
    return {};
  });
}

Response ExchangeService::Impl::CompleteUpload(RequestContext& ctx, const ExchangeRow& e,
                                               const ProtocolRecord& pr, PendingBlob& blob,
                                               const Manifest* new_row,
                                               const SubjectIndexUpload* index) {
  const int64_t now = Now();
  const uint64_t size = blob.size();
  // The frequency (one-off, quota) and the protocol's state were decided
  // when the exchange was created, but two exchanges created at the same
  // time both passed that check, and an operator may suspend or terminate
  // the protocol while an upload streams: both are decided again inside the
  // transaction that makes the exchange available, where no other
  // completion or state change can come between. A pending exchange (the
  // two-request form) may have waited long since its creation: it is also
  // checked here, before its upload is audited. A new row was decided
  // milliseconds ago (DecideCreate), so that check would only repeat it.
  if (!new_row) {
    auto past = TransfersInWindow(*pr.protocol, e.sender_party, ToInstant(now));
    if (!past) {
      blob.Discard();
      return ErrorProblem(ctx, past.error());
    }
    if (Violations v = FrequencyViolations(*pr.protocol, {e.sender_party, ToInstant(now), *past}); !v.empty()) {
      blob.Discard();
      return RefuseCompletion(ctx, e, pr, v, now);
    }
  }
  ExchangeRow done = e;
  done.delivered_at = now;
  const int64_t expires = FromInstant(Expiry(pr, done));
  std::vector<AuditEvent> events;
  if (new_row) events.push_back(EventFor(ctx, AuditAction::kExchangeCreated, &e, &pr));
  events.push_back(EventFor(ctx, AuditAction::kExchangeUploaded, &e, &pr));
  for (auto& ev : events) ev.time_ms = now * 1000;
  // The blob is published first: without a row that says "available" it
  // is an orphan, which the sweeper leaves alone while it is being
  // published and removes after a crash. Then the blob becomes durable
  // (BlobStore) while the audit events are committed (the log's own group
  // commit). The row is written only once both did.
  const auto give_up = [&](Response r) {
    blob.Discard();
    return r;
  };
  const auto not_pending = [&] {
    return Problem(409, "wrong-state", "Upload not expected",
                   "the exchange is no longer pending (discarded or already uploaded)", ctx.request_id());
  };
  const std::optional<Claim> claim = TryClaim(e.id);
  if (!claim) {
    return give_up(Problem(409, "wrong-state", "Upload not expected",
                           "the exchange is being completed by another upload or discarded; "
                           "read its state (GET /api/v1/exchanges/{id})",
                           ctx.request_id()));
  }
  // Never over another blob: an earlier upload of the same exchange that
  // completed (or is completing) keeps its own; kConflict also when the
  // sweeper discarded the exchange (and its pending blob) meanwhile.
  if (auto published = blob.Publish(); !published) {
    return give_up(published.error().code == ErrorCode::kConflict ? not_pending() : ErrorProblem(ctx, published.error()));
  }
  auto ticket = deps.audit.QueueEvents(std::move(events));
  const Result<void> durable = blob.AwaitDurable();
  const bool audited = ticket && deps.audit.Wait(**ticket).has_value();
  if (!audited || !durable) {
    blob.Unpublish();
    if (!audited) return AuditUnavailableProblem(ctx.request_id());
    return ErrorProblem(ctx, durable.error());
  }
  bool still_pending = false;
  Violations late;
  const std::function<Result<void>()> mark_available = [&]() -> Result<void> {
    if (FaultPointActive("exchange-publish")) return Fail(ErrorCode::kIo, "injected fault: exchange publish");
    XGW_TRY(late, StateViolationsLocked(pr, now));
    if (late.empty()) {
      XGW_TRY(auto transfers, CountTransfers(db, *pr.protocol, e.sender_party, ToInstant(now)));
      late = FrequencyViolations(*pr.protocol, {e.sender_party, ToInstant(now), transfers});
    }
    if (!late.empty()) return Fail(ErrorCode::kConflict, "the protocol no longer allows this transfer");
    if (new_row) {
      ExchangeRow row = done;
      row.state = "available";
      row.expires_at = expires;
      row.size = static_cast<int64_t>(size);
      XGW_CHECK(InsertExchangeLocked(row, *new_row));
      still_pending = true;
    } else {
      XGW_TRY(auto st, db.Prepare("UPDATE exchanges SET state = 'available', delivered_at = ?, "
                                  "expires_at = ?, size = ? WHERE id = ? AND state = 'pending'"));
      st.Bind(1, now).Bind(2, expires).Bind(3, static_cast<int64_t>(size)).Bind(4, e.id);
      XGW_CHECK(st.Run());
      still_pending = db.Changes() == 1;
      if (!still_pending) return {};
    }
    if (index != nullptr) XGW_CHECK(InsertStreamedSubjectsLocked(e.id, *index));
    return CountTransferLocked(*pr.protocol, e.sender_party, ToInstant(now));
  };
  // The upload's events are in the log already: from here on, an upload that
  // does not become available is recorded as such under the exchange, so
  // the log never says "uploaded" for a list the gateway does not hold.
  const auto unpublished = [&](AuditOutcome outcome, const char* reason) {
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, &e, &pr);
    ev.time_ms = now * 1000;
    ev.outcome = outcome;
    ev.reason = reason;
    (void)deps.audit.AppendEvent(ev);  // a failure is reported by the sink
  };
  if (auto r = db_writes.Run(mark_available); !r) {
    blob.Unpublish();
    if (!late.empty()) return RefuseCompletion(ctx, e, pr, late, now);
    unpublished(AuditOutcome::kFailed, "storage_error");
    return ErrorProblem(ctx, r.error());
  }
  if (!still_pending) {
    blob.Unpublish();
    unpublished(AuditOutcome::kRefused, "wrong_state");
    return not_pending();
  }
  // Tests only: the daemon dies between the commit and the answer.
  if (FaultPointActive("kill-after-publish")) ::_exit(137);
  if (new_row) deps.metrics.CountExchange("created");
  deps.metrics.CountExchange("uploaded");
  deps.metrics.SetExchangesLive(static_cast<int64_t>(++live));
  Response r = JsonResponse(new_row ? 201 : 200, {{"id", e.id},
                                  {"state", "available"},
                                  {"size", size},
                                  {"expires_at", FormatTime(expires)}});
  r.audited = true;
  return r;
}


Response ExchangeService::Impl::RefuseCompletion(RequestContext& ctx, const ExchangeRow& e,
                                                 const ProtocolRecord& pr, const Violations& v,
                                                 int64_t now) {
  AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, &e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = ReasonForViolation(v.front().code);
  if (!deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
  deps.metrics.CountExchange("refused");
  // Nothing of it may stay: the exchange can never become available.
  if (auto d = DeleteExchangeData(e.id, "discarded", ev.reason, now); !d) return ErrorProblem(ctx, d.error());
  Response r = WithExtra(Problem(422, "policy-violation", "Exchange refused",
                                 "the protocol no longer allows this transfer: another transfer under it "
                                 "completed first, or it was suspended, terminated or expired meanwhile; "
                                 "see 'violations'. Nothing was kept",
                                 ctx.request_id()),
                         {{"violations", ViolationsJson(v)}});
  r.audited = true;
  return r;
}

Response PlaintextSink::Finish() {
  ExchangeService::Impl& m = impl_;
  RequestContext& ctx = ctx_;
  const std::string& rid = ctx.request_id();
  const std::span<const uint8_t> data(buf_.data(), used_);
  MemorySource src(data);
  Result<std::unique_ptr<ListReader>> reader = format_ == InputFormat::kCsv ? OpenCsvReader(src)
                                                                            : OpenXlsxBuffer(data);
  auto refuse = [&](const Violations& v, const std::string& detail) {
    AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeRefused, nullptr, &pr_);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = v.empty() ? "validation_failed" : ReasonForViolation(v.front().code);
    (void)m.deps.audit.AppendEvent(ev);
    for (const auto& x : v) m.deps.metrics.CountRefusal("policy:" + x.code);
    m.deps.metrics.CountExchange("refused");
    return WithExtra(Problem(422, "policy-violation", "Exchange refused", detail, rid),
                     {{"violations", ViolationsJson(v)}});
  };
  if (!reader) {
    // Reader errors name offsets, parts and limits, never cell contents
    // (list_reader.h), so the sender may see what is wrong with the file.
    // The reader's message says what the file is and what to do (a
    // password-protected workbook, an old .xls, an empty sheet and the
    // workbook's sheets): the violation carries it for the sender's client.
    return refuse({Violation{"list_malformed", reader.error().message, 0, ""}},
                  "the list is not a readable " + std::string(InputFormatName(format_)) +
                      " file: " + reader.error().message);
  }
  auto past = m.TransfersInWindow(*pr_.protocol, party_, ToInstant(ctx.now));
  if (!past) return ErrorProblem(ctx, past.error());
  SendRequest req{party_, ToInstant(ctx.now), *past};
  // The sending organisation's subject-index key, if the operator placed one,
  // exists in (locked) memory only while the list is checked.
  auto key = ReadOrgSubjectKey(ctx.config->exchanges.subject_keys_dir, ctx.principal->org_id);
  if (!key) return SubjectKeyProblem(ctx, key.error());
  CheckListOptions options;
  if (*key) {
    options.subject_key = (*key)->span();
    options.subject_key_id = ctx.principal->org_id;
  }
  auto check = CheckListForSend(*pr_.protocol, pr_.status, **reader, req, options);
  key->reset();  // sodium_free wipes it
  if (!check) return ErrorProblem(ctx, check.error());
  if (!check->ok()) {
    return refuse(check->violations, "the list does not satisfy the protocol; see 'violations' "
                                     "(row, column and rule; values are never shown)");
  }
  // Recipients: every user allowed to receive who registered a key.
  std::vector<age::X25519Recipient> recipients;
  for (const auto& [party, org] : pr_.party_org) {
    if (!pr_.protocol->IsReceiver(party)) continue;
    auto users = m.deps.identities.ListUsers(org);
    if (!users) return ErrorProblem(ctx, users.error());
    for (const auto& u : *users) {
      if (!u.keys || !MayReceive(*pr_.protocol, UserRef{party, u.id, u.roles}).empty()) continue;
      if (auto r = age::X25519Recipient::Parse(u.keys->age_recipient)) recipients.push_back(*r);
    }
  }
  if (recipients.empty()) {
    return refuse({Violation{"recipient_key_missing", "no allowed recipient has registered a key", 0, ""}},
                  "no user allowed to receive under this protocol has registered an age key");
  }
  auto canonical = ManifestToCanonicalJson(check->manifest);
  if (!canonical) return ErrorProblem(ctx, canonical.error());
  const std::string sig = Base64Encode(m.deps.gateway_key->Sign(*canonical));
  std::string id;
  AuditEvent created = m.EventFor(ctx, AuditAction::kExchangeCreated, nullptr, &pr_);
  created.orgs.push_back(ctx.principal->org_id);
  auto made = m.CreateExchange(ctx, pr_, party_, check->manifest, *canonical, sig, "gateway", "gateway",
                               &created, &id);
  if (!made) return ErrorProblem(ctx, made.error());
  if (made->status != 201) return std::move(*made);  // the audit log refused the creation
  auto encrypt_and_complete = [&]() -> Response {
    auto blob = m.blobs->Create(id, ExchangeService::Impl::MaxCiphertext(data.size()));
    if (!blob) return ErrorProblem(ctx, blob.error());
    std::vector<const age::Recipient*> rs;
    for (const auto& r : recipients) rs.push_back(&r);
    MemorySource plain(data);
    auto enc = age::Encrypt(rs, plain, **blob, false);
    Result<void> written = enc ? (*blob)->Finish() : Result<void>(tl::unexpected(enc.error()));
    if (!written) return ErrorProblem(ctx, written.error());
    // The plaintext is no longer needed: wipe it before the slow part.
    WipeMemory(buf_.data(), buf_.size());
    auto e = m.LoadExchange(id);
    if (!e || !*e) return ErrorProblem(ctx, Error{ErrorCode::kInternal, "exchange vanished"});
    Response r = m.CompleteUpload(ctx, **e, pr_, **blob);
    if (r.status == 200) {
      json body = json::parse(r.body, nullptr, false);
      body["manifest"] = json::parse(*canonical, nullptr, false);
      body["manifest_signature"] = sig;
      body["signer"] = "gateway";
      r = JsonResponse(201, body);
      r.audited = true;
    }
    return r;
  };
  Response r = encrypt_and_complete();
  // The sender never learns the id of an exchange that failed here: a row
  // left pending would only wait for the sweeper. Discard it now.
  if (r.status != 201) {
    if (auto e = m.LoadExchange(id); e && *e && (*e)->state == "pending") {
      (void)m.DeleteExchangeData(id, "discarded", "upload_failed", ctx.now);
    }
  }
  return r;
}

Result<Response> ExchangeService::Impl::CreateExchange(
    RequestContext& ctx, const ProtocolRecord& pr, const std::string& party, const Manifest& manifest,
    const std::string& manifest_canonical, const std::string& signature_b64,
    const std::string& signer, const std::string& mode, const AuditEvent* audit_first,
    std::string* new_id) {
  const ExchangeRow e = NewExchangeRow(ctx, pr, party, manifest, manifest_canonical, signature_b64, signer, mode);
  const std::string& id = e.id;
  if (audit_first) {
    AuditEvent ev = *audit_first;
    ev.exchange_id = id;
    if (!deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  }
  const std::function<Result<void>()> insert = [&]() -> Result<void> { return InsertExchangeLocked(e, manifest); };
  XGW_CHECK(db_writes.Run(insert));
  *new_id = id;
  Response r = JsonResponse(201, {{"id", id},
                                  {"upload_url", "/api/v1/exchanges/" + id + "/content"},
                                  {"state", "pending"}});
  r.audited = audit_first != nullptr;
  return r;
}

Result<ExchangeService::Impl::CreateDecision> ExchangeService::Impl::DecideCreate(RequestContext& ctx,
                                                                                const json& body) {
  const std::string& rid = ctx.request_id();
  CreateDecision d;
  auto refused = [&d](Response r) {
    d.refusal = std::move(r);
    return std::move(d);
  };
  for (const char* k : {"protocol_id", "version_hash", "manifest_signature"}) {
    if (!body.is_object() || !body.contains(k) || !body[k].is_string()) {
      return refused(Problem(400, "invalid-field", "Invalid request", std::string(k) + ": required string", rid));
    }
  }
  if (!body.contains("manifest") || !body["manifest"].is_object() || body.size() != 4) {
    return refused(Problem(400, "invalid-field", "Invalid request",
                           "send exactly protocol_id, version_hash, manifest (object) and manifest_signature",
                           rid));
  }
  const std::string pid = body["protocol_id"].get<std::string>();
  if (!IsProtocolId(pid)) {
    return refused(Problem(400, "invalid-field", "Invalid request", "protocol_id is malformed", rid));
  }
  XGW_TRY(auto pr, LoadProtocol(pid));
  const std::string party = pr ? PartyOf(*pr, ctx.principal->org_id) : "";
  // A refusal the policy (or the manifest) decided: audited.
  auto refuse = [&](unsigned status, const std::string& slug, const std::string& detail,
                    const Violations& v) {
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, nullptr, pr ? &*pr : nullptr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = v.empty() ? "manifest_invalid" : ReasonForViolation(v.front().code);
    (void)deps.audit.AppendEvent(ev);
    for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
    deps.metrics.CountExchange("refused");
    return refused(WithExtra(Problem(status, slug, "Exchange refused", detail, rid),
                             {{"violations", ViolationsJson(v)}}));
  };
  if (!pr || party.empty()) {
    return refuse(pr ? 403 : 404, pr ? "not-a-party" : "protocol-not-found",
                  pr ? "your organisation is not a party of this protocol"
                     : "no such protocol, or it is not visible to you",
                  {});
  }
  if (body["version_hash"].get<std::string>() != pr->protocol->version_hash) {
    return refuse(422, "policy-violation", "version_hash is not the protocol's current version",
                  {Violation{"protocol_mismatch", "the version hash differs from the protocol's", 0, ""}});
  }
  // Manifest: canonical bytes are what was signed.
  auto canonical = CanonicalJson(body["manifest"]);
  if (!canonical) return refuse(400, "manifest-invalid", "the manifest is not canonicalisable JSON", {});
  auto manifest = ParseManifest(*canonical);
  if (!manifest) return refuse(400, "manifest-invalid", manifest.error().message, {});
  XGW_TRY(auto user, deps.identities.GetUser(ctx.principal->user_id));
  if (!user.keys) return refuse(422, "key-missing", "register your ed25519_verify_key first", {});
  auto pk = Base64Decode(user.keys->ed25519_verify_key);
  auto sig = Base64Decode(body["manifest_signature"].get<std::string>());
  bool sig_ok = false;
  if (pk && pk->size() == 32 && sig && sig->size() == 64) {
    Ed25519PublicKey key{};
    Ed25519Signature s{};
    std::copy(pk->begin(), pk->end(), key.begin());
    std::copy(sig->begin(), sig->end(), s.begin());
    sig_ok = VerifyEd25519(key, *canonical, s).has_value();
  }
  if (!sig_ok) {
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, nullptr, &*pr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = "signature_invalid";
    (void)deps.audit.AppendEvent(ev);
    deps.metrics.CountRefusal("signature_invalid");
    return refused(Problem(400, "signature-invalid", "Signature invalid",
                           "manifest_signature is not a valid Ed25519 signature of the canonical "
                           "manifest by your registered key",
                           rid));
  }
  XGW_TRY(auto past, TransfersInWindow(*pr->protocol, party, ToInstant(ctx.now)));
  SendRequest req{party, ToInstant(ctx.now), past};
  Violations v = DecideSend(*pr->protocol, pr->status, *manifest, req);
  if (!v.empty()) {
    const bool not_sender = std::any_of(v.begin(), v.end(), [](const Violation& x) {
      return x.code == "sender_not_sending_party";
    });
    return refuse(not_sender ? 403 : 422, "policy-violation",
                  "the protocol does not allow this exchange; see 'violations'", v);
  }
  d.pr = std::move(*pr);
  d.party = party;
  d.canonical = std::move(*canonical);
  d.signature = body["manifest_signature"].get<std::string>();
  d.manifest = std::move(*manifest);
  return d;
}

// ---------------------------------------------------------------------------

ExchangeService::ExchangeService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExchangeService::~ExchangeService() { StopSweeper(); }

Result<std::unique_ptr<ExchangeService>> ExchangeService::Open(Deps deps) {
  XGW_TRY(auto db, Database::Open(deps.config->DatabasePath()));
  XGW_CHECK(ApplyMigrations(db));  // a no-op when the identity store already did
  auto impl = std::make_unique<Impl>(std::move(deps), std::move(db));
  XGW_TRY(impl->blobs, OpenBlobStore(impl->config().BlobDir(), impl->config().exchanges.packed_blob_max_bytes));
  impl->spool_dir = impl->config().BlobDir() + "/tmp";
  impl->RefreshLive();
  return std::unique_ptr<ExchangeService>(new ExchangeService(std::move(impl)));
}

// ---------------------------------------------------------------------------
// Sweeper

Result<SweepStats> ExchangeService::SweepOnce(bool startup) {
  Impl& m = *impl_;
  SweepStats stats;
  const int64_t now = m.Now();
  // 1. Expired exchanges: deleted, the event shown to every party's DPO,
  // its reason the rule that expired it (a date, a time after delivery or
  // first download, an acknowledgement, a termination). A deletion caught
  // up at start-up carries its cause too; its time shows it came late.
  XGW_TRY(stats.deleted, m.SweepExchanges({.where = "state IN ('available','acknowledged') AND expires_at <= ?",
                                           .bound = now,
                                           .action = AuditAction::kExchangeDeletedExpiry,
                                           .event_reason = "retention_expired",
                                           .state = "deleted",
                                           .row_reason = "retention_expired",
                                           .metric = "expiry",
                                           .parties_concerned = true,
                                           .reason_per_row = true},
                                          now));
  // 1b. Protocols whose validity period is over become expired, recorded
  // like every other transition (sends were already refused by the dates).
  XGW_CHECK(m.ExpireProtocols(now));
  // 1c. Subject-index values past their accountability period.
  XGW_CHECK(m.PruneSubjectIndex(now));
  // 2. Pending uploads that were never completed (never delivered: the
  // sender's organisation alone is concerned).
  XGW_TRY(stats.discarded,
          m.SweepExchanges({.where = "state = 'pending' AND created_at <= ?",
                            .bound = now - static_cast<int64_t>(m.config().exchanges.pending_timeout_seconds),
                            .action = AuditAction::kExchangeDiscarded,
                            .event_reason = "upload_timeout",
                            .state = "discarded",
                            .row_reason = "upload_timeout",
                            .metric = "pending_timeout",
                            .parties_concerned = false},
                           now));
  // 3. Orphaned files: temp blobs at start-up (nothing can be uploading),
  // and final blobs whose exchange is not live (a crash between rename and
  // commit).
  XGW_TRY(auto states, m.ExchangeStates());
  uint64_t orphans = 0;
  if (startup) {
    if (auto n = m.blobs->DiscardAllPending()) orphans += *n;
  }
  if (auto ids = m.blobs->List()) {  // unreadable now: the next pass decides
    std::vector<std::string> victims;
    for (const auto& id : *ids) {
      const auto known = states.find(id);
      if (known != states.end() && Impl::IsLive(known->second)) continue;
      // The snapshot above can be stale: an upload completes by publishing
      // its blob and then committing "available" (a one-request upload only
      // then inserts its row), possibly between the snapshot and the
      // listing. A blob being published is left alone; otherwise its
      // publication is over (the blob was listed, so it had begun), and the
      // row read now says whether it succeeded.
      if (m.IsClaimed(id)) continue;
      auto row = m.LoadExchange(id);
      if (!row) continue;  // cannot tell now: keep it, the next pass decides
      if (*row && Impl::IsLive((*row)->state)) continue;
      victims.push_back(id);
    }
    if (auto n = m.blobs->RemoveOrphans(victims)) orphans += *n;
  }
  stats.orphans = orphans;
  for (uint64_t i = 0; i < orphans; ++i) m.deps.metrics.CountDeletion("orphan");
  // 4. Lag: the oldest expired exchange still present.
  XGW_TRY(auto oldest, m.OldestExpiryLeft(m.Now()));
  if (oldest) stats.lag_seconds = std::max<int64_t>(0, now - *oldest);
  m.deps.metrics.SetSweeperLagSeconds(stats.lag_seconds);
  m.RefreshLive();
  return stats;
}

void ExchangeService::StartSweeper() {
  Impl& m = *impl_;
  if (auto r = SweepOnce(true); !r) {
    std::fprintf(stderr, "xgwd: sweeper start-up pass failed: %s\n", ToString(r.error()).c_str());
  }
  m.sweeper = std::thread([this, &m] {
    std::unique_lock lock(m.sweep_mu);
    while (!m.stop) {
      m.sweep_cv.wait_for(lock, std::chrono::seconds(m.config().exchanges.sweep_interval_seconds),
                          [&m] { return m.stop || m.wake; });
      if (m.stop) break;
      m.wake = false;
      lock.unlock();
      if (auto r = SweepOnce(false); !r) {
        std::fprintf(stderr, "xgwd: sweeper pass failed: %s\n", ToString(r.error()).c_str());
      }
      lock.lock();
    }
  });
}

void ExchangeService::StopSweeper() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.sweep_mu);
    m.stop = true;
  }
  m.sweep_cv.notify_all();
  if (m.sweeper.joinable()) m.sweeper.join();
}

void ExchangeService::WakeSweeper() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.sweep_mu);
    m.wake = true;
  }
  m.sweep_cv.notify_all();
}

// ---------------------------------------------------------------------------
// Routes

void ExchangeService::RegisterRoutes(Router& router) {
  Impl& m = *impl_;
  const Grant any{"*", Scope::kAny};
  const Grant op{std::string(kRoleOperator), Scope::kAny};
  const Grant dpo{std::string(kRoleDpo), Scope::kAny};
  const Grant sender{std::string(kRoleSender), Scope::kAny};

  router.AddParameterRule("protocol", IsProtocolId, "must match [A-Za-z0-9_.-]{1,64}");
  router.AddIdParameter("exchange", std::string(kExchangePrefix));
  router.AddParameterRule("value", IsLowerHex64, "must be 64 lower-case hex digits");


  // ---- clock ---------------------------------------------------------------
  router.Add({.method = "POST",
              .pattern = "/api/v1/admin/clock",
              .grants = {op},
              .body = BodyKind::kJson,
              .handler = [&m, this](RequestContext& ctx, const json& body) {
                if (!m.deps.clock.manual()) {
                  return Problem(404, "no-such-route", "Not found",
                                 "the clock can only be advanced when clock.mode is \"manual\"",
                                 ctx.request_id());
                }
                auto it = body.find("advance_seconds");
                if (!body.is_object() || body.size() != 1 || it == body.end() ||
                    !it->is_number_integer() || it->get<int64_t>() <= 0 ||
                    it->get<int64_t>() > 100ll * 366 * 86400) {
                  return Problem(400, "invalid-field", "Invalid request",
                                 "send {\"advance_seconds\": N} with a positive integer N",
                                 ctx.request_id());
                }
                AuditEvent ev = m.EventFor(ctx, AuditAction::kClockAdvanced, nullptr, nullptr);
                ev.reason = "operator_request";
                if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                if (!m.deps.clock.Advance(it->get<int64_t>())) {
                  return Problem(500, "clock-not-saved", "Clock not advanced",
                                 "the manual clock's new position could not be saved in the "
                                 "state directory; see the daemon's log",
                                 ctx.request_id());
                }
                // The sweeper should act on the new time at once, not at its
                // next period (up to exchanges.sweep_interval_seconds later).
                WakeSweeper();
                return JsonResponse(200, {{"now", FormatTime(m.Now())}});
              }});
  router.Add({.method = "GET",
              .pattern = "/api/v1/admin/clock",
              .grants = {op},
              .handler = [&m](RequestContext&, const json&) {
                return JsonResponse(200, {{"now", FormatTime(m.Now())},
                                          {"mode", m.deps.clock.manual() ? "manual" : "system"}});
              }});

  // ---- protocols -----------------------------------------------------------
  router.Add({.method = "POST",
              .pattern = "/api/v1/protocols",
              .grants = {op},
              .body = BodyKind::kJson,
              .handler = [&m](RequestContext& ctx, const json& body) {
                return Handle(ctx, [&]() -> Result<Response> {
                  auto parsed = ParseProtocolDocument(body);
                  if (!parsed) {
                    json problems = json::array();
                    for (const auto& p : parsed.error()) {
                      problems.push_back({{"path", p.path}, {"reason", p.reason}});
                    }
                    return WithExtra(Problem(400, "invalid-protocol", "Invalid protocol",
                                             "the protocol document has problems; see 'problems'",
                                             ctx.request_id()),
                                     {{"problems", problems}});
                  }
                  Protocol& p = *parsed;
                  XGW_TRY(std::string canonical, CanonicalJson(body));
                  // Map every party to a registered organisation.
                  XGW_TRY(auto orgs, m.deps.identities.ListOrganisations());
                  std::map<std::string, std::string> party_org;
                  json missing = json::array();
                  for (size_t i = 0; i < p.parties.size(); ++i) {
                    const Party& party = p.parties[i];
                    std::string found;
                    for (const auto& o : orgs) {
                      if (o.enterprise_number && *o.enterprise_number == party.enterprise_number) {
                        found = o.id;
                      }
                    }
                    if (found.empty()) {
                      const std::string reason =
                          party.enterprise_number.empty()
                              ? "missing: add the party's enterprise number (KBO, 10 digits, for BE; KvK, 8 "
                                "digits, for NL), by which the gateway finds its registered organisation"
                              : "no organisation registered in this gateway has enterprise number " +
                                    party.enterprise_number + ": register it first (`xgw org create --name \"" +
                                    party.name + "\" --enterprise-number " + party.enterprise_number +
                                    "`), then propose again";
                      missing.push_back({{"path", "$.parties[" + std::to_string(i) + "].enterprise_number"},
                                         {"reason", reason}});
                    }
                    party_org[party.id] = found;
                  }
                  if (!missing.empty()) {
                    return WithExtra(Problem(422, "unknown-party", "Unknown party",
                                             "register every party's organisation (with its enterprise "
                                             "number) before proposing the protocol",
                                             ctx.request_id()),
                                     {{"problems", missing}});
                  }
                  ProtocolStatus draft;
                  XGW_CHECK(CheckTransition(p, draft, ProtocolState::kProposed, ToInstant(ctx.now)));
                  AuditEvent ev;
                  ev.time_ms = ctx.now * 1000;
                  ev.actor = {ActorType::kUser, ctx.principal->user_id, ctx.principal->org_id};
                  ev.action = AuditAction::kProtocolProposed;
                  ev.protocol_id = IsSafeId(p.id) ? p.id : "";
                  if (!ev.protocol_id.empty()) ev.protocol_version = p.version_hash;
                  for (const auto& [party, org] : party_org) ev.orgs.push_back(org);
                  if (IsSafeId(ctx.request_id())) ev.request_id = ctx.request_id();
                  if (!IsProtocolId(p.id)) {
                    return Problem(400, "invalid-protocol", "Invalid protocol",
                                   "the protocol id must match [A-Za-z0-9_.-]{1,64}", ctx.request_id());
                  }
                  // One lock from the checks to the commit: two operators proposing
                  // at once must not both see "no pending version".
                  std::lock_guard lock(m.mu);
                  XGW_TRY(auto existing, m.ReadProtocol(m.db, p.id));
                  if (existing) {
                    auto refusal = m.AmendmentRefusal(ctx, *existing, p, party_org);
                    if (refusal) return std::move(*refusal);
                  }
                  // A new proposal replaces a pending one (withdrawn, its acceptances
                  // no longer count); the event says so with reason "superseded".
                  const bool replaces = existing && (existing->pending || existing->status.state ==
                                                                               ProtocolState::kProposed);
                  if (replaces) ev.reason = "superseded";
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                  XGW_TRY(auto tx, Transaction::Begin(m.db));
                  if (!existing) {
                    XGW_TRY(auto st, m.db.Prepare("INSERT INTO protocols(id, version_hash, document, state, "
                                                  "proposed_at) VALUES (?, ?, ?, 'proposed', ?)"));
                    st.Bind(1, p.id).Bind(2, p.version_hash).Bind(3, canonical).Bind(4, ctx.now);
                    XGW_CHECK(st.Run());
                  } else if (existing->status.state == ProtocolState::kProposed) {
                    // Never in force: the new document simply takes the old one's place.
                    XGW_TRY(auto st, m.db.Prepare("UPDATE protocols SET version_hash = ?, document = ?, "
                                                  "proposed_at = ? WHERE id = ?"));
                    st.Bind(1, p.version_hash).Bind(2, canonical).Bind(3, ctx.now).Bind(4, p.id);
                    XGW_CHECK(st.Run());
                  }
                  XGW_CHECK(m.WithdrawPendingLocked(p.id, ctx.now));
                  XGW_TRY(auto vs, m.db.Prepare("INSERT INTO protocol_versions(protocol_id, version_hash, document, "
                                                "state, proposed_at, proposed_by) VALUES (?, ?, ?, 'proposed', ?, ?)"));
                  vs.Bind(1, p.id).Bind(2, p.version_hash).Bind(3, canonical).Bind(4, ctx.now)
                      .Bind(5, ctx.principal->user_id);
                  XGW_CHECK(vs.Run());
                  for (const auto& [party, org] : party_org) {
                    // Parties of every version stay on record: a party dropped by an
                    // amendment still sees the protocol and what was sent under the
                    // versions it was part of.
                    XGW_TRY(auto ps, m.db.Prepare("INSERT OR IGNORE INTO protocol_parties(protocol_id, party, "
                                                  "org_id) VALUES (?,?,?)"));
                    ps.Bind(1, p.id).Bind(2, party).Bind(3, org);
                    XGW_CHECK(ps.Run());
                  }
                  XGW_CHECK(tx.Commit());
                  const bool amends = existing && existing->status.state != ProtocolState::kProposed;
                  return JsonResponse(201, {{"id", p.id},
                                            {"version", p.version},
                                            {"version_hash", p.version_hash},
                                            {"state", amends ? ProtocolStateName(existing->status.state) : "proposed"},
                                            {"version_state", "proposed"},
                                            {"current_version_hash", amends ? json(existing->protocol->version_hash)
                                                                            : json(nullptr)}});
                });
              }});

  auto protocol_json = [&m](const ProtocolRecord& r, const Principal& who, int64_t now, bool full) {
    json acc = json::array();
    for (const auto& [party, v] : r.accepted) {
      acc.push_back({{"party", party},
                     {"organisation", r.party_org.count(party) ? r.party_org.at(party) : ""},
                     {"version_hash", v.first},
                     {"at", FormatTime(v.second)}});
    }
    const std::string party = Impl::PartyOf(r, who.org_id);
    std::string role;
    if (!party.empty()) {
      const bool s = r.protocol->IsSender(party), rc = r.protocol->IsReceiver(party);
      role = s && rc ? "both" : s ? "sender" : rc ? "recipient" : "";
    }
    json parties = json::array();
    for (const auto& [pid, org] : r.party_org) parties.push_back({{"party", pid}, {"organisation", org}});
    json j = {{"id", r.protocol->id},
              {"version", r.protocol->version},
              {"version_hash", r.protocol->version_hash},
              {"title", r.protocol->title},
              {"state", ProtocolStateName(r.status.state)},
              {"my_role", role.empty() ? json(nullptr) : json(role)},
              {"valid_now", IsInForce(*r.protocol, r.status, ToInstant(now))},
              {"acceptances", acc},
              {"parties", parties}};
    j["pending_version"] = nullptr;
    if (r.pending) {
      json pacc = json::array();
      json missing = json::array();
      for (const auto& p : r.pending->protocol->parties) {
        auto it = r.pending->accepted_by.find(p.id);
        if (it == r.pending->accepted_by.end()) {
          missing.push_back(p.id);
          continue;
        }
        pacc.push_back({{"party", p.id},
                        {"organisation", r.party_org.count(p.id) ? r.party_org.at(p.id) : ""},
                        {"accepted_by", it->second.first},
                        {"at", FormatTime(it->second.second)}});
      }
      json pv = {{"version", r.pending->protocol->version},
                 {"version_hash", r.pending->protocol->version_hash},
                 {"proposed_at", FormatTime(r.pending->proposed_at)},
                 {"proposed_by", r.pending->proposed_by.empty() ? json(nullptr) : json(r.pending->proposed_by)},
                 {"acceptances", pacc},
                 {"awaiting", missing}};
      if (full) pv["definition"] = json::parse(r.pending->document, nullptr, false);
      j["pending_version"] = pv;
    }
    if (full) {
      j["definition"] = json::parse(r.document, nullptr, false);
      j["proposed_at"] = FormatTime(r.proposed_at);
      j["activated_at"] = r.activated_at ? json(FormatTime(*r.activated_at)) : json(nullptr);
      j["suspended_at"] = r.suspended_at ? json(FormatTime(*r.suspended_at)) : json(nullptr);
      j["terminated_at"] = r.terminated_at ? json(FormatTime(*r.terminated_at)) : json(nullptr);
    }
    (void)m;
    return j;
  };

  router.Add({.method = "GET",
              .pattern = "/api/v1/protocols",
              .grants = {any},
              .handler = [&m, protocol_json](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  std::vector<std::string> ids;
                  {
                    std::lock_guard lock(m.mu);
                    XGW_TRY(auto st, m.db.Prepare("SELECT id FROM protocols ORDER BY id"));
                    XGW_TRY(ids, st.TextColumn());
                  }
                  json items = json::array();
                  for (const auto& id : ids) {
                    XGW_TRY(auto r, m.LoadProtocol(id));
                    if (!r) continue;
                    if (!ctx.principal->HasRole(kRoleOperator) && Impl::PartyOf(*r, ctx.principal->org_id).empty()) {
                      continue;
                    }
                    items.push_back(protocol_json(*r, *ctx.principal, ctx.now, false));
                  }
                  return JsonResponse(200, {{"items", items}});
                });
              }});

  // Loads a protocol visible to the caller (operator or a party), else 404.
  auto visible_protocol = [&m](RequestContext& ctx) -> Result<ProtocolRecord> {
    XGW_TRY(auto r, m.LoadProtocol(ctx.params.at("protocol")));
    if (!r || (!ctx.principal->HasRole(kRoleOperator) && Impl::PartyOf(*r, ctx.principal->org_id).empty())) {
      return Fail(ErrorCode::kNotFound, "no such protocol, or it is not visible to you");
    }
    return std::move(*r);
  };

  router.Add({.method = "GET",
              .pattern = "/api/v1/protocols/{protocol}",
              .grants = {any},
              .handler = [visible_protocol, protocol_json](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto r, visible_protocol(ctx));
                  return JsonResponse(200, protocol_json(r, *ctx.principal, ctx.now, true));
                });
              }});

  // Records a lifecycle transition: audit first, then the state change.
  auto transition = [&m](RequestContext& ctx, ProtocolRecord& r, ProtocolState to, AuditAction action,
                         const std::string& reason) -> Result<void> {
    XGW_CHECK(CheckTransition(*r.protocol, r.status, to, ToInstant(ctx.now)));
    AuditEvent ev = m.EventFor(ctx, action, nullptr, &r);
    ev.reason = reason;
    if (!m.deps.audit.AppendEvent(ev)) return Fail(ErrorCode::kIo, "audit-unavailable");
    std::lock_guard lock(m.mu);
    const char* column = to == ProtocolState::kValid       ? "activated_at"
                         : to == ProtocolState::kSuspended ? "suspended_at"
                                                           : "terminated_at";
    XGW_TRY(auto tx, Transaction::Begin(m.db));
    XGW_TRY(auto st, m.db.Prepare(std::string("UPDATE protocols SET state = ?, ") + column +
                                  " = ? WHERE id = ?"));
    st.Bind(1, std::string(ProtocolStateName(to))).Bind(2, ctx.now).Bind(3, r.protocol->id);
    XGW_CHECK(st.Run());
    if (to == ProtocolState::kValid && r.status.state == ProtocolState::kProposed) {
      // The first version comes into force.
      XGW_TRY(auto v, m.db.Prepare("UPDATE protocol_versions SET state = 'current', activated_at = ? "
                                   "WHERE protocol_id = ? AND version_hash = ?"));
      v.Bind(1, ctx.now).Bind(2, r.protocol->id).Bind(3, r.protocol->version_hash);
      XGW_CHECK(v.Run());
    }
    if (to == ProtocolState::kTerminated) XGW_CHECK(m.WithdrawPendingLocked(r.protocol->id, ctx.now));
    XGW_CHECK(tx.Commit());
    r.status.state = to;
    if (to == ProtocolState::kTerminated) r.pending.reset();
    return {};
  };
  auto transition_response = [](RequestContext& ctx, const Result<void>& r) -> std::optional<Response> {
    if (r) return std::nullopt;
    if (r.error().code == ErrorCode::kIo && r.error().message == "audit-unavailable") {
      return AuditUnavailableProblem(ctx.request_id());
    }
    if (r.error().code == ErrorCode::kConflict) {
      return Problem(409, "wrong-state", "Transition not allowed", r.error().message, ctx.request_id());
    }
    return ErrorProblem(ctx, r.error());
  };

  router.Add({.method = "POST",
              .pattern = "/api/v1/protocols/{protocol}/accept",
              .grants = {op, dpo},
              .body = BodyKind::kJson,
              .handler = [&m, visible_protocol, transition, transition_response](RequestContext& ctx,
                                                                                 const json& body) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto r, visible_protocol(ctx));
                  if (!body.is_object() || (body.contains("version_hash") && !body["version_hash"].is_string())) {
                    return Problem(400, "invalid-field", "Invalid request",
                                   "send {\"version_hash\": ..., \"organisation\": ...}; version_hash defaults "
                                   "to the pending version",
                                   ctx.request_id());
                  }
                  // Default: the version waiting for acceptances (an amendment, or
                  // the first version while the protocol is only proposed).
                  const std::string hash = body.contains("version_hash")
                                               ? body["version_hash"].get<std::string>()
                                           : r.pending ? r.pending->protocol->version_hash
                                                       : r.protocol->version_hash;
                  std::string org = ctx.principal->org_id;
                  if (auto it = body.find("organisation"); it != body.end()) {
                    if (!it->is_string()) {
                      return Problem(400, "invalid-field", "Invalid request", "organisation: expected a string",
                                     ctx.request_id());
                    }
                    org = it->get<std::string>();
                  }
                  const bool amendment = r.pending && hash == r.pending->protocol->version_hash;
                  if (!amendment && hash != r.protocol->version_hash) {
                    std::string known;
                    {
                      std::lock_guard lock(m.mu);
                      XGW_TRY(known, m.VersionStateLocked(r.protocol->id, hash));
                    }
                    if (known.empty()) {
                      return Problem(422, "unknown-version", "Unknown version",
                                     "version_hash names no version of this protocol; see GET "
                                     "/api/v1/protocols/{id}/versions",
                                     ctx.request_id());
                    }
                    return Problem(409, "version-mismatch", "Version not open for acceptance",
                                   "this version is " + known + "; only the pending version can be accepted",
                                   ctx.request_id());
                  }
                  const Protocol& target = amendment ? *r.pending->protocol : *r.protocol;
                  // "organisation" may name the gateway organisation or the party id.
                  std::string party;
                  for (const auto& [pid, oid] : r.party_org) {
                    if ((oid == org || pid == org) && target.PartyById(pid)) party = pid;
                  }
                  if (party.empty()) {
                    return Problem(422, "not-a-party", "Not a party",
                                   "the organisation is not a party of this protocol version", ctx.request_id());
                  }
                  // A DPO may record only their own organisation's acceptance.
                  if (!ctx.principal->HasRole(kRoleOperator) && r.party_org[party] != ctx.principal->org_id) {
                    return Problem(403, "forbidden", "Forbidden",
                                   "a DPO may accept only for their own organisation", ctx.request_id());
                  }
                  if (!amendment && r.status.state != ProtocolState::kProposed) {
                    return Problem(409, "wrong-state", "Not open for acceptance",
                                   "this version is already in force; only a proposed version can be accepted",
                                   ctx.request_id());
                  }
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kProtocolAccepted, nullptr, &r);
                  ev.protocol_version = hash;
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                  {
                    std::lock_guard lock(m.mu);
                    XGW_TRY(auto st, m.db.Prepare(
                                         "INSERT OR REPLACE INTO protocol_acceptances(protocol_id, party, "
                                         "version_hash, accepted_by, at) VALUES (?,?,?,?,?)"));
                    st.Bind(1, r.protocol->id).Bind(2, party).Bind(3, hash).Bind(4, ctx.principal->user_id)
                        .Bind(5, ctx.now);
                    XGW_CHECK(st.Run());
                  }
                  if (amendment) {
                    r.pending->acceptances.push_back({party, hash, ToInstant(ctx.now)});
                    r.pending->accepted_by[party] = {ctx.principal->user_id, ctx.now};
                    // Every party of the new version accepted it: it comes into force.
                    if (Impl::CheckPendingActivation(r, ToInstant(ctx.now))) {
                      auto t = m.ActivatePending(ctx, r);
                      if (auto resp = transition_response(ctx, t)) return std::move(*resp);
                    }
                  } else {
                    r.status.acceptances.push_back({party, hash, ToInstant(ctx.now)});
                    r.accepted[party] = {hash, ctx.now};
                    // All parties accepted: the version becomes valid.
                    if (AllPartiesAccepted(*r.protocol, r.status.acceptances) &&
                        CheckTransition(*r.protocol, r.status, ProtocolState::kValid, ToInstant(ctx.now))) {
                      auto t = transition(ctx, r, ProtocolState::kValid, AuditAction::kProtocolActivated, "");
                      if (auto resp = transition_response(ctx, t)) return std::move(*resp);
                    }
                  }
                  const bool in_force = r.protocol->version_hash == hash && r.status.state != ProtocolState::kProposed;
                  return JsonResponse(200, {{"id", r.protocol->id},
                                            {"party", party},
                                            {"version_hash", hash},
                                            {"version_state", in_force ? "current" : "proposed"},
                                            {"current_version_hash", r.protocol->version_hash},
                                            {"state", ProtocolStateName(r.status.state)}});
                });
              }});

  struct Lifecycle {
    const char* verb;
    ProtocolState to;
    AuditAction action;
  };
  for (const Lifecycle& lc : {Lifecycle{"activate", ProtocolState::kValid, AuditAction::kProtocolActivated},
                              Lifecycle{"suspend", ProtocolState::kSuspended, AuditAction::kProtocolSuspended},
                              Lifecycle{"terminate", ProtocolState::kTerminated,
                                        AuditAction::kProtocolTerminated}}) {
    auto run = [&m, lc, visible_protocol, transition, transition_response, this](RequestContext& ctx,
                                                                                  const json&) {
      return Handle(ctx, [&]() -> Result<Response> {
        XGW_TRY(auto r, visible_protocol(ctx));
        if (lc.to == ProtocolState::kValid && r.status.state == ProtocolState::kValid) {
          // Activating a protocol in force with a pending amendment puts the
          // amendment in force, once every party accepted it.
          if (r.pending) {
            auto t = m.ActivatePending(ctx, r);
            if (auto resp = transition_response(ctx, t)) return std::move(*resp);
          }
          return JsonResponse(200, {{"id", r.protocol->id}, {"state", "valid"},
                                    {"version_hash", r.protocol->version_hash}});
        }
        r.terminated_at = lc.to == ProtocolState::kTerminated ? std::optional<int64_t>(ctx.now) : r.terminated_at;
        if (lc.to == ProtocolState::kTerminated) r.status.terminated_at = ToInstant(ctx.now);
        auto t = transition(ctx, r, lc.to, lc.action, "operator_request");
        if (auto resp = transition_response(ctx, t)) return std::move(*resp);
        uint64_t deleted = 0;
        if (lc.to == ProtocolState::kTerminated && r.protocol->on_termination == OnTermination::kDelete) {
          XGW_TRY(auto rows, m.ExchangesWhere("protocol_id = ? AND state IN ('pending','available','acknowledged')",
                                              {r.protocol->id}));
          for (const auto& listed : rows) {
            // An upload, revocation or expiry of this exchange under way
            // ends first; read again, it is left alone if that removed it
            // (one deletion, one event), and deleted otherwise.
            const Impl::Claim claim = m.ClaimWhenFree(listed.id);
            XGW_TRY(auto now_row, m.LoadExchange(listed.id));
            if (!now_row || (!Impl::IsLive(now_row->state) && now_row->state != "pending")) continue;
            const ExchangeRow& e = *now_row;
            AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeDeleted, &e, &r);
            ev.reason = "protocol_terminated";
            if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
            XGW_CHECK(m.DeleteExchangeData(e.id, "deleted", "protocol_terminated", ctx.now));
            m.deps.metrics.CountDeletion("protocol_terminated");
            ++deleted;
          }
          m.RefreshLive();
        }
        (void)this;
        return JsonResponse(200, {{"id", r.protocol->id},
                                  {"state", ProtocolStateName(r.status.state)},
                                  {"exchanges_deleted", deleted}});
      });
    };
    router.Add({.method = "POST",
                .pattern = std::string("/api/v1/protocols/{protocol}/") + lc.verb,
                .grants = {op},
                .body = BodyKind::kStream,
                .open_stream = OptionalJsonBody(run)});
  }

  router.Add({.method = "GET",
              .pattern = "/api/v1/protocols/{protocol}/versions",
              .grants = {any},
              .handler = [&m, visible_protocol](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto r, visible_protocol(ctx));
                  json items = json::array();
                  std::lock_guard lock(m.mu);
                  XGW_TRY(auto st, m.db.Prepare("SELECT version_hash, document, state, proposed_at, "
                                                "COALESCE(proposed_by, ''), activated_at, ended_at "
                                                "FROM protocol_versions WHERE protocol_id = ? "
                                                "ORDER BY proposed_at, rowid"));
                  st.Bind(1, r.protocol->id);
                  while (true) {
                    XGW_TRY(bool more, st.Step());
                    if (!more) break;
                    const std::string hash = st.Text(0);
                    const json doc = json::parse(st.Text(1), nullptr, false);
                    const auto activated = st.OptInt(5), ended = st.OptInt(6);
                    json acc = json::array();
                    XGW_TRY(auto as, m.db.Prepare("SELECT party, accepted_by, at FROM protocol_acceptances "
                                                  "WHERE protocol_id = ? AND version_hash = ? ORDER BY party"));
                    as.Bind(1, r.protocol->id).Bind(2, hash);
                    while (true) {
                      XGW_TRY(bool a, as.Step());
                      if (!a) break;
                      const std::string party = as.Text(0);
                      acc.push_back({{"party", party},
                                     {"organisation", r.party_org.count(party) ? r.party_org.at(party) : ""},
                                     {"accepted_by", as.Text(1)},
                                     {"at", FormatTime(as.Int(2))}});
                    }
                    items.push_back(
                        {{"version_hash", hash},
                         {"version", doc.is_object() && doc.contains("version") ? doc["version"] : json(nullptr)},
                         {"state", st.Text(2)},
                         {"proposed_at", FormatTime(st.Int(3))},
                         {"proposed_by", st.Text(4).empty() ? json(nullptr) : json(st.Text(4))},
                         {"activated_at", activated ? json(FormatTime(*activated)) : json(nullptr)},
                         {"ended_at", ended ? json(FormatTime(*ended)) : json(nullptr)},
                         {"acceptances", acc}});
                  }
                  return JsonResponse(200, {{"id", r.protocol->id},
                                            {"state", ProtocolStateName(r.status.state)},
                                            {"items", items}});
                });
              }});

  // What a pending amendment changes against the version in force, in plain
  // words (DiffProtocols), for each party's DPO before their organisation accepts.
  router.Add({.method = "GET",
              .pattern = "/api/v1/protocols/{protocol}/diff",
              .grants = {any},
              .handler = [visible_protocol](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto r, visible_protocol(ctx));
                  if (!r.pending) {
                    return Problem(409, "no-pending-version", "Nothing to compare",
                                   "no changed version of this protocol is waiting for acceptance; "
                                   "GET /api/v1/protocols/{id}/versions lists its versions",
                                   ctx.request_id());
                  }
                  const Protocol& from = *r.protocol;
                  const Protocol& to = *r.pending->protocol;
                  json changes = json::array();
                  for (const auto& c : DiffProtocols(from, to)) changes.push_back({{"area", c.area}, {"text", c.text}});
                  return JsonResponse(200, {{"id", from.id},
                                            {"from", {{"version", from.version}, {"version_hash", from.version_hash}}},
                                            {"to", {{"version", to.version}, {"version_hash", to.version_hash}}},
                                            {"changes", changes}});
                });
              }});

  router.Add({.method = "GET",
              .pattern = "/api/v1/protocols/{protocol}/recipients",
              .grants = {op, sender},
              .handler = [&m, visible_protocol](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto r, visible_protocol(ctx));
                  const std::string my_party = Impl::PartyOf(r, ctx.principal->org_id);
                  if (!ctx.principal->HasRole(kRoleOperator) && !r.protocol->IsSender(my_party)) {
                    return Problem(403, "not-sender", "Not a sender",
                                   "your organisation does not send under this protocol", ctx.request_id());
                  }
                  json items = json::array();
                  for (const auto& [party, org] : r.party_org) {
                    if (!r.protocol->IsReceiver(party)) continue;
                    XGW_TRY(auto users, m.deps.identities.ListUsers(org));
                    for (const auto& u : users) {
                      if (!u.keys) continue;
                      if (!MayReceive(*r.protocol, UserRef{party, u.id, u.roles}).empty()) continue;
                      items.push_back({{"user_id", u.id},
                                       {"organisation", org},
                                       {"party", party},
                                       {"roles", u.roles},
                                       {"age_recipient", u.keys->age_recipient},
                                       {"ed25519_verify_key", u.keys->ed25519_verify_key}});
                    }
                  }
                  return JsonResponse(200, {{"items", items}});
                });
              }});

  // ---- exchanges: create (E2E) ----------------------------------------------
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges",
              .grants = {sender},
              .body = BodyKind::kJson,
              .handler = [&m](RequestContext& ctx, const json& body) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto d, m.DecideCreate(ctx, body));
                  if (d.refusal) return std::move(*d.refusal);
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeCreated, nullptr, &d.pr);
                  ev.orgs.push_back(ctx.principal->org_id);
                  std::string id;
                  XGW_TRY(Response resp, m.CreateExchange(ctx, d.pr, d.party, d.manifest, d.canonical, d.signature,
                                                          "user:" + ctx.principal->user_id, "e2e", &ev, &id));
                  if (resp.status == 201) m.deps.metrics.CountExchange("created");
                  return resp;
                });
              }});

  router.Add({.method = "PUT",
              .pattern = "/api/v1/exchanges/{exchange}/content",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) -> Result<std::unique_ptr<RequestBodySink>> {
                const std::string ct = ctx.head.content_type.substr(0, ctx.head.content_type.find(';'));
                XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
                if (!e || e->sender_user != ctx.principal->user_id) {
                  return Fail(ErrorCode::kNotFound, "no such exchange, or it is not yours");
                }
                // A manifest in the streamed form: its subject index opens the body.
                Manifest declared;
                if (e->manifest && e->mode == "e2e") {
                  XGW_TRY(declared, ParseManifest(*e->manifest));
                }
                const uint64_t streamed = declared.subject_index_streamed ? declared.subject_count : 0;
                if (streamed != 0 && ct != kIndexedContentType) {
                  return Fail(ErrorCode::kInvalidArgument,
                              std::string("the manifest declares a streamed subject index: send Content-Type: ") +
                                  kIndexedContentType + " (the index, then the age file)");
                }
                if (streamed == 0 && ct != "application/octet-stream" && ct != kIndexedContentType) {
                  return Fail(ErrorCode::kInvalidArgument,
                              "send the age file with Content-Type: application/octet-stream");
                }
                if (e->state != "pending" || e->mode != "e2e") {
                  return Fail(ErrorCode::kConflict, "the exchange is not waiting for its content");
                }
                XGW_TRY(auto pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
                if (!pr) return Fail(ErrorCode::kNotFound, "no such protocol");
                const uint64_t cap = Impl::CiphertextCap(*pr, e->byte_size, *ctx.config);
                XGW_TRY(auto index, SubjectIndexUpload::Open(m.spool_dir, streamed));
                XGW_TRY(auto blob, m.blobs->Create(e->id, cap));
                return std::unique_ptr<RequestBodySink>(
                    std::make_unique<UploadSink>(m, ctx, std::move(*e), std::move(*pr), cap, std::move(blob),
                                                 std::move(index),
                                                 streamed != 0 ? declared.subject_index_sha256
                                                               : std::string(kEmptySubjectIndexSha256)));
              }});


  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/upload",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) -> Result<std::unique_ptr<RequestBodySink>> {
                const std::string ct = ctx.head.content_type.substr(0, ctx.head.content_type.find(';'));
                if (ct != kOneRequestUploadType) {
                  return Fail(ErrorCode::kInvalidArgument, std::string("send Content-Type: ") + kOneRequestUploadType +
                                                               " (create document, newline, age file)");
                }
                const std::string id = NewId(kExchangePrefix);
                const uint64_t expected = ctx.head.content_length.value_or(ctx.config->limits.max_upload_bytes);
                XGW_TRY(auto blob, m.blobs->Create(id, expected));
                return std::unique_ptr<RequestBodySink>(std::make_unique<OneRequestUploadSink>(
                    m, ctx, id, std::move(blob), ctx.config->limits.max_json_body_bytes));
              }});

  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/plaintext",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) -> Result<std::unique_ptr<RequestBodySink>> {
                auto q = ParseQuery(ctx.head.target);
                if (!q || !q->count("protocol_id") || !IsProtocolId(q->at("protocol_id"))) {
                  return Fail(ErrorCode::kInvalidArgument, "query parameter protocol_id is required");
                }
                const std::string fmt = q->count("format") ? q->at("format") : "csv";
                if (fmt != "csv" && fmt != "xlsx") {
                  return Fail(ErrorCode::kInvalidArgument, "format must be csv or xlsx");
                }
                const std::string ct = ctx.head.content_type.substr(0, ctx.head.content_type.find(';'));
                static const std::set<std::string> kTypes = {
                    "text/csv", "application/octet-stream",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"};
                if (!kTypes.count(ct)) {
                  return Fail(ErrorCode::kInvalidArgument,
                              "send the list as text/csv, application/octet-stream or the xlsx media type");
                }
                XGW_TRY(auto pr, m.LoadProtocol(q->at("protocol_id")));
                const std::string party = pr ? Impl::PartyOf(*pr, ctx.principal->org_id) : "";
                if (!pr || party.empty()) {
                  return Fail(ErrorCode::kNotFound, "no such protocol, or it is not visible to you");
                }
                const uint64_t limit = ctx.config->exchanges.max_plaintext_bytes;
                if (ctx.head.content_length && *ctx.head.content_length > limit) {
                  return Fail(ErrorCode::kLimit, "the list exceeds the gateway-encrypt size limit");
                }
                return std::unique_ptr<RequestBodySink>(std::make_unique<PlaintextSink>(
                    m, ctx, std::move(*pr), party, fmt == "csv" ? InputFormat::kCsv : InputFormat::kXlsx,
                    static_cast<size_t>(limit)));
              }});

  // ---- exchanges: reading ---------------------------------------------------
  router.Add({.method = "GET",
              .pattern = "/api/v1/exchanges",
              .grants = {any},
              .handler = [&m](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  // Keys are not echoed: the detail never repeats what the caller sent.
                  auto q = QueryParams::Parse(ctx.head.target, {"box", "limit", "after"},
                                              "unknown query parameter; use box, limit and after");
                  if (!q) return InvalidQuery(ctx, q.error().message);
                  const std::string box = q->Get("box").value_or("inbox");
                  if (box != "inbox" && box != "sent") return InvalidQuery(ctx, "box must be inbox or sent");
                  ListPage page;
                  auto limit = q->Number("limit", "limit must be a positive number (at most " +
                                                      std::to_string(kMaxListLimit) + " are returned)",
                                         /*positive=*/true);
                  if (!limit) return InvalidQuery(ctx, limit.error().message);
                  if (*limit) page.limit = static_cast<size_t>(std::min<uint64_t>(**limit, kMaxListLimit));
                  if (auto after = q->Get("after")) {
                    page.after = ParseListCursor(*after);
                    if (!page.after) return InvalidQuery(ctx, "after must be the 'next' value of the previous page");
                  }
                  json items = json::array();
                  std::optional<ListCursor> next;
                  if (box == "sent") {
                    XGW_TRY(next, m.ListPageOf("sender_org = ? AND state != 'pending'", {ctx.principal->org_id}, page,
                                               [&](const ExchangeRow& e) -> Result<bool> {
                                                 items.push_back(m.ExchangeSummary(e));
                                                 return true;
                                               }));
                  } else {
                    // Only exchanges under protocols the caller's organisation is a party
                    // of (an index lookup, not every live exchange of the gateway); who
                    // may receive each one is decided below.
                    std::map<std::string, std::optional<ProtocolRecord>> cache;
                    XGW_TRY(next, m.ListPageOf("state IN ('available','acknowledged') AND protocol_id IN "
                                               "(SELECT protocol_id FROM protocol_parties WHERE org_id = ?)",
                                               {ctx.principal->org_id}, page,
                                               [&](const ExchangeRow& e) -> Result<bool> {
                      // Who may receive is decided by the version the exchange was sent under.
                      const std::string key = e.protocol_id + "@" + e.version_hash;
                      if (!cache.count(key)) {
                        XGW_TRY(cache[key], m.LoadProtocolVersion(e.protocol_id, e.version_hash));
                      }
                      const auto& pr = cache[key];
                      if (!pr) return false;
                      if (!pr->protocol->IsReceiver(Impl::PartyOf(*pr, ctx.principal->org_id))) return false;
                      if (!m.ReceiveViolations(*pr, *ctx.principal).empty()) return false;
                      items.push_back(m.ExchangeSummary(e));
                      return true;
                    }));
                  }
                  // Who looked at which box is an access to exchange metadata: audited
                  // (one event per page) before the page is served.
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeListed, nullptr, nullptr);
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                  return JsonResponse(200, {{"items", items},
                                            {"next", next ? json(FormatListCursor(*next)) : json(nullptr)}});
                });
              }});

  // Loads an exchange the caller may see, else kNotFound.
  auto visible_exchange = [&m](RequestContext& ctx) -> Result<std::pair<ExchangeRow, ProtocolRecord>> {
    XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
    if (!e) return Fail(ErrorCode::kNotFound, "no such exchange, or it is not visible to you");
    XGW_TRY(auto pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
    if (!pr || !m.MaySee(*pr, *e, *ctx.principal) ||
        (!e->delivered_at && e->sender_org != ctx.principal->org_id)) {
      // An attempt to look at someone else's exchange is a refusal the
      // parties' DPOs must be able to see, under that exchange's id.
      if (pr) {
        (void)m.deps.audit.AppendEvent(
            m.RefusedAccessEvent(ctx, AuditAction::kExchangeDownloadRefused, *e, *pr, "not_recipient"));
      }
      return Fail(ErrorCode::kNotFound, "no such exchange, or it is not visible to you");
    }
    return std::make_pair(std::move(*e), std::move(*pr));
  };

  // For the recipient routes (ack, violation reports): an exchange the caller
  // may not receive, or not yet delivered, gets the answer of an unknown id:
  // its state must not leak. The attempt is recorded under the exchange as
  // `action` refused, for the DPOs who may know of it (RefusedAccessEvent).
  auto receivable_exchange = [&m](RequestContext& ctx, AuditAction action)
      -> Result<std::pair<ExchangeRow, ProtocolRecord>> {
    XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
    std::optional<ProtocolRecord> pr;
    if (e) {
      XGW_TRY(pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
    }
    if (!e || !pr || !m.MayReceiveExchange(*pr, *e, *ctx.principal)) {
      if (e && pr) {
        (void)m.deps.audit.AppendEvent(m.RefusedAccessEvent(ctx, action, *e, *pr, "not_recipient"));
      }
      return Fail(ErrorCode::kNotFound, "no such exchange, or you may not receive it");
    }
    return std::make_pair(std::move(*e), std::move(*pr));
  };

  router.Add({.method = "GET",
              .pattern = "/api/v1/exchanges/{exchange}",
              .grants = {any},
              .handler = [&m, visible_exchange](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto ep, visible_exchange(ctx));
                  auto& [e, pr] = ep;
                  json j = m.ExchangeSummary(e);
                  j["manifest"] = e.manifest ? json::parse(*e.manifest, nullptr, false) : json(nullptr);
                  j["manifest_signature"] = e.manifest_signature ? json(*e.manifest_signature) : json(nullptr);
                  j["signer"] = e.signer;
                  j["sender_ed25519_verify_key"] = nullptr;
                  if (e.signer == "gateway") {
                    j["sender_ed25519_verify_key"] = Base64Encode(m.deps.gateway_key->public_key());
                  } else if (auto u = m.deps.identities.GetUser(e.sender_user); u && u->keys) {
                    j["sender_ed25519_verify_key"] = u->keys->ed25519_verify_key;
                  }
                  return JsonResponse(200, j);
                });
              }});

  router.Add({.method = "GET",
              .pattern = "/api/v1/exchanges/{exchange}/content",
              .grants = {any},
              .handler = [&m](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  const std::string& rid = ctx.request_id();
                  XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
                  std::optional<ProtocolRecord> pr;
                  if (e) {
                    XGW_TRY(pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
                  }
                  Violations v;
                  if (e && pr) v = m.ReceiveViolations(*pr, *ctx.principal);
                  if (e && pr && v.empty() && !pr->protocol->IsReceiver(Impl::PartyOf(*pr, ctx.principal->org_id))) {
                    v.push_back({"recipient_not_allowed", "not a receiving party", 0, ""});
                  }
                  // Not yet delivered: unknown to recipients (404, not 410).
                  if (e && pr && v.empty() && !e->delivered_at) {
                    v.push_back({"not_delivered", "the content was never delivered", 0, ""});
                  }
                  const bool live = e && Impl::IsLive(e->state) && e->expires_at && *e->expires_at > ctx.now;
                  if (!e || !pr || !v.empty() || !live) {
                    if (e && pr) {
                      const bool only_undelivered = v.size() == 1 && v.front().code == "not_delivered";
                      (void)m.deps.audit.AppendEvent(m.RefusedAccessEvent(
                          ctx, AuditAction::kExchangeDownloadRefused, *e, *pr,
                          only_undelivered ? "wrong_state"
                          : !v.empty()     ? "not_recipient"
                          : e->state == "revoked" ? "exchange_revoked"
                          : e->state == "deleted" ? "exchange_deleted"
                                                  : "exchange_expired"));
                    }
                    m.deps.metrics.CountRefusal("download_refused");
                    if (e && pr && v.empty() && (e->state == "deleted" || e->state == "revoked" || !live)) {
                      return Problem(410, "gone", "Gone", "the exchange was deleted, revoked or has expired", rid);
                    }
                    return Problem(404, "not-found", "Not found",
                                   "no such exchange, or you may not receive it", rid);
                  }
                  auto blob = m.blobs->Read(e->id);
                  if (!blob) return ErrorProblem(ctx, blob.error());
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeDownloaded, &*e, &*pr);
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(rid);
                  if (!e->first_download_at) {
                    ExchangeRow after = *e;
                    after.first_download_at = ctx.now;
                    const int64_t expires = FromInstant(m.Expiry(*pr, after));
                    std::lock_guard lock(m.mu);
                    XGW_TRY(auto up, m.db.Prepare("UPDATE exchanges SET first_download_at = ?, expires_at = ? "
                                                  "WHERE id = ? AND first_download_at IS NULL"));
                    up.Bind(1, ctx.now).Bind(2, expires).Bind(3, e->id);
                    XGW_CHECK(up.Run());
                  }
                  m.deps.metrics.CountExchange("downloaded");
                  Response r;
                  r.status = 200;
                  r.content_type = "application/octet-stream";
                  r.source = std::move(blob->source);
                  r.content_length = blob->size;
                  return r;
                });
              }});

  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/ack",
              .grants = {any},
              .body = BodyKind::kStream,
              .open_stream = OptionalJsonBody([&m, this, receivable_exchange](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto found, receivable_exchange(ctx, AuditAction::kExchangeAcknowledged));
                  auto& [e, pr] = found;
                  if (e.state == "acknowledged") {
                    return JsonResponse(200, {{"id", e.id}, {"state", e.state},
                                              {"expires_at", FormatTime(e.expires_at.value_or(ctx.now))}});
                  }
                  if (e.state != "available") {
                    return Problem(409, "wrong-state", "Not acknowledgeable",
                                   "only an available exchange can be acknowledged", ctx.request_id());
                  }
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeAcknowledged, &e, &pr);
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                  ExchangeRow after = e;
                  after.acknowledged_at = ctx.now;
                  const int64_t expires = std::min(FromInstant(m.Expiry(pr, after)), e.expires_at.value_or(INT64_MAX));
                  {
                    std::lock_guard lock(m.mu);
                    XGW_TRY(auto up, m.db.Prepare("UPDATE exchanges SET state = 'acknowledged', acknowledged_at = ?, "
                                                  "expires_at = ? WHERE id = ? AND state = 'available'"));
                    up.Bind(1, ctx.now).Bind(2, expires).Bind(3, e.id);
                    XGW_CHECK(up.Run());
                  }
                  m.deps.metrics.CountExchange("acknowledged");
                  if (expires <= ctx.now) WakeSweeper();
                  return JsonResponse(200, {{"id", e.id}, {"state", "acknowledged"},
                                            {"expires_at", FormatTime(expires)}});
                });
              })});

  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/revoke",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = OptionalJsonBody([&m](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
                  if (!e || e->sender_org != ctx.principal->org_id) {
                    return Problem(404, "not-found", "Not found", "no such exchange, or it is not yours",
                                   ctx.request_id());
                  }
                  // Claimed (see Impl::Claim), then read again: an upload that was
                  // completing this exchange has finished, and the revocation
                  // applies to what it left.
                  const std::optional<Impl::Claim> claim = m.TryClaim(e->id);
                  if (!claim) {
                    return Problem(409, "wrong-state", "Not revocable now",
                                   "an upload of this exchange is completing or the sweeper is deleting it; "
                                   "read its state and try again",
                                   ctx.request_id());
                  }
                  XGW_TRY(e, m.LoadExchange(e->id));
                  if (!e) return ErrorProblem(ctx, Error{ErrorCode::kInternal, "exchange vanished"});
                  if (!Impl::IsLive(e->state) && e->state != "pending") {
                    return Problem(409, "wrong-state", "Not revocable",
                                   "the exchange is already revoked or deleted", ctx.request_id());
                  }
                  XGW_TRY(auto pr, m.LoadProtocol(e->protocol_id));
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeRevoked, &*e, pr ? &*pr : nullptr);
                  ev.reason = "party_request";
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                  AuditEvent del = ev;
                  del.action = AuditAction::kExchangeDeleted;
                  del.reason = "exchange_revoked";
                  if (!m.deps.audit.AppendEvent(del)) return AuditUnavailableProblem(ctx.request_id());
                  XGW_CHECK(m.DeleteExchangeData(e->id, "revoked", "exchange_revoked", ctx.now));
                  m.deps.metrics.CountDeletion("revoked");
                  m.RefreshLive();
                  return JsonResponse(200, {{"id", e->id}, {"state", "revoked"}});
                });
              })});

  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/violations",
              .grants = {any},
              .body = BodyKind::kJson,
              .handler = [&m, receivable_exchange](RequestContext& ctx, const json& body) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto found, receivable_exchange(ctx, AuditAction::kViolationReported));
                  auto& [e, pr] = found;
                  // A report is about delivered content: the exchange is (or was,
                  // before it was deleted or revoked) there to be downloaded.
                  if (!Impl::IsLive(e.state) && !e.first_download_at) {
                    return Problem(409, "wrong-state", "Nothing to report on",
                                   "the exchange was revoked or deleted before its content was "
                                   "downloaded; a violation can be reported only about content you "
                                   "received",
                                   ctx.request_id());
                  }
                  static const std::set<std::string> kCodes = {
                      "manifest_mismatch", "content_not_allowed", "hash_mismatch", "decrypt_failed",
                      "signature_invalid", "other"};
                  if (!body.is_object() || !body.contains("code") || !body["code"].is_string() ||
                      !kCodes.count(body["code"].get<std::string>())) {
                    return Problem(400, "invalid-field", "Invalid request",
                                   "code must be one of manifest_mismatch, content_not_allowed, "
                                   "hash_mismatch, decrypt_failed, signature_invalid, other",
                                   ctx.request_id());
                  }
                  // Details: violation codes with row/column only; values are dropped.
                  json details = json::array();
                  if (auto it = body.find("details"); it != body.end() && it->is_array()) {
                    for (const auto& d : *it) {
                      if (details.size() >= 1000) break;
                      json clean = json::object();
                      if (d.is_string() && d.get<std::string>().size() <= 64) clean["code"] = d;
                      if (d.is_object()) {
                        if (d.contains("code") && d["code"].is_string() && d["code"].get<std::string>().size() <= 64) {
                          clean["code"] = d["code"];
                        }
                        if (d.contains("row") && d["row"].is_number_unsigned()) clean["row"] = d["row"];
                        if (d.contains("column") && d["column"].is_string() &&
                            d["column"].get<std::string>().size() <= 64) {
                          clean["column"] = d["column"];
                        }
                      }
                      if (!clean.empty()) details.push_back(clean);
                    }
                  }
                  const std::string code = body["code"].get<std::string>();
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kViolationReported, &e, &pr);
                  ev.reason = code == "manifest_mismatch" ? "content_mismatch"
                              : code == "hash_mismatch"   ? "hash_mismatch"
                              : code == "decrypt_failed"  ? "decrypt_failed"
                              : code == "signature_invalid" ? "signature_invalid"
                                                            : "validation_failed";
                  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
                  {
                    std::lock_guard lock(m.mu);
                    XGW_TRY(auto st, m.db.Prepare("INSERT INTO violation_reports(exchange_id, reporter_user, "
                                                  "reporter_org, code, details, at) VALUES (?,?,?,?,?,?)"));
                    st.Bind(1, e.id).Bind(2, ctx.principal->user_id).Bind(3, ctx.principal->org_id)
                        .Bind(4, code).Bind(5, details.dump()).Bind(6, ctx.now);
                    XGW_CHECK(st.Run());
                  }
                  m.deps.metrics.CountRefusal("violation_reported");
                  return JsonResponse(201, {{"exchange_id", e.id}, {"code", code}, {"details", details}});
                });
              }});

  router.Add({.method = "GET",
              .pattern = "/api/v1/exchanges/{exchange}/receipt",
              .grants = {any},
              .handler = [&m, visible_exchange](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  XGW_TRY(auto ep, visible_exchange(ctx));
                  auto receipt = m.deps.audit.log().DeletionReceipt(ep.first.id);
                  if (!receipt) {
                    if (receipt.error().code == ErrorCode::kNotFound) {
                      return Problem(404, "not-deleted", "Not deleted",
                                     "the exchange has no deletion event yet", ctx.request_id());
                    }
                    return ErrorProblem(ctx, receipt.error());
                  }
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kAuditReceiptIssued, &ep.first, &ep.second);
                  (void)m.deps.audit.AppendEvent(ev);
                  return JsonResponse(200, *receipt);
                });
              }});

  router.Add({.method = "GET",
              .pattern = "/api/v1/subject-index/{value}",
              .grants = {dpo},
              .handler = [&m](RequestContext& ctx, const json&) {
                return Handle(ctx, [&]() -> Result<Response> {
                  std::vector<std::string> ids;
                  {
                    std::lock_guard lock(m.mu);
                    XGW_TRY(auto st, m.db.Prepare("SELECT exchange_id FROM exchange_subjects WHERE value = ?"));
                    st.Bind(1, ctx.params.at("value"));
                    XGW_TRY(ids, st.TextColumn());
                  }
                  json items = json::array();
                  for (const auto& id : ids) {
                    XGW_TRY(auto e, m.LoadExchange(id));
                    if (!e) continue;
                    XGW_TRY(auto pr, m.LoadProtocol(e->protocol_id));
                    if (!pr || Impl::PartyOf(*pr, ctx.principal->org_id).empty()) continue;
                    // Available, or deleted when and why (deleted_reason),
                    // and to whom it was disclosed: every download.
                    json hit = m.ExchangeSummary(*e);
                    XGW_TRY(hit["downloads"], m.DownloadsOf(e->id));
                    items.push_back(std::move(hit));
                  }
                  AuditEvent ev = m.EventFor(ctx, AuditAction::kSubjectSearched, nullptr, nullptr);
                  ev.reason = "dpo_request";
                  (void)m.deps.audit.AppendEvent(ev);
                  return JsonResponse(200, {{"items", items}});
                });
              }});
}

}  // namespace xgw
