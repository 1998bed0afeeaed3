// Protocols as the services see them: stored documents parsed (once per
// version, cached), the lifecycle transitions recorded audit first, and the
// amendments put in force once every party accepted them.
#include <algorithm>

#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "policy/canonical_json.h"
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

namespace {

// A lifecycle step that failed: the lifecycle forbids it (409), the audit
// log refused its event (503), or storage failed.
ServiceError TransitionError(const Error& e) {
  if (e.code == ErrorCode::kConflict) return ServiceError(Refusal::kTransitionNotAllowed, e.message);
  if (e.code == ErrorCode::kIo && e.message == "audit-unavailable") return ServiceError(Refusal::kAuditUnavailable, "");
  return ServiceError(e);
}

}  // namespace

// Audit first, then the old current version is superseded and the protocol
// row points at the new one. The protocol's state (valid or suspended) does
// not change.
ServiceResult<void> ExchangeService::Impl::ActivatePending(const Caller& caller, ProtocolRecord& r) {
  if (auto ok = CheckPendingActivation(r, ToInstant(caller.now)); !ok) return tl::unexpected(TransitionError(ok.error()));
  AuditEvent ev = EventFor(caller, AuditAction::kProtocolActivated, nullptr, &r);
  ev.protocol_version = r.pending->protocol->version_hash;
  for (const auto& party : r.pending->protocol->parties) {
    if (auto it = r.party_org.find(party.id); it != r.party_org.end() && ev.orgs.size() < 16) {
      ev.orgs.push_back(it->second);
    }
  }
  NormaliseOrgs(ev.orgs);
  const std::string hash = r.pending->protocol->version_hash;
  auto activated = store->ActivateVersion(r.protocol->id, hash, r.pending->document, caller.now,
                                          [&]() -> Result<void> {
                                            if (!deps.audit.AppendEvent(ev)) {
                                              return Fail(ErrorCode::kIo, "audit-unavailable");
                                            }
                                            return {};
                                          });
  if (!activated) return tl::unexpected(TransitionError(activated.error()));
  r.protocol = r.pending->protocol;
  r.document = r.pending->document;
  if (*activated) {
    r.activated_at = caller.now;
    r.status.acceptances = r.pending->acceptances;
    r.accepted.clear();
    for (const auto& a : r.pending->acceptances) r.accepted[a.party] = {hash, FromInstant(a.at)};
  }
  r.pending.reset();
  return {};
}

ServiceResult<void> ExchangeService::Impl::Transition(const Caller& caller, ProtocolRecord& r, ProtocolState to,
                                                      AuditAction action, const std::string& reason) {
  if (auto ok = CheckTransition(*r.protocol, r.status, to, ToInstant(caller.now)); !ok) {
    return tl::unexpected(TransitionError(ok.error()));
  }
  AuditEvent ev = EventFor(caller, action, nullptr, &r);
  ev.reason = reason;
  if (!deps.audit.AppendEvent(ev)) return Refuse(Refusal::kAuditUnavailable, "");
  XGW_CHECK(store->SetProtocolState(r.protocol->id, r.status.state, to, r.protocol->version_hash, caller.now));
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

// ---- the protocol services of the REST API ------------------------------------

namespace {

nlohmann::json ProblemsJson(const ProtocolProblems& problems) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : problems) out.push_back({{"path", p.path}, {"reason", p.reason}});
  return out;
}

// Every party of `p` mapped to the registered organisation with its
// enterprise number; `missing` lists those that have none.
Result<std::map<std::string, std::string>> PartyOrganisations(IdentityStore& identities, const Protocol& p,
                                                              nlohmann::json& missing) {
  XGW_TRY(auto orgs, identities.ListOrganisations());
  std::map<std::string, std::string> party_org;
  for (size_t i = 0; i < p.parties.size(); ++i) {
    const Party& party = p.parties[i];
    std::string found;
    for (const auto& o : orgs) {
      if (o.enterprise_number && *o.enterprise_number == party.enterprise_number) found = o.id;
    }
    if (found.empty()) {
      const std::string reason =
          party.enterprise_number.empty()
              ? "missing: add the party's enterprise number (KBO, 10 digits, for BE; KvK, 8 digits, for NL), by "
                "which the gateway finds its registered organisation"
              : "no organisation registered in this gateway has enterprise number " + party.enterprise_number +
                    ": register it first (`xgw org create --name \"" + party.name + "\" --enterprise-number " +
                    party.enterprise_number + "`), then propose again";
      missing.push_back({{"path", "$.parties[" + std::to_string(i) + "].enterprise_number"}, {"reason", reason}});
    }
    party_org[party.id] = found;
  }
  return party_org;
}

