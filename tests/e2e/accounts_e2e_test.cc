// People's accounts end to end against the real xgwd over TLS: invitation,
// enrolment (password + TOTP + recovery codes), sign-in to a session used as
// a cookie (with its CSRF checks) and as a bearer credential, sign-out,
// refusals (wrong password, wrong or replayed code, back-off, lockout,
// disabled user mid-session), idle and absolute expiry on the daemon's
// manual clock, and that no password, code or secret reaches the audit log
// or the daemon's log.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <span>
#include <string>
#include <vector>

#include "gateway/totp.h"
#include "tests/e2e/harness.h"

using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kPassword = "correct horse battery staple";


int64_t ParseTime(const std::string& rfc3339) {
  std::tm tm{};
  REQUIRE(strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
  return timegm(&tm);
}


// One daemon on a manual clock, an organisation and a person ("alice") of it.
struct AccountsWorld {
  std::unique_ptr<Daemon> d;
  std::string org, user;
  std::string totp_secret;  // base32
  std::vector<std::string> recovery_codes;
  std::vector<std::string> secrets;  // everything that must never be logged

  explicit AccountsWorld(json extra = json::object()) {
    json cfg = {{"clock", {{"mode", "manual"}, {"start", "2024-09-20T07:00:00Z"}}}};
    cfg.merge_patch(extra);
    d = Daemon::Start(cfg);
    org = MustJson(Op("POST", "/api/v1/orgs", json{{"name", "Thuispunt"}}), 201)["id"];
    user = MustJson(Op("POST", "/api/v1/orgs/" + org + "/users",
                       json{{"display_name", "Alice"}, {"roles", {"sender"}}}),
                    201)["id"];
    secrets.push_back(kPassword);
  }

  HttpResult Op(const std::string& method, const std::string& path, const json& body = nullptr) {
    return Request(*d, method, path, {.token = d->operator_token(), .body = body.is_null() ? "" : body.dump()});
  }
  int64_t Now() { return ParseTime(MustJson(Op("GET", "/api/v1/admin/clock"), 200)["now"]); }
  void Advance(int64_t seconds) { MustJson(Op("POST", "/api/v1/admin/clock", json{{"advance_seconds", seconds}}), 200); }
  // The code of the current step; the clock moves a step on first, so each
  // call gives a code no earlier sign-in used.
  std::string Code() {
    Advance(30);
    const auto key = Base32Decode(totp_secret);
    return xgw::TotpCode(key, xgw::TotpStep(Now()));
  }

  std::string Invite(const std::string& name = "Alice.Peeters") {
    json j = MustJson(Op("POST", "/api/v1/users/" + user + "/invitations", json{{"signin_name", name}}), 201);
    secrets.push_back(j["code"]);
    return j["code"];
  }
  HttpResult Public(const std::string& path, const json& body) {
    return Request(*d, "POST", path, {.body = body.dump()});
  }
  void Enrol(const std::string& code) {
    json e = MustJson(Public("/api/v1/auth/enrolment", {{"code", code}, {"password", kPassword}}), 200);
    totp_secret = e["totp_secret"];
    secrets.push_back(totp_secret);
    REQUIRE(e["otpauth_uri"].get<std::string>().rfind("otpauth://totp/xgw:Alice.Peeters?secret=" + totp_secret, 0) == 0);
    json c = MustJson(Public("/api/v1/auth/enrolment/confirm", {{"code", code}, {"totp_code", Code()}}), 200);
    recovery_codes = c["recovery_codes"].get<std::vector<std::string>>();
    REQUIRE(recovery_codes.size() == 10);
    for (const auto& r : recovery_codes) secrets.push_back(r);
  }
  HttpResult SignIn(const json& extra, const std::string& name = "alice.peeters") {
    json body = {{"name", name}, {"password", kPassword}};
    body.merge_patch(extra);
    return Public("/api/v1/auth/sessions", body);
  }
  // A CLI session's secret.
  std::string CliSession() {
    json j = MustJson(SignIn({{"totp_code", Code()}, {"client", "cli"}}), 201);
    secrets.push_back(j["session_secret"]);
    return j["session_secret"];
  }

  // No secret of this world in the audit log or in the daemon's output.
  void CheckNothingSecretLogged() {
    const std::string audit = AuditText(*d);
    const std::string log = d->Log();
    for (const auto& s : secrets) {
      INFO("a secret of the test appears in the audit log or the daemon's log");
      CHECK(audit.find(s) == std::string::npos);
      CHECK(log.find(s) == std::string::npos);
    }
  }
};

std::string CookieSecret(const HttpResult& r) {
  const std::string c = r.Header("Set-Cookie");
  const std::string prefix = "__Host-xgw_session=";
  REQUIRE(c.rfind(prefix, 0) == 0);
  return c.substr(prefix.size(), c.find(';') - prefix.size());
}

}  // namespace

