// The exchanges resource of the REST API (docs/api.yaml, "exchanges"), after
// upload: listing the inbox and the sent box, reading one exchange, the
// download, acknowledgement, revocation, violation reports, the deletion
// receipt; and the DPO's subject-index lookup. Each route reads what it
// needs through ExchangeService::Impl, records its audit event first
// (fail closed) and answers.
#include <map>
#include <set>

#include "crypto/hash.h"
#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {

using nlohmann::json;

namespace {

using Impl = ExchangeService::Impl;
using Found = std::pair<ExchangeRow, ProtocolRecord>;

json ExchangeSummary(const ExchangeRow& e) {
  const auto time_or_null = [](const std::optional<int64_t>& t) { return t ? json(FormatTime(*t)) : json(nullptr); };
  return {{"id", e.id},
          {"protocol_id", e.protocol_id},
          {"version_hash", e.version_hash},
          {"sender_org", e.sender_org},
          {"sender_user", e.sender_user},
          {"mode", e.mode},
          {"state", e.state},
          {"created_at", FormatTime(e.created_at)},
          {"delivered_at", time_or_null(e.delivered_at)},
          {"acknowledged_at", time_or_null(e.acknowledged_at)},
          {"expires_at", time_or_null(e.expires_at)},
          {"deleted_at", time_or_null(e.deleted_at)},
          {"deleted_reason", e.deleted_reason ? json(*e.deleted_reason) : json(nullptr)},
          {"size", e.size ? json(*e.size) : json(nullptr)},
          {"rows", e.rows}};
}

// An exchange the caller may see, else kNotFound. An attempt to look at
// someone else's exchange is a refusal the parties' DPOs must be able to
// see, under that exchange's id.
Result<Found> VisibleExchange(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
  if (!e) return Fail(ErrorCode::kNotFound, "no such exchange, or it is not visible to you");
  XGW_TRY(auto pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
  if (!pr || !m.MaySee(*pr, *e, *ctx.principal) || (!e->delivered_at && e->sender_org != ctx.principal->org_id)) {
    if (pr) {
      (void)m.deps.audit.AppendEvent(
          m.RefusedAccessEvent(ctx, AuditAction::kExchangeDownloadRefused, *e, *pr, "not_recipient"));
    }
    return Fail(ErrorCode::kNotFound, "no such exchange, or it is not visible to you");
  }
  return std::make_pair(std::move(*e), std::move(*pr));
}

// For the recipient routes (ack, violation reports): an exchange the caller
// may not receive, or not yet delivered, gets the answer of an unknown id:
// its state must not leak. The attempt is recorded under the exchange as
// `action` refused, for the DPOs who may know of it (RefusedAccessEvent).
Result<Found> ReceivableExchange(Impl& m, RequestContext& ctx, AuditAction action) {
  XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
  std::optional<ProtocolRecord> pr;
  if (e) {
    XGW_TRY(pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
  }
  if (!e || !pr || !m.MayReceiveExchange(*pr, *e, *ctx.principal)) {
    if (e && pr) (void)m.deps.audit.AppendEvent(m.RefusedAccessEvent(ctx, action, *e, *pr, "not_recipient"));
    return Fail(ErrorCode::kNotFound, "no such exchange, or you may not receive it");
  }
  return std::make_pair(std::move(*e), std::move(*pr));
}

// GET /api/v1/exchanges?box=inbox|sent&limit=&after=
Result<Response> ListExchanges(Impl& m, RequestContext& ctx) {
  // Keys are not echoed: the detail never repeats what the caller sent.
  auto q = QueryParams::Parse(ctx.head.target, {"box", "limit", "after"},
                              "unknown query parameter; use box, limit and after");
  if (!q) return InvalidQuery(ctx, q.error().message);
  const std::string box = q->Get("box").value_or("inbox");
  if (box != "inbox" && box != "sent") return InvalidQuery(ctx, "box must be inbox or sent");
  ListPage page;
  auto limit = q->Number("limit", "limit must be a positive number (at most " + std::to_string(ListPage::kMaxLimit) +
                                      " are returned)",
                         /*positive=*/true);
  if (!limit) return InvalidQuery(ctx, limit.error().message);
  if (*limit) page.limit = static_cast<size_t>(std::min<uint64_t>(**limit, ListPage::kMaxLimit));
  if (auto after = q->Get("after")) {
    page.after = ParseListCursor(*after);
    if (!page.after) return InvalidQuery(ctx, "after must be the 'next' value of the previous page");
  }
  json items = json::array();
  std::optional<ListCursor> next;
  if (box == "sent") {
    XGW_TRY(next, m.ListPageOf({ExchangeFilter::Set::kSentBy, 0, ctx.principal->org_id}, page,
                               [&](const ExchangeRow& e) -> Result<bool> {
                                 items.push_back(ExchangeSummary(e));
                                 return true;
                               }));
  } else {
    // Only exchanges under protocols the caller's organisation is a party
    // of; who may receive each one is decided by the version it was sent
    // under.
    std::map<std::string, std::optional<ProtocolRecord>> cache;
    XGW_TRY(next, m.ListPageOf({ExchangeFilter::Set::kDeliveredToOrg, 0, ctx.principal->org_id}, page,
                               [&](const ExchangeRow& e) -> Result<bool> {
                                 const std::string key = e.protocol_id + "@" + e.version_hash;
                                 if (!cache.count(key)) {
                                   XGW_TRY(cache[key], m.LoadProtocolVersion(e.protocol_id, e.version_hash));
                                 }
                                 const auto& pr = cache[key];
                                 if (!pr) return false;
                                 if (!pr->protocol->IsReceiver(Impl::PartyOf(*pr, ctx.principal->org_id))) return false;
                                 if (!m.ReceiveViolations(*pr, *ctx.principal).empty()) return false;
                                 items.push_back(ExchangeSummary(e));
                                 return true;
                               }));
  }
  // Who looked at which box is an access to exchange metadata: audited (one
  // event per page) before the page is served.
  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeListed, nullptr, nullptr);
  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  return JsonResponse(200, {{"items", items}, {"next", next ? json(FormatListCursor(*next)) : json(nullptr)}});
}

// GET /api/v1/exchanges/{id}: the summary with the signed manifest and the
// key that verifies it.
Result<Response> GetExchange(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto ep, VisibleExchange(m, ctx));
  auto& [e, pr] = ep;
  json j = ExchangeSummary(e);
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
}

// Why a download is refused ("" if it is not): not a recipient, not
// delivered (404), or no longer there (410).
std::string DownloadRefusal(Impl& m, RequestContext& ctx, const ExchangeRow& e, const ProtocolRecord& pr,
                            bool& gone) {
  Violations v = m.ReceiveViolations(pr, *ctx.principal);
  if (v.empty() && !pr.protocol->IsReceiver(Impl::PartyOf(pr, ctx.principal->org_id))) {
    v.push_back({"recipient_not_allowed", "not a receiving party", 0, ""});
  }
  // Not yet delivered: unknown to recipients (404, not 410).
  if (v.empty() && !e.delivered_at) return "wrong_state";
  if (!v.empty()) return "not_recipient";
  const bool live = IsLive(e.state) && e.expires_at && *e.expires_at > ctx.now;
  if (live) return "";
  gone = true;
  return e.state == "revoked" ? "exchange_revoked" : e.state == "deleted" ? "exchange_deleted" : "exchange_expired";
}

// GET /api/v1/exchanges/{id}/content: the ciphertext, streamed; audited
// first. The first download may shorten the retention.
Result<Response> Download(Impl& m, RequestContext& ctx) {
  const std::string& rid = ctx.request_id();
  XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
  std::optional<ProtocolRecord> pr;
  if (e) {
    XGW_TRY(pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
  }
  bool gone = false;
  const std::string refusal = e && pr ? DownloadRefusal(m, ctx, *e, *pr, gone) : "unknown";
  if (!refusal.empty()) {
    if (e && pr) {
      (void)m.deps.audit.AppendEvent(
          m.RefusedAccessEvent(ctx, AuditAction::kExchangeDownloadRefused, *e, *pr, refusal));
    }
    m.deps.metrics.CountRefusal("download_refused");
    if (gone) return Problem(410, "gone", "Gone", "the exchange was deleted, revoked or has expired", rid);
    return Problem(404, "not-found", "Not found", "no such exchange, or you may not receive it", rid);
  }
  auto blob = m.blobs->Read(e->id);
  if (!blob) return ErrorProblem(ctx, blob.error());
  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeDownloaded, &*e, &*pr);
  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(rid);
  if (!e->first_download_at) {
    ExchangeRow after = *e;
    after.first_download_at = ctx.now;
    XGW_CHECK(m.store->RecordFirstDownload(e->id, ctx.now, FromInstant(m.Expiry(*pr, after))));
  }
  m.deps.metrics.CountExchange("downloaded");
  Response r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.source = std::move(blob->source);
  r.content_length = blob->size;
  return r;
}

// POST /api/v1/exchanges/{id}/ack
Result<Response> Acknowledge(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto found, ReceivableExchange(m, ctx, AuditAction::kExchangeAcknowledged));
  auto& [e, pr] = found;
  if (e.state == "acknowledged") {
    return JsonResponse(200, {{"id", e.id}, {"state", e.state},
                              {"expires_at", FormatTime(e.expires_at.value_or(ctx.now))}});
  }
  if (e.state != "available") {
    return Problem(409, "wrong-state", "Not acknowledgeable", "only an available exchange can be acknowledged",
                   ctx.request_id());
  }
  AuditEvent ev = m.EventFor(ctx, AuditAction::kExchangeAcknowledged, &e, &pr);
  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  ExchangeRow after = e;
  after.acknowledged_at = ctx.now;
  const int64_t expires = std::min(FromInstant(m.Expiry(pr, after)), e.expires_at.value_or(INT64_MAX));
  XGW_CHECK(m.store->RecordAcknowledged(e.id, ctx.now, expires));
  m.deps.metrics.CountExchange("acknowledged");
  if (expires <= ctx.now) m.WakeSweeper();
  return JsonResponse(200, {{"id", e.id}, {"state", "acknowledged"}, {"expires_at", FormatTime(expires)}});
}

