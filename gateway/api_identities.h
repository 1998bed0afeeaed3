// The identities resource of the REST API under /api/v1 (organisations and
// their client-certificate pins, users, their roles and keys, tokens, /me).
// Each route declares its grants; the Router enforces them before a handler
// runs.
//
// Route table (roles → scope):
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
#ifndef XGW_GATEWAY_API_IDENTITIES_H_
#define XGW_GATEWAY_API_IDENTITIES_H_

#include <functional>
#include <set>
#include <string>

#include "gateway/http/router.h"

namespace xgw {

// The roles the registered protocols name for receivers of an organisation
// (ExchangeService::RolesNamedFor); creating a user or setting roles warns
// about a role outside them. Empty function: no warnings.
using ProtocolRoles = std::function<Result<std::set<std::string>>(const std::string& org_id)>;

// The routes of the table above.
void RegisterIdentityRoutes(Router& router, ProtocolRoles protocol_roles = nullptr);

// The operator part of the API that needs no exchange service: the identity
// routes and /healthz and /metrics (api_health.h, which says what
// `audit_writable` does).
void RegisterOperatorRoutes(Router& router, std::function<bool()> audit_writable = nullptr,
                            ProtocolRoles protocol_roles = nullptr);

}  // namespace xgw

#endif  // XGW_GATEWAY_API_IDENTITIES_H_
