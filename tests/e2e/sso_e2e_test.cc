// Single sign-on end to end: the real xgwd and tests/oidc/provider.py, an
// OpenID Connect provider that signs real RS256 and ES256 ID tokens, both
// over real TLS on loopback (the provider with its own test CA, configured
// as $.sso.providers[].ca_file). A person whose subject an operator
// registered signs in through the authorization-code flow with PKCE and
// uses the session; a replayed state, a forged, wrongly addressed, expired
// or unsigned ID token, a key that left the provider's JWKS, an unknown or
// disabled person and a callback from another browser are refused, audited
// and open no session. Nothing secret reaches the daemon's log or the audit log.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>
#include <string>
#include <thread>

#include "tests/e2e/harness.h"

extern char** environ;

using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kClientSecret = "provider-client-secret-7f3a";
constexpr const char* kSubject = "alice-subject-42";

// The value of cookie `name` among the response's Set-Cookie headers.
std::string SetCookieValue(const HttpResult& r, const std::string& name) {
  std::string needle = "set-cookie: " + name + "=";
  std::string lower = r.headers;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : needle) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  return r.headers.substr(start, r.headers.find_first_of(";\r\n", start) - start);
}

// tests/oidc/provider.py in a temporary directory of its own.
class TestProvider {
 public:
  explicit TestProvider(const std::string& claims) {
    char tmpl[] = "/tmp/xgw-oidc-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/client.secret") << kClientSecret << "\n";
    const std::string script = std::string(XGW_SOURCE_DIR) + "/tests/oidc/provider.py";
    std::vector<std::string> args = {"/usr/bin/python3", script, "--dir", dir_, "--client-id", "xgw-gateway",
                                     "--client-secret-file", dir_ + "/client.secret", "--claims", claims};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
    REQUIRE(WaitFor([&] { return access((dir_ + "/port").c_str(), R_OK) == 0; }, 20000));
    std::ifstream(dir_ + "/port") >> port_;
    REQUIRE(port_ > 0);
  }
  ~TestProvider() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    RunCommand("rm -rf '" + dir_ + "'");
  }
  std::string issuer() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string ca_file() const { return dir_ + "/ca.crt"; }
  std::string secret_file() const { return dir_ + "/client.secret"; }

  // GET `url` at the provider (no redirects followed): status and Location.
  std::pair<int, std::string> Get(const std::string& url) const {
    int rc = 0;
    std::string out = RunCommand("curl -s --max-time 15 --cacert '" + ca_file() +
                                     "' -o /dev/null -w '%{http_code} %{redirect_url}' '" + url + "'",
                                 &rc);
    const size_t sp = out.find(' ');
    return {std::atoi(out.substr(0, sp).c_str()), sp == std::string::npos ? "" : out.substr(sp + 1)};
  }
  void Control(const json& c) const {
    int rc = 0;
    RunCommand("curl -sf --max-time 15 --cacert '" + ca_file() + "' -H 'Content-Type: application/json' -d '" +
                   c.dump() + "' " + issuer() + "/control",
               &rc);
    REQUIRE(rc == 0);
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A daemon whose organisation signs in through the test provider, and a
// person of it ("alice") registered with kSubject.
struct SsoWorld {
  std::unique_ptr<TestProvider> idp;
  std::unique_ptr<Daemon> d;
  std::string org, user;

  explicit SsoWorld(json sso_extra = json::object(), const std::string& claim = "sub") {
    idp = std::make_unique<TestProvider>(json{{"sub", kSubject}, {"email", "alice@example.org"}}.dump());
    d = Daemon::Start();
    org = MustJson(Op("POST", "/api/v1/orgs", json{{"name", "Thuispunt"}}), 201)["id"];
    user = MustJson(Op("POST", "/api/v1/orgs/" + org + "/users",
                       json{{"display_name", "Alice"}, {"roles", {"receiver"}}}),
                    201)["id"];
    json sso = {{"providers",
                 {{{"org", org},
                   {"issuer", idp->issuer()},
                   {"client_id", "xgw-gateway"},
                   {"client_secret_file", idp->secret_file()},
                   {"ca_file", idp->ca_file()},
                   {"claim", claim},
                   {"scope", "openid email"}}}}};
    sso.merge_patch(sso_extra);
    d->RewriteConfig({{"sso", sso}});
    REQUIRE(d->StopAndWait(SIGTERM) == 0);
    d->Restart();
  }

  HttpResult Op(const std::string& method, const std::string& path, const json& body = nullptr) {
    return Request(*d, method, path, {.token = d->operator_token(), .body = body.is_null() ? "" : body.dump()});
  }
  void Register(const std::string& user_id, const std::string& subject) {
    MustJson(Op("PUT", "/api/v1/users/" + user_id + "/sso", json{{"subject", subject}}), 200);
  }

  // The browser's way: start, the provider's redirect, the callback (with
  // the binding cookie unless `drop_cookie`). Returns the callback's answer;
  // *callback gets its path for replays.
  HttpResult SignIn(std::string* callback = nullptr, std::string* binding_out = nullptr, bool drop_cookie = false) {
    HttpResult start = Request(*d, "GET", "/api/v1/auth/sso/" + org + "/start");
    INFO(start.body);
    REQUIRE(start.status == 302);
    const std::string binding = SetCookieValue(start, "__Host-xgw_sso");
    REQUIRE(binding.size() >= 43);
    const std::string location = start.Header("Location");
    REQUIRE(location.rfind(idp->issuer() + "/authorize?", 0) == 0);
    CHECK(location.find("code_challenge_method=S256") != std::string::npos);
    auto [status, back] = idp->Get(location);
    REQUIRE(status == 302);
    const std::string prefix = d->base_url();
    REQUIRE(back.rfind(prefix + "/api/v1/auth/sso/" + org + "/callback?", 0) == 0);
    const std::string path = back.substr(prefix.size());
    if (callback) *callback = path;
    if (binding_out) *binding_out = binding;
    RequestOptions o;
    if (!drop_cookie) o.headers.push_back("Cookie: __Host-xgw_sso=" + binding);
    return Request(*d, "GET", path, o);
  }

  // A refused sign-in: 401 (the problem's type), and no session cookie.
  void ExpectRefused(const std::string& why) {
    HttpResult r = SignIn();
    INFO(why << ": " << r.status << " " << r.body);
    CHECK(r.status == 401);
    CHECK(IsProblem(r));
    CHECK(SetCookieValue(r, "__Host-xgw_session").empty());
  }
};

}  // namespace

