#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "gateway/audit_sink.h"
#include "gateway/ids.h"
#include "gateway/api_identities.h"
#include "gateway/http/router.h"

namespace fs = std::filesystem;
using namespace xgw;
using nlohmann::json;

namespace {

// A MemoryAuditSink that can be told to fail every append, as the durable
// log does after a failed commit.
class FailableAuditSink final : public AuditSink {
 public:
  Result<void> Append(const RequestRecord& record) override {
    if (failing) return Fail(ErrorCode::kIo, "audit log unavailable (test)");
    return inner.Append(record);
  }
  std::vector<RequestRecord> Snapshot() const { return inner.Snapshot(); }
  bool failing = false;

 private:
  MemoryAuditSink inner;
};

// The router and operator API without a socket: Prepare, feed the body, Finish.
struct Fixture {
  Fixture() : config(MakeConfig()) {
    char tmpl[] = "/tmp/xgw-router-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
    store = std::move(*IdentityStore::Open(dir + "/db.sqlite"));
    router = std::make_unique<Router>(config, *store, metrics, audit);
    RegisterOperatorRoutes(*router);
    auto org = store->CreateOrganisation({"ops", {}, {}, {}}, 1);
    auto op = store->CreateUser(org->id, "op", {"operator"}, 1);
    operator_token = store->IssueToken(op->id, 1'000'000'000'000, {}, 1)->secret;
  }
  ~Fixture() { fs::remove_all(dir); }
  static Config MakeConfig() {
    Config c;
    c.limits.max_json_body_bytes = 2048;
    return c;
  }

  Response Call(const std::string& method, const std::string& target, const std::string& token,
                const std::string& body = "", const std::string& content_type = "application/json") {
    RequestHead h;
    h.method = method;
    h.target = target;
    h.request_id = NewId(kRequestPrefix);
    if (!token.empty()) h.authorization = "Bearer " + token;
    if (!body.empty()) {
      h.content_type = content_type;
      h.content_length = body.size();
    }
    Dispatch d = router->Prepare(h);
    if (d.response) return std::move(*d.response);
    REQUIRE(d.sink);
    REQUIRE(d.sink->Write(AsBytes(body)));
    return d.sink->Finish();
  }

  ConfigHolder config;
  std::string dir;
  std::unique_ptr<IdentityStore> store;
  Metrics metrics;
  FailableAuditSink audit;
  std::unique_ptr<Router> router;
  std::string operator_token;
};

json Body(const Response& r) { return json::parse(r.body); }

}  // namespace

TEST_CASE("RouterAnswersUnknownPathsMethodsAndBadIdsWithProblems") {
  Fixture f;
  auto r404 = f.Call("GET", "/api/v1/nothing", f.operator_token);
  CHECK(r404.status == 404);
  CHECK(r404.content_type == "application/problem+json");
  CHECK(Body(r404)["request_id"].get<std::string>().rfind("req-", 0) == 0);
  auto r405 = f.Call("PATCH", "/api/v1/orgs", f.operator_token);
  CHECK(r405.status == 405);
  auto bad_id = f.Call("GET", "/api/v1/users/usr-nope", f.operator_token);
  CHECK(bad_id.status == 400);
  CHECK(Body(bad_id)["detail"].get<std::string>().find("'user'") != std::string::npos);
  CHECK(f.Call("GET", "/api/v1/users/%2e%2e", f.operator_token).status == 400);
  CHECK(f.Call("GET", "/api/v1/users/../orgs", f.operator_token).status == 400);
  CHECK(f.Call("GET", "/api/v1//orgs", f.operator_token).status == 400);
  CHECK(f.Call("GET", "/healthz", "").status == 200);
}

TEST_CASE("RouterRefusesMissingAndWrongTokensAndRecordsTheDecision") {
  Fixture f;
  auto none = f.Call("GET", "/api/v1/me", "");
  CHECK(none.status == 401);
  auto wrong = f.Call("GET", "/api/v1/me", NewTokenSecret());
  CHECK(wrong.status == 401);
  CHECK(Body(none)["detail"] == Body(wrong)["detail"]);
  // Nobody authenticated: the first refusal of the minute is recorded at
  // once, the rest as one record with their count when the minute is over.
  auto records = f.audit.Snapshot();
  REQUIRE(records.size() == 1);
  CHECK(records[0].outcome == "refused");
  CHECK(records[0].route == "/api/v1/me");
  CHECK(records[0].status == 401);
  CHECK(records[0].count == 1);
  f.router->FlushRefusals(/*all=*/true);
  records = f.audit.Snapshot();
  REQUIRE(records.size() == 2);
  CHECK(records[1].status == 401);
  CHECK(records[1].count == 1);
}

