// People's accounts: invitation, enrolment (password + TOTP + recovery
// codes), sign-in to a session, sign-out, and the operator's actions on an
// account. docs/api.yaml ("accounts") describes each route; the header
// api_accounts.h lists them.
//
// Sign-in answers every refusal (unknown name, wrong password, wrong or
// replayed code, locked, backed off, disabled) with the same 401 problem, a
// Retry-After only when waiting helps, and after the same Argon2id work, so
// that neither the answer nor its timing tells whether a name exists.
#include "gateway/api_accounts.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "gateway/account_crypto.h"
#include "gateway/api_support.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"
#include "gateway/sessions.h"
#include "gateway/totp.h"

namespace xgw {
namespace {

using nlohmann::json;

constexpr std::string_view kInvitationPrefix = "inv";
constexpr const char* kSigninRefused =
    "the sign-in name, password or code is wrong, or this account cannot sign in now; try again later or ask an "
    "operator";
constexpr const char* kIssuer = "xgw";

// ---- request bodies: errors name the field, never the value ----

Result<void> OnlyFields(const json& body, std::initializer_list<const char*> allowed) {
  if (!body.is_object()) return Fail(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool known = false;
    for (const char* k : allowed) known = known || it.key() == k;
    if (!known) {
      std::string list;
      for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
      return Fail(ErrorCode::kInvalidArgument, "unknown field; this endpoint accepts: " + list);
    }
  }
  return {};
}

Result<std::optional<std::string>> OptString(const json& body, const char* key, size_t max_bytes) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": expected a string");
  if (it->get_ref<const std::string&>().size() > max_bytes) {
    return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": at most " + std::to_string(max_bytes) + " bytes");
  }
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> RequiredString(const json& body, const char* key, size_t max_bytes) {
  XGW_TRY(auto v, OptString(body, key, max_bytes));
  if (!v || v->empty()) return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": required");
  return *v;
}

// A password a person chooses (field `field`): long enough. (The most
// bytes are bounded when the field is read.)
Result<void> CheckNewPassword(const char* field, const std::string& password) {
  if (password.size() >= kMinPasswordBytes) return {};
  return Fail(ErrorCode::kInvalidArgument, std::string(field) + ": at least " + std::to_string(kMinPasswordBytes) +
                                               " bytes (and at most " + std::to_string(kMaxPasswordBytes) + ")");
}

// A string from the body that is a secret: wiped when it goes.
struct SecretField {
  std::string value;
  ~SecretField() { WipeMemory(value.data(), value.size()); }
};

// Sign-in names: 1-64 characters of a-z, A-Z, 0-9, '.', '_', '-', '@'
// (compared case-insensitively), so that they are safe in URIs and logs.
bool IsValidSigninName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '@';
  });
}

std::string RecoveryHash(const std::string& user_id, std::string_view code) {
  std::string normal = NormaliseRecoveryCode(code);
  std::string h = SecretHash(user_id + ":" + normal);
  WipeMemory(normal.data(), normal.size());
  return h;
}

// The TOTP secret as stored: base64 of SealSecret(key, base64 of the raw secret).
std::string SealTotp(const SecretBuffer& key, const SecretBuffer& secret) {
  std::string b64 = Base64Encode(secret.span());
  std::string sealed = Base64Encode(AsBytes(SealSecret(key, AsBytes(b64))));
  WipeMemory(b64.data(), b64.size());
  return sealed;
}

// The raw secret of SealTotp's output; the caller wipes it.
Result<std::vector<uint8_t>> OpenTotp(const SecretBuffer& key, const std::string& stored) {
  auto sealed = Base64Decode(stored);
  if (!sealed) return Fail(ErrorCode::kKey, "a stored TOTP secret is malformed");
  XGW_TRY(auto b64, OpenSealed(key, std::string_view(reinterpret_cast<const char*>(sealed->data()), sealed->size())));
  auto raw = Base64Decode(b64.view());
  if (!raw) return Fail(ErrorCode::kKey, "a stored TOTP secret is malformed");
  return std::move(*raw);
}

// ---- the routes' shared state ----

class Accounts {
 public:
  Accounts(Router& router, SecretBuffer key) : router_(router), key_(std::move(key)) {}

  Router& router() { return router_; }
  IdentityStore& store() { return router_.store(); }
  const SecretBuffer& key() const { return key_; }

