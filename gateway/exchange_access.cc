// Who may see or receive an exchange, the audit events that name it, its
// expiry and the deletion of its data; the claims that keep an upload, a
// revocation and the sweeper from acting on one exchange at once; and what
// the resources share to answer (list cursors, violations, reasons).
#include <algorithm>
#include <map>

#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/ids.h"
#include "gateway/http/problem.h"
#include "policy/lifecycle.h"

namespace xgw {

using nlohmann::json;

std::string FormatListCursor(const ListCursor& c) { return std::to_string(c.created_at) + "." + c.id; }

std::optional<ListCursor> ParseListCursor(const std::string& s) {
  const size_t dot = s.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string t = s.substr(0, dot), id = s.substr(dot + 1);
  if (!IsDecimal(t) || !IsValidId(kExchangePrefix, id)) return std::nullopt;
  return ListCursor{std::stoll(t), id};
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

// ---- claims -------------------------------------------------------------------

ExchangeService::Impl::Claim::~Claim() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->claims_mu);
    impl_->claimed.erase(id_);
  }
  impl_->claim_released.notify_all();
}

ExchangeService::Impl::Claim ExchangeService::Impl::ClaimWhenFree(const std::string& id) {
  std::unique_lock lock(claims_mu);
  claim_released.wait(lock, [&] { return claimed.count(id) == 0; });
  claimed.insert(id);
  return Claim(*this, id);
}

std::optional<ExchangeService::Impl::Claim> ExchangeService::Impl::TryClaim(const std::string& id) {
  std::lock_guard lock(claims_mu);
  if (!claimed.insert(id).second) return std::nullopt;
  return std::optional<Claim>(std::in_place, *this, id);
}

bool ExchangeService::Impl::IsClaimed(const std::string& id) {
  std::lock_guard lock(claims_mu);
  return claimed.count(id) > 0;
}

// ---- reading ------------------------------------------------------------------

Result<std::optional<ListCursor>> ExchangeService::Impl::ListPageOf(
    const ExchangeFilter& filter, const ListPage& page, const std::function<Result<bool>(const ExchangeRow&)>& take) {
  std::optional<ListCursor> at = page.after;
  size_t taken = 0;
  const int64_t batch = static_cast<int64_t>(page.limit);
  while (true) {
    XGW_TRY(auto rows, store->ListExchanges(filter, at, batch));
    for (const auto& e : rows) {
      at = ListCursor{e.created_at, e.id};
      XGW_TRY(bool listed, take(e));
      if (listed && ++taken == page.limit) return at;
    }
    if (static_cast<int64_t>(rows.size()) < batch) return std::optional<ListCursor>();
  }
}

Result<uint64_t> ExchangeService::Impl::TransfersInWindow(const Protocol& protocol, const std::string& party,
                                                          Instant now) {
  return store->TransfersInWindow(protocol.id, party, RelevantTransfers(protocol, now));
}

// ---- who may see and receive ---------------------------------------------------

Violations ExchangeService::Impl::ReceiveViolations(const ProtocolRecord& pr, const Principal& p) {
  const std::string party = PartyOf(pr, p.org_id);
  if (party.empty()) {
    return {Violation{"recipient_not_allowed", "your organisation is not a party of the protocol", 0, ""}};
  }
  return MayReceive(*pr.protocol, UserRef{party, p.user_id, p.roles});
}

bool ExchangeService::Impl::IsPartyDpo(const ProtocolRecord& pr, const Principal& p) {
  return p.HasRole(kRoleDpo) && !PartyOf(pr, p.org_id).empty();
}

// The sender's organisation (sender or DPO), allowed recipients, DPOs of a
// party, operators.
bool ExchangeService::Impl::MaySee(const ProtocolRecord& pr, const ExchangeRow& e, const Principal& p) {
  if (p.HasRole(kRoleOperator)) return true;
  if (e.sender_org == p.org_id) return true;
  if (IsPartyDpo(pr, p)) return true;
  return ReceiveViolations(pr, p).empty() && pr.protocol->IsReceiver(PartyOf(pr, p.org_id));
}

// A recipient sees an exchange only once its content was delivered: before
// that (pending, or revoked or discarded while pending) it does not exist
// for them, and every route answers as for an unknown id.
bool ExchangeService::Impl::MayReceiveExchange(const ProtocolRecord& pr, const ExchangeRow& e, const Principal& p) {
  return e.delivered_at.has_value() && ReceiveViolations(pr, p).empty() &&
         pr.protocol->IsReceiver(PartyOf(pr, p.org_id));
}

// ---- expiry, events, deletion -------------------------------------------------

