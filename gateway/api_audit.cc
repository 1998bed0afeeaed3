// The audit resource of the REST API (docs/api.yaml, "audit"): each route
// turns a request into one AuditQueries call and its result into a response.
#include "gateway/api_audit.h"

#include <functional>

#include "audit/audit_event.h"
#include "config/config.h"
#include "crypto/hash.h"
#include "gateway/api_support.h"
#include "gateway/display_names.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {

using json = nlohmann::json;

namespace {

json HashesJson(const std::vector<MerkleHash>& hashes) {
  json a = json::array();
  for (const auto& h : hashes) a.push_back(Base64Encode(h));
  return a;
}

Response TextResponse(std::string body) {
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

// A time bound of an events query: the log's own format or RFC 3339 UTC.
Result<std::optional<int64_t>> TimeBound(const QueryParams& q, const std::string& key) {
  auto text = q.Get(key);
  if (!text) return std::optional<int64_t>();
  if (auto ms = ParseAuditTime(*text)) return std::optional<int64_t>(*ms);
  if (auto s = ParseUtcTime(*text)) return std::optional<int64_t>(*s * 1000);
  return Fail(ErrorCode::kInvalidArgument, key + ": expected an RFC 3339 UTC time");
}

Result<AuditQuery> EventsQuery(const QueryParams& q) {
  AuditQuery aq;
  aq.exchange_id = q.Get("exchange");
  aq.protocol_id = q.Get("protocol");
  aq.organisation = q.Get("organisation");
  aq.user = q.Get("user");
  if (auto a = q.Get("action")) {
    aq.action = ParseAuditAction(*a);
    if (!aq.action) return Fail(ErrorCode::kInvalidArgument, "action: unknown audit action");
  }
  XGW_TRY(aq.from_ms, TimeBound(q, "since"));
  XGW_TRY(aq.until_ms, TimeBound(q, "until"));
  XGW_TRY(aq.after, q.Number("after", "after: expected an index"));
  XGW_TRY(auto limit, q.Number("limit", "limit: expected a positive number", /*positive=*/true));
  if (limit) aq.limit = std::min<uint64_t>(*limit, kMaxAuditQueryLimit);
  // tree_size: only events of the tree of that size, each with its inclusion
  // proof in it, so that a client proves what it shows against a checkpoint
  // it verified.
  XGW_TRY(aq.before, q.Number("tree_size", "tree_size: expected a size no larger than the log"));
  return aq;
}

// The display names of the people and organisations `ev` names, added to
// `names` (id → name). They are read now, from the identity store: not part
// of the proven event, and a name changed since is shown as it is today.
void AddNames(const json& ev, DisplayNames& names, json& out) {
  if (!ev.is_object()) return;
  const auto add = [&](const json& id, bool person) {
    if (!id.is_string()) return;
    const std::string& s = id.get_ref<const std::string&>();
    if (out.contains(s)) return;
    const std::string& name = person ? names.Person(s) : names.Organisation(s);
    if (!name.empty()) out[s] = name;
  };
  if (auto a = ev.find("actor"); a != ev.end() && a->is_object()) {
    if (a->value("type", "") == "user") add(a->value("id", json()), true);
    add(a->value("org", json()), false);
  }
  add(ev.value("user", json()), true);
  if (auto orgs = ev.find("orgs"); orgs != ev.end() && orgs->is_array())
    for (const auto& o : *orgs) add(o, false);
}

json EventsJson(const AuditEventsPage& page, DisplayNames& display) {
  json items = json::array();
  json names = json::object();
  for (const auto& item : page.items) {
    // leaf_data: the exact bytes the log hashed; `event` is a convenience
    // rendering of them (null if they are not JSON).
    json ev = json::parse(item.record.event, nullptr, false);
    AddNames(ev, display, names);
    json j = {{"index", item.record.index},
              {"event", ev.is_discarded() ? json(nullptr) : ev},
              {"leaf_data", Base64Encode(AsBytes(item.record.event))}};
    if (item.inclusion_proof) {
      j["inclusion_proof"] = HashesJson(*item.inclusion_proof);
    } else if (page.with_proofs) {
      j["inclusion_proof"] = nullptr;
    }
    items.push_back(std::move(j));
  }
  return {{"items", items}, {"next", page.next ? json(*page.next) : json(nullptr)}, {"names", names}};
}

Response GetEvents(AuditQueries& audit, IdentityStore& identities, RequestContext& ctx) {
  auto q = QueryParams::Parse(ctx.head.target, {"exchange", "protocol", "organisation", "user", "action", "since",
                                                "until", "after", "limit", "tree_size"});
  if (!q) return InvalidQuery(ctx, q.error().message);
  auto query = EventsQuery(*q);
  if (!query) return InvalidQuery(ctx, query.error().message);
  auto page = audit.Events(CallerOf(ctx), *query);
  if (!page && page.error().code == ErrorCode::kInvalidArgument) return InvalidQuery(ctx, page.error().message);
  if (!page) return ErrorProblem(ctx, page.error());
  DisplayNames display(identities);
  return JsonResponse(200, EventsJson(*page, display));
}

Response GetEvent(AuditQueries& audit, RequestContext& ctx) {
  auto rec = audit.Event(CallerOf(ctx), std::stoull(ctx.params.at("index")));
  if (!rec) return ErrorProblem(ctx, rec.error());
  Response r;
  r.content_type = "application/json";
  r.body = rec->event;
  r.headers.emplace_back("X-Xgw-Leaf-Hash", HexEncode(rec->leaf_hash));
  return r;
}

Response GetLeaves(AuditQueries& audit, RequestContext& ctx) {
  auto q = QueryParams::Parse(ctx.head.target, {"start", "tree_size", "limit"});
  if (!q) return InvalidQuery(ctx, q.error().message);
  for (const auto& [key, value] : q->values()) {
    if (!IsDecimal(value)) return InvalidQuery(ctx, key + ": expected a number");
  }
  if (!q->Has("start") || !q->Has("tree_size")) return InvalidQuery(ctx, "start and tree_size are required");
  const uint64_t start = std::stoull(*q->Get("start")), size = std::stoull(*q->Get("tree_size"));
  const uint64_t limit = q->Has("limit") ? std::stoull(*q->Get("limit")) : 1000;
  auto page = audit.Leaves(CallerOf(ctx), start, size, limit);
  if (!page && page.error().code == ErrorCode::kInvalidArgument) return InvalidQuery(ctx, page.error().message);
  if (!page) return ErrorProblem(ctx, page.error());
  json items = json::array();
  for (const auto& leaf : page->items) {
    if (leaf.event) {
      items.push_back({{"index", leaf.index}, {"leaf_data", Base64Encode(AsBytes(*leaf.event))}});
    } else {
      items.push_back({{"index", leaf.index}, {"leaf_hash", Base64Encode(leaf.leaf_hash)}});
    }
  }
  return JsonResponse(200, {{"start", start},
                            {"tree_size", size},
                            {"items", items},
                            {"next", page->next ? json(*page->next) : json(nullptr)}});
}

// Merkle proofs between two tree positions named in the query string.
using Prover = std::function<Result<std::vector<MerkleHash>>(uint64_t, uint64_t)>;
JsonHandler ProofHandler(std::string a_name, std::string b_name, Prover prove) {
  return [a_name, b_name, prove](RequestContext& ctx, const json&) {
    auto q = ParseQuery(ctx.head.target);
    if (!q || !q->count(a_name) || !q->count(b_name) || !IsDecimal(q->at(a_name)) || !IsDecimal(q->at(b_name))) {
      return InvalidQuery(ctx, a_name + " and " + b_name + " are required numbers");
    }
    const uint64_t a = std::stoull(q->at(a_name)), b = std::stoull(q->at(b_name));
    auto p = prove(a, b);
    if (!p) return ErrorProblem(ctx, p.error());
    return JsonResponse(200, {{a_name, a}, {b_name, b}, {"hashes", HashesJson(*p)}});
  };
}

// A checkpoint or key as text, or the problem of the error.
Response TextOrProblem(RequestContext& ctx, Result<std::string> text, std::string_view suffix = "") {
  if (!text) return ErrorProblem(ctx, text.error());
  return TextResponse(*text + std::string(suffix));
}

}  // namespace

void RegisterAuditRoutes(Router& router, AuditQueries& audit) {
  const Grant any{"*", Scope::kAny};
  const Grant op{std::string(kRoleOperator), Scope::kAny};
  const Grant dpo{std::string(kRoleDpo), Scope::kAny};
  router.AddParameterRule("index", IsDecimal, "must be a decimal number");

  router.Add({.method = "GET", .pattern = "/api/v1/audit/events", .grants = {op, dpo},
              .handler = [&audit, &router](RequestContext& ctx, const json&) {
                return GetEvents(audit, router.store(), ctx);
              }});
  router.Add({.method = "GET", .pattern = "/api/v1/audit/events/{index}", .grants = {op, dpo},
              .handler = [&audit](RequestContext& ctx, const json&) { return GetEvent(audit, ctx); }});
  router.Add({.method = "GET", .pattern = "/api/v1/audit/checkpoint", .grants = {op, dpo},
              .handler = [&audit](RequestContext& ctx, const json&) {
                return TextOrProblem(ctx, audit.LatestCheckpoint());
              }});
  router.Add({.method = "POST", .pattern = "/api/v1/audit/checkpoint", .grants = {op, dpo},
              .body = BodyKind::kStream,
              .open_stream = OptionalJsonBody([&audit](RequestContext& ctx, const json&) {
                return TextOrProblem(ctx, audit.SignCheckpoint());
              })});
  router.Add({.method = "GET", .pattern = "/api/v1/audit/proofs/inclusion", .grants = {op, dpo},
              .handler = ProofHandler("index", "tree_size", [&audit](uint64_t index, uint64_t size) {
                return audit.InclusionProof(index, size);
              })});
  router.Add({.method = "GET", .pattern = "/api/v1/audit/proofs/consistency", .grants = {op, dpo},
              .handler = ProofHandler("first", "second", [&audit](uint64_t first, uint64_t second) {
                return audit.ConsistencyProof(first, second);
              })});
  router.Add({.method = "GET", .pattern = "/api/v1/audit/leaves", .grants = {op, dpo},
              .handler = [&audit](RequestContext& ctx, const json&) { return GetLeaves(audit, ctx); }});
  router.Add({.method = "GET", .pattern = "/api/v1/audit/verifier-key", .grants = {any},
              .handler = [&audit](RequestContext& ctx, const json&) {
                return TextOrProblem(ctx, audit.VerifierKey(), "\n");
              }});
}

}  // namespace xgw
