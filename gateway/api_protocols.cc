// The protocols resource of the REST API (docs/api.yaml, "protocols"):
// proposing a protocol or a new version, reading protocols and their
// versions, what an amendment changes, the acceptances of the parties, the
// lifecycle (activate, suspend, terminate) and the recipients a sender
// encrypts to. Decisions are the policy's (policy/lifecycle.h); state
// changes go through ExchangeService::Impl (protocol_registry.cc) and the
// MetadataStore, audit first.
#include <variant>

#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"
#include "policy/canonical_json.h"
#include "policy/protocol_diff.h"

namespace xgw {

using nlohmann::json;

namespace {

using Impl = ExchangeService::Impl;

json ProblemsJson(const ProtocolProblems& problems) {
  json out = json::array();
  for (const auto& p : problems) out.push_back({{"path", p.path}, {"reason", p.reason}});
  return out;
}

// Every party of `p` mapped to the registered organisation with its
// enterprise number; `missing` lists those that have none.
Result<std::map<std::string, std::string>> PartyOrganisations(Impl& m, const Protocol& p, json& missing) {
  XGW_TRY(auto orgs, m.deps.identities.ListOrganisations());
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

// Why `p` may not be proposed as a new version of `existing` whose version
// `p` names is in `version_state` ("" if new); nullopt: it may.
std::optional<Response> AmendmentRefusal(const RequestContext& ctx, const StoredProtocol& existing,
                                         const std::string& version_state,
                                         const std::map<std::string, std::string>& party_org) {
  if (existing.state == ProtocolState::kTerminated || existing.state == ProtocolState::kExpired) {
    return Problem(409, "protocol-closed", "Protocol closed",
                   "the protocol is " + std::string(ProtocolStateName(existing.state)) +
                       " and cannot be amended; propose a new protocol under another id",
                   ctx.request_id());
  }
  if (!version_state.empty()) {
    return Problem(409, "version-exists", "Version exists",
                   "this version was already proposed (it is " + version_state +
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

// POST /api/v1/protocols: a new protocol, or a new version of one.
Result<Response> Propose(Impl& m, RequestContext& ctx, const json& body) {
  auto parsed = ParseProtocolDocument(body);
  if (!parsed) {
    return WithExtra(Problem(400, "invalid-protocol", "Invalid protocol",
                             "the protocol document has problems; see 'problems'", ctx.request_id()),
                     {{"problems", ProblemsJson(parsed.error())}});
  }
  const Protocol& p = *parsed;
  XGW_TRY(std::string canonical, CanonicalJson(body));
  json missing = json::array();
  XGW_TRY(auto party_org, PartyOrganisations(m, p, missing));
  if (!missing.empty()) {
    return WithExtra(Problem(422, "unknown-party", "Unknown party",
                             "register every party's organisation (with its enterprise number) before proposing "
                             "the protocol",
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
    return Problem(400, "invalid-protocol", "Invalid protocol", "the protocol id must match [A-Za-z0-9_.-]{1,64}",
                   ctx.request_id());
  }
  std::optional<Response> refusal;
  std::optional<StoredProtocol> before;
  const Proposal proposal{p.id, p.version_hash, canonical, ctx.principal->user_id, party_org, ctx.now};
  XGW_TRY(bool stored, m.store->Propose(proposal, [&](const std::optional<StoredProtocol>& existing,
                                                      const std::string& version_state) -> Result<bool> {
    before = existing;
    if (existing) refusal = AmendmentRefusal(ctx, *existing, version_state, party_org);
    if (refusal) return false;
    // A new proposal replaces a pending one (withdrawn, its acceptances no
    // longer count); the event says so with reason "superseded".
    if (existing && (existing->pending || existing->state == ProtocolState::kProposed)) ev.reason = "superseded";
    if (!m.deps.audit.AppendEvent(ev)) {
      refusal = AuditUnavailableProblem(ctx.request_id());
      return false;
    }
    return true;
  }));
  if (!stored) return std::move(*refusal);
  const bool amends = before && before->state != ProtocolState::kProposed;
  return JsonResponse(201, {{"id", p.id},
                            {"version", p.version},
                            {"version_hash", p.version_hash},
                            {"state", amends ? ProtocolStateName(before->state) : "proposed"},
                            {"version_state", "proposed"},
                            {"current_version_hash", amends ? json(before->version_hash) : json(nullptr)}});
}

json PendingVersionJson(const ProtocolRecord& r, bool full) {
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
  return pv;
}

// A protocol as the caller sees it; `full` adds the documents and dates.
json ProtocolJson(const ProtocolRecord& r, const Principal& who, int64_t now, bool full) {
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
  j["pending_version"] = r.pending ? PendingVersionJson(r, full) : json(nullptr);
  if (full) {
    const auto time_or_null = [](const std::optional<int64_t>& t) { return t ? json(FormatTime(*t)) : json(nullptr); };
    j["definition"] = json::parse(r.document, nullptr, false);
    j["proposed_at"] = FormatTime(r.proposed_at);
    j["activated_at"] = time_or_null(r.activated_at);
    j["suspended_at"] = time_or_null(r.suspended_at);
    j["terminated_at"] = time_or_null(r.terminated_at);
  }
  return j;
}

// A protocol visible to the caller (operator or a party), else kNotFound.
Result<ProtocolRecord> VisibleProtocol(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, m.LoadProtocol(ctx.params.at("protocol")));
  if (!r || (!ctx.principal->HasRole(kRoleOperator) && Impl::PartyOf(*r, ctx.principal->org_id).empty())) {
    return Fail(ErrorCode::kNotFound, "no such protocol, or it is not visible to you");
  }
  return std::move(*r);
}

// The answer to a failed transition (nullopt: it did not fail).
std::optional<Response> TransitionProblem(RequestContext& ctx, const Result<void>& r) {
  if (r) return std::nullopt;
  if (r.error().code == ErrorCode::kIo && r.error().message == "audit-unavailable") {
    return AuditUnavailableProblem(ctx.request_id());
  }
  if (r.error().code == ErrorCode::kConflict) {
    return Problem(409, "wrong-state", "Transition not allowed", r.error().message, ctx.request_id());
  }
  return ErrorProblem(ctx, r.error());
}

// GET /api/v1/protocols: those the caller's organisation is a party of
// (every one for an operator).
Result<Response> ListProtocols(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto ids, m.store->ProtocolIds(/*open_only=*/false));
  json items = json::array();
  for (const auto& id : ids) {
    XGW_TRY(auto r, m.LoadProtocol(id));
    if (!r) continue;
    if (!ctx.principal->HasRole(kRoleOperator) && Impl::PartyOf(*r, ctx.principal->org_id).empty()) continue;
    items.push_back(ProtocolJson(*r, *ctx.principal, ctx.now, false));
  }
  return JsonResponse(200, {{"items", items}});
}

Result<Response> GetProtocol(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, VisibleProtocol(m, ctx));
  return JsonResponse(200, ProtocolJson(r, *ctx.principal, ctx.now, true));
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

// The version a POST .../accept names, or its refusal.
Result<std::variant<std::string, Response>> AcceptedVersion(Impl& m, RequestContext& ctx, const ProtocolRecord& r,
                                                            const json& body) {
  // Default: the version waiting for acceptances (an amendment, or the
  // first version while the protocol is only proposed).
  const std::string hash = body.contains("version_hash") ? body["version_hash"].get<std::string>()
                           : r.pending                   ? r.pending->protocol->version_hash
                                                         : r.protocol->version_hash;
  const bool amendment = r.pending && hash == r.pending->protocol->version_hash;
  if (amendment || hash == r.protocol->version_hash) return hash;
  XGW_TRY(std::string known, m.store->VersionState(r.protocol->id, hash));
  if (known.empty()) {
    return Problem(422, "unknown-version", "Unknown version",
                   "version_hash names no version of this protocol; see GET /api/v1/protocols/{id}/versions",
                   ctx.request_id());
  }
  return Problem(409, "version-mismatch", "Version not open for acceptance",
                 "this version is " + known + "; only the pending version can be accepted", ctx.request_id());
}

// POST /api/v1/protocols/{id}/accept: one party's acceptance of the
// version waiting for it; the last one puts that version in force.
Result<Response> Accept(Impl& m, RequestContext& ctx, const json& body) {
  XGW_TRY(auto r, VisibleProtocol(m, ctx));
  if (!body.is_object() || (body.contains("version_hash") && !body["version_hash"].is_string())) {
    return Problem(400, "invalid-field", "Invalid request",
                   "send {\"version_hash\": ..., \"organisation\": ...}; version_hash defaults to the pending version",
                   ctx.request_id());
  }
  std::string org = ctx.principal->org_id;
  if (auto it = body.find("organisation"); it != body.end()) {
    if (!it->is_string()) {
      return Problem(400, "invalid-field", "Invalid request", "organisation: expected a string", ctx.request_id());
    }
    org = it->get<std::string>();
  }
  XGW_TRY(auto named, AcceptedVersion(m, ctx, r, body));
  if (auto* refusal = std::get_if<Response>(&named)) return std::move(*refusal);
  const std::string hash = std::get<std::string>(named);
  const bool amendment = r.pending && hash == r.pending->protocol->version_hash;
  const Protocol& target = amendment ? *r.pending->protocol : *r.protocol;
  const std::string party = AcceptingParty(r, target, org);
  if (party.empty()) {
    return Problem(422, "not-a-party", "Not a party", "the organisation is not a party of this protocol version",
                   ctx.request_id());
  }
  // A DPO may record only their own organisation's acceptance.
  if (!ctx.principal->HasRole(kRoleOperator) && r.party_org[party] != ctx.principal->org_id) {
    return Problem(403, "forbidden", "Forbidden", "a DPO may accept only for their own organisation",
                   ctx.request_id());
  }
  if (!amendment && r.status.state != ProtocolState::kProposed) {
    return Problem(409, "wrong-state", "Not open for acceptance",
                   "this version is already in force; only a proposed version can be accepted", ctx.request_id());
  }
  AuditEvent ev = m.EventFor(ctx, AuditAction::kProtocolAccepted, nullptr, &r);
  ev.protocol_version = hash;
  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  XGW_CHECK(m.store->RecordAcceptance(r.protocol->id, {party, hash, ctx.principal->user_id, ctx.now}));
  if (amendment) {
    r.pending->acceptances.push_back({party, hash, ToInstant(ctx.now)});
    r.pending->accepted_by[party] = {ctx.principal->user_id, ctx.now};
    // Every party of the new version accepted it: it comes into force.
    if (Impl::CheckPendingActivation(r, ToInstant(ctx.now))) {
      if (auto resp = TransitionProblem(ctx, m.ActivatePending(ctx, r))) return std::move(*resp);
    }
  } else {
    r.status.acceptances.push_back({party, hash, ToInstant(ctx.now)});
    r.accepted[party] = {hash, ctx.now};
    // All parties accepted: the version becomes valid.
    if (AllPartiesAccepted(*r.protocol, r.status.acceptances) &&
        CheckTransition(*r.protocol, r.status, ProtocolState::kValid, ToInstant(ctx.now))) {
      auto t = m.Transition(ctx, r, ProtocolState::kValid, AuditAction::kProtocolActivated, "");
      if (auto resp = TransitionProblem(ctx, t)) return std::move(*resp);
    }
  }
  const bool in_force = r.protocol->version_hash == hash && r.status.state != ProtocolState::kProposed;
  return JsonResponse(200, {{"id", r.protocol->id},
                            {"party", party},
                            {"version_hash", hash},
                            {"version_state", in_force ? "current" : "proposed"},
                            {"current_version_hash", r.protocol->version_hash},
                            {"state", ProtocolStateName(r.status.state)}});
}

struct Lifecycle {
  const char* verb;
  ProtocolState to;
  AuditAction action;
};

// A termination of a protocol whose data go with it: every exchange still
// pending or live is deleted (audit first). Returns how many.
Result<uint64_t> DeleteOnTermination(Impl& m, RequestContext& ctx, const ProtocolRecord& r) {
  uint64_t deleted = 0;
  XGW_TRY(auto rows, m.store->ListExchanges({ExchangeFilter::Set::kOpenOfProtocol, 0, r.protocol->id}, std::nullopt,
                                            std::nullopt));
  for (const auto& listed : rows) {
    // An upload, revocation or expiry of this exchange under way ends
    // first; read again, it is left alone if that removed it (one deletion,
    // one event), and deleted otherwise.
    const Impl::Claim claim = m.ClaimWhenFree(listed.id);
    XGW_TRY(auto now_row, m.LoadExchange(listed.id));
    if (!now_row || (!IsLive(now_row->state) && now_row->state != "pending")) continue;
    const ExchangeRow& e = *now_row;
    AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeDeleted, &e, &r);
    ev.reason = "protocol_terminated";
    if (!m.deps.audit.AppendEvent(ev)) return Fail(ErrorCode::kIo, "audit-unavailable");
    XGW_CHECK(m.DeleteExchangeData(e.id, "deleted", "protocol_terminated", ctx.now));
    m.deps.metrics.CountDeletion("protocol_terminated");
    ++deleted;
  }
  m.RefreshLive();
  return deleted;
}

// POST /api/v1/protocols/{id}/activate|suspend|terminate
Result<Response> ChangeLifecycle(Impl& m, RequestContext& ctx, const Lifecycle& lc) {
  XGW_TRY(auto r, VisibleProtocol(m, ctx));
  if (lc.to == ProtocolState::kValid && r.status.state == ProtocolState::kValid) {
    // Activating a protocol in force with a pending amendment puts the
    // amendment in force, once every party accepted it.
    if (r.pending) {
      if (auto resp = TransitionProblem(ctx, m.ActivatePending(ctx, r))) return std::move(*resp);
    }
    return JsonResponse(200, {{"id", r.protocol->id}, {"state", "valid"}, {"version_hash", r.protocol->version_hash}});
  }
  if (lc.to == ProtocolState::kTerminated) {
    r.terminated_at = ctx.now;
    r.status.terminated_at = ToInstant(ctx.now);
  }
  if (auto resp = TransitionProblem(ctx, m.Transition(ctx, r, lc.to, lc.action, "operator_request"))) {
    return std::move(*resp);
  }
  uint64_t deleted = 0;
  if (lc.to == ProtocolState::kTerminated && r.protocol->on_termination == OnTermination::kDelete) {
    auto n = DeleteOnTermination(m, ctx, r);
    if (auto resp = TransitionProblem(ctx, n.has_value() ? Result<void>() : tl::unexpected(n.error()))) {
      return std::move(*resp);
    }
    deleted = *n;
  }
  return JsonResponse(200, {{"id", r.protocol->id},
                            {"state", ProtocolStateName(r.status.state)},
                            {"exchanges_deleted", deleted}});
}

// GET /api/v1/protocols/{id}/versions
Result<Response> ListVersions(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, VisibleProtocol(m, ctx));
  XGW_TRY(auto versions, m.store->Versions(r.protocol->id));
  json items = json::array();
  const auto time_or_null = [](const std::optional<int64_t>& t) { return t ? json(FormatTime(*t)) : json(nullptr); };
  for (const auto& v : versions) {
    const json doc = json::parse(v.document, nullptr, false);
    json acc = json::array();
    for (const auto& a : v.acceptances) {
      acc.push_back({{"party", a.party},
                     {"organisation", r.party_org.count(a.party) ? r.party_org.at(a.party) : ""},
                     {"accepted_by", a.accepted_by},
                     {"at", FormatTime(a.at)}});
    }
    items.push_back({{"version_hash", v.version_hash},
                     {"version", doc.is_object() && doc.contains("version") ? doc["version"] : json(nullptr)},
                     {"state", v.state},
                     {"proposed_at", FormatTime(v.proposed_at)},
                     {"proposed_by", v.proposed_by.empty() ? json(nullptr) : json(v.proposed_by)},
                     {"activated_at", time_or_null(v.activated_at)},
                     {"ended_at", time_or_null(v.ended_at)},
                     {"acceptances", acc}});
  }
  return JsonResponse(200, {{"id", r.protocol->id}, {"state", ProtocolStateName(r.status.state)}, {"items", items}});
}

// GET /api/v1/protocols/{id}/diff: what a pending amendment changes against
// the version in force, in plain words (DiffProtocols), for each party's DPO
// before their organisation accepts.
Result<Response> Diff(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, VisibleProtocol(m, ctx));
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
}

// GET /api/v1/protocols/{id}/recipients: every user allowed to receive who
// registered keys, for a sender to encrypt to.
Result<Response> Recipients(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, VisibleProtocol(m, ctx));
  const std::string my_party = Impl::PartyOf(r, ctx.principal->org_id);
  if (!ctx.principal->HasRole(kRoleOperator) && !r.protocol->IsSender(my_party)) {
    return Problem(403, "not-sender", "Not a sender", "your organisation does not send under this protocol",
                   ctx.request_id());
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
}

}  // namespace

void RegisterProtocolRoutes(Router& router, ExchangeService::Impl& m) {
  const Grant any{"*", Scope::kAny};
  const Grant op{std::string(kRoleOperator), Scope::kAny};
  const Grant dpo{std::string(kRoleDpo), Scope::kAny};
  const Grant sender{std::string(kRoleSender), Scope::kAny};
  router.AddParameterRule(
      "protocol", [](const std::string& s) { return IsProtocolId(s); }, "must match [A-Za-z0-9_.-]{1,64}");
  const auto get = [&router, &m](const char* pattern, std::vector<Grant> grants,
                                 Result<Response> (*run)(Impl&, RequestContext&)) {
    router.Add({.method = "GET",
                .pattern = pattern,
                .grants = std::move(grants),
                .handler = [&m, run](RequestContext& ctx, const json&) {
                  return Handle(ctx, [&] { return run(m, ctx); });
                }});
  };
  const auto post = [&router, &m](const char* pattern, std::vector<Grant> grants,
                                  Result<Response> (*run)(Impl&, RequestContext&, const json&)) {
    router.Add({.method = "POST",
                .pattern = pattern,
                .grants = std::move(grants),
                .body = BodyKind::kJson,
                .handler = [&m, run](RequestContext& ctx, const json& body) {
                  return Handle(ctx, [&] { return run(m, ctx, body); });
                }});
  };
  post("/api/v1/protocols", {op}, Propose);
  get("/api/v1/protocols", {any}, ListProtocols);
  get("/api/v1/protocols/{protocol}", {any}, GetProtocol);
  post("/api/v1/protocols/{protocol}/accept", {op, dpo}, Accept);
  for (const Lifecycle& lc : {Lifecycle{"activate", ProtocolState::kValid, AuditAction::kProtocolActivated},
                              Lifecycle{"suspend", ProtocolState::kSuspended, AuditAction::kProtocolSuspended},
                              Lifecycle{"terminate", ProtocolState::kTerminated, AuditAction::kProtocolTerminated}}) {
    router.Add({.method = "POST",
                .pattern = std::string("/api/v1/protocols/{protocol}/") + lc.verb,
                .grants = {op},
                .body = BodyKind::kStream,
                .open_stream = OptionalJsonBody([&m, lc](RequestContext& ctx, const json&) {
                  return Handle(ctx, [&] { return ChangeLifecycle(m, ctx, lc); });
                })});
  }
  get("/api/v1/protocols/{protocol}/versions", {any}, ListVersions);
  get("/api/v1/protocols/{protocol}/diff", {any}, Diff);
  get("/api/v1/protocols/{protocol}/recipients", {op, sender}, Recipients);
}

}  // namespace xgw