  // Appends a domain event (auth.*, user.*) naming ids only.
  Result<void> Record(const RequestContext& ctx, std::string_view event, const std::string& user_id,
                      const std::string& org_id, const std::string& outcome = "allowed",
                      const std::string& reason = "") {
    RequestRecord rec = RecordOfRequest(ctx);
    rec.event = std::string(event);
    if (!ctx.principal && outcome == "allowed") {
      // The person who just proved who they are (enrolment, sign-in); a
      // refused sign-in stays anonymous.
      rec.actor_user_id = user_id;
      rec.actor_org_id = org_id;
    }
    rec.target_id = user_id;
    rec.org_id = org_id;
    rec.outcome = outcome;
    rec.reason = reason;
    rec.status = outcome == "allowed" ? 200 : 401;
    auto a = router_.audit().Append(rec);
    if (!a) std::fprintf(stderr, "xgwd: %s audit event not recorded\n", ctx.request_id().c_str());
    return a;
  }

  // Back-off for names without an account, kept in memory like an
  // account's, so that the answers do not tell names apart.
  struct Phantom {
    int64_t failures = 0;
    int64_t last_failure_at = 0;
  };
  Phantom GetPhantom(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = phantoms_.find(Lower(name));
    return it == phantoms_.end() ? Phantom{} : it->second;
  }
  void FailPhantom(const std::string& name, int64_t now) {
    std::lock_guard lock(mu_);
    if (phantoms_.size() >= 10000) phantoms_.clear();  // bounded; forgetting only shortens a back-off
    Phantom& p = phantoms_[Lower(name)];
    ++p.failures;
    p.last_failure_at = now;
  }

 private:
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  Router& router_;
  SecretBuffer key_;
  std::mutex mu_;
  std::map<std::string, Phantom> phantoms_;
};

// Seconds to wait before the next attempt after `failures` consecutive
// failures, the last at `last_failure_at`; 0: go ahead.
int64_t BackoffRemaining(const AccountsConfig& c, int64_t failures, int64_t last_failure_at, int64_t now) {
  if (failures < c.backoff_after_failures) return 0;
  const int64_t exponent = std::min<int64_t>(failures - c.backoff_after_failures, 30);
  const int64_t wait = std::min<int64_t>(int64_t{1} << exponent, c.backoff_max_seconds);
  return std::max<int64_t>(0, last_failure_at + wait - now);
}

Response SigninRefused(const RequestContext& ctx, int64_t retry_after) {
  Response r = Problem(401, "unauthenticated", "Sign-in refused", kSigninRefused, ctx.request_id());
  if (retry_after > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_after));
  r.audited = true;  // the handler recorded auth.signin_failed
  return r;
}

json AccountJson(const Account& a) {
  return {{"user_id", a.user_id},
          {"signin_name", a.signin_name},
          {"state", a.state},
          {"locked", a.locked_at.has_value()},
          {"disabled", a.disabled_at.has_value()},
          {"consecutive_failures", a.failures}};
}

// ---- sign-in ----

struct SigninInput {
  std::string name;
  SecretField password;
  SecretField totp_code;
  SecretField recovery_code;
  SessionClient client = SessionClient::kBrowser;
};

Result<void> ParseSignin(const json& body, SigninInput& in) {
  XGW_CHECK(OnlyFields(body, {"name", "password", "totp_code", "recovery_code", "client"}));
  XGW_TRY(in.name, RequiredString(body, "name", 64));
  XGW_TRY(in.password.value, RequiredString(body, "password", kMaxPasswordBytes));
  XGW_TRY(auto totp, OptString(body, "totp_code", 16));
  XGW_TRY(auto recovery, OptString(body, "recovery_code", 64));
  if (totp.has_value() == recovery.has_value()) {
    return Fail(ErrorCode::kInvalidArgument, "totp_code: give either totp_code or recovery_code");
  }
  in.totp_code.value = totp.value_or("");
  in.recovery_code.value = recovery.value_or("");
  if (totp) WipeMemory(totp->data(), totp->size());
  if (recovery) WipeMemory(recovery->data(), recovery->size());
  XGW_TRY(auto client, OptString(body, "client", 16));
  if (client && *client != "browser" && *client != "cli") {
    return Fail(ErrorCode::kInvalidArgument, "client: \"browser\" (the default) or \"cli\"");
  }
  if (client && *client == "cli") in.client = SessionClient::kCli;
  return {};
}

