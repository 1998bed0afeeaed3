// End-to-end tests of xgwd: the real binary, real TLS clients, loopback only.
#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <map>
#include <chrono>
#include <thread>

#include "tests/e2e/harness.h"

using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kAge = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
constexpr const char* kEd = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
// Other keys: what a refused caller tries to register (public keys only).
constexpr const char* kOtherAge = "age14shlad5wgjl85l2ud4gzp7t3deftau0356lyer3yg6wa549d3vzsfcf0qh";
constexpr const char* kOtherEd = "6iZHFDrzUWf4TAKQ5iJEbo8MznmvFYBS7pLmr7Cv/aM=";

std::string CreateOrg(const Daemon& d, const std::string& name) {
  return MustJson(Request(d, "POST", "/api/v1/orgs",
                          {.token = d.operator_token(), .body = json{{"name", name}}.dump()}),
                  201)["id"];
}

std::string CreateUser(const Daemon& d, const std::string& org, const std::string& name,
                       const std::vector<std::string>& roles) {
  return MustJson(Request(d, "POST", "/api/v1/orgs/" + org + "/users",
                          {.token = d.operator_token(),
                           .body = json{{"display_name", name}, {"roles", roles}}.dump()}),
                  201)["id"];
}

struct Token {
  std::string id;
  std::string secret;
};

Token IssueToken(const Daemon& d, const std::string& user, int64_t ttl = 3600) {
  json j = MustJson(Request(d, "POST", "/api/v1/users/" + user + "/tokens",
                            {.token = d.operator_token(), .body = json{{"ttl_seconds", ttl}}.dump()}),
                    201);
  return {j["id"], j["token"]};
}

size_t OrgCount(const Daemon& d) {
  return MustJson(Request(d, "GET", "/api/v1/orgs", {.token = d.operator_token()}), 200)["items"]
      .size();
}

}  // namespace

