#include <catch2/catch.hpp>

#include "config/config.h"

using nlohmann::json;
using xgw::Config;
using xgw::DumpConfig;
using xgw::ParseConfig;
using xgw::ParseConfigText;

TEST_CASE("EmptyConfigGivesDocumentedDefaults") {
  auto c = ParseConfig(json::object());
  REQUIRE(c);
  CHECK(c->state_dir == "/var/lib/xgwd");
  CHECK(c->listen == "127.0.0.1:8443");
  CHECK(c->threads == 2);
  CHECK(c->tls.cert_file == "/var/lib/xgwd/tls/server.crt");
  CHECK(c->tls.client_auth == "none");
  CHECK(c->limits.max_header_bytes == 16384);
  CHECK(c->limits.max_upload_bytes == 1024ull * 1024 * 1024);
  CHECK(c->tokens.default_ttl_seconds == 30 * 86400);
}

TEST_CASE("DumpReparsesToItself") {
  auto c = ParseConfig(json{{"state_dir", "/srv/xgw/"},
                            {"listen", "[::1]:0"},
                            {"threads", 4},
                            {"tls", {{"client_auth", "optional"}}},
                            {"limits", {{"max_header_bytes", 4096}, {"body_timeout_seconds", 5}}},
                            {"log", {{"requests", false}}}});
  REQUIRE(c);
  CHECK(c->state_dir == "/srv/xgw");  // trailing slash normalised
  const json dumped = DumpConfig(*c);
  auto again = ParseConfig(dumped);
  REQUIRE(again);
  CHECK(*again == *c);
  CHECK(DumpConfig(*again) == dumped);
  auto from_text = ParseConfigText(dumped.dump(2));
  REQUIRE(from_text);
  CHECK(*from_text == *c);
}

TEST_CASE("UnknownKeysAreErrorsNamingTheirPath") {
  auto top = ParseConfig(json{{"listne", "127.0.0.1:1"}});
  REQUIRE_FALSE(top);
  CHECK(top.error().message.find("$.listne") != std::string::npos);
  auto nested = ParseConfig(json{{"limits", {{"max_header_byte", 1}}}});
  REQUIRE_FALSE(nested);
  CHECK(nested.error().message.find("$.limits.max_header_byte") != std::string::npos);
  CHECK(nested.error().message.find("unknown key") != std::string::npos);
}

TEST_CASE("WrongTypesAndRangesNameTheKey") {
  auto a = ParseConfig(json{{"threads", "two"}});
  REQUIRE_FALSE(a);
  CHECK(a.error().message.find("$.threads") != std::string::npos);
  auto b = ParseConfig(json{{"threads", 0}});
  REQUIRE_FALSE(b);
  auto c = ParseConfig(json{{"limits", {{"max_header_bytes", -5}}}});
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("$.limits.max_header_bytes") != std::string::npos);
  auto d = ParseConfig(json{{"tls", {{"client_auth", "sometimes"}}}});
  REQUIRE_FALSE(d);
  CHECK(d.error().message.find("$.tls.client_auth") != std::string::npos);
  auto e = ParseConfig(json{{"log", {{"requests", 1}}}});
  REQUIRE_FALSE(e);
  auto f = ParseConfig(json{{"tokens", {{"default_ttl_seconds", 100}, {"max_ttl_seconds", 10}}}});
  REQUIRE_FALSE(f);
}

// Boost.Beast keeps a field in 16-bit offsets and throws on a longer one: a
// header limit above 64 KiB would let one long header end the daemon.
TEST_CASE("AHeaderLimitAbove64KiBIsRefusedBecauseBeastCannotHoldSuchAField") {
  CHECK(ParseConfig(json{{"limits", {{"max_header_bytes", 65536}}}}));
  auto big = ParseConfig(json{{"limits", {{"max_header_bytes", 70000}}}});
  REQUIRE_FALSE(big);
  CHECK(big.error().message.find("$.limits.max_header_bytes") != std::string::npos);
}