// The second factor a person gave, as the store consumes it: a TOTP code
// (if `totp_code` is not empty), checked now, or a recovery code, checked
// as it is consumed. nullopt: the TOTP code is wrong.
Result<std::optional<SecondFactor>> SecondFactorOf(Accounts& a, const Account& account, const std::string& totp_code,
                                                   const std::string& recovery_code, int64_t now) {
  SecondFactor factor;
  if (totp_code.empty()) {
    factor.recovery_hash = RecoveryHash(account.user_id, recovery_code);
    return std::optional<SecondFactor>(std::move(factor));
  }
  XGW_TRY(auto secret, OpenTotp(a.key(), account.totp_sealed));
  std::optional<int64_t> step = VerifyTotp(secret, totp_code, now, account.totp_last_step);
  WipeMemory(secret.data(), secret.size());
  if (!step) return std::optional<SecondFactor>();
  factor.totp_step = step;
  return std::optional<SecondFactor>(std::move(factor));
}

// A failed proof of an existing account's password or code (a sign-in, or
// a password change): counted, locked at the limit, audited. Returns how
// long to wait before trying again.
int64_t CountFailure(Accounts& a, RequestContext& ctx, const Account& account, const std::string& reason) {
  const auto& cfg = ctx.config->accounts;
  auto after = a.store().RecordSigninFailure(account.user_id, ctx.now, cfg.lockout_after_failures);
  (void)a.Record(ctx, "auth.signin_failed", account.user_id, account.org_id, "refused", reason);
  if (!after) return 0;
  if (after->locked_at && !account.locked_at) {
    (void)a.Record(ctx, "auth.account_locked", account.user_id, account.org_id);
  }
  return after->locked_at ? cfg.backoff_max_seconds
                          : BackoffRemaining(cfg, after->failures, after->last_failure_at, ctx.now);
}

// A failed sign-in of an existing account.
Response FailSignin(Accounts& a, RequestContext& ctx, const Account& account, const std::string& reason) {
  return SigninRefused(ctx, CountFailure(a, ctx, account, reason));
}

// The checks before the password: refusals that cost the same dummy
// verification as an unknown name. nullopt: go on to the password.
std::optional<Response> RefuseBeforePassword(Accounts& a, RequestContext& ctx, const Result<Account>& account,
                                             const SigninInput& in) {
  const auto& cfg = ctx.config->accounts;
  const auto refuse = [&](const std::string& user, const std::string& org, const std::string& reason,
                          int64_t retry) {
    VerifyDummyPassword(in.password.value);
    (void)a.Record(ctx, "auth.signin_failed", user, org, "refused", reason);
    return SigninRefused(ctx, retry);
  };
  if (!account || account->state != "active") {
    auto p = a.GetPhantom(in.name);
    if (int64_t wait = BackoffRemaining(cfg, p.failures, p.last_failure_at, ctx.now); wait > 0) {
      return refuse("", "", "rate_limited", wait);
    }
    a.FailPhantom(in.name, ctx.now);
    p = a.GetPhantom(in.name);
    return refuse("", "", "password", BackoffRemaining(cfg, p.failures, p.last_failure_at, ctx.now));
  }
  if (account->disabled_at) return refuse(account->user_id, account->org_id, "disabled", 0);
  if (account->locked_at) return refuse(account->user_id, account->org_id, "locked", cfg.backoff_max_seconds);
  if (int64_t wait = BackoffRemaining(cfg, account->failures, account->last_failure_at, ctx.now); wait > 0) {
    return refuse(account->user_id, account->org_id, "rate_limited", wait);
  }
  return std::nullopt;
}

