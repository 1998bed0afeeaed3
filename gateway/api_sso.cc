// Single sign-on routes (see api_sso.h for the list). The flow is the
// OpenID Connect authorization-code flow with PKCE (RFC 7636, S256):
//
//   start:    a fresh state, nonce and PKCE verifier are kept here, in
//             memory, for $.sso.login_ttl_seconds under the hash of the
//             state; the browser gets a binding cookie (__Host-xgw_sso,
//             SameSite=Lax so that the provider's redirect carries it) and a
//             302 to the provider's authorization endpoint.
//   callback: the state is taken (once: a replayed state finds nothing), the
//             binding cookie must match, the code is exchanged at the token
//             endpoint with the verifier and the client secret, the ID token
//             verified (gateway/oidc_provider.h), the configured claim's
//             value matched with a registered user, a disabled user refused,
//             and a browser session opened with OpenSessionForUser.
//
// Every outcome of a callback is audited: auth.signin_succeeded with reason
// "oidc" (in the session's transaction), or auth.signin_failed with reason
// "oidc_<why>" ("disabled" for a disabled user). No code, state, token or
// claim value is logged or recorded.
//
// The routes call the provider from the blocking pool, each request within
// $.sso.http_timeout_seconds. Pending sign-ins live in this process: behind a
// load balancer, the callback must reach the instance that started it
// (sticky sessions) until they move to the database.
#include "gateway/api_sso.h"

#include <fstream>
#include <map>
#include <mutex>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "gateway/api_support.h"
#include "gateway/http/problem.h"
#include "gateway/identity_rules.h"
#include "gateway/oidc_provider.h"
#include "gateway/sessions.h"