TEST_CASE("An invited person enrols and signs in with password and TOTP and uses the session as cookie and bearer until signing out",
          "[e2e][accounts]") {
  AccountsWorld w;
  w.Enrol(w.Invite());

  // Browser session: the cookie has every attribute; the CSRF token is in the body.
  HttpResult opened = w.SignIn({{"totp_code", w.Code()}});
  json b = MustJson(opened, 201);
  const std::string cookie_header = opened.Header("Set-Cookie");
  CHECK(cookie_header.find("; Path=/; Secure; HttpOnly; SameSite=Strict") != std::string::npos);
  CHECK(opened.Header("Cache-Control") == "no-store");
  const std::string secret = CookieSecret(opened);
  const std::string csrf = b["csrf_token"];
  w.secrets.push_back(secret);
  w.secrets.push_back(csrf);
  CHECK_FALSE(b.contains("session_secret"));

  const std::string origin = "Origin: " + w.d->base_url();
  const std::string cookie = "Cookie: __Host-xgw_session=" + secret;
  json me = MustJson(Request(*w.d, "GET", "/api/v1/me", {.headers = {cookie}}), 200);
  CHECK(me["id"] == w.user);
  CHECK(me["credential"]["type"] == "session");
  CHECK(me["credential"]["id"] == b["session_id"]);
  CHECK(ParseTime(me["credential"]["expires_at"]) <= w.Now() + 30 * 60);

  // An existing route that changes state, with the cookie: Origin and token both needed.
  const std::string keys = "/api/v1/users/" + w.user + "/keys";
  const json key_body = {{"age_recipient", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
                         {"ed25519_verify_key", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}};
  const std::string token_header = "X-CSRF-Token: " + csrf;
  CHECK(Request(*w.d, "PUT", keys, {.body = key_body.dump(), .headers = {cookie, origin}}).status == 403);
  CHECK(Request(*w.d, "PUT", keys, {.body = key_body.dump(), .headers = {cookie, origin, "X-CSRF-Token: xgwc_wrong"}})
            .status == 403);
  CHECK(Request(*w.d, "PUT", keys,
                {.body = key_body.dump(), .headers = {cookie, "Origin: https://evil.example", token_header}})
            .status == 403);
  CHECK(Request(*w.d, "PUT", keys, {.body = key_body.dump(), .headers = {cookie, token_header}}).status == 403);
  MustJson(Request(*w.d, "PUT", keys, {.body = key_body.dump(), .headers = {cookie, origin, token_header}}), 200);

  // CLI session: the secret is a bearer credential and needs no CSRF token.
  const std::string cli = w.CliSession();
  json me2 = MustJson(Request(*w.d, "GET", "/api/v1/me", {.token = cli}), 200);
  CHECK(me2["credential"]["type"] == "session");
  MustJson(Request(*w.d, "PUT", keys, {.token = cli, .body = key_body.dump()}), 200);
  // A session cannot be told apart from a token by the routes: the same 403 for an operator route.
  CHECK(Request(*w.d, "GET", "/api/v1/orgs", {.token = cli}).status == 403);

  // Sign-out ends the session (cookie: with its CSRF checks).
  CHECK(Request(*w.d, "DELETE", "/api/v1/auth/sessions/current", {.headers = {cookie}}).status == 403);
  HttpResult out = Request(*w.d, "DELETE", "/api/v1/auth/sessions/current", {.headers = {cookie, origin, token_header}});
  MustJson(out, 200);
  CHECK(out.Header("Set-Cookie").find("Max-Age=0") != std::string::npos);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.headers = {cookie}}).status == 401);
  MustJson(Request(*w.d, "DELETE", "/api/v1/auth/sessions/current", {.token = cli}), 200);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = cli}).status == 401);
  // An API token is not a session.
  CHECK(Request(*w.d, "DELETE", "/api/v1/auth/sessions/current", {.token = w.d->operator_token()}).status == 409);

  const auto lines = AuditEventLines(*w.d);
  const auto has = [&](const std::string& action) {
    for (const auto& l : lines) {
      if (l.find("|" + action + "|") != std::string::npos) return true;
    }
    return false;
  };
  for (const char* a : {"auth.invitation_issued", "auth.invitation_used", "auth.mfa_enrolled",
                        "auth.signin_succeeded", "auth.session_ended"}) {
    INFO(a);
    CHECK(has(a));
  }
  // The refused cross-site requests are audited with their reason.
  CHECK(AuditText(*w.d).find("csrf_refused") != std::string::npos);
  w.CheckNothingSecretLogged();

  // At rest: no secret in the database in the clear (the TOTP secret is
  // sealed, the rest hashed), and the sealing key is the owner's only.
  const std::string db = StoreFingerprint(*w.d);
  for (const auto& s : w.secrets) {
    INFO("a secret of the test is stored in the clear");
    CHECK(db.find(s) == std::string::npos);
  }
  CHECK(db.find("$argon2id$") != std::string::npos);
  struct stat st{};
  REQUIRE(::stat((w.d->dir() + "/state/keys/accounts-secretbox.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("Enrolment refuses short and overlong passwords and wrong codes and a used invitation", "[e2e][accounts]") {
  AccountsWorld w;
  const std::string code = w.Invite();
  CHECK(w.Public("/api/v1/auth/enrolment", {{"code", code}, {"password", "short"}}).status == 400);
  CHECK(w.Public("/api/v1/auth/enrolment", {{"code", code}, {"password", std::string(1025, 'x')}}).status == 400);
  CHECK(w.Public("/api/v1/auth/enrolment", {{"code", "xgwi_" + std::string(52, 'a')}, {"password", kPassword}})
            .status == 401);
  json e = MustJson(w.Public("/api/v1/auth/enrolment", {{"code", code}, {"password", kPassword}}), 200);
  w.totp_secret = e["totp_secret"];
  w.secrets.push_back(w.totp_secret);
  CHECK(w.Public("/api/v1/auth/enrolment/confirm", {{"code", code}, {"totp_code", "000000"}}).status == 400);
  // Not signed in before the enrolment completes.
  CHECK(w.SignIn({{"totp_code", w.Code()}}).status == 401);
  MustJson(w.Public("/api/v1/auth/enrolment/confirm", {{"code", code}, {"totp_code", w.Code()}}), 200);
  CHECK(w.Public("/api/v1/auth/enrolment", {{"code", code}, {"password", kPassword}}).status == 401);
  // An active account needs an MFA reset before a new invitation.
  CHECK(w.Op("POST", "/api/v1/users/" + w.user + "/invitations", json{{"signin_name", "alice"}}).status == 409);
  w.CheckNothingSecretLogged();
}

TEST_CASE("Wrong passwords and wrong or replayed codes are refused alike with back-off and lockout until an operator unlocks",
          "[e2e][accounts]") {
  AccountsWorld w;
  w.Enrol(w.Invite());
  const std::string code = w.Code();
  json ok = MustJson(w.SignIn({{"totp_code", code}, {"client", "cli"}}), 201);
  w.secrets.push_back(ok["session_secret"]);

  // The same code (time step) again: refused, like a wrong password and an unknown name.
  HttpResult replay = w.SignIn({{"totp_code", code}});
  HttpResult wrong_password = w.Public("/api/v1/auth/sessions",
                                       {{"name", "alice.peeters"}, {"password", "not the password"}, {"totp_code", w.Code()}});
  HttpResult unknown = w.SignIn({{"totp_code", "123456"}}, "nobody");
  for (const HttpResult* r : {&replay, &wrong_password, &unknown}) {
    CHECK(r->status == 401);
    CHECK(r->Json()["detail"] == replay.Json()["detail"]);
  }
  // Two failures so far; from the third on each next attempt must wait
  // 2^(n-3) s. The manual clock also runs in real time, so retry quickly
  // until an attempt lands inside the wait (1, 2, 4, 8 s ...).
  CHECK(w.SignIn({{"totp_code", "000000"}}).status == 401);
  const auto backs_off = [&](const std::string& name) {
    for (int i = 0; i < 5; ++i) {
      HttpResult r = w.SignIn({{"totp_code", "000000"}}, name);
      CHECK(r.status == 401);
      CHECK(r.Json()["detail"] == replay.Json()["detail"]);
      if (!r.Header("Retry-After").empty()) return true;
    }
    return false;
  };
  CHECK(backs_off("alice.peeters"));
  // Unknown names back off too, so Retry-After does not tell names apart.
  for (int i = 0; i < 3; ++i) w.SignIn({{"totp_code", "000000"}}, "nobody2");
  CHECK(backs_off("nobody2"));

  // Lockout: even the right password and code are refused until an operator unlocks.
  for (int i = 0; i < 10; ++i) {
    w.Advance(400);
    w.SignIn({{"password", "wrong password!"}, {"totp_code", "000000"}});
  }
  json status = MustJson(w.Op("GET", "/api/v1/users/" + w.user + "/account"), 200);
  CHECK(status["locked"] == true);
  w.Advance(400);
  HttpResult locked = w.SignIn({{"totp_code", w.Code()}});
  CHECK(locked.status == 401);
  CHECK(locked.Json()["detail"] == replay.Json()["detail"]);
  MustJson(w.Op("POST", "/api/v1/users/" + w.user + "/unlock"), 200);
  json again = MustJson(w.SignIn({{"totp_code", w.Code()}, {"client", "cli"}}), 201);
  w.secrets.push_back(again["session_secret"]);

  const auto lines = AuditEventLines(*w.d);
  const auto has = [&](const std::string& action) {
    for (const auto& l : lines) {
      if (l.find("|" + action + "|") != std::string::npos) return true;
    }
    return false;
  };
  CHECK(has("auth.signin_failed"));
  CHECK(has("auth.account_locked"));
  CHECK(has("auth.account_unlocked"));
  w.CheckNothingSecretLogged();
}

TEST_CASE("A recovery code signs in once and regenerated codes replace the old ones", "[e2e][accounts]") {
  AccountsWorld w;
  w.Enrol(w.Invite());
  const std::string rc = w.recovery_codes[3];
  json s = MustJson(w.SignIn({{"recovery_code", rc}, {"client", "cli"}}), 201);
  w.secrets.push_back(s["session_secret"]);
  CHECK(w.SignIn({{"recovery_code", rc}}).status == 401);
  // Both factors at once, or neither: a clear 400.
  CHECK(w.SignIn({{"recovery_code", w.recovery_codes[4]}, {"totp_code", "123456"}}).status == 400);

  json fresh = MustJson(Request(*w.d, "POST", "/api/v1/auth/recovery-codes", {.token = s["session_secret"]}), 200);
  for (const auto& c : fresh["recovery_codes"]) w.secrets.push_back(c);
  w.Advance(60);
  CHECK(w.SignIn({{"recovery_code", w.recovery_codes[5]}}).status == 401);
  w.Advance(60);
  MustJson(w.SignIn({{"recovery_code", fresh["recovery_codes"][0]}}), 201);
  // An API token is not a person's session: no recovery codes through it.
  CHECK(Request(*w.d, "POST", "/api/v1/auth/recovery-codes", {.token = w.d->operator_token()}).status == 403);
  w.CheckNothingSecretLogged();
}

TEST_CASE("Sessions end after their idle timeout and their absolute lifetime", "[e2e][accounts]") {
  AccountsWorld w(json{{"accounts", {{"browser_idle_seconds", 600}, {"browser_absolute_seconds", 3600}}}});
  w.Enrol(w.Invite());
  HttpResult opened = w.SignIn({{"totp_code", w.Code()}});
  MustJson(opened, 201);
  const std::string cookie = "Cookie: __Host-xgw_session=" + CookieSecret(opened);
  w.secrets.push_back(CookieSecret(opened));
  w.Advance(500);
  MustJson(Request(*w.d, "GET", "/api/v1/me", {.headers = {cookie}}), 200);  // slides the idle expiry
  w.Advance(700);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.headers = {cookie}}).status == 401);  // idle

  HttpResult second = w.SignIn({{"totp_code", w.Code()}});
  MustJson(second, 201);
  const std::string cookie2 = "Cookie: __Host-xgw_session=" + CookieSecret(second);
  w.secrets.push_back(CookieSecret(second));
  for (int i = 0; i < 6; ++i) {  // active every 500 s: never idle
    w.Advance(500);
    MustJson(Request(*w.d, "GET", "/api/v1/me", {.headers = {cookie2}}), 200);
  }
  w.Advance(700);  // 3700 s after sign-in, 200 s after the last request
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.headers = {cookie2}}).status == 401);  // absolute
  w.CheckNothingSecretLogged();
}