TEST_CASE("a registered person signs in through the organisation's provider (RS256 and ES256)", "[e2e][sso]") {
  SsoWorld w;
  w.Register(w.user, kSubject);
  for (const char* alg : {"RS256", "ES256"}) {
    INFO(alg);
    w.idp->Control({{"alg", alg}});
    HttpResult r = w.SignIn();
    json j = MustJson(r, 201);
    CHECK(j["user_id"] == w.user);
    CHECK(j["client"] == "browser");
    const std::string session = SetCookieValue(r, "__Host-xgw_session");
    INFO(r.headers);
    REQUIRE_FALSE(session.empty());
    // The used-up binding cookie is cleared in the same answer (two Set-Cookie headers).
    CHECK(r.headers.find("__Host-xgw_sso=; Max-Age=0") != std::string::npos);
    // The session is a session like any other.
    json me = MustJson(Request(*w.d, "GET", "/api/v1/me", {.headers = {"Cookie: __Host-xgw_session=" + session}}), 200);
    CHECK(me.dump().find(w.user) != std::string::npos);
  }
  // The operator sees that a subject is registered, never its value.
  json status = MustJson(w.Op("GET", "/api/v1/users/" + w.user + "/sso"), 200);
  CHECK(status["registered"] == true);
  CHECK(status["claim"] == "sub");
  CHECK(status.dump().find(kSubject) == std::string::npos);

  const std::string audit = AuditText(*w.d);
  CHECK(audit.find("auth.signin_succeeded") != std::string::npos);
  CHECK(audit.find("\"oidc\"") != std::string::npos);
  CHECK(audit.find("user.sso_subject_set") != std::string::npos);
  for (const std::string& secret : {std::string(kSubject), std::string(kClientSecret), std::string("alice@example.org")}) {
    CHECK(audit.find(secret) == std::string::npos);
    CHECK(w.d->Log().find(secret) == std::string::npos);
  }
  CHECK(w.d->Log().find("code=") == std::string::npos);
  CHECK(w.d->Log().find("state=") == std::string::npos);
}

