// The route table and the central checks every request passes before a
// handler runs: path syntax, route and method, id syntax, authentication
// (bearer token or session, optional client-certificate pin; CSRF checks for
// the session cookie), authorisation (which
// roles may call the route, and whether the target must be the caller's own
// organisation or the caller themself), content type and body size.
//
// Authorisation is declared, not coded in handlers: each RouteSpec lists
// Grants {role, scope}. A caller holding none of the listed roles gets 403;
// a caller whose role is listed only with a scope the target falls outside of
// gets 404, the same answer as for a target that does not exist, so ids of
// other organisations' objects cannot be probed.
//
// Later modules (exchanges, protocols, audit queries) add their routes with
// Add(); streaming uploads use BodyKind::kStream and a RequestBodySink.
#ifndef XGW_GATEWAY_HTTP_ROUTER_H_
#define XGW_GATEWAY_HTTP_ROUTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/audit_sink.h"
#include "gateway/clock.h"
#include "gateway/config_holder.h"
#include "gateway/http/http_types.h"
#include "gateway/identity_store.h"
#include "gateway/metrics.h"
#include "gateway/http/rate_limiter.h"
#include "gateway/refusal_tally.h"

namespace xgw {

enum class Scope {
  kAny,      // any target
  kSameOrg,  // the target belongs to the caller's organisation
  kSelf,     // the target is the caller (or the caller's own token)
};

// role "*" means any authenticated caller.
struct Grant {
  std::string role;
  Scope scope = Scope::kAny;
};

enum class BodyKind { kNone, kJson, kStream };

// How the path parameter named by RouteSpec::target_param maps to an
// (organisation, user) pair for scope checks.
enum class TargetKind { kNone, kOrg, kUser, kToken };

struct RequestContext {
  RequestHead head;
  std::string route;                          // template, e.g. "/api/v1/users/{user}"
  std::map<std::string, std::string> params;  // syntactically valid ids from the path
  std::optional<Principal> principal;         // set unless the route is public
  std::string target_org_id;                  // resolved for TargetKind != kNone
  std::string target_user_id;
  // For a route with RouteSpec::creates: the id the handler must give what
  // it creates, chosen before the change is audited so that the event names it.
  std::string created_id;
  // For a RouteSpec::audit_first route: appends the audit record of the
  // authorised change. The handler hands it to the store, which calls it in
  // the change's transaction once every check passed, just before COMMIT
  // (IdentityStore::BeforeCommit); if it fails, the change is rolled back.
  BeforeCommit record_change;
  int64_t now = 0;
  std::shared_ptr<const Config> config;       // snapshot for this request
  const std::string& request_id() const { return head.request_id; }
};

// A record of `ctx`'s request as the audit sink takes it: time, request id,
// method, route, actor, the user or organisation acted on (and that
// organisation, so that its DPO sees the event), client address. The caller
// sets the event, outcome, status and reason.
RequestRecord RecordOfRequest(const RequestContext& ctx);

using JsonHandler = std::function<Response(RequestContext&, const nlohmann::json& body)>;
using StreamOpener =
    std::function<Result<std::unique_ptr<RequestBodySink>>(RequestContext&)>;

struct RouteSpec {
  std::string method{};   // "GET", "POST", "PUT", "DELETE"
  std::string pattern{};  // "/api/v1/orgs/{org}/users"; {name} segments are ids
  bool public_route = false;
  std::vector<Grant> grants{};
  TargetKind target = TargetKind::kNone;
  std::string target_param{};
  BodyKind body = BodyKind::kNone;
  uint64_t max_body_bytes = 0;  // 0: limits.max_json_body_bytes / limits.max_upload_bytes
  JsonHandler handler{};        // kNone (body is null) and kJson
  StreamOpener open_stream{};   // kStream
  // For state-changing handlers that append no audit events of their own
  // (operator routes): the change is recorded before it is committed, through
  // RequestContext::record_change, and does not happen if that append fails
  // (503, fail closed). A change refused by a check before that (bad input,
  // unknown id, conflict) is recorded once, as refused.
  bool audit_first = false;
  // Id prefix (ids.h) of what the route creates; the router then chooses
  // RequestContext::created_id before auditing and running the handler.
  std::string_view creates{};
};

// Result of Router::Prepare.
struct Dispatch {
  std::string route = "unmatched";          // template for logs and metrics
  std::optional<Response> response;         // answer now; read no body
  std::unique_ptr<RequestBodySink> sink;    // else: feed the body, then Finish()
  uint64_t body_limit = 0;                  // the most body bytes `sink` accepts
};

class Router {
 public:
  Router(ConfigHolder& config, IdentityStore& store, Metrics& metrics, AuditSink& audit);

  // REQUIRES: called before serving starts (the table is not locked).
  void Add(RouteSpec spec);
  // Path parameter `name` must be an id with `prefix` (see ids.h).
  void AddIdParameter(std::string name, std::string prefix);
  // Path parameter `name` must satisfy `valid`; `rule` explains the syntax.
  void AddParameterRule(std::string name, std::function<bool(const std::string&)> valid,
                        std::string rule);
  // The clock for RequestContext::now (default: the system clock).
  void SetClock(const Clock* clock) { clock_ = clock; }
  int64_t Now() const;