// POST /api/v1/auth/sessions
Response SignIn(Accounts& a, RequestContext& ctx, const json& body) {
  SigninInput in;
  if (auto parsed = ParseSignin(body, in); !parsed) return ErrorProblem(ctx, parsed.error());
  if (!IsValidSigninName(in.name)) {
    VerifyDummyPassword(in.password.value);
    (void)a.Record(ctx, "auth.signin_failed", "", "", "refused", "password");
    return SigninRefused(ctx, 0);
  }
  auto account = a.store().GetAccountByName(in.name);
  if (!account && account.error().code != ErrorCode::kNotFound) return ErrorProblem(ctx, account.error());
  if (auto refused = RefuseBeforePassword(a, ctx, account, in)) return std::move(*refused);
  if (!VerifyPassword(account->password_hash, in.password.value)) return FailSignin(a, ctx, *account, "password");

  auto proven = SecondFactorOf(a, *account, in.totp_code.value, in.recovery_code.value, ctx.now);
  if (!proven) return ErrorProblem(ctx, proven.error());
  if (!*proven) return FailSignin(a, ctx, *account, "totp");
  const SecondFactor& factor = **proven;
  const std::string reason = factor.recovery_hash ? "recovery" : "totp";
  const auto record = [&]() -> Result<void> {
    XGW_CHECK(a.Record(ctx, "auth.signin_succeeded", account->user_id, account->org_id));
    if (factor.recovery_hash) XGW_CHECK(a.Record(ctx, "auth.recovery_code_used", account->user_id, account->org_id));
    return {};
  };
  auto session = OpenSessionForUser(a.store(), ctx.config->accounts, account->user_id, in.client, ctx.now, factor,
                                    record);
  if (!session) {
    if (session.error().code == ErrorCode::kUnauthenticated) return FailSignin(a, ctx, *account, reason);
    if (session.error().code == ErrorCode::kIo) return AuditUnavailableProblem(ctx.request_id());
    return ErrorProblem(ctx, session.error());
  }
  Response r = SessionOpenedResponse(*session);
  r.audited = true;
  return r;
}

// DELETE /api/v1/auth/sessions/current
Response SignOut(Accounts& a, RequestContext& ctx) {
  const std::string& id = ctx.principal->token_id;
  if (id.rfind(std::string(kSessionPrefix) + "-", 0) != 0) {
    return Problem(409, "not-a-session", "Not a session",
                   "this request was authenticated with an API token, not a session; revoke tokens with "
                   "DELETE /api/v1/tokens/{token}",
                   ctx.request_id());
  }
  const auto record = [&]() { return a.Record(ctx, "auth.session_ended", ctx.principal->user_id, ctx.principal->org_id); };
  if (auto ended = a.store().EndSession(id, ctx.now, record); !ended) {
    if (ended.error().code == ErrorCode::kIo) return AuditUnavailableProblem(ctx.request_id());
    return ErrorProblem(ctx, ended.error());
  }
  Response r = JsonResponse(200, {{"session_id", id}, {"ended", true}});
  r.headers.emplace_back("Set-Cookie", ClearedSessionCookie());
  r.audited = true;
  return r;
}