TEST_CASE("a state is used once, and only from the browser that started the sign-in", "[e2e][sso]") {
  SsoWorld w;
  w.Register(w.user, kSubject);
  std::string callback, binding;
  MustJson(w.SignIn(&callback, &binding), 201);
  // The same callback again (a replay of state and code): refused.
  HttpResult replay = Request(*w.d, "GET", callback, {.headers = {"Cookie: __Host-xgw_sso=" + binding}});
  CHECK(replay.status == 401);
  CHECK(replay.body.find("state") != std::string::npos);
  // A state nobody issued, and a callback without the binding cookie.
  CHECK(Request(*w.d, "GET", "/api/v1/auth/sso/" + w.org + "/callback?state=forged&code=x").status == 401);
  HttpResult other_browser = w.SignIn(nullptr, nullptr, /*drop_cookie=*/true);
  CHECK(other_browser.status == 401);
  CHECK(SetCookieValue(other_browser, "__Host-xgw_session").empty());
  // An organisation without a provider.
  std::string other = MustJson(w.Op("POST", "/api/v1/orgs", json{{"name", "Elsewhere"}}), 201)["id"];
  CHECK(Request(*w.d, "GET", "/api/v1/auth/sso/" + other + "/start").status == 404);
  CHECK(AuditText(*w.d).find("oidc_state") != std::string::npos);
}

TEST_CASE("forged, misaddressed, expired and unsigned ID tokens open no session", "[e2e][sso]") {
  SsoWorld w;
  w.Register(w.user, kSubject);
  const std::string before = StoreFingerprint(*w.d);
  for (const char* mode : {"wrong_aud", "wrong_iss", "expired", "bad_signature", "nonce_mismatch", "alg_none",
                           "unknown_kid", "hs256", "multi_aud_no_azp"}) {
    w.idp->Control({{"mode", mode}});
    w.ExpectRefused(mode);
  }
  w.idp->Control({{"mode", "ok"}, {"alg", "ES256"}});
  w.idp->Control({{"mode", "bad_signature"}});
  w.ExpectRefused("ES256 bad signature");
  // No session was opened, nothing else changed.
  CHECK(LineDiff(before, StoreFingerprint(*w.d)) == "");
  const std::string audit = AuditText(*w.d);
  for (const char* reason : {"oidc_audience", "oidc_issuer", "oidc_expired", "oidc_signature", "oidc_nonce",
                             "oidc_algorithm", "oidc_unknown_key"}) {
    INFO(reason);
    CHECK(audit.find(reason) != std::string::npos);
  }
  // The provider behaves again: the same person gets in.
  w.idp->Control({{"mode", "ok"}});
  MustJson(w.SignIn(), 201);
}

TEST_CASE("an unknown or disabled person is refused", "[e2e][sso]") {
  SsoWorld w;
  w.ExpectRefused("nobody registered");
  w.Register(w.user, "someone-else");
  w.ExpectRefused("another subject registered");
  w.Register(w.user, kSubject);
  MustJson(w.SignIn(), 201);
  MustJson(w.Op("POST", "/api/v1/users/" + w.user + "/disable"), 200);
  w.ExpectRefused("disabled");
  const std::string audit = AuditText(*w.d);
  CHECK(audit.find("oidc_unknown_user") != std::string::npos);
  CHECK(audit.find("\"disabled\"") != std::string::npos);

  // Registration rules: operator only, one person per subject, a body of one string.
  std::string bob = MustJson(w.Op("POST", "/api/v1/orgs/" + w.org + "/users", json{{"display_name", "Bob"}}), 201)["id"];
  CHECK(w.Op("PUT", "/api/v1/users/" + bob + "/sso", json{{"subject", kSubject}}).status == 409);
  CHECK(w.Op("PUT", "/api/v1/users/" + bob + "/sso", json{{"subject", 42}}).status == 400);
  CHECK(w.Op("PUT", "/api/v1/users/" + bob + "/sso", json{{"subject", "x"}, {"extra", 1}}).status == 400);
  CHECK(w.Op("DELETE", "/api/v1/users/" + bob + "/sso").status == 404);
  MustJson(w.Op("DELETE", "/api/v1/users/" + w.user + "/sso"), 200);
  std::string other = MustJson(w.Op("POST", "/api/v1/orgs", json{{"name", "Elsewhere"}}), 201)["id"];
  std::string carol = MustJson(w.Op("POST", "/api/v1/orgs/" + other + "/users", json{{"display_name", "Carol"}}), 201)["id"];
  CHECK(w.Op("PUT", "/api/v1/users/" + carol + "/sso", json{{"subject", "c"}}).status == 409);
  CHECK(Request(*w.d, "PUT", "/api/v1/users/" + w.user + "/sso", {.body = json{{"subject", "x"}}.dump()}).status == 401);
}