  // Blocking (SQLite): call from the blocking pool, not a network thread.
  Dispatch Prepare(const RequestHead& head);

  // Records a refusal the session decided on its own (431, 413, 400 from the
  // HTTP parser) in metrics and audit.
  void RecordTransportRefusal(const std::string& request_id, unsigned status,
                              const std::string& reason, const std::string& client_address = "");

  // Unauthenticated and rate-limit refusals are coalesced per client address,
  // reason and minute (RefusalTally): this records the tallies of minutes
  // that are over, or every tally when `all` (shutdown). Blocking (audit).
  void FlushRefusals(bool all);

  IdentityStore& store() { return store_; }
  Metrics& metrics() { return metrics_; }
  AuditSink& audit() { return audit_; }
  ConfigHolder& config() { return config_; }

 private:
  struct Compiled {
    RouteSpec spec;
    std::vector<std::string> segments;
  };
  // The route a path and method name, and the methods the path has.
  struct RouteMatch {
    const Compiled* route = nullptr;  // nullptr: no route for this method
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;
  };

  // The steps of Prepare, in its order. Each returns the problem to refuse
  // the request with (not yet recorded), or nullopt to go on.
  RouteMatch MatchRoute(const std::vector<std::string>& segments, const std::string& method) const;
  // 404 for a path no route has, 405 (with Allow) for a method it lacks.
  static Response NoRouteProblem(const RouteMatch& match, const std::string& request_id);
  // Path parameters: their rule (AddParameterRule) or else their id syntax.
  std::optional<Response> CheckParameters(const std::map<std::string, std::string>& params,
                                          const std::string& request_id) const;
  // Bearer token, per-token rate, client-certificate pin; sets ctx.principal.
  std::optional<Response> Authenticate(RequestContext& ctx);
  std::optional<Response> CheckClientPin(const RequestContext& ctx);
  // A cookie-authenticated unsafe request: the gateway's own Origin and the
  // session's CSRF token (constant-time), else 403.
  static std::optional<Response> CheckCsrf(const RequestContext& ctx, const std::string& csrf_hash);
  // The route's grants and, for a target, its scope; sets ctx.target_*.
  std::optional<Response> Authorise(const RouteSpec& spec, RequestContext& ctx);
  // Fills ctx.target_org_id / target_user_id; false if the target does not exist.
  bool ResolveTarget(const RouteSpec& spec, RequestContext& ctx);
  // Content type and declared length of a route that takes a body.
  static std::optional<Response> CheckBodyHead(const RouteSpec& spec, const RequestHead& head, uint64_t limit);
  // The sink that receives the body and then runs the route (d.sink), or
  // the refusal of a stream that could not be opened (d.response).
  void OpenBody(const Compiled& route, RequestContext ctx, Dispatch& d);

  Response Refuse(const RequestContext& ctx, Response problem);
  Response RunHandler(const Compiled& route, RequestContext& ctx, const nlohmann::json& body);
  // An audit-first change's record: none yet, appended, or the append failed.
  enum class ChangeRecord { kNone, kRecorded, kFailed };
  // RequestContext::record_change for one request: appends the change's
  // record the first time it is called and notes the result in `change`.
  BeforeCommit RecordChangeOnce(RequestContext& ctx, ChangeRecord& change);
  void AuditOutcome(const RequestContext& ctx, const Response& r, const std::string& reason);
  Result<void> AppendRecord(const RequestContext& ctx, unsigned status, const std::string& reason);
  // A 429 problem if `key` is over `per_second` (0: no limit), else nullopt.
  std::optional<Response> OverRate(RateLimiter& limiter, const std::string& key, uint32_t per_second,
                                   const std::string& request_id);

  ConfigHolder& config_;
  IdentityStore& store_;
  Metrics& metrics_;
  AuditSink& audit_;
  std::vector<Compiled> routes_;
  std::map<std::string, std::string> id_params_;
  std::map<std::string, std::pair<std::function<bool(const std::string&)>, std::string>> param_rules_;
  const Clock* clock_ = nullptr;
  RefusalTally refusals_;
  RateLimiter per_address_;
  RateLimiter per_token_;
};

// Strict JSON parse of a request body: duplicate keys, trailing data and
// invalid UTF-8 are errors (kFormat, message names the byte offset only).
// `max_depth` > 0 also refuses nesting deeper than that (kFormat).
Result<nlohmann::json> ParseJsonBody(std::string_view text, int max_depth = 0);

// Problem for an error from a store; internal errors (500) are logged to
// stderr with the request id, and only a generic detail is sent.
Response ErrorProblem(const RequestContext& ctx, const Error& error);

// RFC 3339 UTC ("2024-09-27T21:59:59Z").
std::string FormatTime(int64_t unix_seconds);

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_ROUTER_H_