TEST_CASE("ConnectionRateAndPlaintextBudgetLimitsHaveDefaultsAndBounds") {
  auto c = ParseConfig(json::object());
  REQUIRE(c);
  CHECK(c->limits.max_connections_per_address == 64);
  CHECK(c->limits.min_body_bytes_per_second == 1024);
  CHECK(c->exchanges.plaintext_memory_budget_bytes == 256ull << 20);
  auto off = ParseConfig(json{{"limits", {{"max_connections_per_address", 0},
                                          {"min_body_bytes_per_second", 0}}}});
  REQUIRE(off);
  CHECK(off->limits.max_connections_per_address == 0);
  auto tiny = ParseConfig(json{{"exchanges", {{"plaintext_memory_budget_bytes", 1000}}}});
  REQUIRE_FALSE(tiny);
  CHECK(tiny.error().message.find("$.exchanges.plaintext_memory_budget_bytes") != std::string::npos);
}

TEST_CASE("StateDirMustBeAbsolute") {
  auto c = ParseConfig(json{{"state_dir", "relative/dir"}});
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("$.state_dir") != std::string::npos);
}

TEST_CASE("ConfigRootMustBeAnObjectOfValidJson") {
  CHECK_FALSE(ParseConfig(json::array()));
  auto bad = ParseConfigText("{\"listen\": ");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == xgw::ErrorCode::kFormat);
}

TEST_CASE("ListenAddressesAreIpLiteralsWithPorts") {
  auto v4 = xgw::ParseListenAddress("127.0.0.1:0");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 0);
  auto v6 = xgw::ParseListenAddress("[::1]:8443");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8443);
  CHECK_FALSE(xgw::ParseListenAddress("localhost:80"));
  CHECK_FALSE(xgw::ParseListenAddress("127.0.0.1"));
  CHECK_FALSE(xgw::ParseListenAddress("127.0.0.1:65536"));
  CHECK_FALSE(xgw::ParseListenAddress("127.0.0.1:-1"));
  CHECK_FALSE(xgw::ParseListenAddress("[::1:80"));
  CHECK_FALSE(ParseConfig(json{{"listen", "0.0.0.0:http"}}));
}

TEST_CASE("ReloadReportsKeysThatNeedARestart") {
  Config a;
  Config b = a;
  b.limits.max_json_body_bytes = 2048;
  b.tls.cert_file = "/x.crt";
  CHECK(xgw::KeysNeedingRestart(a, b).empty());
  b.listen = "127.0.0.1:9";
  b.threads = 3;
  const std::string fixed = xgw::KeysNeedingRestart(a, b);
  CHECK(fixed.find("$.listen") != std::string::npos);
  CHECK(fixed.find("$.threads") != std::string::npos);
}

TEST_CASE("SubjectKeysDirIsOffByDefaultAndResolvedAgainstTheStateDir") {
  auto off = ParseConfig(json::object());
  REQUIRE(off);
  CHECK(off->exchanges.subject_keys_dir.empty());
  CHECK(DumpConfig(*off)["exchanges"]["subject_keys_dir"] == "");

  auto relative = ParseConfig(
      json{{"state_dir", "/srv/xgw/"}, {"exchanges", {{"subject_keys_dir", "subject-keys/"}}}});
  REQUIRE(relative);
  CHECK(relative->exchanges.subject_keys_dir == "/srv/xgw/subject-keys");
  auto absolute =
      ParseConfig(json{{"exchanges", {{"subject_keys_dir", "/etc/xgwd/subject-keys"}}}});
  REQUIRE(absolute);
  CHECK(absolute->exchanges.subject_keys_dir == "/etc/xgwd/subject-keys");

  // The dump shows the resolved path, and re-parses to the same configuration.
  const json dumped = DumpConfig(*relative);
  CHECK(dumped["exchanges"]["subject_keys_dir"] == "/srv/xgw/subject-keys");
  auto again = ParseConfig(dumped);
  REQUIRE(again);
  CHECK(*again == *relative);
  CHECK(DumpConfig(*again) == dumped);

  auto wrong = ParseConfig(json{{"exchanges", {{"subject_keys_dir", 7}}}});
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().message.find("$.exchanges.subject_keys_dir") != std::string::npos);
}

