#include "gateway/http/problem.h"

namespace xgw {

Response JsonResponse(unsigned status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

Response WithExtra(Response r, const nlohmann::json& extra) {
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
  if (body.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return r;
}

Response Problem(unsigned status, std::string_view slug, std::string_view title,
                 std::string_view detail, std::string_view request_id) {
  Response r = JsonResponse(status, nlohmann::json{
                                        {"type", "urn:xgw:problem:" + std::string(slug)},
                                        {"title", title},
                                        {"status", status},
                                        {"detail", detail},
                                        {"request_id", request_id},
                                    });
  r.content_type = "application/problem+json";
  r.refusal_reason = std::string(slug);
  return r;
}

Response AuditUnavailableProblem(std::string_view request_id) {
  Response r = Problem(503, "audit-unavailable", "Audit log unavailable",
                       "the action was not performed because it could not be recorded in the "
                       "audit log; retry later or ask an operator",
                       request_id);
  r.headers.emplace_back("Retry-After", "30");
  return r;
}

Response ProblemFromError(const Error& e, std::string_view request_id) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kFormat:
      return Problem(400, "invalid-request", "Invalid request", e.message, request_id);
    case ErrorCode::kNotFound:
      return Problem(404, "not-found", "Not found", e.message, request_id);
    case ErrorCode::kConflict:
      return Problem(409, "conflict", "Conflict", e.message, request_id);
    case ErrorCode::kUnauthenticated:
      return Problem(401, "unauthenticated", "Authentication required", e.message, request_id);
    case ErrorCode::kForbidden:
    case ErrorCode::kPolicy:
      return Problem(403, "forbidden", "Forbidden", e.message, request_id);
    case ErrorCode::kLimit:
      return Problem(413, "too-large", "Request too large", e.message, request_id);
    case ErrorCode::kUnavailable: {
      Response r = Problem(503, "busy", "Busy", e.message, request_id);
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
    default:
      return Problem(500, "internal", "Internal error",
                     "the gateway failed to handle the request; an operator can find the cause "
                     "in the log under this request_id",
                     request_id);
  }
}

}  // namespace xgw