namespace xgw {
namespace {

using nlohmann::json;

constexpr size_t kMaxPending = 10000;
constexpr size_t kMaxSubjectBytes = 512;

Result<SecretBuffer> ReadSecretFile(const std::string& path, const std::string& json_path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIo, "config " + json_path + ": cannot read the file");
  // Read into locked memory directly (no stream buffer copy left unwiped);
  // one byte more than allowed tells an overlong file.
  SecretBuffer raw(1026);
  in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  size_t end = static_cast<size_t>(in.gcount());
  const auto* text = reinterpret_cast<const char*>(raw.data());
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ')) --end;
  if (end == 0) return Fail(ErrorCode::kFormat, "config " + json_path + ": the file is empty");
  if (end > 1024) return Fail(ErrorCode::kFormat, "config " + json_path + ": longer than 1024 bytes");
  return SecretBuffer::CopyOf(std::string_view(text, end));
}

std::string StateKey(std::string_view state) {
  const Sha256Digest d = Sha256::Hash(state);
  return HexEncode(d);
}

bool SameText(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         ConstantTimeEqual(std::span(reinterpret_cast<const uint8_t*>(a.data()), a.size()),
                           std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

// The value of cookie `name` in a Cookie header, "" if absent.
std::string CookieValue(std::string_view header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

bool IsSafeHost(const std::string& host) {
  return !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
}

struct Pending {
  std::string org_id;
  std::string nonce;
  std::string verifier;
  std::string redirect_uri;
  std::string binding;
  std::string device_key;  // a CLI's device login this browser sign-in completes ("" = none)
  int64_t expires_at = 0;
  ~Pending() {
    WipeMemory(verifier.data(), verifier.size());
    WipeMemory(binding.data(), binding.size());
  }
};

// A CLI's sign-in (`xgw login --sso`): the CLI holds the device code and
// polls; the person completes the sign-in in a browser opened on the user
// code; the session is handed to the CLI once.
struct DeviceLogin {
  std::string org_id;
  std::string user_code;
  int64_t expires_at = 0;
  enum class State { kPending, kApproved, kRefused } state = State::kPending;
  std::unique_ptr<OpenedSession> session;  // kApproved: a CLI session
  std::string refusal;                     // kRefused: the detail
};

// "XXXX-XXXX" of consonants (no vowels: no words, no 0/O or 1/I confusion).
std::string NewUserCode() {
  static constexpr char kAlphabet[] = "BCDFGHJKLMNPQRSTVWXZ";
  SecretBuffer raw = SecretBuffer::Random(8);
  std::string code;
  for (size_t i = 0; i < 8; ++i) {
    if (i == 4) code.push_back('-');
    code.push_back(kAlphabet[raw.span()[i] % 20]);
  }
  return code;
}

class Sso {
 public:
  struct Org {
    SsoProviderConfig config;
    std::unique_ptr<oidc::Provider> provider;
  };

  Sso(Router& router, int64_t ttl) : router_(router), ttl_(ttl) {}
  Router& router() { return router_; }
  IdentityStore& store() { return router_.store(); }
  std::map<std::string, Org>& orgs() { return orgs_; }
  int64_t ttl() const { return ttl_; }

  Org* Find(const std::string& org_id) {
    auto it = orgs_.find(org_id);
    return it == orgs_.end() ? nullptr : &it->second;
  }

  // Keeps a pending sign-in; false when too many are pending.
  bool Put(const std::string& state, std::unique_ptr<Pending> p, int64_t now) {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = it->second->expires_at <= now ? pending_.erase(it) : std::next(it);
    }
    if (pending_.size() >= kMaxPending) return false;
    pending_[StateKey(state)] = std::move(p);
    return true;
  }

  // Takes the pending sign-in of `state` (it can be taken once); nullptr if
  // there is none or it expired.
  std::unique_ptr<Pending> Take(const std::string& state, int64_t now) {
    std::lock_guard lock(mu_);
    auto it = pending_.find(StateKey(state));
    if (it == pending_.end()) return nullptr;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    if (p->expires_at <= now) return nullptr;
    return p;
  }

  // A new device login; its device code (returned) is kept only as a hash.
  std::optional<std::pair<std::string, std::string>> NewDevice(const std::string& org_id, int64_t now) {
    std::lock_guard lock(mu_);
    for (auto it = devices_.begin(); it != devices_.end();) {
      it = it->second.expires_at <= now ? devices_.erase(it) : std::next(it);
    }
    if (devices_.size() >= kMaxPending) return std::nullopt;
    std::string device_code = oidc::NewRandomToken();
    std::string user_code = NewUserCode();
    for (const auto& [k, d] : devices_) {
      if (d.user_code == user_code) return std::nullopt;  // 1 in 2.5e10: the CLI simply tries again
    }
    DeviceLogin d;
    d.org_id = org_id;
    d.user_code = user_code;
    d.expires_at = now + ttl_;
    devices_.emplace(StateKey(device_code), std::move(d));
    return std::make_pair(device_code, user_code);
  }

  // The key of the pending device login of `org_id` with this user code, "" if none.
  std::string DeviceForUserCode(const std::string& org_id, const std::string& user_code, int64_t now) {
    std::lock_guard lock(mu_);
    for (const auto& [k, d] : devices_) {
      if (d.org_id == org_id && d.state == DeviceLogin::State::kPending && d.expires_at > now &&
          SameText(d.user_code, user_code)) {
        return k;
      }
    }
    return "";
  }

  // Settles a pending device login (once): a session, or a refusal.
  bool SettleDevice(const std::string& key, std::unique_ptr<OpenedSession> session, const std::string& refusal) {
    std::lock_guard lock(mu_);
    auto it = devices_.find(key);
    if (it == devices_.end() || it->second.state != DeviceLogin::State::kPending) return false;
    it->second.state = session ? DeviceLogin::State::kApproved : DeviceLogin::State::kRefused;
    it->second.session = std::move(session);
    it->second.refusal = refusal;
    return true;
  }
  bool DevicePending(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = devices_.find(key);
    return it != devices_.end() && it->second.state == DeviceLogin::State::kPending;
  }

  // The CLI's poll: nullopt if unknown or expired; a settled login is
  // handed over (and forgotten) once.
  std::optional<DeviceLogin> PollDevice(const std::string& device_code, const std::string& org_id, int64_t now) {
    std::lock_guard lock(mu_);
    auto it = devices_.find(StateKey(device_code));
    if (it == devices_.end() || it->second.org_id != org_id) return std::nullopt;
    if (it->second.expires_at <= now) {
      devices_.erase(it);
      return std::nullopt;
    }
    if (it->second.state == DeviceLogin::State::kPending) {
      DeviceLogin copy;
      copy.org_id = org_id;
      copy.expires_at = it->second.expires_at;
      return copy;
    }
    DeviceLogin out = std::move(it->second);
    devices_.erase(it);
    return out;
  }

  // auth.signin_succeeded / auth.signin_failed naming ids only.
  Result<void> Record(const RequestContext& ctx, std::string_view event, const std::string& user_id,
                      const std::string& org_id, bool allowed, const std::string& reason) {
    RequestRecord rec = RecordOfRequest(ctx);
    rec.event = std::string(event);
    if (allowed) {
      rec.actor_user_id = user_id;
      rec.actor_org_id = org_id;
    }
    rec.target_id = user_id;
    rec.org_id = org_id;
    rec.outcome = allowed ? "allowed" : "refused";
    rec.reason = reason;
    rec.status = allowed ? 200 : 401;
    auto a = router_.audit().Append(rec);
    if (!a) std::fprintf(stderr, "xgwd: %s audit event not recorded\n", ctx.request_id().c_str());
    return a;
  }

 private:
  Router& router_;
  int64_t ttl_;
  std::map<std::string, Org> orgs_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Pending>> pending_;
  std::map<std::string, DeviceLogin> devices_;  // by hash of the device code
};

Response NotConfigured(const RequestContext& ctx) {
  return Problem(404, "sso-not-configured", "No single sign-on",
                 "this organisation has no single sign-on provider ($.sso.providers)", ctx.request_id());
}

// Set-Cookie value that removes the binding cookie (its state is used up).
std::string ClearedBindingCookie() {
  return std::string(kSsoBindingCookie) + "=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax";
}

// A refused callback: audited as auth.signin_failed, answered 401 (or 502
// when the provider could not be reached or answered nonsense).
Response Refuse(Sso& s, const RequestContext& ctx, const std::string& org_id, const std::string& user_id,
                const std::string& reason, const std::string& detail, const std::string& device_key = "") {
  (void)s.Record(ctx, "auth.signin_failed", user_id, org_id, false, reason);
  if (!device_key.empty()) s.SettleDevice(device_key, nullptr, detail);
  const bool upstream = reason == "oidc_provider";
  Response r = upstream ? Problem(502, "identity-provider-unavailable", "Identity provider unavailable",
                                  detail + "; try again later or ask an operator", ctx.request_id())
                        : Problem(401, "sso-refused", "Single sign-on refused", detail, ctx.request_id());
  r.headers.emplace_back("Set-Cookie", ClearedBindingCookie());
  r.headers.emplace_back("Cache-Control", "no-store");
  r.audited = true;
  return r;
}

// GET /api/v1/auth/sso/{org}/start
Response Start(Sso& s, RequestContext& ctx) {
  const std::string& org_id = ctx.params.at("org");
  Sso::Org* org = s.Find(org_id);
  if (!org) return NotConfigured(ctx);
  auto query = ParseQuery(ctx.head.target);
  if (!query || query->size() > 1 || (query->size() == 1 && !query->count("user_code"))) {
    return Problem(400, "invalid-query", "Invalid query", "this route takes only user_code (from xgw login --sso)",
                   ctx.request_id());
  }
  std::string device_key;
  if (query->count("user_code")) {
    device_key = s.DeviceForUserCode(org_id, query->at("user_code"), ctx.now);
    if (device_key.empty()) {
      return Problem(400, "invalid-user-code", "Unknown code",
                     "user_code: unknown or expired; run xgw login --sso again", ctx.request_id());
    }
  }
  auto discovery = org->provider->GetDiscovery(ctx.now);
  if (!discovery) {
    std::fprintf(stderr, "xgwd: %s sso %s: %s\n", ctx.request_id().c_str(), org_id.c_str(),
                 discovery.error().message.c_str());
    return Problem(502, "identity-provider-unavailable", "Identity provider unavailable",
                   "the organisation's identity provider could not be reached or answered an invalid discovery "
                   "document; try again later or ask an operator",
                   ctx.request_id());
  }
  std::string origin = ctx.config->server.public_origin;
  if (origin.empty()) {
    if (!IsSafeHost(ctx.head.host)) {
      return Problem(400, "invalid-host", "Invalid Host", "the Host header must name this gateway", ctx.request_id());
    }
    origin = "https://" + ctx.head.host;
  }
  auto p = std::make_unique<Pending>();
  p->org_id = org_id;
  p->nonce = oidc::NewRandomToken();
  p->verifier = oidc::NewPkceVerifier();
  p->redirect_uri = origin + "/api/v1/auth/sso/" + org_id + "/callback";
  p->binding = oidc::NewRandomToken();
  p->device_key = device_key;
  p->expires_at = ctx.now + s.ttl();
  const std::string state = oidc::NewRandomToken();
  std::string location = discovery->authorization_endpoint;
  location += location.find('?') == std::string::npos ? '?' : '&';
  location += "response_type=code&client_id=" + oidc::FormEncode(org->config.client_id) +
              "&redirect_uri=" + oidc::FormEncode(p->redirect_uri) + "&scope=" + oidc::FormEncode(org->config.scope) +
              "&state=" + state + "&nonce=" + p->nonce +
              "&code_challenge=" + oidc::PkceChallengeS256(p->verifier) + "&code_challenge_method=S256";
  const std::string cookie = std::string(kSsoBindingCookie) + "=" + p->binding + "; Max-Age=" +
                             std::to_string(s.ttl()) + "; Path=/; Secure; HttpOnly; SameSite=Lax";
  if (!s.Put(state, std::move(p), ctx.now)) {
    Response r = Problem(503, "busy", "Too many sign-ins", "too many single sign-ons are under way; try again shortly",
                         ctx.request_id());
    r.headers.emplace_back("Retry-After", "30");
    return r;
  }
  Response r;
  r.status = 302;
  r.content_type = "text/plain";
  r.headers.emplace_back("Location", location);
  r.headers.emplace_back("Set-Cookie", cookie);
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

// GET /api/v1/auth/sso/{org}/callback?code=...&state=...
Response Callback(Sso& s, RequestContext& ctx) {
  const std::string& org_id = ctx.params.at("org");
  Sso::Org* org = s.Find(org_id);
  if (!org) return NotConfigured(ctx);
  auto query = ParseQuery(ctx.head.target);
  if (!query) return Refuse(s, ctx, org_id, "", "oidc_state", "malformed query string");
  const auto get = [&](const char* k) {
    auto it = query->find(k);
    return it == query->end() ? std::string() : it->second;
  };
  std::string state = get("state");
  if (state.empty() || state.size() > 256) return Refuse(s, ctx, org_id, "", "oidc_state", "state: required");
  std::unique_ptr<Pending> p = s.Take(state, ctx.now);
  if (!p || p->org_id != org_id) {
    return Refuse(s, ctx, org_id, "", "oidc_state",
                  "state: unknown, already used or expired; start the sign-in again");
  }
  const std::string dk = p->device_key;
  if (!SameText(CookieValue(ctx.head.cookie, kSsoBindingCookie), p->binding)) {
    return Refuse(s, ctx, org_id, "", "oidc_state",
                  "the sign-in was not started in this browser (" + std::string(kSsoBindingCookie) + " cookie)", dk);
  }
  if (query->count("error")) {
    return Refuse(s, ctx, org_id, "", "oidc_provider_error", "the identity provider refused the sign-in", dk);
  }
  std::string code = get("code");
  if (code.empty() || code.size() > 2048) return Refuse(s, ctx, org_id, "", "oidc_code", "code: required", dk);
  auto id_token = org->provider->ExchangeCode(code, p->verifier, p->redirect_uri, ctx.now);
  WipeMemory(code.data(), code.size());
  if (!id_token) return Refuse(s, ctx, org_id, "", "oidc_" + id_token.error().reason, id_token.error().detail, dk);
  auto claims = org->provider->VerifyIdToken(*id_token, p->nonce, ctx.now);
  WipeMemory(id_token->data(), id_token->size());
  if (!claims) return Refuse(s, ctx, org_id, "", "oidc_" + claims.error().reason, claims.error().detail, dk);

  const std::string& claim = org->config.claim;
  auto value = claims->find(claim);
  if (value == claims->end() || !value->is_string() || value->get_ref<const std::string&>().empty() ||
      value->get_ref<const std::string&>().size() > kMaxSubjectBytes) {
    return Refuse(s, ctx, org_id, "", "oidc_claim", "id token: the configured claim (" + claim + ") is missing", dk);
  }
  if (auto verified = claims->find(claim + "_verified");
      verified != claims->end() && verified->is_boolean() && !verified->get<bool>()) {
    return Refuse(s, ctx, org_id, "", "oidc_claim", "id token: the provider says " + claim + " is not verified", dk);
  }
  auto user = s.store().UserForSsoSubject(org_id, SsoSubjectHash(org_id, value->get_ref<const std::string&>()));
  if (!user) {
    if (user.error().code != ErrorCode::kNotFound) return ErrorProblem(ctx, user.error());
    return Refuse(s, ctx, org_id, "", "oidc_unknown_user",
                  "no user of this organisation is registered for this identity; ask an operator", dk);
  }
  if (user->disabled) return Refuse(s, ctx, org_id, user->user_id, "disabled", "this account is disabled", dk);

  const auto record = [&]() -> Result<void> {
    return s.Record(ctx, "auth.signin_succeeded", user->user_id, user->org_id, true, "oidc");
  };
  if (!dk.empty() && !s.DevicePending(dk)) {
    return Refuse(s, ctx, org_id, user->user_id, "oidc_state",
                  "the command-line sign-in expired; run xgw login --sso again");
  }
  auto session = OpenSessionForUser(s.store(), ctx.config->accounts, user->user_id,
                                    dk.empty() ? SessionClient::kBrowser : SessionClient::kCli, ctx.now, {}, record);
  if (!session) {
    if (session.error().code == ErrorCode::kIo) return AuditUnavailableProblem(ctx.request_id());
    return ErrorProblem(ctx, session.error());
  }
  if (!dk.empty()) {
    // The session goes to the CLI that polls for it, not to this browser.
    s.SettleDevice(dk, std::make_unique<OpenedSession>(*session), "");
    Response r = JsonResponse(200, {{"signed_in", true},
                                    {"user_id", user->user_id},
                                    {"detail", "signed in on the command line (xgw); you may close this page"}});
    r.headers.emplace_back("Cache-Control", "no-store");
    r.audited = true;
    return r;
  }
  // The session's cookie, and the binding cookie cleared (its state is used up).
  Response r = SessionOpenedResponse(*session);
  r.headers.emplace_back("Set-Cookie", ClearedBindingCookie());
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.audited = true;
  return r;
}

// POST /api/v1/auth/sso/{org}/device: a CLI starts a sign-in it cannot
// complete itself (no browser); the person opens verification_uri.
Response StartDevice(Sso& s, RequestContext& ctx) {
  const std::string& org_id = ctx.params.at("org");
  if (!s.Find(org_id)) return NotConfigured(ctx);
  std::string origin = ctx.config->server.public_origin;
  if (origin.empty()) {
    if (!IsSafeHost(ctx.head.host)) {
      return Problem(400, "invalid-host", "Invalid Host", "the Host header must name this gateway", ctx.request_id());
    }
    origin = "https://" + ctx.head.host;
  }
  auto codes = s.NewDevice(org_id, ctx.now);
  if (!codes) {
    Response r = Problem(503, "busy", "Too many sign-ins", "too many sign-ins are under way; try again shortly",
                         ctx.request_id());
    r.headers.emplace_back("Retry-After", "30");
    return r;
  }
  Response r = JsonResponse(200, {{"device_code", codes->first},
                                  {"user_code", codes->second},
                                  {"verification_uri", origin + "/api/v1/auth/sso/" + org_id +
                                                           "/start?user_code=" + codes->second},
                                  {"expires_in", s.ttl()},
                                  {"interval", 2}});
  WipeMemory(codes->first.data(), codes->first.size());
  r.headers.emplace_back("Cache-Control", "no-store");
  r.audited = true;  // nothing is decided yet: the sign-in is audited when the browser completes it
  return r;
}

// POST /api/v1/auth/sso/{org}/device/token {"device_code": ...}: 202 while
// the person has not finished; then the CLI session once (201), or 401.
Response PollDevice(Sso& s, RequestContext& ctx, const json& body) {
  const std::string& org_id = ctx.params.at("org");
  if (!s.Find(org_id)) return NotConfigured(ctx);
  if (!body.is_object() || body.size() != 1 || !body.contains("device_code") || !body["device_code"].is_string() ||
      body["device_code"].get_ref<const std::string&>().size() > 256) {
    return Problem(400, "invalid-request", "Invalid request", "the body must be {\"device_code\": \"...\"}",
                   ctx.request_id());
  }
  auto login = s.PollDevice(body["device_code"].get<std::string>(), org_id, ctx.now);
  Response r;
  if (!login) {
    r = Problem(401, "sso-refused", "Single sign-on refused", "device_code: unknown, already used or expired",
                ctx.request_id());
  } else if (login->state == DeviceLogin::State::kPending) {
    r = JsonResponse(202, {{"status", "authorization_pending"}, {"interval", 2}});
  } else if (login->state == DeviceLogin::State::kRefused) {
    r = Problem(401, "sso-refused", "Single sign-on refused", login->refusal, ctx.request_id());
  } else {
    r = SessionOpenedResponse(*login->session);  // recorded as auth.signin_succeeded when it opened
  }
  r.headers.emplace_back("Cache-Control", "no-store");
  r.audited = true;  // polls are not decisions; the sign-in's outcome is in the log already
  return r;
}

// ---- the operator's registration of a person's subject ----

Response GetSubject(Sso& s, RequestContext& ctx) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_TRY(auto updated, s.store().SsoSubjectUpdatedAt(ctx.target_user_id));
    json j = {{"user_id", ctx.target_user_id}, {"registered", updated.has_value()}};
    if (updated) j["updated_at"] = FormatTime(*updated);
    if (Sso::Org* org = s.Find(ctx.target_org_id)) {
      j["issuer"] = org->config.issuer;
      j["claim"] = org->config.claim;
    }
    return JsonResponse(200, j);
  });
}

Response PutSubject(Sso& s, RequestContext& ctx, const json& body) {
  return Handle(ctx, [&]() -> Result<Response> {
    if (!body.is_object() || body.size() != 1 || !body.contains("subject")) {
      return Fail(ErrorCode::kInvalidArgument, "the body must be {\"subject\": \"...\"}");
    }
    const json& v = body["subject"];
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > kMaxSubjectBytes) {
      return Fail(ErrorCode::kInvalidArgument, "subject: 1-512 bytes, the value of the provider's configured claim");
    }
    Sso::Org* org = s.Find(ctx.target_org_id);
    if (!org) {
      return Fail(ErrorCode::kConflict,
                  "the user's organisation has no single sign-on provider ($.sso.providers); configure one first");
    }
    XGW_CHECK(s.store().SetSsoSubject(ctx.target_user_id, SsoSubjectHash(ctx.target_org_id, v.get<std::string>()),
                                      ctx.now, ctx.record_change));
    return JsonResponse(200, {{"user_id", ctx.target_user_id},
                              {"registered", true},
                              {"issuer", org->config.issuer},
                              {"claim", org->config.claim},
                              {"updated_at", FormatTime(ctx.now)}});
  });
}

