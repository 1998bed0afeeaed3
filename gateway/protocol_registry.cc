// Protocols as the services see them: stored documents parsed (once per
// version, cached), the lifecycle transitions recorded audit first, and the
// amendments put in force once every party accepted them.
#include <algorithm>

#include "gateway/exchange_impl.h"
#include "policy/lifecycle.h"

namespace xgw {

namespace {

// The distinct organisations of `orgs`, at most 16 (an event's limit).
void NormaliseOrgs(std::vector<std::string>& orgs) {
  std::sort(orgs.begin(), orgs.end());
  orgs.erase(std::unique(orgs.begin(), orgs.end()), orgs.end());
  if (orgs.size() > 16) orgs.resize(16);
}

}  // namespace

Result<std::shared_ptr<const Protocol>> ExchangeService::Impl::Parse(const std::string& document,
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

Result<ProtocolRecord> ExchangeService::Impl::RecordOf(const StoredProtocol& s) {
  ProtocolRecord r;
  r.document = s.document;
  r.status.state = s.state;
  r.proposed_at = s.proposed_at;
  r.activated_at = s.activated_at;
  r.suspended_at = s.suspended_at;
  r.terminated_at = s.terminated_at;
  if (r.terminated_at) r.status.terminated_at = ToInstant(*r.terminated_at);
  XGW_TRY(r.protocol, Parse(s.document, s.version_hash));
  r.party_org = s.party_org;
  for (const auto& a : s.acceptances) {
    r.accepted[a.party] = {a.version_hash, a.at};
    r.status.acceptances.push_back({a.party, a.version_hash, ToInstant(a.at)});
  }
  if (s.pending) {
    ProtocolRecord::Pending p;
    p.document = s.pending->document;
    p.proposed_at = s.pending->proposed_at;
    p.proposed_by = s.pending->proposed_by;
    XGW_TRY(p.protocol, Parse(p.document, s.pending->version_hash));
    for (const auto& a : s.pending->acceptances) {
      p.accepted_by[a.party] = {a.accepted_by, a.at};
      p.acceptances.push_back({a.party, s.pending->version_hash, ToInstant(a.at)});
    }
    r.pending = std::move(p);
  }
  return r;
}

Result<std::optional<ProtocolRecord>> ExchangeService::Impl::LoadProtocol(const std::string& id) {
  XGW_TRY(auto s, store->ReadProtocol(id));
  if (!s) return std::optional<ProtocolRecord>();
  XGW_TRY(auto r, RecordOf(*s));
  return std::optional<ProtocolRecord>(std::move(r));
}

Result<std::optional<ProtocolRecord>> ExchangeService::Impl::LoadProtocolVersion(const std::string& id,
                                                                                 const std::string& hash) {
  XGW_TRY(auto s, store->ReadProtocolVersion(id, hash));
  if (!s) return std::optional<ProtocolRecord>();
  XGW_TRY(auto r, RecordOf(*s));
  return std::optional<ProtocolRecord>(std::move(r));
}

std::string ExchangeService::Impl::PartyOf(const ProtocolRecord& r, const std::string& org_id) {
  for (const auto& [party, org] : r.party_org) {
    if (org == org_id) return party;
  }
  return "";
}

// Every party of the new version accepted it, the approval holds every
// party's DPO advice, its validity has not ended.
Result<void> ExchangeService::Impl::CheckPendingActivation(const ProtocolRecord& r, Instant now) {
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

// Audit first, then the old current version is superseded and the protocol
// row points at the new one. The protocol's state (valid or suspended) does
// not change.
Result<void> ExchangeService::Impl::ActivatePending(const RequestContext& ctx, ProtocolRecord& r) {
  XGW_CHECK(CheckPendingActivation(r, ToInstant(ctx.now)));
  AuditEvent ev = EventFor(ctx, AuditAction::kProtocolActivated, nullptr, &r);
  ev.protocol_version = r.pending->protocol->version_hash;
  for (const auto& party : r.pending->protocol->parties) {
    if (auto it = r.party_org.find(party.id); it != r.party_org.end() && ev.orgs.size() < 16) {
      ev.orgs.push_back(it->second);
    }
  }
  NormaliseOrgs(ev.orgs);
  const std::string hash = r.pending->protocol->version_hash;
  XGW_TRY(bool activated, store->ActivateVersion(r.protocol->id, hash, r.pending->document, ctx.now,
                                                 [&]() -> Result<void> {
                                                   if (!deps.audit.AppendEvent(ev)) {
                                                     return Fail(ErrorCode::kIo, "audit-unavailable");
                                                   }
                                                   return {};
                                                 }));
  r.protocol = r.pending->protocol;
  r.document = r.pending->document;
  if (activated) {
    r.activated_at = ctx.now;
    r.status.acceptances = r.pending->acceptances;
    r.accepted.clear();
    for (const auto& a : r.pending->acceptances) r.accepted[a.party] = {hash, FromInstant(a.at)};
  }
  r.pending.reset();
  return {};
}

Result<void> ExchangeService::Impl::Transition(const RequestContext& ctx, ProtocolRecord& r, ProtocolState to,
                                               AuditAction action, const std::string& reason) {
  XGW_CHECK(CheckTransition(*r.protocol, r.status, to, ToInstant(ctx.now)));
  AuditEvent ev = EventFor(ctx, action, nullptr, &r);
  ev.reason = reason;
  if (!deps.audit.AppendEvent(ev)) return Fail(ErrorCode::kIo, "audit-unavailable");
  XGW_CHECK(store->SetProtocolState(r.protocol->id, r.status.state, to, r.protocol->version_hash, ctx.now));
  r.status.state = to;
  if (to == ProtocolState::kTerminated) r.pending.reset();
  return {};
}

// Protocols whose version (in force, or only proposed: nothing can put it in
// force any more) reached the end of its validity period become expired
// (audit first); a proposed version of such a protocol is withdrawn. Stops at
// the first audit failure; the next pass retries.
Result<void> ExchangeService::Impl::ExpireProtocols(int64_t now) {
  XGW_TRY(auto ids, store->ProtocolIds(/*open_only=*/true));
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
    NormaliseOrgs(ev.orgs);
    if (!deps.audit.AppendEvent(ev)) break;
    XGW_CHECK(store->SetProtocolState(id, r->status.state, ProtocolState::kExpired, r->protocol->version_hash, now));
  }
  return {};
}

}  // namespace xgw
