// The protocols resource of the REST API (docs/api.yaml, "protocols"):
// proposing a protocol or a new version, reading protocols and their
// versions, what an amendment changes, the acceptances of the parties, the
// lifecycle (activate, suspend, terminate) and the recipients a sender
// encrypts to. Each route reads its request, makes one service call
// (protocol_registry.cc) and turns its result into JSON; refusals become
// problems through ProblemFor.
#include <algorithm>
#include <utility>
#include <vector>

#include "crypto/keyfile.h"
#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {

using nlohmann::json;

namespace {

using Impl = ExchangeService::Impl;

json TimeOrNull(const std::optional<int64_t>& t) { return t ? json(FormatTime(*t)) : json(nullptr); }

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

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

// What THIS person may do under the protocol (issue 17 item 4): "send",
// "receive", "both" or "nothing", and why when it is not both. Sending
// needs the sender role in a sending party; receiving needs a recipient
// rule of a receiving party that names one of the person's roles, units or
// the person (MayReceive).
std::pair<std::string, std::string> WhatYouMay(const ProtocolRecord& r, const Principal& who,
                                               const std::string& party) {
  if (party.empty()) return {"nothing", "your organisation is not a party of this protocol"};
  const Protocol& p = *r.protocol;
  const bool org_sends = p.IsSender(party), org_receives = p.IsReceiver(party);
  const bool send = org_sends && who.HasRole(kRoleSender);
  const bool receive = org_receives && MayReceive(p, UserRef{party, who.user_id, who.roles}).empty();
  std::vector<std::string> named;
  if (org_sends) named.emplace_back(kRoleSender);
  for (const auto& rule : p.recipients) {
    if (rule.organisation != party) continue;
    for (const auto& role : rule.roles) named.push_back(role);
    for (const auto& unit : rule.units) named.push_back("unit." + unit);
  }
  std::sort(named.begin(), named.end());
  named.erase(std::unique(named.begin(), named.end()), named.end());
  const std::string roles = "the protocol names the roles " + Joined(named) + " for your organisation; you have " +
                            Joined(who.roles);
  if (send && receive) return {"both", ""};
  if (send) return {"send", org_receives ? "you may not receive: " + roles : "your organisation only sends under it"};
  if (receive) return {"receive", org_sends ? "you may not send: " + roles : "your organisation only receives under it"};
  return {"nothing", "you may not send or receive: " + roles};
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
  const auto you_may = WhatYouMay(r, who, party);
  json parties = json::array();
  for (const auto& [pid, org] : r.party_org) parties.push_back({{"party", pid}, {"organisation", org}});
  json j = {{"id", r.protocol->id},
            {"version", r.protocol->version},
            {"version_hash", r.protocol->version_hash},
            {"title", r.protocol->title},
            {"state", ProtocolStateName(r.status.state)},
            {"my_role", role.empty() ? json(nullptr) : json(role)},
            {"you_may", you_may.first},
            {"you_may_why", you_may.second},
            {"valid_now", IsInForce(*r.protocol, r.status, ToInstant(now))},
            {"acceptances", acc},
            {"parties", parties}};
  j["pending_version"] = r.pending ? PendingVersionJson(r, full) : json(nullptr);
  if (full) {
    j["definition"] = json::parse(r.document, nullptr, false);
    j["proposed_at"] = FormatTime(r.proposed_at);
    j["activated_at"] = TimeOrNull(r.activated_at);
    j["suspended_at"] = TimeOrNull(r.suspended_at);
    j["terminated_at"] = TimeOrNull(r.terminated_at);
  }
  return j;
}

// POST /api/v1/protocols
ServiceResult<Response> Propose(Impl& m, RequestContext& ctx, const json& body) {
  XGW_TRY(ProposalResult p, m.Propose(CallerOf(ctx), body));
  const bool amends = p.state_in_force.has_value();
  return JsonResponse(201, {{"id", p.id},
                            {"version", p.version},
                            {"version_hash", p.version_hash},
                            {"state", amends ? ProtocolStateName(*p.state_in_force) : "proposed"},
                            {"version_state", "proposed"},
                            {"current_version_hash", amends ? json(p.current_version_hash) : json(nullptr)}});
}

// GET /api/v1/protocols
ServiceResult<Response> ListProtocols(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto records, m.ListProtocols(CallerOf(ctx)));
  json items = json::array();
  for (const auto& r : records) items.push_back(ProtocolJson(r, *ctx.principal, ctx.now, false));
  return JsonResponse(200, {{"items", items}});
}

// GET /api/v1/protocols/{id}
ServiceResult<Response> GetProtocol(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, m.VisibleProtocol(CallerOf(ctx), ctx.params.at("protocol")));
  return JsonResponse(200, ProtocolJson(r, *ctx.principal, ctx.now, true));
}