// POST /api/v1/auth/password (a person, signed in with a session): the
// current password and a code again, then the new password. A wrong
// password or code counts towards back-off and lockout like a failed
// sign-in (a stolen session cannot guess the password for free); success
// ends every other session of the person.
Response ChangeOwnPassword(Accounts& a, RequestContext& ctx, const json& body) {
  const std::string& rid = ctx.request_id();
  if (ctx.principal->token_id.rfind(std::string(kSessionPrefix) + "-", 0) != 0) {
    return ErrorProblem(ctx, Error{ErrorCode::kForbidden, "sign in as a person (a session) to change your password"});
  }
  SecretField current, next, totp, recovery;
  auto parsed = [&]() -> Result<void> {
    XGW_CHECK(OnlyFields(body, {"current_password", "new_password", "totp_code", "recovery_code"}));
    XGW_TRY(current.value, RequiredString(body, "current_password", kMaxPasswordBytes));
    XGW_TRY(next.value, RequiredString(body, "new_password", kMaxPasswordBytes));
    XGW_TRY(auto t, OptString(body, "totp_code", 16));
    XGW_TRY(auto r, OptString(body, "recovery_code", 64));
    totp.value = t.value_or("");
    recovery.value = r.value_or("");
    if (t) WipeMemory(t->data(), t->size());
    if (r) WipeMemory(r->data(), r->size());
    if (totp.value.empty() == recovery.value.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "totp_code: give either totp_code or recovery_code");
    }
    XGW_CHECK(CheckNewPassword("new_password", next.value));
    if (next.value == current.value) {
      return Fail(ErrorCode::kInvalidArgument, "new_password: must differ from the current password");
    }
    return {};
  }();
  if (!parsed) return ErrorProblem(ctx, parsed.error());
  auto account = a.store().GetAccount(ctx.principal->user_id);
  if (!account) return ErrorProblem(ctx, account.error());
  // `audited`: the refusal was recorded (auth.signin_failed); else the
  // router records the request.
  const auto refused = [&](int64_t retry, bool audited = true) {
    Response r = Problem(403, "reauthentication-failed", "Password or code wrong",
                         "the current password or the code is wrong, or the account must wait; nothing was changed",
                         rid);
    if (retry > 0) r.headers.emplace_back("Retry-After", std::to_string(retry));
    r.audited = audited;
    return r;
  };
  const auto& cfg = ctx.config->accounts;
  if (account->locked_at) return refused(cfg.backoff_max_seconds, false);
  if (int64_t wait = BackoffRemaining(cfg, account->failures, account->last_failure_at, ctx.now); wait > 0) {
    (void)a.Record(ctx, "auth.signin_failed", account->user_id, account->org_id, "refused", "rate_limited");
    return refused(wait);
  }
  if (!VerifyPassword(account->password_hash, current.value)) return refused(CountFailure(a, ctx, *account, "password"));
  auto proven = SecondFactorOf(a, *account, totp.value, recovery.value, ctx.now);
  if (!proven) return ErrorProblem(ctx, proven.error());
  if (!*proven) return refused(CountFailure(a, ctx, *account, "totp"));
  const SecondFactor& factor = **proven;
  const std::string reason = factor.recovery_hash ? "recovery" : "totp";
  auto hash = HashPassword(next.value);
  if (!hash) return ErrorProblem(ctx, hash.error());
  const auto record = [&]() -> Result<void> {
    XGW_CHECK(a.Record(ctx, "auth.password_changed", account->user_id, account->org_id));
    if (factor.recovery_hash) XGW_CHECK(a.Record(ctx, "auth.recovery_code_used", account->user_id, account->org_id));
    return {};
  };
  auto changed = a.store().ChangePassword(account->user_id, *hash, factor, ctx.principal->token_id, ctx.now, record);
  if (!changed) {
    if (changed.error().code == ErrorCode::kUnauthenticated) return refused(CountFailure(a, ctx, *account, reason));
    if (changed.error().code == ErrorCode::kIo) return AuditUnavailableProblem(rid);
    return ErrorProblem(ctx, changed.error());
  }
  Response r = JsonResponse(200, {{"user_id", account->user_id},
                                  {"password_changed", true},
                                  {"other_sessions_ended", true}});
  r.audited = true;
  return r;
}

// ---- enrolment ----

// POST /api/v1/auth/enrolment: the invitation code and a password; answers
// with the TOTP secret to put in an authenticator app.
Response Enrol(Accounts& a, RequestContext& ctx, const json& body) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_CHECK(OnlyFields(body, {"code", "password"}));
    SecretField code, password;
    XGW_TRY(code.value, RequiredString(body, "code", 128));
    XGW_TRY(password.value, RequiredString(body, "password", kMaxPasswordBytes));
    XGW_CHECK(CheckNewPassword("password", password.value));
    XGW_TRY(auto account, a.store().AccountForInvitation(SecretHash(code.value), ctx.now));
    XGW_TRY(auto hash, HashPassword(password.value));
    SecretBuffer secret = SecretBuffer::Random(kTotpSecretBytes);
    XGW_CHECK(a.store().SetPendingEnrolment(account.user_id, hash, SealTotp(a.key(), secret), ctx.now));
    Response r = JsonResponse(200, {{"user_id", account.user_id},
                                    {"signin_name", account.signin_name},
                                    {"totp_secret", Base32Upper(secret.span())},
                                    {"otpauth_uri", OtpauthUri(kIssuer, account.signin_name, secret.span())},
                                    {"algorithm", "SHA1"},
                                    {"digits", 6},
                                    {"period", 30}});
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
}