// Why a new version may not be proposed for `existing`, whose version it
// names is in `version_state` ("" if new); nullopt: it may.
std::optional<ServiceError> AmendmentRefusal(const StoredProtocol& existing, const std::string& version_state,
                                             const std::map<std::string, std::string>& party_org) {
  if (existing.state == ProtocolState::kTerminated || existing.state == ProtocolState::kExpired) {
    return ServiceError(Refusal::kProtocolClosed, "the protocol is " + std::string(ProtocolStateName(existing.state)) +
                                                      " and cannot be amended; propose a new protocol under another id");
  }
  if (!version_state.empty()) {
    return ServiceError(Refusal::kVersionExists, "this version was already proposed (it is " + version_state +
                                                     "); to propose a new version change the document, e.g. its "
                                                     "\"version\"");
  }
  for (const auto& [party, org] : party_org) {
    auto it = existing.party_org.find(party);
    if (it != existing.party_org.end() && it->second != org) {
      return ServiceError(Refusal::kPartyChanged,
                          "party " + party + " belongs to another organisation in the earlier versions; a party id "
                          "must keep its organisation (give the new party another id)");
    }
  }
  return std::nullopt;
}

// The party `org` (a gateway organisation or a party id) stands for in
// `target`, or "".
std::string AcceptingParty(const ProtocolRecord& r, const Protocol& target, const std::string& org) {
  std::string party;
  for (const auto& [pid, oid] : r.party_org) {
    if ((oid == org || pid == org) && target.PartyById(pid)) party = pid;
  }
  return party;
}

}  // namespace

ServiceResult<ProposalResult> ExchangeService::Impl::Propose(const Caller& caller, const nlohmann::json& document) {
  auto proposed = ParseProtocolDocument(document);
  if (!proposed) {
    return Refuse(Refusal::kInvalidProtocol, "the protocol document has problems; see 'problems'",
                  {{"problems", ProblemsJson(proposed.error())}});
  }
  const Protocol& p = *proposed;
  XGW_TRY(std::string canonical, CanonicalJson(document));
  nlohmann::json missing = nlohmann::json::array();
  XGW_TRY(auto party_org, PartyOrganisations(deps.identities, p, missing));
  if (!missing.empty()) {
    return Refuse(Refusal::kUnknownParty,
                  "register every party's organisation (with its enterprise number) before proposing the protocol",
                  {{"problems", missing}});
  }
  ProtocolStatus draft;
  XGW_CHECK(CheckTransition(p, draft, ProtocolState::kProposed, ToInstant(caller.now)));
  AuditEvent ev;
  ev.time_ms = caller.now * 1000;
  ev.actor = {ActorType::kUser, caller.principal->user_id, caller.principal->org_id};
  ev.action = AuditAction::kProtocolProposed;
  ev.protocol_id = IsSafeId(p.id) ? p.id : "";
  if (!ev.protocol_id.empty()) ev.protocol_version = p.version_hash;
  for (const auto& [party, org] : party_org) ev.orgs.push_back(org);
  ev.request_id = caller.request_id;
  if (!IsProtocolId(p.id)) return Refuse(Refusal::kInvalidProtocol, "the protocol id must match [A-Za-z0-9_.-]{1,64}");
  std::optional<ServiceError> refusal;
  std::optional<StoredProtocol> before;
  const Proposal proposal{p.id, p.version_hash, canonical, caller.principal->user_id, party_org, caller.now};
  XGW_TRY(bool stored, store->Propose(proposal, [&](const std::optional<StoredProtocol>& existing,
                                                    const std::string& version_state) -> Result<bool> {
    before = existing;
    if (existing) refusal = AmendmentRefusal(*existing, version_state, party_org);
    if (refusal) return false;
    // A new proposal replaces a pending one (withdrawn, its acceptances no
    // longer count); the event says so with reason "superseded".
    if (existing && (existing->pending || existing->state == ProtocolState::kProposed)) ev.reason = "superseded";
    if (!deps.audit.AppendEvent(ev)) {
      refusal = ServiceError(Refusal::kAuditUnavailable, "");
      return false;
    }
    return true;
  }));
  if (!stored) return tl::unexpected(std::move(*refusal));
  ProposalResult out{p.id, p.version, p.version_hash, std::nullopt, ""};
  if (before && before->state != ProtocolState::kProposed) {
    out.state_in_force = before->state;
    out.current_version_hash = before->version_hash;
  }
  return out;
}

