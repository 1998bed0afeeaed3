// What every API resource file (gateway/api_*.cc) shares to turn a request
// into one service call and its result into a response: the query string,
// the optional JSON body of POST actions, and the step from a service's
// Result to a response (errors through the one table of ProblemFromError).
// Nothing here knows of protocols, exchanges or the audit log.
#ifndef XGW_GATEWAY_API_SUPPORT_H_
#define XGW_GATEWAY_API_SUPPORT_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/error.h"
#include "gateway/caller.h"
#include "gateway/service_error.h"
#include "gateway/http/router.h"

namespace xgw {

// 1 to 18 ASCII digits (so that std::stoull never throws or overflows).
bool IsDecimal(const std::string& s);

// Percent-decoded query string of a request target ('+' is a space). A
// malformed escape makes the whole query invalid (nullopt).
std::optional<std::map<std::string, std::string>> ParseQuery(const std::string& target);

// A route's query parameters: only the keys it names are accepted. Errors
// are kInvalidArgument with a detail for the caller; InvalidQuery turns them
// into the 400 "invalid-query" problem.
class QueryParams {
 public:
  static Result<QueryParams> Parse(const std::string& target, std::initializer_list<std::string_view> allowed,
                                   std::string_view unknown_detail = "unknown query parameter; see docs/api.yaml");
  bool Has(const std::string& key) const { return values_.count(key) > 0; }
  std::optional<std::string> Get(const std::string& key) const;
  // The value of `key` as a number, nullopt if absent; `detail` if it is not
  // a decimal number (or is 0 when `positive`).
  Result<std::optional<uint64_t>> Number(const std::string& key, std::string_view detail,
                                         bool positive = false) const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

Response InvalidQuery(const RequestContext& ctx, std::string_view detail);

// The caller of a request as the services see it (no HTTP in it).
Caller CallerOf(const RequestContext& ctx);

// Runs a handler body that returns Result<Response>; an error becomes its
// problem (ErrorProblem).
template <typename F>
Response Handle(RequestContext& ctx, F&& f) {
  Result<Response> r = f();
  if (!r) return ErrorProblem(ctx, r.error());
  return std::move(*r);
}

// For POST actions clients may send with or without a small JSON body
// (empty = {}, at most 64 KiB): the stream opener of such a route.
StreamOpener OptionalJsonBody(JsonHandler run);

// A service's answer as a response: a ServiceError becomes its problem
// (ProblemFor, the one table).
inline Response Answer(const RequestContext& ctx, ServiceResult<Response> r) {
  if (!r) return ProblemFor(ctx, r.error());
  return std::move(*r);
}

// The routes of one resource, each a function of the service and the
// request that returns ServiceResult<Response>: the scaffolding every
// api_*.cc would otherwise repeat.
template <typename Service>
class ResourceRoutes {
 public:
  using Run = std::function<ServiceResult<Response>(Service&, RequestContext&)>;
  using RunWithBody = std::function<ServiceResult<Response>(Service&, RequestContext&, const nlohmann::json&)>;

  ResourceRoutes(Router& router, Service& service) : router_(router), service_(service) {}

  void Get(std::string pattern, std::vector<Grant> grants, Run run) {
    router_.Add({.method = "GET",
                 .pattern = std::move(pattern),
                 .grants = std::move(grants),
                 .handler = [&s = service_, run = std::move(run)](RequestContext& ctx, const nlohmann::json&) {
                   return Answer(ctx, run(s, ctx));
                 }});
  }
  // A POST whose body is a JSON document.
  void Post(std::string pattern, std::vector<Grant> grants, RunWithBody run) {
    router_.Add({.method = "POST",
                 .pattern = std::move(pattern),
                 .grants = std::move(grants),
                 .body = BodyKind::kJson,
                 .handler = [&s = service_, run = std::move(run)](RequestContext& ctx, const nlohmann::json& body) {
                   return Answer(ctx, run(s, ctx, body));
                 }});
  }
  // A POST action that takes no arguments (an optional empty JSON body).
  void Action(std::string pattern, std::vector<Grant> grants, Run run) {
    router_.Add({.method = "POST",
                 .pattern = std::move(pattern),
                 .grants = std::move(grants),
                 .body = BodyKind::kStream,
                 .open_stream = OptionalJsonBody([&s = service_, run = std::move(run)](RequestContext& ctx,
                                                                                     const nlohmann::json&) {
                   return Answer(ctx, run(s, ctx));
                 })});
  }

 private:
  Router& router_;
  Service& service_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_API_SUPPORT_H_