TEST_CASE("HealthzAnswersOverTlsWithoutAToken") {
  auto d = Daemon::Start();
  auto r = Request(*d, "GET", "/healthz");
  CHECK(MustJson(r, 200)["status"] == "ok");
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("OperatorRegistersOrganisationsUsersKeysAndTokens") {
  auto d = Daemon::Start();
  const std::string org = CreateOrg(*d, "OCMW Gent");
  const std::string user = CreateUser(*d, org, "social worker", {"social_worker"});
  const Token t = IssueToken(*d, user);
  // The user registers their own keys, then sees them.
  auto put = Request(*d, "PUT", "/api/v1/users/" + user + "/keys",
                     {.token = t.secret,
                      .body = json{{"age_recipient", kAge}, {"ed25519_verify_key", kEd}}.dump()});
  CHECK(MustJson(put, 200)["age_recipient"] == kAge);
  auto me = MustJson(Request(*d, "GET", "/api/v1/me", {.token = t.secret}), 200);
  CHECK(me["id"] == user);
  CHECK(me["org_id"] == org);
  CHECK(me["roles"] == json::array({"social_worker"}));
  auto list = MustJson(Request(*d, "GET", "/api/v1/users/" + user + "/tokens", {.token = t.secret}), 200);
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["state"] == "active");
  CHECK_FALSE(list["items"][0].contains("token"));  // the secret is shown once only
  // Roles can be changed by the operator only.
  auto roles = Request(*d, "PUT", "/api/v1/users/" + user + "/roles",
                       {.token = d->operator_token(), .body = R"({"roles":["dpo","social_worker"]})"});
  CHECK(MustJson(roles, 200)["roles"] == json::array({"dpo", "social_worker"}));
  // Revoking the token ends its use at once.
  CHECK(Request(*d, "DELETE", "/api/v1/tokens/" + t.id, {.token = t.secret}).status == 200);
  CHECK(Request(*d, "GET", "/api/v1/me", {.token = t.secret}).status == 401);
  // The log holds no token and no names.
  const std::string log = d->Log();
  CHECK(log.find(t.secret) == std::string::npos);
  CHECK(log.find(d->operator_token()) == std::string::npos);
  CHECK(log.find("OCMW") == std::string::npos);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

// Every operator-API route as every kind of caller against every kind of
// target. A refusal is pinned per cell (docs/api.yaml: 401 without a valid
// token; 403 for a caller holding none of the route's roles; 404 for one
// whose role is scoped to its own organisation or itself and the target lies
// outside), each refused change is tried on a target it could act on (a pin
// that exists, a token not yet revoked, keys and roles that differ), and
// every table, the blob directory and the audit log are compared before and
// after each refusal: the log may only have gained refusals.
TEST_CASE("AuthorisationMatrixAllowsOnlyDeclaredCombinations") {
  auto d = Daemon::Start();
  // Operator "op" lives in the operators' organisation made by init.
  const json op_me = MustJson(Request(*d, "GET", "/api/v1/me", {.token = d->operator_token()}), 200);
  const std::string op_user = op_me["id"];
  const std::string op_org = op_me["org_id"];
  const std::string org_a = CreateOrg(*d, "A");
  const std::string org_b = CreateOrg(*d, "B");
  const std::string sender = CreateUser(*d, org_a, "s", {"sender"});
  const std::string recipient = CreateUser(*d, org_a, "r", {"social_worker"});
  const std::string dpo = CreateUser(*d, org_a, "d", {"dpo"});
  const std::string other_a = CreateUser(*d, org_a, "x", {"sender"});
  const std::string other_b = CreateUser(*d, org_b, "y", {"sender"});
  // Another user of the operators' organisation: the operator's same-org user.
  const std::string other_op = CreateUser(*d, op_org, "o", {"sender"});
  for (const auto& u : {op_user, sender, recipient, dpo, other_a, other_b, other_op}) {
    REQUIRE(Request(*d, "PUT", "/api/v1/users/" + u + "/keys",
                    {.token = d->operator_token(),
                     .body = json{{"age_recipient", kAge}, {"ed25519_verify_key", kEd}}.dump()})
                .status == 200);
  }
  struct Caller {
    std::string name, user, org, token;
    bool operator_role, dpo_role;
  };
  std::vector<Caller> callers = {
      {"operator", op_user, op_org, d->operator_token(), true, false},
      {"sender", sender, org_a, IssueToken(*d, sender).secret, false, false},
      {"recipient", recipient, org_a, IssueToken(*d, recipient).secret, false, false},
      {"dpo", dpo, org_a, IssueToken(*d, dpo).secret, false, true},
  };
  const Token expired = IssueToken(*d, sender, 1);
  const Token revoked = IssueToken(*d, sender);
  REQUIRE(Request(*d, "DELETE", "/api/v1/tokens/" + revoked.id, {.token = d->operator_token()})
              .status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  callers.push_back({"no-token", "", "", "", false, false});
  callers.push_back({"expired", sender, org_a, expired.secret, false, false});
  callers.push_back({"revoked", sender, org_a, revoked.secret, false, false});

  enum class T { kNone, kSelf, kSameOrgUser, kOtherOrgUser, kOwnOrg, kOtherOrg };
  // Who may, and how a caller who may not is refused: 403 when it holds none
  // of the route's roles, 404 when its role's scope (own organisation, self)
  // does not reach the target. (Unauthenticated callers: 401, before this.)
  enum Refusal : long { kNoRole = 403, kOutOfScope = 404 };
  struct Rule {
    bool allowed;
    long refusal;  // when not allowed
  };
  using RuleFn = std::function<Rule(const Caller&, const std::string& tuser, const std::string& torg)>;
  struct Endpoint {
    std::string method, pattern;
    std::vector<T> targets;
    RuleFn rule;
    // The body for a target id; `change` when the call is expected to be
    // refused: then it asks for a change (if it were let through, the
    // fingerprint would show it).
    std::function<std::string(const std::string& id, bool change)> body;
    bool mutating;
  };
  const RuleFn any = [](const Caller&, const std::string&, const std::string&) { return Rule{true, 0}; };
  const RuleFn op_only = [](const Caller& c, const std::string&, const std::string&) {
    return Rule{c.operator_role, kNoRole};
  };
  // Every user's role reaches its own organisation.
  const RuleFn same_org = [](const Caller& c, const std::string&, const std::string& torg) {
    return Rule{c.operator_role || torg == c.org, kOutOfScope};
  };
  // The DPO role reaches its own organisation; other roles none.
  const RuleFn dpo_same_org = [](const Caller& c, const std::string&, const std::string& torg) {
    if (c.operator_role) return Rule{true, 0};
    if (!c.dpo_role) return Rule{false, kNoRole};
    return Rule{torg == c.org, kOutOfScope};
  };
  // Every user reaches itself.
  const RuleFn self = [](const Caller& c, const std::string& tuser, const std::string&) {
    return Rule{c.operator_role || tuser == c.user, kOutOfScope};
  };
  // Itself, or as DPO its organisation's users.
  const RuleFn user_get = [](const Caller& c, const std::string& tuser, const std::string& torg) {
    return Rule{c.operator_role || tuser == c.user || (c.dpo_role && torg == c.org), kOutOfScope};
  };
  const std::vector<T> users = {T::kSelf, T::kSameOrgUser, T::kOtherOrgUser};
  const std::vector<T> orgs = {T::kOwnOrg, T::kOtherOrg};
  const auto no_body = [](const std::string&, bool) { return std::string(); };
  std::map<std::string, std::vector<std::string>> roles_of = {
      {op_user, {"operator"}}, {sender, {"sender"}},   {recipient, {"social_worker"}}, {dpo, {"dpo"}},
      {other_a, {"sender"}},   {other_b, {"sender"}}, {other_op, {"sender"}}};
  // A fresh pin for every call (from a counter), so the operator's adds
  // never collide and a refused add is one that could have succeeded.
  int pins_made = 0;
  const auto fresh_pin = [&] {
    char hex[65];
    std::snprintf(hex, sizeof hex, "%064x", ++pins_made);
    return std::string(hex);
  };
  const std::vector<Endpoint> endpoints = {
      {"GET", "/metrics", {T::kNone}, op_only, no_body, false},
      {"GET", "/api/v1/me", {T::kNone}, any, no_body, false},
      {"POST", "/api/v1/orgs", {T::kNone}, op_only,
       [](const std::string&, bool) { return std::string(R"({"name":"new"})"); }, true},
      {"GET", "/api/v1/orgs", {T::kNone}, op_only, no_body, false},
      {"GET", "/api/v1/orgs/{}", orgs, same_org, no_body, false},
      {"POST", "/api/v1/orgs/{}/users", orgs, op_only,
       [](const std::string&, bool) { return std::string(R"({"display_name":"n","roles":[]})"); }, true},
      {"GET", "/api/v1/orgs/{}/users", orgs, dpo_same_org, no_body, false},
      {"GET", "/api/v1/orgs/{}/client-pins", orgs, op_only, no_body, false},
      {"POST", "/api/v1/orgs/{}/client-pins", orgs, op_only,
       [&](const std::string&, bool) { return json{{"pin", "sha256:" + fresh_pin()}}.dump(); }, true},
      {"DELETE", "/api/v1/orgs/{}/client-pins/{pin}", orgs, op_only, no_body, true},
      {"GET", "/api/v1/users/{}", users, user_get, no_body, false},
      {"PUT", "/api/v1/users/{}/roles", users, op_only,
       [&](const std::string& u, bool change) {
         std::vector<std::string> roles = roles_of[u];
         if (change) roles.push_back(roles[0] == "dpo" ? "sender" : "dpo");
         return json{{"roles", roles}}.dump();
       },
       true},
      {"GET", "/api/v1/users/{}/keys", users, same_org, no_body, false},
      {"PUT", "/api/v1/users/{}/keys", users, self,
       [](const std::string&, bool change) {
         return json{{"age_recipient", change ? kOtherAge : kAge}, {"ed25519_verify_key", change ? kOtherEd : kEd}}
             .dump();
       },
       true},
      {"POST", "/api/v1/users/{}/tokens", users, op_only,
       [](const std::string&, bool) { return std::string(R"({"ttl_seconds":60})"); }, true},
      {"GET", "/api/v1/users/{}/tokens", users, self, no_body, false},
      {"DELETE", "/api/v1/tokens/{}", users, self, no_body, true},
  };

  // A refusal leaves the state as it was; the audit log may only have gained
  // refusals (a refused request is recorded, never as a success).
  const auto check_unchanged = [&](const std::string& store_before, const std::vector<std::string>& audit_before) {
    CHECK(StoreFingerprint(*d) == store_before);
    const std::vector<std::string> audit_after = AuditEventLines(*d);
    REQUIRE(audit_after.size() >= audit_before.size());
    CHECK(std::equal(audit_before.begin(), audit_before.end(), audit_after.begin()));
    for (size_t i = audit_before.size(); i < audit_after.size(); ++i) {
      INFO("audit event added by the refusal: " << audit_after[i]);
      CHECK(audit_after[i].find("|success|") == std::string::npos);
    }
  };

  size_t orgs_created = 0;
  const size_t orgs_before = OrgCount(*d);
  int checked = 0, refused = 0;
  for (const auto& ep : endpoints) {
    for (const auto& c : callers) {
      for (T t : ep.targets) {
        std::string tuser, torg, id;
        switch (t) {
          case T::kNone: break;
          case T::kSelf: tuser = c.user.empty() ? sender : c.user; break;
          case T::kSameOrgUser: tuser = c.org == op_org ? other_op : other_a; break;
          case T::kOtherOrgUser: tuser = other_b; break;
          case T::kOwnOrg: torg = c.org.empty() ? org_a : c.org; break;
          case T::kOtherOrg: torg = org_b; break;
        }
        if (!tuser.empty()) {
          torg = tuser == op_user || tuser == other_op ? op_org : tuser == other_b ? org_b : org_a;
          id = tuser;
        } else {
          id = torg;
        }
        const bool authenticated = !c.token.empty() && c.name != "expired" && c.name != "revoked";
        const Rule rule = ep.rule(c, tuser, torg);
        const bool expect_ok = authenticated && rule.allowed;
        const long expect_refusal = !authenticated ? 401 : rule.refusal;
        // A target the call could act on: a token not yet revoked, a pin
        // that exists (added by the operator just before).
        std::string path = ep.pattern;
        std::string token_id, pin;
        if (path.find("{}") != std::string::npos) {
          std::string subject = id;
          if (ep.pattern == "/api/v1/tokens/{}") subject = token_id = IssueToken(*d, tuser, 600).id;
          path.replace(path.find("{}"), 2, subject);
          if (const auto at = path.find("{pin}"); at != std::string::npos) {
            pin = fresh_pin();
            REQUIRE(Request(*d, "POST", "/api/v1/orgs/" + torg + "/client-pins",
                            {.token = d->operator_token(), .body = json{{"pin", "sha256:" + pin}}.dump()})
                        .status == 201);
            path.replace(at, 5, pin);
          }
        }
        const std::string store_before = expect_ok ? "" : StoreFingerprint(*d);
        const std::vector<std::string> audit_before = expect_ok ? std::vector<std::string>{} : AuditEventLines(*d);
        auto r = Request(*d, ep.method, path, {.token = c.token, .body = ep.body(id, !expect_ok)});
        INFO(ep.method << " " << ep.pattern << " as " << c.name << " target " << static_cast<int>(t)
                       << " → " << r.status << " " << r.body);
        if (expect_ok) {
          CHECK(r.status >= 200);
          CHECK(r.status < 300);
          if (ep.method == "POST" && ep.pattern == "/api/v1/orgs") ++orgs_created;
        } else {
          CHECK(r.status == expect_refusal);
          CHECK(IsProblem(r));
          check_unchanged(store_before, audit_before);
          ++refused;
          // The target was one the call could have acted on: the operator can.
          if (!token_id.empty()) {
            CHECK(Request(*d, "DELETE", "/api/v1/tokens/" + token_id, {.token = d->operator_token()}).status == 200);
          }
          if (!pin.empty()) CHECK(Request(*d, "DELETE", path, {.token = d->operator_token()}).status == 200);
        }
        ++checked;
      }
    }
  }
  // 7 callers x (4 routes without a target + 6 org routes x 2 targets + 7
  // user routes x 3 targets) = 7 x 37 cells.
  CHECK(checked == 7 * 37);
  CHECK(refused > 0);
  CHECK(OrgCount(*d) == orgs_before + orgs_created);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("MalformedRequestsGetClearProblemsAndChangeNothing") {
  auto d = Daemon::Start({{"limits", {{"max_header_bytes", 4096}, {"max_json_body_bytes", 4096}}}});
  const std::string& op = d->operator_token();
  const size_t orgs = OrgCount(*d);

  SECTION("BrokenRequestLine") {
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    REQUIRE(c.Send("GARBAGE\r\n\r\n"));
    const std::string out = c.ReadAll(3000);
    CHECK(out.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(out.find("application/problem+json") != std::string::npos);
  }
  SECTION("OversizedHeaders") {
    auto r = Request(*d, "GET", "/api/v1/me",
                     {.token = op, .headers = {"X-Filler: " + std::string(8000, 'a')}});
    CHECK(r.status == 431);
    CHECK(IsProblem(r));
  }
  SECTION("OversizedBody") {
    auto r = Request(*d, "POST", "/api/v1/orgs",
                     {.token = op, .body = R"({"name":")" + std::string(10000, 'a') + "\"}"});
    CHECK(r.status == 413);
    CHECK(IsProblem(r));
  }
  SECTION("OversizedChunkedBody") {
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    std::string req = "POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + op +
                      "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; ++i) req += "400\r\n" + std::string(1024, ' ') + "\r\n";
    req += "0\r\n\r\n";
    c.Send(req);
    CHECK(c.ReadAll(3000).rfind("HTTP/1.1 413", 0) == 0);
  }
  SECTION("BadJson") {
    auto r = Request(*d, "POST", "/api/v1/orgs", {.token = op, .body = "{\"name\": "});
    CHECK(r.status == 400);
    CHECK(IsProblem(r));
    CHECK(r.Json()["type"] == "urn:xgw:problem:invalid-json");
  }
  SECTION("WrongContentType") {
    auto r = Request(*d, "POST", "/api/v1/orgs",
                     {.token = op, .body = R"({"name":"x"})", .content_type = "text/csv"});
    CHECK(r.status == 415);
    CHECK(IsProblem(r));
  }
  SECTION("PathTricksInIds") {
    for (const std::string path :
         {"/api/v1/orgs/../orgs", "/api/v1/orgs/%2e%2e", "/api/v1/orgs/%2e%2e%2fetc",
          "/api/v1/users/usr-..%2f..%2fetc", "/api/v1/orgs/org-AAAAAAAAAAAAAAAAAAAAAAAAAA",
          "/api/v1/orgs//users", "/api/v1/orgs/%00"}) {
      auto r = Request(*d, "GET", path, {.token = op});
      INFO(path << " → " << r.status);
      CHECK(r.status >= 400);
      CHECK(r.status < 500);
      CHECK(IsProblem(r));
    }
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    c.Send(std::string("GET /api/v1/orgs/org-\0abc HTTP/1.1\r\nHost: x\r\n\r\n", 44));
    CHECK(c.ReadAll(3000).rfind("HTTP/1.1 400", 0) == 0);
  }
  SECTION("UnknownRouteAndMethod") {
    CHECK(Request(*d, "GET", "/api/v2/anything", {.token = op}).status == 404);
    CHECK(Request(*d, "PATCH", "/api/v1/orgs", {.token = op, .body = "{}"}).status == 405);
  }
  CHECK(d->Alive());
  CHECK(Request(*d, "GET", "/healthz").status == 200);
  CHECK(OrgCount(*d) == orgs);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("ASlowClientSendingHeadersByteByByteIsDisconnected") {
  auto d = Daemon::Start({{"limits", {{"header_timeout_seconds", 1}}}});
  RawTls c(d->port(), d->cacert());
  REQUIRE(c.connected());
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " +
                          std::string(60, 'a') + "\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  bool cut = false;
  for (char ch : req) {
    if (!c.Send(std::string(1, ch))) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(3)) break;
  }
  // Either a write failed already, or the server has closed without answering.
  if (!cut) cut = c.PeerClosed(2000);
  CHECK(cut);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(Request(*d, "GET", "/healthz").status == 200);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("SigtermLetsAnInFlightRequestFinish") {
  auto d = Daemon::Start({{"shutdown_grace_seconds", 10}});
  const std::string body = R"({"name":"finished during shutdown"})";
  RawTls c(d->port(), d->cacert());
  REQUIRE(c.connected());
  REQUIRE(c.Send("POST /api/v1/orgs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
                 d->operator_token() + "\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  d->Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  REQUIRE(c.Send(body.substr(10)));
  const std::string out = c.ReadAll(5000);
  CHECK(out.rfind("HTTP/1.1 201", 0) == 0);
  CHECK(out.find("Connection: close") != std::string::npos);
  CHECK(d->StopAndWait(0, 10000) == 0);  // signal 0: just wait for the exit
  CHECK(d->Log().find("xgwd: stopped") != std::string::npos);
}

TEST_CASE("SighupReloadsLimitsButNotTheListenAddress") {
  auto d = Daemon::Start();
  const std::string op = d->operator_token();
  const std::string big = R"({"name":")" + std::string(3000, 'a') + "\"}";
  // 3000-byte names are refused by validation, not by size.
  CHECK(Request(*d, "POST", "/api/v1/orgs", {.token = op, .body = big}).status == 400);
  d->RewriteConfig({{"limits", {{"max_json_body_bytes", 2048}}}, {"threads", 3}});
  d->Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(Request(*d, "POST", "/api/v1/orgs", {.token = op, .body = big}).status == 413);
  CHECK(d->Log().find("configuration reloaded") != std::string::npos);
  CHECK(d->Log().find("$.threads") != std::string::npos);
  // A broken config on reload keeps the running one.
  d->RewriteConfig({{"limits", {{"no_such_key", 1}}}});
  d->Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(d->Alive());
  CHECK(d->Log().find("reload failed") != std::string::npos);
  CHECK(Request(*d, "GET", "/healthz").status == 200);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("TlsOnlyModernVersionsAndAeadCiphers") {
  auto d = Daemon::Start();
  auto v13 = Request(*d, "GET", "/healthz", {.ssl_version = CURL_SSLVERSION_TLSv1_3});
  CHECK(v13.status == 200);
  auto v12 = Request(*d, "GET", "/healthz",
                     {.ssl_version = long{CURL_SSLVERSION_TLSv1_2} | (long{CURL_SSLVERSION_TLSv1_2} << 16),
                      .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"});
  CHECK(v12.status == 200);
  auto v11 = Request(*d, "GET", "/healthz",
                     {.ssl_version = long{CURL_SSLVERSION_TLSv1} | (long{CURL_SSLVERSION_TLSv1_1} << 16),
                      .ciphers = "DEFAULT:@SECLEVEL=0"});
  CHECK(v11.status == 0);
  CHECK(v11.curl_code != 0);
  auto cbc = Request(*d, "GET", "/healthz",
                     {.ssl_version = long{CURL_SSLVERSION_TLSv1_2} | (long{CURL_SSLVERSION_TLSv1_2} << 16),
                      .ciphers = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA"});
  CHECK(cbc.status == 0);
  CHECK(cbc.curl_code != 0);
  CHECK(d->Alive());
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("MutualTlsMapsAPinnedClientCertificateToItsOrganisation") {
  auto d = Daemon::Start({{"tls", {{"client_auth", "optional"}}}});
  const std::string dir = d->dir();
  const std::string pin_a = MakeClientCertificate(dir, "a");
  MakeClientCertificate(dir, "stranger");
  const std::string org_a = MustJson(
      Request(*d, "POST", "/api/v1/orgs",
              {.token = d->operator_token(),
               .body = json{{"name", "A"}, {"client_cert_pins", {pin_a}}}.dump()}),
      201)["id"];
  const std::string org_b = CreateOrg(*d, "B");
  const Token ta = IssueToken(*d, CreateUser(*d, org_a, "a", {"sender"}));
  const Token tb = IssueToken(*d, CreateUser(*d, org_b, "b", {"sender"}));
  RequestOptions with_a{.token = ta.secret};
  with_a.client_cert = dir + "/a.crt";
  with_a.client_key = dir + "/a.key";
  CHECK(Request(*d, "GET", "/api/v1/me", with_a).status == 200);
  with_a.token = tb.secret;  // org B's token over org A's certificate
  auto mismatch = Request(*d, "GET", "/api/v1/me", with_a);
  CHECK(mismatch.status == 403);
  CHECK(mismatch.Json()["type"] == "urn:xgw:problem:client-certificate");
  RequestOptions stranger{.token = tb.secret};
  stranger.client_cert = dir + "/stranger.crt";
  stranger.client_key = dir + "/stranger.key";
  CHECK(Request(*d, "GET", "/api/v1/me", stranger).status == 403);
  // Optional: without a certificate the token alone decides.
  CHECK(Request(*d, "GET", "/api/v1/me", {.token = tb.secret}).status == 200);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}
