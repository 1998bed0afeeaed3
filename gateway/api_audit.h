// Routes of the audit resource (/api/v1/audit/...): events, single events,
// checkpoints, proofs, leaves and the verifier key, served by AuditQueries.
#ifndef XGW_GATEWAY_API_AUDIT_H_
#define XGW_GATEWAY_API_AUDIT_H_

#include "gateway/audit_queries.h"
#include "gateway/http/router.h"

namespace xgw {

// `audit` must outlive the router.
void RegisterAuditRoutes(Router& router, AuditQueries& audit);

}  // namespace xgw

#endif  // XGW_GATEWAY_API_AUDIT_H_