// POST /api/v1/exchanges/{id}/revoke: the sender's organisation withdraws
// an exchange; its data is deleted at once.
Result<Response> Revoke(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto e, m.LoadExchange(ctx.params.at("exchange")));
  if (!e || e->sender_org != ctx.principal->org_id) {
    return Problem(404, "not-found", "Not found", "no such exchange, or it is not yours", ctx.request_id());
  }
  // Claimed (see Impl::Claim), then read again: an upload that was
  // completing this exchange has finished, and the revocation applies to
  // what it left.
  const std::optional<Impl::Claim> claim = m.TryClaim(e->id);
  if (!claim) {
    return Problem(409, "wrong-state", "Not revocable now",
                   "an upload of this exchange is completing or the sweeper is deleting it; "
                   "read its state and try again",
                   ctx.request_id());
  }
  XGW_TRY(e, m.LoadExchange(e->id));
  if (!e) return ErrorProblem(ctx, Error{ErrorCode::kInternal, "exchange vanished"});
  if (!IsLive(e->state) && e->state != "pending") {
    return Problem(409, "wrong-state", "Not revocable", "the exchange is already revoked or deleted",
                   ctx.request_id());
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
}

// A report's details: violation codes with row/column only; values are
// dropped.
json CleanReportDetails(const json& body) {
  json details = json::array();
  auto it = body.find("details");
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

// POST /api/v1/exchanges/{id}/violations: a recipient reports what is wrong
// with content it received.
Result<Response> ReportViolation(Impl& m, RequestContext& ctx, const json& body) {
  XGW_TRY(auto found, ReceivableExchange(m, ctx, AuditAction::kViolationReported));
  auto& [e, pr] = found;
  // A report is about delivered content: the exchange is (or was, before it
  // was deleted or revoked) there to be downloaded.
  if (!IsLive(e.state) && !e.first_download_at) {
    return Problem(409, "wrong-state", "Nothing to report on",
                   "the exchange was revoked or deleted before its content was downloaded; a violation can be "
                   "reported only about content you received",
                   ctx.request_id());
  }
  static const std::set<std::string> kCodes = {"manifest_mismatch", "content_not_allowed", "hash_mismatch",
                                               "decrypt_failed",    "signature_invalid",   "other"};
  if (!body.is_object() || !body.contains("code") || !body["code"].is_string() ||
      !kCodes.count(body["code"].get<std::string>())) {
    return Problem(400, "invalid-field", "Invalid request",
                   "code must be one of manifest_mismatch, content_not_allowed, hash_mismatch, decrypt_failed, "
                   "signature_invalid, other",
                   ctx.request_id());
  }
  const json details = CleanReportDetails(body);
  const std::string code = body["code"].get<std::string>();
  AuditEvent ev = m.EventFor(ctx, AuditAction::kViolationReported, &e, &pr);
  ev.reason = code == "manifest_mismatch"   ? "content_mismatch"
              : code == "hash_mismatch"     ? "hash_mismatch"
              : code == "decrypt_failed"    ? "decrypt_failed"
              : code == "signature_invalid" ? "signature_invalid"
                                            : "validation_failed";
  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  XGW_CHECK(m.store->RecordViolationReport(e.id, ctx.principal->user_id, ctx.principal->org_id, code, details.dump(),
                                           ctx.now));
  m.deps.metrics.CountRefusal("violation_reported");
  return JsonResponse(201, {{"exchange_id", e.id}, {"code", code}, {"details", details}});
}

// GET /api/v1/exchanges/{id}/receipt: the signed proof of deletion.
Result<Response> Receipt(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto ep, VisibleExchange(m, ctx));
  auto receipt = m.deps.audit.log().DeletionReceipt(ep.first.id);
  if (!receipt) {
    if (receipt.error().code == ErrorCode::kNotFound) {
      return Problem(404, "not-deleted", "Not deleted", "the exchange has no deletion event yet", ctx.request_id());
    }
    return ErrorProblem(ctx, receipt.error());
  }
  AuditEvent ev = m.EventFor(ctx, AuditAction::kAuditReceiptIssued, &ep.first, &ep.second);
  (void)m.deps.audit.AppendEvent(ev);
  return JsonResponse(200, *receipt);
}

