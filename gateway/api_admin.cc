// The admin resource of the REST API that belongs to the exchange services:
// the gateway's clock (docs/api.yaml, "admin"). A manual clock (clock.mode
// "manual", for demos and tests) can be advanced by an operator, audited.
#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {

using nlohmann::json;

namespace {

Response AdvanceClock(ExchangeService::Impl& m, RequestContext& ctx, const json& body) {
  if (!m.deps.clock.manual()) {
    return Problem(404, "no-such-route", "Not found", "the clock can only be advanced when clock.mode is \"manual\"",
                   ctx.request_id());
  }
  auto it = body.find("advance_seconds");
  if (!body.is_object() || body.size() != 1 || it == body.end() || !it->is_number_integer() ||
      it->get<int64_t>() <= 0 || it->get<int64_t>() > 100ll * 366 * 86400) {
    return Problem(400, "invalid-field", "Invalid request", "send {\"advance_seconds\": N} with a positive integer N",
                   ctx.request_id());
  }
  AuditEvent ev = m.EventFor(ctx, AuditAction::kClockAdvanced, nullptr, nullptr);
  ev.reason = "operator_request";
  if (!m.deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  if (!m.deps.clock.Advance(it->get<int64_t>())) {
    return Problem(500, "clock-not-saved", "Clock not advanced",
                   "the manual clock's new position could not be saved in the state directory; see the daemon's log",
                   ctx.request_id());
  }
  // The sweeper should act on the new time at once, not at its next period
  // (up to exchanges.sweep_interval_seconds later).
  m.WakeSweeper();
  return JsonResponse(200, {{"now", FormatTime(m.Now())}});
}

}  // namespace

void RegisterAdminRoutes(Router& router, ExchangeService::Impl& m) {
  const Grant op{std::string(kRoleOperator), Scope::kAny};
  router.Add({.method = "POST",
              .pattern = "/api/v1/admin/clock",
              .grants = {op},
              .body = BodyKind::kJson,
              .handler = [&m](RequestContext& ctx, const json& body) { return AdvanceClock(m, ctx, body); }});
  router.Add({.method = "GET",
              .pattern = "/api/v1/admin/clock",
              .grants = {op},
              .handler = [&m](RequestContext&, const json&) {
                return JsonResponse(200, {{"now", FormatTime(m.Now())},
                                          {"mode", m.deps.clock.manual() ? "manual" : "system"}});
              }});
}

}  // namespace xgw