TEST_CASE("a key removed from the provider's JWKS is no longer accepted", "[e2e][sso]") {
  SsoWorld w(json{{"jwks_cache_min_seconds", 1}, {"jwks_refetch_seconds", 1}});
  w.Register(w.user, kSubject);
  w.idp->Control({{"jwks_max_age", 1}});
  MustJson(w.SignIn(), 201);  // the gateway now holds rsa-1
  // The provider rotates to rsa-2 and drops rsa-1; someone still signs with rsa-1.
  w.idp->Control({{"rotate", true}, {"sign_with_old", true}});
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  w.ExpectRefused("old key");
  CHECK(AuditText(*w.d).find("oidc_unknown_key") != std::string::npos);
  // Tokens of the new key are accepted.
  w.idp->Control({{"sign_with_old", false}});
  MustJson(w.SignIn(), 201);
}

TEST_CASE("users can be matched by another claim (email)", "[e2e][sso]") {
  SsoWorld w(json::object(), "email");
  w.Register(w.user, kSubject);  // the sub, not the email: no match
  w.ExpectRefused("sub registered, email configured");
  w.Register(w.user, "alice@example.org");
  MustJson(w.SignIn(), 201);
}

TEST_CASE("xgwd --check-config reads the provider's secret and CA files", "[e2e][sso]") {
  SsoWorld w;
  int rc = 0;
  std::string out = RunCommand(XgwdPath() + " --check-config -c " + w.d->config_path() + " 2>&1", &rc);
  CHECK(rc == 0);
  w.d->RewriteConfig({{"sso", {{"providers", {{{"org", w.org},
                                                {"issuer", w.idp->issuer()},
                                                {"client_id", "xgw-gateway"},
                                                {"client_secret_file", "/nonexistent/secret"}}}}}}});
  out = RunCommand(XgwdPath() + " --check-config -c " + w.d->config_path() + " 2>&1", &rc);
  CHECK(rc != 0);
  CHECK(out.find("client_secret_file") != std::string::npos);
  w.d->RewriteConfig({{"sso", {{"providers", {{{"org", w.org},
                                                {"issuer", "http://plain.example.org"},
                                                {"client_id", "xgw-gateway"},
                                                {"client_secret_file", w.idp->secret_file()}}}}}}});
  out = RunCommand(XgwdPath() + " --check-config -c " + w.d->config_path() + " 2>&1", &rc);
  CHECK(rc != 0);
  CHECK(out.find("$.sso.providers[0].issuer") != std::string::npos);
  CHECK(out.find(kClientSecret) == std::string::npos);
}

