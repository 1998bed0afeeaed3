#include "gateway/api_health.h"

#include "gateway/http/problem.h"
#include "gateway/identity_rules.h"

namespace xgw {

using nlohmann::json;

void RegisterHealthRoutes(Router& router, std::function<bool()> audit_writable) {
  router.Add({.method = "GET",
              .pattern = "/healthz",
              .public_route = true,
              .handler = [audit_writable](RequestContext&, const json&) {
                // Alive but unable to audit: every change and download is
                // refused (503), which monitoring must see.
                if (audit_writable && !audit_writable()) {
                  return JsonResponse(503, {{"status", "degraded"},
                                            {"audit", "unavailable"},
                                            {"detail", "the audit log refuses appends after a failed "
                                                       "write; fix the storage and restart xgwd"}});
                }
                return JsonResponse(200, {{"status", "ok"}});
              }});

  Metrics& metrics = router.metrics();
  router.Add({.method = "GET",
              .pattern = "/metrics",
              .grants = {{std::string(kRoleOperator), Scope::kAny}, {"metrics", Scope::kAny}},
              .handler = [&metrics, &router](RequestContext& ctx, const json&) {
                Response r;
                r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                r.body = metrics.RenderPrometheus();
                // Read from the store at scrape time: tokens are issued and
                // revoked through the API, so a cached value would go stale.
                auto earliest = router.store().EarliestTokenExpiry(ctx.now);
                r.body += "# HELP xgw_api_token_earliest_expiry_seconds Earliest expiry (unix seconds) of any "
                          "active API token; absent when there is none.\n"
                          "# TYPE xgw_api_token_earliest_expiry_seconds gauge\n";
                if (earliest && *earliest) {
                  r.body += "xgw_api_token_earliest_expiry_seconds " + std::to_string(**earliest) + "\n";
                }
                return r;
              }});
}

}  // namespace xgw
