#include "gateway/http/router.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>

#include "config/config.h"
#include "crypto/secret.h"
#include "gateway/account_crypto.h"
#include "gateway/ids.h"
#include "gateway/identity_rules.h"
#include "gateway/sessions.h"
#include "gateway/http/problem.h"

namespace xgw {
namespace {

using nlohmann::json;

constexpr const char* kPathRule =
    "the request path may contain only letters, digits, '-', '.', '_', '~' and '/' separators, "
    "with no empty, '.' or '..' segments and no percent-encoding";

// Splits an origin-form target into path segments; nullopt if the path uses
// anything outside the plain alphabet xgw's routes need. Percent-encoding is
// refused rather than decoded: no route needs it, and decoding is where
// "%2e%2e" and NUL tricks come from.
std::optional<std::vector<std::string>> SplitPath(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/') return std::nullopt;
  for (char c : path) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (!ok) return std::nullopt;
  }
  std::vector<std::string> segments;
  size_t pos = 1;
  if (path == "/") return segments;
  while (true) {
    const size_t next = path.find('/', pos);
    std::string seg = path.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (seg.empty() || seg == "." || seg == "..") return std::nullopt;
    segments.push_back(std::move(seg));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return segments;
}

std::vector<std::string> SplitPattern(const std::string& pattern) {
  std::vector<std::string> out;
  if (pattern == "/") return out;  // the root, as SplitPath gives it
  size_t pos = 1;
  while (pos <= pattern.size()) {
    const size_t next = pattern.find('/', pos);
    out.push_back(pattern.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return out;
}

bool IsParam(const std::string& seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool IsJsonContentType(const std::string& value) {
  std::string v = Lower(value);
  const size_t semi = v.find(';');
  if (Trim(v.substr(0, semi)) != "application/json") return false;
  if (semi == std::string::npos) return true;
  std::string param = Trim(v.substr(semi + 1));
  param.erase(std::remove(param.begin(), param.end(), '"'), param.end());
  return param == "charset=utf-8";
}

const char* Noun(TargetKind kind) {
  switch (kind) {
    case TargetKind::kOrg: return "organisation";
    case TargetKind::kUser: return "user";
    case TargetKind::kToken: return "token";
    default: return "resource";
  }
}

// Buffers a JSON body (bounded by the parser's body limit), then runs the handler.
class JsonBodySink final : public RequestBodySink {
 public:
  JsonBodySink(std::function<Response(RequestContext&, const json&)> run, RequestContext ctx)
      : run_(std::move(run)), ctx_(std::move(ctx)) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    body_.append(AsText(data));
    return {};
  }
  Response Finish() override {
    auto parsed = ParseJsonBody(body_);
    WipeMemory(body_.data(), body_.size());
    if (!parsed) {
      return run_(ctx_, json(json::value_t::discarded));
    }
    return run_(ctx_, *parsed);
  }

 private:
  std::function<Response(RequestContext&, const json&)> run_;
  RequestContext ctx_;
  std::string body_;
};

// Wraps a streaming sink so that its outcome is audited like any other.
class AuditingSink final : public RequestBodySink {
 public:
  AuditingSink(std::unique_ptr<RequestBodySink> inner, std::function<void(const Response&)> done)
      : inner_(std::move(inner)), done_(std::move(done)) {}
  Result<void> Write(std::span<const uint8_t> data) override { return inner_->Write(data); }
  Response Finish() override {
    Response r = inner_->Finish();
    done_(r);
    return r;
  }

 private:
  std::unique_ptr<RequestBodySink> inner_;
  std::function<void(const Response&)> done_;
};

}  // namespace

Result<json> ParseJsonBody(std::string_view text, int max_depth) {
  bool duplicate = false;
  bool too_deep = false;
  std::vector<std::set<std::string>> keys;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (max_depth > 0 && depth > max_depth) too_deep = true;
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == json::parse_event_t::key && !keys.empty()) {
      if (!keys.back().insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return true;
  };
  try {
    json doc = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    if (duplicate) return Fail(ErrorCode::kFormat, "the request body repeats a key in an object");
    if (too_deep) {
      return Fail(ErrorCode::kFormat, "the request body nests deeper than " + std::to_string(max_depth) + " levels");
    }
    return doc;
  } catch (const json::parse_error& e) {
    return Fail(ErrorCode::kFormat,
                "the request body is not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {
    return Fail(ErrorCode::kFormat, "the request body is not valid JSON");
  }
}

std::string FormatTime(int64_t t) { return FormatUtcTime(t); }

Response ErrorProblem(const RequestContext& ctx, const Error& error) {
  Response r = ProblemFromError(error, ctx.request_id());
  if (r.status >= 500) {
    std::fprintf(stderr, "xgwd: %s internal error: %s\n", ctx.request_id().c_str(),
                 ToString(error).c_str());
  }
  return r;
}

Router::Router(ConfigHolder& config, IdentityStore& store, Metrics& metrics, AuditSink& audit)
    : config_(config), store_(store), metrics_(metrics), audit_(audit) {
  AddIdParameter("org", std::string(kOrgPrefix));
  AddIdParameter("user", std::string(kUserPrefix));
  AddIdParameter("token", std::string(kTokenPrefix));
}

void Router::Add(RouteSpec spec) {
  Compiled c;
  c.segments = SplitPattern(spec.pattern);
  c.spec = std::move(spec);
  routes_.push_back(std::move(c));
}

void Router::AddIdParameter(std::string name, std::string prefix) {
  id_params_[std::move(name)] = std::move(prefix);
}

void Router::AddParameterRule(std::string name, std::function<bool(const std::string&)> valid,
                              std::string rule) {
  param_rules_[std::move(name)] = {std::move(valid), std::move(rule)};
}

int64_t Router::Now() const {
  return clock_ ? clock_->Now() : static_cast<int64_t>(std::time(nullptr));
}

RequestRecord RecordOfRequest(const RequestContext& ctx) {
  RequestRecord rec;
  rec.time = ctx.now;
  rec.event = "http.request";
  rec.request_id = ctx.request_id();
  rec.method = ctx.head.method;
  rec.route = ctx.route;
  if (ctx.principal) {
    rec.actor_user_id = ctx.principal->user_id;
    rec.actor_org_id = ctx.principal->org_id;
  }
  rec.target_id = !ctx.target_user_id.empty() ? ctx.target_user_id : ctx.target_org_id;
  // The organisation of the user or organisation acted on, so that its DPO
  // sees what an operator did to its people (a key change, say).
  rec.org_id = ctx.target_org_id;
  rec.client_address = ctx.head.client_address;
  return rec;
}

Result<void> Router::AppendRecord(const RequestContext& ctx, unsigned status, const std::string& reason) {
  RequestRecord rec = RecordOfRequest(ctx);
  rec.created_id = ctx.created_id;
  for (const auto& [k, v] : ctx.params) {
    if (k == "token") rec.target_id = v;
  }
  rec.outcome = status < 400 ? "allowed" : (status == 401 || status == 403) ? "refused" : "failed";
  rec.reason = reason;
  rec.status = status;
  // Nobody authenticated, or over a rate limit: not a decision on anyone's
  // object. Only the first of its address, reason and minute is appended
  // now; FlushRefusals records the rest as one event with their count.
  if (status >= 400 && status < 500 && (!ctx.principal || status == 429) &&
      !refusals_.Count(rec.client_address, reason, status, ctx.now)) {
    return {};
  }
  auto a = audit_.Append(rec);
  if (!a) {
    std::fprintf(stderr, "xgwd: %s audit append failed: %s\n", rec.request_id.c_str(),
                 ToString(a.error()).c_str());
  }
  return a;
}

void Router::AuditOutcome(const RequestContext& ctx, const Response& r, const std::string& reason) {
  if (r.audited) return;
  (void)AppendRecord(ctx, r.status, reason);
}

Response Router::Refuse(const RequestContext& ctx, Response problem) {
  AuditOutcome(ctx, problem, problem.refusal_reason);
  return problem;
}

void Router::RecordTransportRefusal(const std::string& request_id, unsigned status,
                                    const std::string& reason, const std::string& client_address) {
  RequestContext ctx;
  ctx.head.request_id = request_id;
  ctx.head.client_address = client_address;
  ctx.route = "unmatched";
  ctx.now = Now();
  Response r;
  r.status = status;
  AuditOutcome(ctx, r, reason);
}

void Router::FlushRefusals(bool all) {
  for (const RefusalTally::Tally& t : all ? refusals_.TakeAll() : refusals_.TakeEnded(Now())) {
    RequestRecord rec;
    rec.time = Now();
    rec.event = "http.request";
    rec.route = "unmatched";
    rec.outcome = t.status == 401 || t.status == 403 || t.status == 429 ? "refused" : "failed";
    rec.reason = t.reason;
    rec.status = t.status;
    rec.client_address = t.address;
    rec.count = t.count;
    if (auto a = audit_.Append(rec); !a) {
      std::fprintf(stderr, "xgwd: coalesced refusals not recorded: %s\n", ToString(a.error()).c_str());
    }
  }
}

std::optional<Response> Router::OverRate(RateLimiter& limiter, const std::string& key,
                                         uint32_t per_second, const std::string& request_id) {
  if (per_second == 0) return std::nullopt;
  const uint32_t wait = limiter.Take(key, per_second, 2.0 * per_second, RateLimiter::Clock::now());
  if (wait == 0) return std::nullopt;
  Response r = Problem(429, "rate-limited", "Too many requests",
                       "this client sent more requests than the gateway's limits allow; send "
                       "again after the time in Retry-After",
                       request_id);
  r.headers.emplace_back("Retry-After", std::to_string(wait));
  return r;
}

BeforeCommit Router::RecordChangeOnce(RequestContext& ctx, ChangeRecord& change) {
  return [this, &ctx, &change]() -> Result<void> {
    if (change == ChangeRecord::kRecorded) return {};
    const bool recorded = AppendRecord(ctx, 200, "").has_value();
    change = recorded ? ChangeRecord::kRecorded : ChangeRecord::kFailed;
    if (!recorded) return Fail(ErrorCode::kIo, "the audit log could not record this change");
    return {};
  };
}

Response Router::RunHandler(const Compiled& route, RequestContext& ctx, const json& body) {
  Response r;
  ChangeRecord change = ChangeRecord::kNone;
  if (!route.spec.creates.empty()) ctx.created_id = NewId(route.spec.creates);
  if (route.spec.body == BodyKind::kJson && body.is_discarded()) {
    r = Problem(400, "invalid-json", "Invalid JSON",
                "the request body must be one valid JSON object (UTF-8, no duplicate keys)",
                ctx.request_id());
  } else {
    if (route.spec.audit_first) ctx.record_change = RecordChangeOnce(ctx, change);
    try {
      r = route.spec.handler(ctx, body);
    } catch (const std::exception&) {
      // Handlers return errors; an exception here is a bug (e.g. a JSON type
      // error) and must not take the daemon down or leak details.
      std::fprintf(stderr, "xgwd: %s handler threw\n", ctx.request_id().c_str());
      r = Problem(500, "internal", "Internal error",
                  "the gateway failed to handle the request; an operator can find the cause in "
                  "the log under this request_id",
                  ctx.request_id());
    }
  }
  ctx.record_change = nullptr;  // it refers to `change`
  // Every authenticated answer says when the caller's credential stops
  // working, so a client can warn before it does (issue 17 item 7).
  if (ctx.principal && ctx.principal->expires_at > 0) {
    r.headers.emplace_back("Xgw-Credential-Expires", FormatTime(ctx.principal->expires_at));
    // Seconds left by the gateway's clock, so a client with a skewed clock
    // (or a gateway on a test clock) still warns at the right moment.
    r.headers.emplace_back("Xgw-Credential-Expires-In",
                           std::to_string(std::max<int64_t>(0, ctx.principal->expires_at - ctx.now)));
  }
  if (change == ChangeRecord::kFailed) {
    // The change could not be recorded, so it was rolled back (issue 5).
    r = AuditUnavailableProblem(ctx.request_id());
    r.audited = true;  // nothing more can be recorded now
  } else if (change == ChangeRecord::kRecorded && r.status < 400) {
    r.audited = true;
  }
  AuditOutcome(ctx, r, r.status >= 400 ? r.refusal_reason : "");
  return r;
}

Router::RouteMatch Router::MatchRoute(const std::vector<std::string>& segments, const std::string& method) const {
  RouteMatch m;
  for (const auto& r : routes_) {
    if (r.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> p;
    bool ok = true;
    for (size_t i = 0; i < r.segments.size() && ok; ++i) {
      if (IsParam(r.segments[i])) {
        p[r.segments[i].substr(1, r.segments[i].size() - 2)] = segments[i];
      } else {
        ok = r.segments[i] == segments[i];
      }
    }
    if (!ok) continue;
    m.allowed_methods.push_back(r.spec.method);
    if (r.spec.method == method && !m.route) {
      m.route = &r;
      m.params = std::move(p);
    }
  }
  return m;
}

Response Router::NoRouteProblem(const RouteMatch& m, const std::string& rid) {
  if (m.allowed_methods.empty()) {
    return Problem(404, "no-such-route", "Not found", "no API endpoint has this path; see docs/api.yaml", rid);
  }
  std::string allow;
  for (const auto& method : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + method;
  Response r = Problem(405, "method-not-allowed", "Method not allowed", "this endpoint accepts " + allow, rid);
  r.headers.emplace_back("Allow", allow);
  return r;
}

std::optional<Response> Router::CheckParameters(const std::map<std::string, std::string>& params,
                                                const std::string& rid) const {
  for (const auto& [name, value] : params) {
    if (auto rule = param_rules_.find(name); rule != param_rules_.end()) {
      if (!rule->second.first(value)) {
        return Problem(400, "invalid-id", "Invalid path parameter",
                       "path parameter '" + name + "' " + rule->second.second, rid);
      }
      continue;
    }
    auto it = id_params_.find(name);
    const std::string prefix = it == id_params_.end() ? name : it->second;
    if (!IsValidId(prefix, value)) {
      return Problem(400, "invalid-id", "Invalid id",
                     "path parameter '" + name + "' must be an id of the form " + prefix +
                         "-<26 base32 characters>",
                     rid);
    }
  }
  return std::nullopt;
}

std::optional<Response> Router::Authenticate(RequestContext& ctx) {
  const std::string& rid = ctx.request_id();
  std::string auth = ctx.head.authorization;
  std::string secret;
  bool from_cookie = false;
  if (auth.size() > 7 && Lower(auth.substr(0, 7)) == "bearer ") {
    secret = Trim(auth.substr(7));
  } else if (!ctx.head.cookie.empty()) {
    secret = SessionCookieValue(ctx.head.cookie);
    from_cookie = !secret.empty();
  }
  WipeMemory(auth.data(), auth.size());
  // A session secret ("xgws_...") or an API token ("xgwt_..."): one
  // Principal either way, so the routes do not know which.
  std::optional<std::string> csrf_hash;
  Result<Principal> principal = Fail(ErrorCode::kUnauthenticated, "");
  if (IsOneTimeSecretShape(kSessionSecretPrefix, secret)) {
    auto session = store_.AuthenticateSession(SecretHash(secret), ctx.now);
    if (session) {
      csrf_hash = session->csrf_hash;
      principal = std::move(session->principal);
    } else {
      principal = tl::unexpected(session.error());
    }
  } else if (from_cookie) {
    principal = Fail(ErrorCode::kUnauthenticated,
                     "the session is missing, unknown, expired or ended; sign in again (POST /api/v1/auth/sessions)");
  } else {
    principal = store_.Authenticate(secret, ctx.now);
  }
  WipeMemory(secret.data(), secret.size());
  if (!principal) {
    if (principal.error().code != ErrorCode::kUnauthenticated) return ErrorProblem(ctx, principal.error());
    Response r = Problem(401, "unauthenticated", "Authentication required", principal.error().message, rid);
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"xgw\"");
    return r;
  }
  ctx.principal = std::move(*principal);
  if (from_cookie) {
    if (auto refused = CheckCsrf(ctx, *csrf_hash)) return refused;
  }
  if (auto over = OverRate(per_token_, ctx.principal->token_id, ctx.config->limits.requests_per_second_per_token,
                           rid)) {
    return over;
  }
  return CheckClientPin(ctx);
}

std::optional<Response> Router::CheckCsrf(const RequestContext& ctx, const std::string& csrf_hash) {
  const std::string& m = ctx.head.method;
  if (m == "GET" || m == "HEAD" || m == "OPTIONS") return std::nullopt;
  const std::string& configured = ctx.config->server.public_origin;
  const std::string own = !configured.empty() ? configured : "https://" + ctx.head.host;
  const bool origin_ok = (!configured.empty() || !ctx.head.host.empty()) && ctx.head.origin == own;
  const std::string given = SecretHash(ctx.head.csrf_token);
  const bool token_ok = !ctx.head.csrf_token.empty() && ConstantTimeEqual(AsBytes(given), AsBytes(csrf_hash));
  if (origin_ok && token_ok) return std::nullopt;
  return Problem(403, "csrf-refused", "Cross-site request refused",
                 "a request that changes state with the session cookie must carry the gateway's own Origin and "
                 "the session's X-CSRF-Token header",
                 ctx.request_id());
}

std::optional<Response> Router::CheckClientPin(const RequestContext& ctx) {
  if (!ctx.head.client_pin) return std::nullopt;
  auto org = store_.OrganisationForPin(*ctx.head.client_pin);
  if (!org) return ErrorProblem(ctx, org.error());
  if (!*org || **org != ctx.principal->org_id) {
    return Problem(403, "client-certificate", "Client certificate not accepted",
                   "the TLS client certificate is not registered to the "
                   "organisation of this token; ask an operator to add its "
                   "SPKI pin to your organisation",
                   ctx.request_id());
  }
  return std::nullopt;
}

std::optional<Response> Router::Authorise(const RouteSpec& spec, RequestContext& ctx) {
  // Which grants does the caller's role set activate?
  std::vector<Scope> scopes;
  for (const Grant& g : spec.grants) {
    if (g.role == "*" || ctx.principal->HasRole(g.role)) scopes.push_back(g.scope);
  }
  if (scopes.empty()) {
    return Problem(403, "forbidden", "Forbidden",
                   "your roles do not allow this action; ask an operator if "
                   "you need it",
                   ctx.request_id());
  }
  if (spec.target == TargetKind::kNone) return std::nullopt;
  const bool found = ResolveTarget(spec, ctx);
  bool in_scope = false;
  for (Scope s : scopes) {
    in_scope = in_scope || s == Scope::kAny ||
               (s == Scope::kSameOrg && ctx.target_org_id == ctx.principal->org_id) ||
               (s == Scope::kSelf && !ctx.target_user_id.empty() && ctx.target_user_id == ctx.principal->user_id);
  }
  if (!found || !in_scope) {
    return Problem(404, "not-found", "Not found",
                   std::string("no such ") + Noun(spec.target) + ", or it is not visible to you", ctx.request_id());
  }
  return std::nullopt;
}

bool Router::ResolveTarget(const RouteSpec& spec, RequestContext& ctx) {
  const std::string& id = ctx.params[spec.target_param];
  if (spec.target == TargetKind::kOrg) {
    auto org = store_.GetOrganisation(id);
    if (org) ctx.target_org_id = org->id;
    return org.has_value();
  }
  std::string user_id = id;
  if (spec.target == TargetKind::kToken) {
    auto token = store_.GetToken(id);
    if (!token) return false;
    user_id = token->user_id;
  } else if (spec.target != TargetKind::kUser) {
    return true;
  }
  auto user = store_.GetUser(user_id);
  if (!user) return false;
  ctx.target_user_id = user->id;
  ctx.target_org_id = user->org_id;
  return true;
}

std::optional<Response> Router::CheckBodyHead(const RouteSpec& spec, const RequestHead& head, uint64_t limit) {
  const std::string& rid = head.request_id;
  if (spec.body == BodyKind::kJson) {
    if (!head.HasBody()) {
      return Problem(400, "invalid-json", "Missing body", "this endpoint needs a JSON object as request body", rid);
    }
    if (!IsJsonContentType(head.content_type)) {
      return Problem(415, "unsupported-media-type", "Unsupported media type",
                     "send the body with Content-Type: application/json", rid);
    }
  }
  if (head.content_length && *head.content_length > limit) {
    Response r = Problem(413, "too-large", "Request body too large",
                         "the request body may be at most " + std::to_string(limit) + " bytes", rid);
    r.close = true;
    return r;
  }
  return std::nullopt;
}

void Router::OpenBody(const Compiled& route, RequestContext ctx, Dispatch& d) {
  if (route.spec.body == BodyKind::kJson) {
    const Compiled* r = &route;
    d.sink = std::make_unique<JsonBodySink>(
        [this, r](RequestContext& c, const json& body) { return RunHandler(*r, c, body); }, std::move(ctx));
    return;
  }
  auto opened = route.spec.open_stream(ctx);
  if (!opened) {
    d.response = Refuse(ctx, ErrorProblem(ctx, opened.error()));
    return;
  }
  RequestContext audit_ctx = ctx;
  d.sink = std::make_unique<AuditingSink>(std::move(*opened), [this, audit_ctx](const Response& r) {
    AuditOutcome(audit_ctx, r, r.status >= 400 ? r.refusal_reason : "");
  });
}

// The checks in the order the header promises; the first that fails is the
// answer, recorded (Refuse) with what the request context knows by then.
Dispatch Router::Prepare(const RequestHead& head) {
  Dispatch d;
  RequestContext ctx;
  ctx.head = head;
  ctx.now = Now();
  ctx.config = config_.Get();
  ctx.route = "unmatched";
  const std::string& rid = head.request_id;
  const auto refuse = [&](Response problem) {
    d.response = Refuse(ctx, std::move(problem));
    return std::move(d);
  };

  if (auto over = OverRate(per_address_, head.client_address,
                           ctx.config->limits.requests_per_second_per_address, rid)) {
    return refuse(std::move(*over));
  }
  auto segments = SplitPath(head.target);
  if (!segments) return refuse(Problem(400, "invalid-path", "Invalid path", kPathRule, rid));
  RouteMatch match = MatchRoute(*segments, head.method);
  if (!match.route) return refuse(NoRouteProblem(match, rid));
  const RouteSpec& spec = match.route->spec;
  d.route = ctx.route = spec.pattern;
  if (auto bad = CheckParameters(match.params, rid)) return refuse(std::move(*bad));
  ctx.params = match.params;

  if (!spec.public_route) {
    if (auto refused = Authenticate(ctx)) return refuse(std::move(*refused));
    if (auto refused = Authorise(spec, ctx)) return refuse(std::move(*refused));
  }

  if (spec.body == BodyKind::kNone) {
    if (head.HasBody()) {
      return refuse(Problem(400, "unexpected-body", "Unexpected body", "this endpoint takes no request body", rid));
    }
    d.response = RunHandler(*match.route, ctx, json());
    return d;
  }
  const auto& limits = ctx.config->limits;
  d.body_limit = spec.max_body_bytes ? spec.max_body_bytes
                 : spec.body == BodyKind::kJson ? limits.max_json_body_bytes
                                                : limits.max_upload_bytes;
  if (auto refused = CheckBodyHead(spec, head, d.body_limit)) return refuse(std::move(*refused));
  OpenBody(*match.route, std::move(ctx), d);
  return d;
}

}  // namespace xgw