TEST_CASE("the device-code path hands a CLI session to the poller once", "[e2e][sso]") {
  SsoWorld w;
  w.Register(w.user, kSubject);
  const std::string base = "/api/v1/auth/sso/" + w.org + "/device";
  json dev = MustJson(Request(*w.d, "POST", base), 200);
  const std::string device_code = dev["device_code"];
  const std::string user_code = dev["user_code"];
  CHECK(user_code.size() == 9);
  const std::string uri = dev["verification_uri"];
  REQUIRE(uri.rfind(w.d->base_url() + base.substr(0, base.size() - 6) + "start?user_code=", 0) == 0);
  const json poll = {{"device_code", device_code}};
  CHECK(MustJson(Request(*w.d, "POST", base + "/token", {.body = poll.dump()}), 202)["status"] ==
        "authorization_pending");
  CHECK(Request(*w.d, "GET", "/api/v1/auth/sso/" + w.org + "/start?user_code=BCDF-GHJK").status == 400);
  CHECK(Request(*w.d, "POST", base + "/token", {.body = json{{"device_code", "forged"}}.dump()}).status == 401);

  // The browser part, on the user code.
  HttpResult start = Request(*w.d, "GET", uri.substr(w.d->base_url().size()));
  REQUIRE(start.status == 302);
  auto [status, back] = w.idp->Get(start.Header("Location"));
  REQUIRE(status == 302);
  HttpResult done = Request(*w.d, "GET", back.substr(w.d->base_url().size()),
                            {.headers = {"Cookie: __Host-xgw_sso=" + SetCookieValue(start, "__Host-xgw_sso")}});
  CHECK(MustJson(done, 200)["signed_in"] == true);
  CHECK(SetCookieValue(done, "__Host-xgw_session").empty());  // the browser gets no session

  json session = MustJson(Request(*w.d, "POST", base + "/token", {.body = poll.dump()}), 201);
  CHECK(session["client"] == "cli");
  const std::string secret = session["session_secret"];
  CHECK(MustJson(Request(*w.d, "GET", "/api/v1/me", {.token = secret}), 200).dump().find(w.user) != std::string::npos);
  CHECK(Request(*w.d, "POST", base + "/token", {.body = poll.dump()}).status == 401);  // handed over once

  // A refused browser sign-in ends the CLI's wait with 401.
  w.idp->Control({{"mode", "wrong_aud"}});
  json dev2 = MustJson(Request(*w.d, "POST", base), 200);
  HttpResult start2 = Request(*w.d, "GET", dev2["verification_uri"].get<std::string>().substr(w.d->base_url().size()));
  auto [status2, back2] = w.idp->Get(start2.Header("Location"));
  REQUIRE(status2 == 302);
  CHECK(Request(*w.d, "GET", back2.substr(w.d->base_url().size()),
                {.headers = {"Cookie: __Host-xgw_sso=" + SetCookieValue(start2, "__Host-xgw_sso")}})
            .status == 401);
  HttpResult refused =
      Request(*w.d, "POST", base + "/token", {.body = json{{"device_code", dev2["device_code"]}}.dump()});
  CHECK(refused.status == 401);
  CHECK(refused.body.find("aud") != std::string::npos);
  CHECK(w.d->Log().find(device_code) == std::string::npos);
  CHECK(AuditText(*w.d).find(device_code) == std::string::npos);
}

TEST_CASE("xgw login --sso signs the CLI in through the browser", "[e2e][sso]") {
  SsoWorld w;
  w.Register(w.user, kSubject);
  const std::string cfg = w.d->dir() + "/cli.json", err = w.d->dir() + "/login.err";
  const std::string cmd = XgwPath() + " login --gateway " + w.d->base_url() + " --cacert " + w.d->cacert() +
                          " --sso " + w.org + " --config " + cfg + " 2> " + err;
  std::vector<std::string> args = {"/bin/sh", "-c", cmd};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), environ) == 0);
  std::string text;
  struct Reap {
    pid_t pid;
    ~Reap() {
      if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0) {
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
      }
    }
  } reap{pid};
  const bool shown = WaitFor(
      [&] {
        std::ifstream in(err);
        text.assign(std::istreambuf_iterator<char>(in), {});
        return text.find("user_code=") != std::string::npos && text.find("(code") != std::string::npos;
      },
      20000);
  INFO(text);
  REQUIRE(shown);
  const size_t at = text.find(w.d->base_url());
  REQUIRE(at != std::string::npos);
  const std::string uri = text.substr(at, text.find_first_of(" \n", at) - at);
  HttpResult start = Request(*w.d, "GET", uri.substr(w.d->base_url().size()));
  REQUIRE(start.status == 302);
  auto [status, back] = w.idp->Get(start.Header("Location"));
  REQUIRE(status == 302);
  MustJson(Request(*w.d, "GET", back.substr(w.d->base_url().size()),
                   {.headers = {"Cookie: __Host-xgw_sso=" + SetCookieValue(start, "__Host-xgw_sso")}}),
           200);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  reap.pid = -1;
  std::ifstream in(err);
  text.assign(std::istreambuf_iterator<char>(in), {});
  INFO(text);
  REQUIRE(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);
  CHECK(text.find("logged in as " + w.user) != std::string::npos);
  int rc = 0;
  std::string who = RunCommand(XgwPath() + " whoami --config " + cfg + " 2>&1", &rc);
  CHECK(rc == 0);
  CHECK(who.find(w.user) != std::string::npos);
}