xgw::Expiry ExchangeService::Impl::ExpiryAndCause(const ProtocolRecord& pr, const ExchangeRow& e) {
  ExchangeEvents ev;
  ev.delivered = ToInstant(e.delivered_at.value_or(e.created_at));
  if (e.first_download_at) ev.first_download = ToInstant(*e.first_download_at);
  if (e.acknowledged_at) ev.acknowledged = ToInstant(*e.acknowledged_at);
  if (pr.terminated_at) ev.protocol_terminated = ToInstant(*pr.terminated_at);
  return ComputeExpiryAndCause(*pr.protocol, ev);
}

// The retention rule (or termination) that set an expired exchange's
// expiry, as an audit reason code.
std::string ExchangeService::Impl::DeletionCause(const ExchangeRow& e) {
  auto pr = LoadProtocolVersion(e.protocol_id, e.version_hash);
  if (!pr || !*pr) return "retention_expired";
  return std::string(ExpiryReason(ExpiryAndCause(**pr, e).cause));
}

AuditEvent ExchangeService::Impl::EventFor(const Caller& caller, AuditAction action, const ExchangeRow* e,
                                           const ProtocolRecord* pr) {
  AuditEvent ev;
  ev.time_ms = caller.now * 1000;
  ev.action = action;
  if (caller.principal) {
    ev.actor = {ActorType::kUser, caller.principal->user_id, caller.principal->org_id};
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
  ev.request_id = caller.request_id;  // a safe id or ""
  return ev;
}

AuditEvent ExchangeService::Impl::EventFor(const RequestContext& ctx, AuditAction action, const ExchangeRow* e,
                                           const ProtocolRecord* pr) {
  return EventFor(CallerOf(ctx), action, e, pr);
}

// A refused access to an exchange, recorded for the DPOs who may know of
// it. A caller whose organisation is no party of the exchange's protocol
// must not learn through its own DPO that the exchange exists, nor its
// protocol or parties: the event is then the gateway's (actor system),
// naming the caller as the user concerned and only the parties as
// organisations. The caller's DPO reads the router's generic refusal, the
// same record an unknown id leaves.
AuditEvent ExchangeService::Impl::RefusedAccessEvent(const Caller& caller, AuditAction action, const ExchangeRow& e,
                                                     const ProtocolRecord& pr, std::string reason) {
  AuditEvent ev = EventFor(caller, action, &e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = std::move(reason);
  if (caller.principal && PartyOf(pr, caller.principal->org_id).empty()) {
    ev.actor = {ActorType::kSystem, "xgwd", ""};
    ev.user_id = caller.principal->user_id;
  }
  return ev;
}

// The sweeper audits a deletion before it deletes: a pass that stopped in
// between (a crash, a database restored from a backup) finds the event of
// the earlier pass and deletes without recording the deletion twice.
Result<bool> ExchangeService::Impl::AlreadyAudited(const std::string& exchange_id, AuditAction action) {
  AuditQuery q;
  q.exchange_id = exchange_id;
  q.action = action;
  q.limit = 1;
  XGW_TRY(auto page, deps.audit.log().Query(q));
  return !page.records.empty();
}

// Keeps only non-personal metadata, and the keyed subject-index values of a
// list that was delivered: an access request asks to whom data *have been*
// disclosed, so they stay for exchanges.subject_index_retention_days
// (PruneSubjectIndex). A list never delivered ("discarded") disclosed
// nothing: its values go now (MetadataStore::MarkDeleted).
Result<void> ExchangeService::Impl::DeleteExchangeData(const std::string& id, const std::string& state,
                                                       const std::string& reason, int64_t now) {
  XGW_CHECK(blobs->Delete(id));
  XGW_CHECK(chunks->RemoveAll(id));  // an upload in chunks never finalized
  return store->MarkDeleted(id, state, reason, now);
}

Result<json> ExchangeService::Impl::DownloadsOf(const std::string& id) {
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
      json d = {{"user", ev->actor.id}, {"organisation", ev->actor.org}, {"time", FormatTime(ev->time_ms / 1000)}};
      if (auto u = deps.identities.GetUser(ev->actor.id)) d["name"] = u->display_name;
      if (auto o = deps.identities.GetOrganisation(ev->actor.org)) d["organisation_name"] = o->name;
      out.push_back(std::move(d));
    }
    if (!page.next) return out;
    q.after = page.next;
  }
}

void ExchangeService::Impl::RefreshLive() {
  if (auto n = store->CountLive(); n) {
    live = *n;
    deps.metrics.SetExchangesLive(static_cast<int64_t>(*n));
  }
}

}  // namespace xgw