TEST_CASE("OperatorCreatesOrganisationsUsersAndTokens") {
  Fixture f;
  auto org = f.Call("POST", "/api/v1/orgs", f.operator_token,
                    R"({"name":"OCMW Gent","enterprise_number":"0212.214.125"})");
  REQUIRE(org.status == 201);
  const std::string org_id = Body(org)["id"];
  auto user = f.Call("POST", "/api/v1/orgs/" + org_id + "/users", f.operator_token,
                     R"({"display_name":"worker","roles":["social_worker"]})");
  REQUIRE(user.status == 201);
  const std::string user_id = Body(user)["id"];
  auto token = f.Call("POST", "/api/v1/users/" + user_id + "/tokens", f.operator_token,
                      R"({"ttl_seconds":3600})");
  REQUIRE(token.status == 201);
  const std::string secret = Body(token)["token"];
  auto me = f.Call("GET", "/api/v1/me", secret);
  REQUIRE(me.status == 200);
  CHECK(Body(me)["id"] == user_id);
  CHECK(Body(me)["roles"] == json::array({"social_worker"}));
  // The worker may not create organisations, nor see another org's user.
  CHECK(f.Call("POST", "/api/v1/orgs", secret, R"({"name":"x"})").status == 403);
  auto audit = f.audit.Snapshot();
  CHECK(audit.back().outcome == "refused");
  CHECK(audit.back().actor_user_id == user_id);
  // Nothing personal in audit records: only ids, routes and reasons.
  for (const auto& rec : audit) CHECK(rec.route.find("OCMW") == std::string::npos);
}

TEST_CASE("JsonBodiesAreCheckedStrictly") {
  Fixture f;
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, "{\"name\":").status == 400);
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":"a","name":"b"})").status ==
        400);
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, R"(["name"])").status == 400);
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":5})").status == 400);
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":"a"})", "text/plain").status ==
        415);
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":"a"})",
               "application/json; charset=utf-8")
            .status == 201);
  const std::string big = R"({"name":")" + std::string(4000, 'a') + "\"}";
  CHECK(f.Call("POST", "/api/v1/orgs", f.operator_token, big).status == 413);
  // A problem never echoes a submitted value.
  auto r = f.Call("POST", "/api/v1/orgs", f.operator_token,
                  R"({"name":"Jan Peeters","enterprise_number":"85073003328"})");
  CHECK(r.status == 400);
  CHECK(r.body.find("85073003328") == std::string::npos);
  CHECK(r.body.find("Jan") == std::string::npos);
  CHECK(Body(r)["detail"].get<std::string>().find("enterprise_number") != std::string::npos);
}

TEST_CASE("MetricsCountersForExchangesAreRegisteredAtZero") {
  Metrics m;
  m.CountRequest("/healthz", "GET", 200);
  m.CountRefusal("forbidden");
  const std::string text = m.RenderPrometheus();
  CHECK(text.find("xgw_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1") !=
        std::string::npos);
  CHECK(text.find("xgw_refusals_total{reason=\"forbidden\"} 1") != std::string::npos);
  CHECK(text.find("xgw_exchanges_total{outcome=\"accepted\"} 0") != std::string::npos);
  CHECK(text.find("xgw_sweeper_lag_seconds 0") != std::string::npos);
}

TEST_CASE("OperatorChangesAreAuditedBeforeTheyCommitAndRolledBackWhenTheyCannotBe") {
  Fixture f;
  const auto orgs_before = f.store->ListOrganisations();
  REQUIRE(orgs_before);
  f.audit.failing = true;
  auto refused = f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":"OCMW Gent"})");
  CHECK(refused.status == 503);
  CHECK(Body(refused)["type"] == "urn:xgw:problem:audit-unavailable");
  const auto orgs_after = f.store->ListOrganisations();
  REQUIRE(orgs_after);
  CHECK(orgs_after->size() == orgs_before->size());
  // Reads are not affected.
  CHECK(f.Call("GET", "/api/v1/me", f.operator_token).status == 200);

  f.audit.failing = false;
  auto created = f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":"OCMW Gent"})");
  CHECK(created.status == 201);
  // One record for the change, written before it was committed.
  auto records = f.audit.Snapshot();
  REQUIRE(records.size() == 1);
  CHECK(records[0].route == "/api/v1/orgs");
  CHECK(records[0].outcome == "allowed");
  // A change its checks refuse is recorded once, with the reason; no record
  // says it was allowed.
  auto bad = f.Call("POST", "/api/v1/orgs", f.operator_token, R"({"name":"x","bogus":1})");
  CHECK(bad.status == 400);
  records = f.audit.Snapshot();
  REQUIRE(records.size() == 2);
  CHECK(records[1].outcome == "failed");
  CHECK(records[1].status == 400);
}
