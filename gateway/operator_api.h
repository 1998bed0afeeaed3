// The operator part of the REST API under /api/v1 (organisations, users,
// keys, tokens, /me) plus /healthz and /metrics. Each route declares its
// grants; the Router enforces them before a handler runs.
//
// Route table (roles → scope):
//   GET    /healthz                      public
//   GET    /metrics                      operator, metrics
//   GET    /api/v1/me                    any authenticated caller
//   POST   /api/v1/orgs                  operator
//   GET    /api/v1/orgs                  operator
//   GET    /api/v1/orgs/{org}            operator; anyone → own organisation
//   GET    /api/v1/orgs/{org}/client-pins        operator
//   POST   /api/v1/orgs/{org}/client-pins        operator
//   DELETE /api/v1/orgs/{org}/client-pins/{pin}  operator
//   POST   /api/v1/orgs/{org}/users      operator
//   GET    /api/v1/orgs/{org}/users      operator; dpo → own organisation
//   GET    /api/v1/users/{user}          operator; dpo → own organisation; anyone → self
//   PUT    /api/v1/users/{user}/roles    operator
//   GET    /api/v1/users/{user}/keys     operator; anyone → own organisation
//   PUT    /api/v1/users/{user}/keys     operator; anyone → self
//   POST   /api/v1/users/{user}/tokens   operator
//   GET    /api/v1/users/{user}/tokens   operator; anyone → self
//   DELETE /api/v1/tokens/{token}        operator; anyone → own tokens
#ifndef XGW_GATEWAY_OPERATOR_API_H_
#define XGW_GATEWAY_OPERATOR_API_H_

#include <functional>

#include "gateway/http/router.h"

namespace xgw {

// `audit_writable` (optional) tells /healthz whether the audit log still
// accepts appends; when it does not, /healthz answers 503.
void RegisterOperatorRoutes(Router& router, std::function<bool()> audit_writable = nullptr);

}  // namespace xgw

#endif  // XGW_GATEWAY_OPERATOR_API_H_
