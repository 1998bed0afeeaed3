// The exchanges resource of the REST API (docs/api.yaml, "exchanges"), after
// upload: listing the inbox and the sent box, reading one exchange, the
// download, acknowledgement, revocation, violation reports, the deletion
// receipt; and the DPO's subject-index lookup. Each route reads its request,
// makes one service call (exchange_actions.cc) and turns its result into
// JSON; refusals become problems through ProblemFor.
#include <algorithm>

#include "gateway/api_support.h"
#include "gateway/display_names.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {

using nlohmann::json;

namespace {

using Impl = ExchangeService::Impl;

json TimeOrNull(const std::optional<int64_t>& t) { return t ? json(FormatTime(*t)) : json(nullptr); }

json ExchangeSummary(const ExchangeRow& e) {
  return {{"id", e.id},
          {"protocol_id", e.protocol_id},
          {"version_hash", e.version_hash},
          {"sender_org", e.sender_org},
          {"sender_user", e.sender_user},
          {"mode", e.mode},
          {"state", e.state},
          {"created_at", FormatTime(e.created_at)},
          {"delivered_at", TimeOrNull(e.delivered_at)},
          {"acknowledged_at", TimeOrNull(e.acknowledged_at)},
          {"expires_at", TimeOrNull(e.expires_at)},
          {"deleted_at", TimeOrNull(e.deleted_at)},
          {"deleted_reason", e.deleted_reason ? json(*e.deleted_reason) : json(nullptr)},
          {"size", e.size ? json(*e.size) : json(nullptr)},
          {"rows", e.rows}};
}

// The page a listing asks for (limit, after), or the detail of what is wrong.
Result<ListPage> PageOf(const QueryParams& q) {
  ListPage page;
  XGW_TRY(auto limit, q.Number("limit", "limit must be a positive number (at most " +
                                            std::to_string(ListPage::kMaxLimit) + " are returned)",
                               /*positive=*/true));
  if (limit) page.limit = static_cast<size_t>(std::min<uint64_t>(*limit, ListPage::kMaxLimit));
  if (auto after = q.Get("after")) {
    page.after = ParseListCursor(*after);
    if (!page.after) return Fail(ErrorCode::kInvalidArgument, "after must be the 'next' value of the previous page");
  }
  return page;
}

// The summary with the sender's organisation and person by name.
json NamedSummary(const ExchangeRow& e, DisplayNames& names) {
  json item = ExchangeSummary(e);
  item["sender_org_name"] = names.Organisation(e.sender_org);
  item["sender_user_name"] = names.Person(e.sender_user);
  return item;
}

// GET /api/v1/exchanges?box=inbox|sent&limit=&after=
ServiceResult<Response> ListExchanges(Impl& m, RequestContext& ctx) {
  // Keys are not echoed: the detail never repeats what the caller sent.
  auto q = QueryParams::Parse(ctx.head.target, {"box", "limit", "after"},
                              "unknown query parameter; use box, limit and after");
  if (!q) return InvalidQuery(ctx, q.error().message);
  const std::string box = q->Get("box").value_or("inbox");
  if (box != "inbox" && box != "sent") return InvalidQuery(ctx, "box must be inbox or sent");
  auto page = PageOf(*q);
  if (!page) return InvalidQuery(ctx, page.error().message);
  XGW_TRY(auto listed, m.ListExchanges(CallerOf(ctx), box == "inbox", *page));
  json items = json::array();
  DisplayNames names(m.deps.identities);
  for (const auto& e : listed.rows) items.push_back(NamedSummary(e, names));
  return JsonResponse(200, {{"items", items}, {"next", listed.next ? json(FormatListCursor(*listed.next)) : json(nullptr)}});
}

// GET /api/v1/exchanges/{id}: the summary with the signed manifest and the
// key that verifies it.
ServiceResult<Response> GetExchange(Impl& m, RequestContext& ctx) {
  XGW_TRY(ExchangeView v, m.GetExchange(CallerOf(ctx), ctx.params.at("exchange")));
  const ExchangeRow& e = v.row;
  DisplayNames names(m.deps.identities);
  json j = NamedSummary(e, names);
  j["manifest"] = e.manifest ? json::parse(*e.manifest, nullptr, false) : json(nullptr);
  j["manifest_signature"] = e.manifest_signature ? json(*e.manifest_signature) : json(nullptr);
  j["signer"] = e.signer;
  j["sender_ed25519_verify_key"] = v.sender_verify_key ? json(*v.sender_verify_key) : json(nullptr);
  return JsonResponse(200, j);
}

// GET /api/v1/exchanges/{id}/content: the ciphertext, streamed.
ServiceResult<Response> Download(Impl& m, RequestContext& ctx) {
  XGW_TRY(StoredBlob blob, m.Download(CallerOf(ctx), ctx.params.at("exchange")));
  Response r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.source = std::move(blob.source);
  r.content_length = blob.size;
  return r;
}

// POST /api/v1/exchanges/{id}/ack
ServiceResult<Response> Acknowledge(Impl& m, RequestContext& ctx) {
  XGW_TRY(ExchangeRow e, m.Acknowledge(CallerOf(ctx), ctx.params.at("exchange")));
  return JsonResponse(200, {{"id", e.id}, {"state", e.state}, {"expires_at", FormatTime(e.expires_at.value_or(ctx.now))}});
}

// POST /api/v1/exchanges/{id}/revoke
ServiceResult<Response> Revoke(Impl& m, RequestContext& ctx) {
  const std::string& id = ctx.params.at("exchange");
  XGW_CHECK(m.Revoke(CallerOf(ctx), id));
  return JsonResponse(200, {{"id", id}, {"state", "revoked"}});
}

// A report's details: violation codes with row/column only; values are
// dropped.
json CleanReportDetails(const json& body) {
  json details = json::array();
  auto it = body.is_object() ? body.find("details") : body.end();
  if (it == body.end() || !it->is_array()) return details;
  const auto short_string = [](const json& j) { return j.is_string() && j.get<std::string>().size() <= 64; };
  for (const auto& d : *it) {
    if (details.size() >= 1000) break;
    json clean = json::object();
    if (short_string(d)) clean["code"] = d;
    if (d.is_object()) {
      if (d.contains("code") && short_string(d["code"])) clean["code"] = d["code"];
      if (d.contains("row") && d["row"].is_number_unsigned()) clean["row"] = d["row"];
      if (d.contains("column") && short_string(d["column"])) clean["column"] = d["column"];
    }
    if (!clean.empty()) details.push_back(clean);
  }
  return details;
}

// POST /api/v1/exchanges/{id}/violations {"code", "details"?}
ServiceResult<Response> ReportViolation(Impl& m, RequestContext& ctx, const json& body) {
  const std::string code = body.is_object() && body.contains("code") && body["code"].is_string()
                               ? body["code"].get<std::string>()
                               : std::string();
  const json details = CleanReportDetails(body);
  const std::string& id = ctx.params.at("exchange");
  XGW_CHECK(m.ReportViolation(CallerOf(ctx), id, code, details));
  return JsonResponse(201, {{"exchange_id", id}, {"code", code}, {"details", details}});
}

// GET /api/v1/exchanges/{id}/receipt: the signed proof of deletion.
ServiceResult<Response> Receipt(Impl& m, RequestContext& ctx) {
  XGW_TRY(json receipt, m.DeletionReceipt(CallerOf(ctx), ctx.params.at("exchange")));
  return JsonResponse(200, receipt);
}

// GET /api/v1/subject-index/{value}: to whom one person's data were sent.
ServiceResult<Response> SubjectLookup(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto hits, m.SubjectLookup(CallerOf(ctx), ctx.params.at("value")));
  json items = json::array();
  for (auto& h : hits) {
    json hit = ExchangeSummary(h.row);
    hit["downloads"] = std::move(h.downloads);
    items.push_back(std::move(hit));
  }
  return JsonResponse(200, {{"items", items}});
}

bool IsLowerHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

void RegisterExchangeRoutes(Router& router, ExchangeService::Impl& m) {
  const Grant any{"*", Scope::kAny};
  const Grant dpo{std::string(kRoleDpo), Scope::kAny};
  const Grant sender{std::string(kRoleSender), Scope::kAny};
  router.AddParameterRule("value", IsLowerHex64, "must be 64 lower-case hex digits");
  ResourceRoutes<Impl> routes(router, m);
  routes.Get("/api/v1/exchanges", {any}, ListExchanges);
  routes.Get("/api/v1/exchanges/{exchange}", {any}, GetExchange);
  routes.Get("/api/v1/exchanges/{exchange}/content", {any}, Download);
  routes.Get("/api/v1/exchanges/{exchange}/receipt", {any}, Receipt);
  routes.Get("/api/v1/subject-index/{value}", {dpo}, SubjectLookup);
  routes.Action("/api/v1/exchanges/{exchange}/ack", {any}, Acknowledge);
  routes.Action("/api/v1/exchanges/{exchange}/revoke", {sender}, Revoke);
  routes.Post("/api/v1/exchanges/{exchange}/violations", {any}, ReportViolation);
}

}  // namespace xgw