TEST_CASE("Disabling a user ends its sessions and API tokens at once and an MFA reset needs a new enrolment",
          "[e2e][accounts]") {
  AccountsWorld w;
  w.Enrol(w.Invite());
  const std::string session = w.CliSession();
  json token = MustJson(w.Op("POST", "/api/v1/users/" + w.user + "/tokens", json{{"ttl_seconds", 3600}}), 201);
  w.secrets.push_back(token["token"]);
  MustJson(Request(*w.d, "GET", "/api/v1/me", {.token = session}), 200);
  MustJson(Request(*w.d, "GET", "/api/v1/me", {.token = token["token"]}), 200);

  MustJson(w.Op("POST", "/api/v1/users/" + w.user + "/disable"), 200);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = session}).status == 401);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = token["token"]}).status == 401);
  CHECK(w.SignIn({{"totp_code", w.Code()}}).status == 401);
  MustJson(w.Op("POST", "/api/v1/users/" + w.user + "/enable"), 200);
  // Enabling does not bring the old session or token back.
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = session}).status == 401);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = token["token"]}).status == 401);
  const std::string again = w.CliSession();

  MustJson(w.Op("POST", "/api/v1/users/" + w.user + "/mfa-reset"), 200);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = again}).status == 401);
  CHECK(w.SignIn({{"totp_code", w.Code()}}).status == 401);
  w.Enrol(w.Invite());
  w.CliSession();
  // Only an operator acts on accounts.
  CHECK(Request(*w.d, "POST", "/api/v1/users/" + w.user + "/unlock", {.token = w.CliSession()}).status == 403);
  w.CheckNothingSecretLogged();
}