Response DeleteSubject(Sso& s, RequestContext& ctx) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_CHECK(s.store().DeleteSsoSubject(ctx.target_user_id, ctx.record_change));
    return JsonResponse(200, {{"user_id", ctx.target_user_id}, {"registered", false}});
  });
}

}  // namespace

std::string SsoSubjectHash(const std::string& org_id, std::string_view value) {
  Sha256 h;
  const std::string prefix = "xgw-sso-subject-v1";
  h.Update(AsBytes(prefix));
  const uint8_t zero = 0;
  h.Update(std::span(&zero, 1));
  h.Update(AsBytes(org_id));
  h.Update(std::span(&zero, 1));
  h.Update(std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
  return HexEncode(h.Finish());
}

Result<void> CheckSsoFiles(const SsoConfig& sso) {
  for (size_t i = 0; i < sso.providers.size(); ++i) {
    const auto& p = sso.providers[i];
    const std::string path = "$.sso.providers[" + std::to_string(i) + "]";
    XGW_CHECK(ReadSecretFile(p.client_secret_file, path + ".client_secret_file").map([](auto&&) {}));
    if (!p.ca_file.empty()) {
      std::ifstream in(p.ca_file);
      if (!in) return Fail(ErrorCode::kIo, "config " + path + ".ca_file: cannot read the file");
    }
  }
  return {};
}

Result<void> RegisterSsoRoutes(Router& router, const SsoConfig& sso) {
  auto shared = std::make_shared<Sso>(router, sso.login_ttl_seconds);
  for (size_t i = 0; i < sso.providers.size(); ++i) {
    const auto& pc = sso.providers[i];
    XGW_TRY(auto secret, ReadSecretFile(pc.client_secret_file,
                                        "$.sso.providers[" + std::to_string(i) + "].client_secret_file"));
    oidc::ProviderSettings settings;
    settings.issuer = pc.issuer;
    settings.client_id = pc.client_id;
    settings.cache_min_seconds = sso.jwks_cache_min_seconds;
    settings.cache_max_seconds = sso.jwks_cache_max_seconds;
    settings.cache_default_seconds = std::clamp<int64_t>(300, sso.jwks_cache_min_seconds, sso.jwks_cache_max_seconds);
    settings.unknown_kid_refetch_seconds = sso.jwks_refetch_seconds;
    oidc::FetchLimits limits;
    limits.ca_file = pc.ca_file;
    limits.timeout_seconds = sso.http_timeout_seconds;
    Sso::Org org{pc, std::make_unique<oidc::Provider>(settings, std::move(secret),
                                                       std::shared_ptr<oidc::HttpFetcher>(oidc::MakeCurlFetcher(limits)))};
    shared->orgs().emplace(pc.org_id, std::move(org));
  }
  const Grant self{"*", Scope::kSelf};
  const Grant op{std::string(kRoleOperator), Scope::kAny};
  router.Add({.method = "GET", .pattern = "/api/v1/auth/sso/{org}/start", .public_route = true,
              .handler = [shared](RequestContext& ctx, const json&) { return Start(*shared, ctx); }});
  router.Add({.method = "GET", .pattern = "/api/v1/auth/sso/{org}/callback", .public_route = true,
              .handler = [shared](RequestContext& ctx, const json&) { return Callback(*shared, ctx); }});
  router.Add({.method = "POST", .pattern = "/api/v1/auth/sso/{org}/device", .public_route = true,
              .handler = [shared](RequestContext& ctx, const json&) { return StartDevice(*shared, ctx); }});
  router.Add({.method = "POST", .pattern = "/api/v1/auth/sso/{org}/device/token", .public_route = true,
              .body = BodyKind::kJson, .max_body_bytes = 4096,
              .handler = [shared](RequestContext& ctx, const json& body) { return PollDevice(*shared, ctx, body); }});
  router.Add({.method = "GET", .pattern = "/api/v1/users/{user}/sso", .grants = {op, self},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = [shared](RequestContext& ctx, const json&) { return GetSubject(*shared, ctx); }});
  router.Add({.method = "PUT", .pattern = "/api/v1/users/{user}/sso", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user", .body = BodyKind::kJson,
              .max_body_bytes = 4096,
              .handler = [shared](RequestContext& ctx, const json& body) { return PutSubject(*shared, ctx, body); },
              .audit_first = true});
  router.Add({.method = "DELETE", .pattern = "/api/v1/users/{user}/sso", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = [shared](RequestContext& ctx, const json&) { return DeleteSubject(*shared, ctx); },
              .audit_first = true});
  return {};
}

}  // namespace xgw