ServiceResult<std::vector<ProtocolRecord>> ExchangeService::Impl::ListProtocols(const Caller& caller) {
  XGW_TRY(auto ids, store->ProtocolIds(/*open_only=*/false));
  std::vector<ProtocolRecord> out;
  for (const auto& id : ids) {
    XGW_TRY(auto r, LoadProtocol(id));
    if (!r) continue;
    if (!caller.HasRole(kRoleOperator) && PartyOf(*r, caller.org_id()).empty()) continue;
    out.push_back(std::move(*r));
  }
  return out;
}

ServiceResult<ProtocolRecord> ExchangeService::Impl::VisibleProtocol(const Caller& caller, const std::string& id) {
  XGW_TRY(auto r, LoadProtocol(id));
  if (!r || (!caller.HasRole(kRoleOperator) && PartyOf(*r, caller.org_id()).empty())) {
    return Refuse(Refusal::kNotFound, "no such protocol, or it is not visible to you");
  }
  return std::move(*r);
}

// Long: one acceptance is a sequence of checks in the order the contract
// promises, then the record and the activation it may cause.
ServiceResult<AcceptResult> ExchangeService::Impl::Accept(const Caller& caller, const std::string& id,
                                                          const AcceptRequest& request) {
  XGW_TRY(ProtocolRecord r, VisibleProtocol(caller, id));
  // Default: the version waiting for acceptances (an amendment, or the
  // first version while the protocol is only proposed).
  const std::string hash = request.version_hash ? *request.version_hash
                           : r.pending          ? r.pending->protocol->version_hash
                                                : r.protocol->version_hash;
  const std::string org = request.organisation.value_or(caller.org_id());
  const bool amendment = r.pending && hash == r.pending->protocol->version_hash;
  if (!amendment && hash != r.protocol->version_hash) {
    XGW_TRY(std::string known, store->VersionState(r.protocol->id, hash));
    if (known.empty()) {
      return Refuse(Refusal::kUnknownVersion,
                    "version_hash names no version of this protocol; see GET /api/v1/protocols/{id}/versions");
    }
    return Refuse(Refusal::kVersionNotOpen, "this version is " + known + "; only the pending version can be accepted");
  }
  const Protocol& target = amendment ? *r.pending->protocol : *r.protocol;
  const std::string party = AcceptingParty(r, target, org);
  if (party.empty()) return Refuse(Refusal::kNotAParty, "the organisation is not a party of this protocol version");
  // A DPO may record only their own organisation's acceptance.
  if (!caller.HasRole(kRoleOperator) && r.party_org[party] != caller.org_id()) {
    return Refuse(Refusal::kForbidden, "a DPO may accept only for their own organisation");
  }
  if (!amendment && r.status.state != ProtocolState::kProposed) {
    return Refuse(Refusal::kNotOpenForAcceptance,
                  "this version is already in force; only a proposed version can be accepted");
  }
  AuditEvent ev = EventFor(caller, AuditAction::kProtocolAccepted, nullptr, &r);
  ev.protocol_version = hash;
  if (!deps.audit.AppendEvent(ev)) return Refuse(Refusal::kAuditUnavailable, "");
  XGW_CHECK(store->RecordAcceptance(r.protocol->id, {party, hash, caller.principal->user_id, caller.now}));
  if (amendment) {
    r.pending->acceptances.push_back({party, hash, ToInstant(caller.now)});
    r.pending->accepted_by[party] = {caller.principal->user_id, caller.now};
    // Every party of the new version accepted it: it comes into force.
    if (CheckPendingActivation(r, ToInstant(caller.now))) XGW_CHECK(ActivatePending(caller, r));
  } else {
    r.status.acceptances.push_back({party, hash, ToInstant(caller.now)});
    r.accepted[party] = {hash, caller.now};
    // All parties accepted: the version becomes valid.
    if (AllPartiesAccepted(*r.protocol, r.status.acceptances) &&
        CheckTransition(*r.protocol, r.status, ProtocolState::kValid, ToInstant(caller.now))) {
      XGW_CHECK(Transition(caller, r, ProtocolState::kValid, AuditAction::kProtocolActivated, ""));
    }
  }
  const bool in_force = r.protocol->version_hash == hash && r.status.state != ProtocolState::kProposed;
  return AcceptResult{std::move(r), party, hash, in_force};
}