TEST_CASE("A person changes their own password after proving it and a code again, and their other sessions end",
          "[e2e][accounts]") {
  AccountsWorld w;
  w.Enrol(w.Invite());
  const std::string here = w.CliSession();
  const std::string elsewhere = w.CliSession();
  const std::string kNew = "a much longer new passphrase";
  w.secrets.push_back(kNew);
  const auto change = [&](const json& body, const std::string& token) {
    return Request(*w.d, "POST", "/api/v1/auth/password", {.token = token, .body = body.dump()});
  };
  // Malformed or weak: 400, nothing counted.
  CHECK(change({{"current_password", kPassword}, {"new_password", "short"}, {"totp_code", w.Code()}}, here).status == 400);
  CHECK(change({{"current_password", kPassword}, {"new_password", kPassword}, {"totp_code", w.Code()}}, here).status == 400);
  CHECK(change({{"current_password", kPassword}, {"new_password", kNew}}, here).status == 400);
  CHECK(change({{"current_password", kPassword}, {"new_password", kNew}, {"totp_code", "1"}, {"extra", 1}}, here).status ==
        400);
  // Not a person's session: an API token cannot.
  CHECK(change({{"current_password", kPassword}, {"new_password", kNew}, {"totp_code", w.Code()}},
               w.d->operator_token())
            .status == 403);
  // A wrong current password or code: refused, counted like a failed sign-in.
  HttpResult wrong = change({{"current_password", "not the password at all"}, {"new_password", kNew}, {"totp_code", w.Code()}},
                            here);
  CHECK(wrong.status == 403);
  CHECK(wrong.body.find("reauthentication-failed") != std::string::npos);
  CHECK(change({{"current_password", kPassword}, {"new_password", kNew}, {"totp_code", "000000"}}, here).status == 403);
  CHECK(MustJson(w.Op("GET", "/api/v1/users/" + w.user + "/account"), 200)["consecutive_failures"] == 2);

  // Right: changed; this session goes on, the other one ended.
  const std::string code = w.Code();
  json done = MustJson(change({{"current_password", kPassword}, {"new_password", kNew}, {"totp_code", code}}, here), 200);
  CHECK(done["password_changed"] == true);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = here}).status == 200);
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = elsewhere}).status == 401);
  // The code is spent; the old password no longer signs in, the new one does.
  CHECK(change({{"current_password", kNew}, {"new_password", kPassword + std::string("x")}, {"totp_code", code}}, here)
            .status == 403);
  w.Advance(60);
  CHECK(w.SignIn({{"totp_code", w.Code()}}).status == 401);
  w.Advance(60);
  MustJson(w.SignIn({{"password", kNew}, {"totp_code", w.Code()}}), 201);
  // Audited, without the passwords.
  json events = MustJson(w.Op("GET", "/api/v1/audit/events?user=" + w.user + "&action=auth.password_changed"), 200);
  CHECK(events["items"].size() == 1);
  w.CheckNothingSecretLogged();
}