// POST /api/v1/protocols/{id}/accept {"version_hash"?, "organisation"?}
ServiceResult<Response> Accept(Impl& m, RequestContext& ctx, const json& body) {
  // Only a visible protocol's caller learns what is wrong with the body.
  XGW_TRY(auto visible, m.VisibleProtocol(CallerOf(ctx), ctx.params.at("protocol")));
  (void)visible;
  if (!body.is_object() || (body.contains("version_hash") && !body["version_hash"].is_string())) {
    return Refuse(Refusal::kInvalidRequest,
                  "send {\"version_hash\": ..., \"organisation\": ...}; version_hash defaults to the pending version");
  }
  AcceptRequest request;
  if (body.contains("version_hash")) request.version_hash = body["version_hash"].get<std::string>();
  if (auto it = body.find("organisation"); it != body.end()) {
    if (!it->is_string()) return Refuse(Refusal::kInvalidRequest, "organisation: expected a string");
    request.organisation = it->get<std::string>();
  }
  XGW_TRY(AcceptResult a, m.Accept(CallerOf(ctx), ctx.params.at("protocol"), request));
  return JsonResponse(200, {{"id", a.record.protocol->id},
                            {"party", a.party},
                            {"version_hash", a.version_hash},
                            {"version_state", a.in_force ? "current" : "proposed"},
                            {"current_version_hash", a.record.protocol->version_hash},
                            {"state", ProtocolStateName(a.record.status.state)}});
}

struct Lifecycle {
  const char* verb;
  ProtocolState to;
  AuditAction action;
};

// POST /api/v1/protocols/{id}/activate|suspend|terminate
ServiceResult<Response> ChangeLifecycle(Impl& m, RequestContext& ctx, const Lifecycle& lc) {
  XGW_TRY(LifecycleResult l, m.ChangeLifecycle(CallerOf(ctx), ctx.params.at("protocol"), lc.to, lc.action));
  const Protocol& p = *l.record.protocol;
  if (l.was_in_force) return JsonResponse(200, {{"id", p.id}, {"state", "valid"}, {"version_hash", p.version_hash}});
  return JsonResponse(200, {{"id", p.id},
                            {"state", ProtocolStateName(l.record.status.state)},
                            {"exchanges_deleted", l.exchanges_deleted}});
}

// GET /api/v1/protocols/{id}/versions
ServiceResult<Response> ListVersions(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, m.VisibleProtocol(CallerOf(ctx), ctx.params.at("protocol")));
  XGW_TRY(auto versions, m.Versions(CallerOf(ctx), r));
  json items = json::array();
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
                     {"activated_at", TimeOrNull(v.activated_at)},
                     {"ended_at", TimeOrNull(v.ended_at)},
                     {"acceptances", acc}});
  }
  return JsonResponse(200, {{"id", r.protocol->id}, {"state", ProtocolStateName(r.status.state)}, {"items", items}});
}

// GET /api/v1/protocols/{id}/diff: what a pending amendment changes, in
// plain words, for each party's DPO before their organisation accepts.
ServiceResult<Response> Diff(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, m.VisibleProtocol(CallerOf(ctx), ctx.params.at("protocol")));
  XGW_TRY(auto diff, m.PendingChanges(r));
  const Protocol& from = *r.protocol;
  const Protocol& to = *r.pending->protocol;
  json changes = json::array();
  for (const auto& c : diff) changes.push_back({{"area", c.area}, {"text", c.text}});
  return JsonResponse(200, {{"id", from.id},
                            {"from", {{"version", from.version}, {"version_hash", from.version_hash}}},
                            {"to", {{"version", to.version}, {"version_hash", to.version_hash}}},
                            {"changes", changes}});
}

// GET /api/v1/protocols/{id}/recipients
ServiceResult<Response> Recipients(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto r, m.VisibleProtocol(CallerOf(ctx), ctx.params.at("protocol")));
  XGW_TRY(auto keys, m.Recipients(CallerOf(ctx), r));
  json items = json::array();
  for (const auto& k : keys) {
    items.push_back({{"user_id", k.user_id},
                     {"name", k.name},
                     {"organisation", k.organisation},
                     {"organisation_name", k.organisation_name},
                     {"party", k.party},
                     {"roles", k.roles},
                     {"age_recipient", k.age_recipient},
                     {"fingerprint", age::KeyFingerprint(k.age_recipient)},
                     {"ed25519_verify_key", k.ed25519_verify_key}});
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
  ResourceRoutes<Impl> routes(router, m);
  routes.Post("/api/v1/protocols", {op}, Propose);
  routes.Get("/api/v1/protocols", {any}, ListProtocols);
  routes.Get("/api/v1/protocols/{protocol}", {any}, GetProtocol);
  routes.Post("/api/v1/protocols/{protocol}/accept", {op, dpo}, Accept);
  for (const Lifecycle& lc : {Lifecycle{"activate", ProtocolState::kValid, AuditAction::kProtocolActivated},
                              Lifecycle{"suspend", ProtocolState::kSuspended, AuditAction::kProtocolSuspended},
                              Lifecycle{"terminate", ProtocolState::kTerminated, AuditAction::kProtocolTerminated}}) {
    routes.Action(std::string("/api/v1/protocols/{protocol}/") + lc.verb, {op},
                  [lc](Impl& impl, RequestContext& ctx) { return ChangeLifecycle(impl, ctx, lc); });
  }
  routes.Get("/api/v1/protocols/{protocol}/versions", {any}, ListVersions);
  routes.Get("/api/v1/protocols/{protocol}/diff", {any}, Diff);
  routes.Get("/api/v1/protocols/{protocol}/recipients", {op, sender}, Recipients);
}

}  // namespace xgw