ServiceResult<uint64_t> ExchangeService::Impl::DeleteOnTermination(const Caller& caller, const ProtocolRecord& r) {
  uint64_t deleted = 0;
  XGW_TRY(auto rows, store->ListExchanges({ExchangeFilter::Set::kOpenOfProtocol, 0, r.protocol->id}, std::nullopt,
                                          std::nullopt));
  for (const auto& listed : rows) {
    // An upload, revocation or expiry of this exchange under way ends
    // first; read again, it is left alone if that removed it (one deletion,
    // one event), and deleted otherwise.
    const Claim claim = ClaimWhenFree(listed.id);
    XGW_TRY(auto now_row, LoadExchange(listed.id));
    if (!now_row || (!IsLive(now_row->state) && now_row->state != "pending")) continue;
    const ExchangeRow& e = *now_row;
    AuditEvent ev = EventFor(caller, AuditAction::kExchangeDeleted, &e, &r);
    ev.reason = "protocol_terminated";
    if (!deps.audit.AppendEvent(ev)) return Refuse(Refusal::kAuditUnavailable, "");
    XGW_CHECK(DeleteExchangeData(e.id, "deleted", "protocol_terminated", caller.now));
    deps.metrics.CountDeletion("protocol_terminated");
    ++deleted;
  }
  RefreshLive();
  return deleted;
}

ServiceResult<LifecycleResult> ExchangeService::Impl::ChangeLifecycle(const Caller& caller, const std::string& id,
                                                                      ProtocolState to, AuditAction action) {
  XGW_TRY(ProtocolRecord r, VisibleProtocol(caller, id));
  if (to == ProtocolState::kValid && r.status.state == ProtocolState::kValid) {
    // Activating a protocol in force with a pending amendment puts the
    // amendment in force, once every party accepted it.
    if (r.pending) XGW_CHECK(ActivatePending(caller, r));
    return LifecycleResult{std::move(r), 0, true};
  }
  if (to == ProtocolState::kTerminated) {
    r.terminated_at = caller.now;
    r.status.terminated_at = ToInstant(caller.now);
  }
  XGW_CHECK(Transition(caller, r, to, action, "operator_request"));
  uint64_t deleted = 0;
  if (to == ProtocolState::kTerminated && r.protocol->on_termination == OnTermination::kDelete) {
    XGW_TRY(deleted, DeleteOnTermination(caller, r));
  }
  return LifecycleResult{std::move(r), deleted, false};
}

ServiceResult<std::vector<StoredVersion>> ExchangeService::Impl::Versions(const Caller&, const ProtocolRecord& r) {
  XGW_TRY(auto versions, store->Versions(r.protocol->id));
  return versions;
}

ServiceResult<std::vector<ProtocolChange>> ExchangeService::Impl::PendingChanges(const ProtocolRecord& r) {
  if (!r.pending) {
    return Refuse(Refusal::kNoPendingVersion,
                  "no changed version of this protocol is waiting for acceptance; GET /api/v1/protocols/{id}/versions "
                  "lists its versions");
  }
  return DiffProtocols(*r.protocol, *r.pending->protocol);
}

ServiceResult<std::vector<RecipientKey>> ExchangeService::Impl::Recipients(const Caller& caller,
                                                                          const ProtocolRecord& r) {
  if (!caller.HasRole(kRoleOperator) && !r.protocol->IsSender(PartyOf(r, caller.org_id()))) {
    return Refuse(Refusal::kNotSender, "your organisation does not send under this protocol");
  }
  std::vector<RecipientKey> out;
  for (const auto& [party, org] : r.party_org) {
    if (!r.protocol->IsReceiver(party)) continue;
    XGW_TRY(auto users, deps.identities.ListUsers(org));
    XGW_TRY(auto organisation, deps.identities.GetOrganisation(org));
    for (const auto& u : users) {
      if (!u.keys) continue;
      if (!MayReceive(*r.protocol, UserRef{party, u.id, u.roles}).empty()) continue;
      out.push_back({u.id, org, party, u.display_name, organisation.name, u.roles, u.keys->age_recipient,
                     u.keys->ed25519_verify_key});
    }
  }
  return out;
}

}  // namespace xgw