TEST_CASE("AccountsAndPublicOriginHaveDocumentedDefaultsAndRefuseBadValues") {
  auto c = ParseConfig(json::object());
  REQUIRE(c);
  CHECK(c->server.public_origin.empty());
  CHECK(c->accounts.backoff_after_failures == 3);
  CHECK(c->accounts.lockout_after_failures == 10);
  CHECK(c->accounts.invitation_ttl_seconds == 72 * 3600);
  CHECK(c->accounts.browser_idle_seconds == 30 * 60);
  CHECK(c->accounts.browser_absolute_seconds == 12 * 3600);
  auto set = ParseConfig(json{{"server", {{"public_origin", "https://xgw.example.be:8443"}}},
                              {"accounts", {{"lockout_after_failures", 5}, {"cli_idle_seconds", 3600}}}});
  REQUIRE(set);
  CHECK(set->accounts.lockout_after_failures == 5);
  CHECK(set->accounts.cli_idle_seconds == 3600);
  auto again = ParseConfig(DumpConfig(*set));
  REQUIRE(again);
  CHECK(*again == *set);
  for (const char* bad : {"http://xgw.example.be", "https://xgw.example.be/", "https://xgw.example.be/app", "https://"}) {
    INFO(bad);
    auto r = ParseConfig(json{{"server", {{"public_origin", bad}}}});
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("$.server.public_origin") != std::string::npos);
  }
  auto zero = ParseConfig(json{{"accounts", {{"lockout_after_failures", 0}}}});
  REQUIRE_FALSE(zero);
  CHECK(zero.error().message.find("$.accounts.lockout_after_failures") != std::string::npos);
}

TEST_CASE("SsoProvidersAreValidatedAndReparse") {
  auto none = ParseConfig(json::object());
  REQUIRE(none);
  CHECK(none->sso.providers.empty());
  CHECK(none->sso.login_ttl_seconds == 600);
  const json good = {{"state_dir", "/var/lib/xgwd"},
                     {"sso",
                      {{"providers",
                        {{{"org", "org-abc"},
                          {"issuer", "https://login.example.org/tenant/v2.0"},
                          {"client_id", "0f1e-22"},
                          {"client_secret_file", "sso/thuispunt.secret"},
                          {"claim", "oid"}}}},
                       {"jwks_refetch_seconds", 30}}}};
  auto c = ParseConfig(good);
  REQUIRE(c);
  REQUIRE(c->sso.providers.size() == 1);
  CHECK(c->sso.providers[0].client_secret_file == "/var/lib/xgwd/sso/thuispunt.secret");
  CHECK(c->sso.providers[0].scope == "openid");
  CHECK(c->sso.jwks_refetch_seconds == 30);
  auto again = ParseConfig(DumpConfig(*c));
  REQUIRE(again);
  CHECK(*again == *c);

  const auto error_of = [&](const char* key, json value) {
    json doc = good;
    doc["sso"]["providers"][0][key] = value;
    auto r = ParseConfig(doc);
    return r ? std::string("accepted") : r.error().message;
  };
  CHECK(error_of("issuer", "http://login.example.org").find("$.sso.providers[0].issuer") != std::string::npos);
  CHECK(error_of("issuer", "https://login.example.org/?x=1").find("issuer") != std::string::npos);
  CHECK(error_of("org", "thuispunt").find("$.sso.providers[0].org") != std::string::npos);
  CHECK(error_of("client_id", "").find("client_id") != std::string::npos);
  CHECK(error_of("client_secret_file", "").find("client_secret_file") != std::string::npos);
  CHECK(error_of("claim", "a b").find("claim") != std::string::npos);
  CHECK(error_of("scope", "email profile").find("scope") != std::string::npos);
  CHECK(error_of("secret", "inline").find("$.sso.providers[0].secret") != std::string::npos);
  json twice = good;
  twice["sso"]["providers"].push_back(good["sso"]["providers"][0]);
  CHECK_FALSE(ParseConfig(twice));
  // Providers are read at start-up.
  json changed = good;
  changed["sso"]["providers"][0]["claim"] = "email";
  CHECK(xgw::KeysNeedingRestart(*c, *ParseConfig(changed)) == "$.sso");
}