// POST /api/v1/auth/enrolment/confirm: a code from the app proves it holds
// the secret; the account becomes active and its recovery codes are shown once.
Response ConfirmEnrolment(Accounts& a, RequestContext& ctx, const json& body) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_CHECK(OnlyFields(body, {"code", "totp_code"}));
    SecretField code, totp;
    XGW_TRY(code.value, RequiredString(body, "code", 128));
    XGW_TRY(totp.value, RequiredString(body, "totp_code", 16));
    const std::string code_hash = SecretHash(code.value);
    XGW_TRY(auto account, a.store().AccountForInvitation(code_hash, ctx.now));
    if (account.totp_pending_sealed.empty()) {
      return Fail(ErrorCode::kConflict, "choose a password first (POST /api/v1/auth/enrolment)");
    }
    XGW_TRY(auto secret, OpenTotp(a.key(), account.totp_pending_sealed));
    auto step = VerifyTotp(secret, totp.value, ctx.now, 0);
    WipeMemory(secret.data(), secret.size());
    if (!step) return Fail(ErrorCode::kInvalidArgument, "totp_code: not the current code of the authenticator app");
    std::vector<std::string> codes = NewRecoveryCodes();
    std::vector<std::string> hashes;
    for (const auto& c : codes) hashes.push_back(RecoveryHash(account.user_id, c));
    const auto record = [&]() -> Result<void> {
      XGW_CHECK(a.Record(ctx, "auth.invitation_used", account.user_id, account.org_id));
      return a.Record(ctx, "auth.mfa_enrolled", account.user_id, account.org_id);
    };
    auto done = a.store().CompleteEnrolment(account.user_id, code_hash, *step, hashes, ctx.now, record);
    if (!done && done.error().code == ErrorCode::kIo) return AuditUnavailableProblem(ctx.request_id());
    XGW_CHECK(done);
    Response r = JsonResponse(200, {{"user_id", account.user_id},
                                    {"signin_name", account.signin_name},
                                    {"recovery_codes", codes}});
    for (auto& c : codes) WipeMemory(c.data(), c.size());
    r.headers.emplace_back("Cache-Control", "no-store");
    r.audited = true;
    return r;
  });
}

// POST /api/v1/auth/recovery-codes (a person, signed in with a session): ten
// new codes replace the old ones, used or not.
Response RegenerateRecoveryCodes(Accounts& a, RequestContext& ctx) {
  return Handle(ctx, [&]() -> Result<Response> {
    if (ctx.principal->token_id.rfind(std::string(kSessionPrefix) + "-", 0) != 0) {
      return Fail(ErrorCode::kForbidden, "sign in as a person (a session) to regenerate recovery codes");
    }
    const std::string& user = ctx.principal->user_id;
    std::vector<std::string> codes = NewRecoveryCodes();
    std::vector<std::string> hashes;
    for (const auto& c : codes) hashes.push_back(RecoveryHash(user, c));
    const auto record = [&]() {
      return a.Record(ctx, "auth.recovery_codes_regenerated", user, ctx.principal->org_id);
    };
    auto done = a.store().ReplaceRecoveryCodes(user, hashes, record);
    if (!done && done.error().code == ErrorCode::kIo) return AuditUnavailableProblem(ctx.request_id());
    XGW_CHECK(done);
    Response r = JsonResponse(200, {{"user_id", user}, {"recovery_codes", codes}});
    for (auto& c : codes) WipeMemory(c.data(), c.size());
    r.headers.emplace_back("Cache-Control", "no-store");
    r.audited = true;
    return r;
  });
}

// ---- operator actions (audited before they commit: RouteSpec::audit_first) ----

// POST /api/v1/users/{user}/invitations: the code is in this one answer only.
Response Invite(Accounts& a, RequestContext& ctx, const json& body) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_CHECK(OnlyFields(body, {"signin_name", "ttl_seconds"}));
    XGW_TRY(auto name, RequiredString(body, "signin_name", 64));
    if (!IsValidSigninName(name)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "signin_name: 1-64 characters of letters, digits, '.', '_', '-' and '@' (case-insensitive)");
    }
    int64_t ttl = ctx.config->accounts.invitation_ttl_seconds;
    if (auto it = body.find("ttl_seconds"); it != body.end()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 60 || it->get<int64_t>() > 30 * 86400) {
        return Fail(ErrorCode::kInvalidArgument, "ttl_seconds: give an integer from 60 to 2592000");
      }
      ttl = it->get<int64_t>();
    }
    SecretField code;
    code.value = NewOneTimeSecret("xgwi_");
    XGW_CHECK(a.store().Invite(ctx.target_user_id, name, ctx.created_id, SecretHash(code.value), ctx.now,
                               ctx.now + ttl, ctx.record_change));
    Response r = JsonResponse(201, {{"id", ctx.created_id},
                                    {"user_id", ctx.target_user_id},
                                    {"signin_name", name},
                                    {"code", code.value},
                                    {"expires_at", FormatTime(ctx.now + ttl)}});
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
}

template <typename Change>
Response AccountChange(Accounts& a, RequestContext& ctx, Change change) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_CHECK(change(a.store()));
    auto account = a.store().GetAccount(ctx.target_user_id);
    if (!account) return JsonResponse(200, {{"user_id", ctx.target_user_id}});
    return JsonResponse(200, AccountJson(*account));
  });
}