// GET /api/v1/subject-index/{value}: to whom one person's data were sent,
// for the DPO of a party (an access request).
Result<Response> SubjectLookup(Impl& m, RequestContext& ctx) {
  XGW_TRY(auto ids, m.store->ExchangesOfSubject(ctx.params.at("value")));
  json items = json::array();
  for (const auto& id : ids) {
    XGW_TRY(auto e, m.LoadExchange(id));
    if (!e) continue;
    XGW_TRY(auto pr, m.LoadProtocol(e->protocol_id));
    if (!pr || Impl::PartyOf(*pr, ctx.principal->org_id).empty()) continue;
    // Available, or deleted when and why (deleted_reason), and to whom it
    // was disclosed: every download.
    json hit = ExchangeSummary(*e);
    XGW_TRY(hit["downloads"], m.DownloadsOf(e->id));
    items.push_back(std::move(hit));
  }
  AuditEvent ev = m.EventFor(ctx, AuditAction::kSubjectSearched, nullptr, nullptr);
  ev.reason = "dpo_request";
  (void)m.deps.audit.AppendEvent(ev);
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
  // A route without a body: its handler on the caller's request.
  const auto get = [&router, &m](const char* pattern, std::vector<Grant> grants,
                                 Result<Response> (*run)(Impl&, RequestContext&)) {
    router.Add({.method = "GET",
                .pattern = pattern,
                .grants = std::move(grants),
                .handler = [&m, run](RequestContext& ctx, const json&) {
                  return Handle(ctx, [&] { return run(m, ctx); });
                }});
  };
  get("/api/v1/exchanges", {any}, ListExchanges);
  get("/api/v1/exchanges/{exchange}", {any}, GetExchange);
  get("/api/v1/exchanges/{exchange}/content", {any}, Download);
  get("/api/v1/exchanges/{exchange}/receipt", {any}, Receipt);
  get("/api/v1/subject-index/{value}", {dpo}, SubjectLookup);
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/ack",
              .grants = {any},
              .body = BodyKind::kStream,
              .open_stream = OptionalJsonBody([&m](RequestContext& ctx, const json&) {
                return Handle(ctx, [&] { return Acknowledge(m, ctx); });
              })});
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/revoke",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = OptionalJsonBody([&m](RequestContext& ctx, const json&) {
                return Handle(ctx, [&] { return Revoke(m, ctx); });
              })});
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/violations",
              .grants = {any},
              .body = BodyKind::kJson,
              .handler = [&m](RequestContext& ctx, const json& body) {
                return Handle(ctx, [&] { return ReportViolation(m, ctx, body); });
              }});
}

}  // namespace xgw
