// RFC 9457 problem details (application/problem+json).
//
// `type` is "urn:xgw:problem:<slug>" (slugs are listed in docs/api.yaml);
// `detail` tells the caller what to fix and never contains request values
// (they may be personal data): it names fields instead.
#ifndef XGW_GATEWAY_HTTP_PROBLEM_H_
#define XGW_GATEWAY_HTTP_PROBLEM_H_

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "crypto/error.h"
#include "gateway/http/http_types.h"

namespace xgw {

Response Problem(unsigned status, std::string_view slug, std::string_view title,
                 std::string_view detail, std::string_view request_id);

// 503 "audit-unavailable" with Retry-After: the action was not performed
// because its audit event could not be recorded (fail closed).
Response AuditUnavailableProblem(std::string_view request_id);

// Maps an Error from a store or handler to a problem: kInvalidArgument/kFormat
// → 400, kNotFound → 404, kConflict → 409, kUnauthenticated → 401,
// kForbidden → 403, kLimit → 413, anything else → 500 with a generic detail
// (the internal message is logged by the caller, not sent).
Response ProblemFromError(const Error& error, std::string_view request_id);

// `r` (a JSON body) with the members of `extra` added, e.g. a problem's
// "violations" or "problems".
Response WithExtra(Response r, const nlohmann::json& extra);

// JSON response with status; dumps with invalid UTF-8 replaced (never throws).
Response JsonResponse(unsigned status, const nlohmann::json& body);

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_PROBLEM_H_
