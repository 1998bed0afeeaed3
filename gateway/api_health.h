// The monitoring part of the gateway's HTTP API: GET /healthz (public) and
// GET /metrics (operator, metrics), the Prometheus text of Metrics.
#ifndef XGW_GATEWAY_API_HEALTH_H_
#define XGW_GATEWAY_API_HEALTH_H_

#include <functional>

#include "gateway/http/router.h"

namespace xgw {

// `audit_writable` (optional) tells /healthz whether the audit log still
// accepts appends; when it does not, /healthz answers 503.
void RegisterHealthRoutes(Router& router, std::function<bool()> audit_writable = nullptr);

}  // namespace xgw

#endif  // XGW_GATEWAY_API_HEALTH_H_
