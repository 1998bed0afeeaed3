// Credentials that warn before they expire (issue 17 item 7), through the
// real xgwd (manual clock) and build/bin/xgw: every authenticated answer
// carries Xgw-Credential-Expires(-In), xgw warns on stderr once per command
// when its API token stops working within 7 days (at 6 days, not at 8), and
// /metrics has the earliest active token expiry and the TLS certificate's.
#include <catch2/catch.hpp>
#include <ctime>
#include <string>

#include "tests/e2e/cir_test_data.h"
#include "tests/client/cli_world.h"
#include "tests/e2e/harness.h"

namespace xgw::e2e {
namespace {

using nlohmann::json;

constexpr const char* kWarning = "warning: your API token stops working in";

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

int64_t ParseUtc(const std::string& text) {
  std::tm tm{};
  REQUIRE(strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
  return timegm(&tm);
}

TEST_CASE("xgw warns once per command when its API token expires within 7 days (at 6 days, not at 8)") {
  CliWorld w;
  const auto op = [&](const std::string& method, const std::string& path, const json& body = nullptr) {
    return Request(*w.d, method, path, {.token = w.d->operator_token(), .body = body.is_null() ? "" : body.dump()});
  };
  // A person whose token lasts 8 days from the gateway's (manual) now.
  const std::string id = w.RunJson("operator", "user create --org " + w.thuispunt + " --name 'Kort' --role sender")["id"];
  int rc = -1;
  const std::string token = RunCommand(
      "XGW_CONFIG=" + w.dir + "/operator.json " + w.xgw + " token issue " + id + " --ttl 8d 2>/dev/null", &rc);
  REQUIRE(rc == 0);
  WriteFile(w.dir + "/kort.tok", token);
  w.Ok("kort", "login --gateway " + w.d->base_url() + " --token-file kort.tok --pin " + w.pin);

  SECTION("the header names the expiry; the gateway's clock decides how much is left") {
    const HttpResult me = Request(*w.d, "GET", "/api/v1/me", {.token = Trimmed(token)});
    REQUIRE(me.status == 200);
    const std::string now = op("GET", "/api/v1/admin/clock").Json()["now"];
    const int64_t expires = ParseUtc(me.Header("Xgw-Credential-Expires"));
    CHECK(expires == ParseUtc(now) + 8 * 86400);
    CHECK(me.Header("Xgw-Credential-Expires-In") == std::to_string(8 * 86400));
    // Public routes carry no credential, so no header.
    CHECK(Request(*w.d, "GET", "/healthz", {}).Header("Xgw-Credential-Expires").empty());
  }

  SECTION("8 days left: no warning; 6 days left: one warning that says what to do") {
    std::string err;
    w.Run("kort", "whoami", &rc, &err);
    REQUIRE(rc == 0);
    CHECK(Count(err, kWarning) == 0);

    REQUIRE(op("POST", "/api/v1/admin/clock", json{{"advance_seconds", 2 * 86400}}).status == 200);
    w.Run("kort", "whoami", &rc, &err);
    REQUIRE(rc == 0);
    CHECK(Count(err, kWarning) == 1);
    CHECK(err.find("6 day(s) 0 hour(s)") != std::string::npos);
    CHECK(err.find("xgw token issue") != std::string::npos);
    CHECK(err.find(Trimmed(token)) == std::string::npos);
    // A command of several requests still warns once.
    w.Run("kort", "inbox", &rc, &err);
    CHECK(Count(err, kWarning) == 1);
    // --json output on stdout is untouched by the warning.
    CHECK(w.RunJson("kort", "whoami")["id"] == id);
    // A token with 300 days left does not warn.
    w.Run("sender", "whoami", &rc, &err);
    REQUIRE(rc == 0);
    CHECK(Count(err, kWarning) == 0);
  }

  SECTION("/metrics: earliest active token expiry and the TLS certificate's notAfter") {
    const HttpResult m = op("GET", "/metrics");
    REQUIRE(m.status == 200);
    const std::string now = op("GET", "/api/v1/admin/clock").Json()["now"];
    const std::string gauge = "\nxgw_api_token_earliest_expiry_seconds " + std::to_string(ParseUtc(now) + 8 * 86400) + "\n";
    CHECK(m.body.find(gauge) != std::string::npos);
    CHECK(m.body.find("# TYPE xgw_tls_certificate_expiry_seconds gauge") != std::string::npos);
    CHECK(m.body.find("\nxgw_tls_certificate_expiry_seconds ") != std::string::npos);
    // Revoked tokens no longer count: revoke the short one, the gauge moves later.
    const json list = w.RunJson("operator", "token list " + id);
    REQUIRE(list.is_array());
    REQUIRE(!list.empty());
    w.Ok("operator", "token revoke " + list[0]["id"].get<std::string>());
    CHECK(op("GET", "/metrics").body.find(gauge) == std::string::npos);
  }
}

}  // namespace
}  // namespace xgw::e2e

namespace xgw::e2e {
namespace {

// Issue 17 item 4: `xgw protocols` says what THIS person may do, not what
// their organisation does ("(you may receive)" to a person whose role the
// protocol does not name was the bug).
TEST_CASE("xgw protocols says what this person may do under each protocol, and why not") {
  CliWorld w;
  w.MakeUser("clerk", w.ocmw, "accountant");
  int rc = -1;
  const std::string clerk = w.Run("clerk", "protocols", &rc);
  REQUIRE(rc == 0);
  CHECK(clerk.find("you may receive") == std::string::npos);
  CHECK(clerk.find("(you may not send or receive: the protocol names the roles administrative-staff, "
                   "head-social-worker, social-worker-thuislozenzorg, social-worker-welzijnsbureau for your "
                   "organisation; you have accountant)") != std::string::npos);
  const std::string worker = w.Run("worker", "protocols", &rc);
  REQUIRE(rc == 0);
  CHECK(worker.find("(you may receive; your organisation only receives under it)") != std::string::npos);
  const std::string sender = w.Run("sender", "protocols", &rc);
  REQUIRE(rc == 0);
  CHECK(sender.find("(you may send; your organisation only sends under it)") != std::string::npos);
  // --json keeps the organisation's role and adds the person's.
  const nlohmann::json items = w.RunJson("clerk", "protocols");
  REQUIRE(items.size() == 1);
  CHECK(items[0]["my_role"] == "recipient");
  CHECK(items[0]["you_may"] == "nothing");
}

}  // namespace
}  // namespace xgw::e2e

namespace xgw::e2e {
namespace {

// Issue 17 item 5: a second organisation with a registered enterprise number
// (in any spelling) is refused 409 and nothing is created.
TEST_CASE("a second organisation with an existing enterprise number is refused (409), nothing created") {
  CliWorld w;
  const size_t before = w.RunJson("operator", "org list").size();
  int rc = -1;
  std::string err;
  w.Run("operator", "org create --name 'Thuispunt Gent bis' --enterprise-number 0400032156", &rc, &err);
  CHECK(rc != 0);
  CHECK(err.find("409") != std::string::npos);
  CHECK(err.find("enterprise_number") != std::string::npos);
  CHECK(err.find("0400032156") == std::string::npos);  // errors name the field, never the value
  const HttpResult r = Request(*w.d, "POST", "/api/v1/orgs",
                               {.token = w.d->operator_token(),
                                .body = nlohmann::json{{"name", "x"}, {"enterprise_number", "BE 0400.032.156"}}.dump()});
  CHECK(r.status == 409);
  CHECK(w.RunJson("operator", "org list").size() == before);
}

TEST_CASE("times are shown in the reader's organisation's time zone, and an unknown zone is refused") {
  CliWorldOptions o;
  o.ocmw_time_zone = "America/New_York";
  CliWorld w(o);
  const json orgs = w.RunJson("operator", "org list");
  for (const auto& org : orgs) CHECK(org["time_zone"] == (org["id"] == w.ocmw ? "America/New_York" : "Europe/Brussels"));
  WriteFile(w.dir + "/list.csv", kCirHeader + CirRow(1));
  w.Ok("sender", "send --protocol " + kCliProtocolId + " list.csv");
  int rc = -1;
  std::string err;
  // 20 September 2024: 09:00 in Brussels (+02:00) is 03:00 in New York (-04:00).
  const std::string received = w.Run("worker", "inbox", &rc, &err);
  CHECK(rc == 0);
  CHECK(received.find("sent 2024-09-20 03:00 -04:00") != std::string::npos);
  const std::string sent = w.Run("sender", "inbox --sent", &rc, &err);
  CHECK(sent.find("sent 2024-09-20 09:00 +02:00") != std::string::npos);
  // XGW_TIME_ZONE still chooses for one person.
  const std::string chosen = RunCommand("XGW_TIME_ZONE=Europe/Amsterdam XGW_CONFIG=" + w.dir + "/worker.json " + w.xgw +
                                            " inbox 2>/dev/null",
                                        &rc);
  CHECK(chosen.find("sent 2024-09-20 09:00 +02:00") != std::string::npos);
  // A zone the tz database does not know, or a path: refused, nothing created.
  const size_t before = orgs.size();
  for (const std::string zone : {"Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", ""}) {
    const HttpResult r = Request(*w.d, "POST", "/api/v1/orgs",
                                 {.token = w.d->operator_token(),
                                  .body = json{{"name", "Elders"}, {"time_zone", zone}}.dump()});
    CHECK(r.status == 400);
    CHECK(r.body.find("time_zone") != std::string::npos);
  }
  CHECK(w.RunJson("operator", "org list").size() == before);
}

TEST_CASE("a user with a role no protocol names for the organisation is created, with a warning") {
  CliWorld w;
  int rc = -1;
  std::string err;
  // A misspelt recipient role: created (the protocol may come later), but the operator is told at once.
  w.Run("operator", "user create --org " + w.ocmw + " --name 'New colleague' --role social-worker-welzijnsbureu", &rc,
        &err);
  CHECK(rc == 0);
  CHECK(err.find("warning: role 'social-worker-welzijnsbureu' is named by no protocol") != std::string::npos);
  // The role the CIR protocol names for OCMW Gent, and the system roles: no warning.
  const HttpResult ok = Request(*w.d, "POST", "/api/v1/orgs/" + w.ocmw + "/users",
                                {.token = w.d->operator_token(),
                                 .body = nlohmann::json{{"display_name", "Colleague"},
                                                        {"roles", {"social-worker-welzijnsbureau", "dpo"}}}
                                             .dump()});
  REQUIRE(ok.status == 201);
  CHECK(ok.Json()["warnings"].empty());
  // The same role in the sending organisation is named for no receiver there: a warning; setting
  // roles through PUT .../roles warns too.
  const HttpResult other = Request(*w.d, "POST", "/api/v1/orgs/" + w.thuispunt + "/users",
                                   {.token = w.d->operator_token(),
                                    .body = nlohmann::json{{"display_name", "Clerk 2"},
                                                           {"roles", {"social-worker-welzijnsbureau", "sender"}}}
                                                .dump()});
  REQUIRE(other.status == 201);
  REQUIRE(other.Json()["warnings"].size() == 1);
  const std::string id = other.Json()["id"];
  const HttpResult set = Request(*w.d, "PUT", "/api/v1/users/" + id + "/roles",
                                 {.token = w.d->operator_token(),
                                  .body = nlohmann::json{{"roles", {"sender", "typo-role"}}}.dump()});
  REQUIRE(set.status == 200);
  CHECK(set.Json()["warnings"].size() == 1);
}

}  // namespace
}  // namespace xgw::e2e
