// Who asks a service for something: the authenticated principal (none on a
// public route), the request id that ties the audit events of one request
// together, and the request's time. Services take a Caller, never an HTTP
// request, so the same service can serve the REST API, the web app's
// session API or a job.
#ifndef XGW_GATEWAY_CALLER_H_
#define XGW_GATEWAY_CALLER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/identity_store.h"

namespace xgw {

struct Caller {
  std::optional<Principal> principal;
  std::string request_id;  // safe id, or "" (then no audit event names it)
  int64_t now = 0;         // unix seconds, from the gateway's clock

  bool HasRole(std::string_view role) const { return principal && principal->HasRole(role); }
  std::string org_id() const { return principal ? principal->org_id : std::string(); }
};

}  // namespace xgw

#endif  // XGW_GATEWAY_CALLER_H_