// GET /api/v1/users/{user}/account
Response GetAccountStatus(Accounts& a, RequestContext& ctx) {
  return Handle(ctx, [&]() -> Result<Response> {
    XGW_TRY(auto account, a.store().GetAccount(ctx.target_user_id));
    return JsonResponse(200, AccountJson(account));
  });
}

}  // namespace

Result<void> RegisterAccountRoutes(Router& router, const std::string& key_path) {
  XGW_TRY(auto key, LoadOrCreateAccountsKey(key_path));
  PrepareDummyPassword();
  // Shared by the routes' handlers, so it lives as long as the router keeps them.
  auto shared = std::make_shared<Accounts>(router, std::move(key));
  const Grant anyone{"*", Scope::kAny};
  const Grant self{"*", Scope::kSelf};
  const Grant op{std::string(kRoleOperator), Scope::kAny};

  const auto json_route = [shared](Response (*run)(Accounts&, RequestContext&, const json&)) {
    return [shared, run](RequestContext& ctx, const json& body) { return run(*shared, ctx, body); };
  };
  const auto no_body = [shared](Response (*run)(Accounts&, RequestContext&)) {
    return [shared, run](RequestContext& ctx, const json&) { return run(*shared, ctx); };
  };
  const auto change = [shared](auto apply) {
    return [shared, apply](RequestContext& ctx, const json&) {
      return AccountChange(*shared, ctx, [&](IdentityStore& s) { return apply(s, ctx); });
    };
  };

  router.Add({.method = "POST", .pattern = "/api/v1/auth/enrolment", .public_route = true, .body = BodyKind::kJson,
              .max_body_bytes = 4096, .handler = json_route(Enrol)});
  router.Add({.method = "POST", .pattern = "/api/v1/auth/enrolment/confirm", .public_route = true,
              .body = BodyKind::kJson, .max_body_bytes = 4096, .handler = json_route(ConfirmEnrolment)});
  router.Add({.method = "POST", .pattern = "/api/v1/auth/sessions", .public_route = true, .body = BodyKind::kJson,
              .max_body_bytes = 4096, .handler = json_route(SignIn)});
  router.Add({.method = "DELETE", .pattern = "/api/v1/auth/sessions/current", .grants = {anyone},
              .handler = no_body(SignOut)});
  router.Add({.method = "POST", .pattern = "/api/v1/auth/recovery-codes", .grants = {anyone},
              .handler = no_body(RegenerateRecoveryCodes)});
  router.Add({.method = "POST", .pattern = "/api/v1/auth/password", .grants = {anyone}, .body = BodyKind::kJson,
              .max_body_bytes = 4096, .handler = json_route(ChangeOwnPassword)});

  router.Add({.method = "GET", .pattern = "/api/v1/users/{user}/account", .grants = {op, self},
              .target = TargetKind::kUser, .target_param = "user", .handler = no_body(GetAccountStatus)});
  router.Add({.method = "POST", .pattern = "/api/v1/users/{user}/invitations", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user", .body = BodyKind::kJson,
              .handler = json_route(Invite), .audit_first = true, .creates = kInvitationPrefix});
  router.Add({.method = "POST", .pattern = "/api/v1/users/{user}/mfa-reset", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = change([](IdentityStore& s, RequestContext& ctx) {
                return s.ResetMfa(ctx.target_user_id, ctx.now, ctx.record_change);
              }),
              .audit_first = true});
  router.Add({.method = "POST", .pattern = "/api/v1/users/{user}/unlock", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = change([](IdentityStore& s, RequestContext& ctx) {
                return s.Unlock(ctx.target_user_id, ctx.record_change);
              }),
              .audit_first = true});
  router.Add({.method = "POST", .pattern = "/api/v1/users/{user}/disable", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = change([](IdentityStore& s, RequestContext& ctx) {
                return s.SetDisabled(ctx.target_user_id, true, ctx.now, ctx.record_change);
              }),
              .audit_first = true});
  router.Add({.method = "POST", .pattern = "/api/v1/users/{user}/enable", .grants = {op},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = change([](IdentityStore& s, RequestContext& ctx) {
                return s.SetDisabled(ctx.target_user_id, false, ctx.now, ctx.record_change);
              }),
              .audit_first = true});
  return {};
}

}  // namespace xgw
