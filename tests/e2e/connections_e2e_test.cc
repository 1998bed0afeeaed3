// End-to-end tests of xgwd's connection handling and its contract with the
// harness and systemd: limits.max_connections, tls.client_auth = "require",
// sd_notify (READY, WATCHDOG, STOPPING), and the harness failing a test whose
// daemon does not exit cleanly.
#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/harness.h"

using namespace xgw::e2e;
using nlohmann::json;

namespace {

// The same pin as curl and `xgw login --pin` spell it: "sha256//<base64>".
std::string Base64Pin(const std::string& dir, const std::string& name) {
  std::string pin = RunCommand("openssl x509 -in " + dir + "/" + name +
                               ".crt -pubkey -noout | openssl pkey -pubin -outform der | "
                               "openssl dgst -sha256 -binary | base64 -w0");
  pin.erase(pin.find_last_not_of('\n') + 1);
  REQUIRE(pin.size() == 44);
  return "sha256//" + pin;
}

// The URL-safe form of a base64 pin for a path: '-' and '_', no padding.
std::string UrlSafePin(const std::string& base64_pin) {
  std::string s = base64_pin.substr(8);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

RequestOptions WithCertificate(const std::string& dir, const std::string& name,
                               const std::string& token = "") {
  RequestOptions o;
  o.token = token;
  o.client_cert = dir + "/" + name + ".crt";
  o.client_key = dir + "/" + name + ".key";
  return o;
}

// A unix datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Collects datagrams until one contains `needle` or `timeout_ms` passes.
  bool WaitForMessage(const std::string& needle, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      for (const auto& m : messages_) {
        if (m.find(needle) != std::string::npos) return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) messages_.emplace_back(buf, static_cast<size_t>(n));
    }
  }
  size_t Count(const std::string& needle) const {
    size_t n = 0;
    for (const auto& m : messages_) n += m.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
  // Index of the first message containing `needle`, or messages().size().
  size_t IndexOf(const std::string& needle) const {
    for (size_t i = 0; i < messages_.size(); ++i) {
      if (messages_[i].find(needle) != std::string::npos) return i;
    }
    return messages_.size();
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

// Sets an environment variable for the daemons started in its lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

}  // namespace

// The harness itself. The hidden ([.]) cases below are run one at a time in
// a child process of this test binary, and each child's exit status and
// report are checked: the harness must fail a test whose daemon did not exit
// cleanly, with the message that says why, and nothing else may pass for it
// (a daemon that never started fails with its own message).
TEST_CASE("HarnessSelfTest_DaemonKilledBeforeShutdown", "[.][harness-self-test]") {
  auto d = Daemon::Start();
  d->Signal(SIGKILL);  // not reaped yet: the destructor's SIGTERM finds it dead by SIGKILL
}

TEST_CASE("HarnessSelfTest_DaemonDiedOnItsOwnAndWasNotRestarted", "[.][harness-self-test]") {
  auto d = Daemon::Start();
  d->Signal(SIGKILL);
  REQUIRE(WaitFor([&] { return !d->Alive(); }, 10000));  // reaped here, status kept
}

TEST_CASE("HarnessSelfTest_DaemonThatExitsCleanly", "[.][harness-self-test]") {
  auto d = Daemon::Start();
  CHECK(Request(*d, "GET", "/healthz").status == 200);
}

TEST_CASE("HarnessSelfTest_DaemonThatNeverStarts", "[.][harness-self-test]") {
  auto d = Daemon::Start({{"limits", {{"max_connections", "not a number"}}}});
}

namespace {

struct SelfTestRun {
  int status = -1;
  std::string output;
};

// Runs one hidden case of this binary in a child process.
SelfTestRun RunSelfTest(const std::string& name) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  SelfTestRun run;
  run.output = RunCommand("'" + exe + "' '" + name + "' 2>&1", &run.status);
  return run;
}

}  // namespace

TEST_CASE("HarnessFailsTheTestWhenXgwdDiesBySignalBeforeShutdown") {
  const auto run = RunSelfTest("HarnessSelfTest_DaemonKilledBeforeShutdown");
  INFO(run.output);
  CHECK(run.status == 1);  // one failed assertion: the destructor's
  CHECK(run.output.find("xgwd exited with status 137 after SIGTERM") != std::string::npos);
  CHECK(run.output.find("1 failed") != std::string::npos);
}

TEST_CASE("HarnessFailsTheTestWhenXgwdDiedOnItsOwnAndWasNotRestarted") {
  const auto run = RunSelfTest("HarnessSelfTest_DaemonDiedOnItsOwnAndWasNotRestarted");
  INFO(run.output);
  CHECK(run.status == 1);
  CHECK(run.output.find("xgwd exited on its own with status 137") != std::string::npos);
}

TEST_CASE("HarnessPassesATestWhoseXgwdExitsCleanlyAndReportsOneThatNeverStartedAsSuch") {
  {
    const auto run = RunSelfTest("HarnessSelfTest_DaemonThatExitsCleanly");
    INFO(run.output);
    CHECK(run.status == 0);
    CHECK(run.output.find("xgwd exited") == std::string::npos);
    CHECK(run.output.find("All tests passed") != std::string::npos);
  }
  {
    const auto run = RunSelfTest("HarnessSelfTest_DaemonThatNeverStarts");
    INFO(run.output);
    CHECK(run.status == 1);
    CHECK(run.output.find("REQUIRE( port_ > 0 )") != std::string::npos);
    CHECK(run.output.find("status 137") == std::string::npos);
  }
}

TEST_CASE("MaxConnectionsClosesTheConnectionOverTheLimitAtOnceAndServesAgainWhenOneCloses") {
  auto d = Daemon::Start({{"limits", {{"max_connections", 2}}}});
  auto first = std::make_unique<RawTls>(d->port(), d->cacert());
  RawTls second(d->port(), d->cacert());
  REQUIRE(first->connected());
  REQUIRE(second.connected());

  // The third is closed at once: the transfer fails, and not by timing out.
  auto third = Request(*d, "GET", "/healthz", {.timeout_ms = 10000});
  CHECK(third.status == 0);
  CHECK(third.curl_code != 0);
  CHECK(third.curl_code != CURLE_OPERATION_TIMEDOUT);
  long rejected = 1;

  // The held connections are still served.
  REQUIRE(second.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  CHECK(second.ReadAll(1000).rfind("HTTP/1.1 200", 0) == 0);

  // Once one closes, a new connection is served. The daemon learns of a
  // close asynchronously: attempts in between are rejected, and counted.
  first.reset();
  auto until_served = [&](const std::string& path, const std::string& token) {
    HttpResult r;
    const bool served = WaitFor(
        [&] {
          r = Request(*d, "GET", path, {.token = token});
          if (r.status != 0) return true;
          ++rejected;
          return false;
        },
        10000);
    REQUIRE(served);
    return r;
  };
  CHECK(until_served("/healthz", "").status == 200);
  auto metrics = until_served("/metrics", d->operator_token());
  REQUIRE(metrics.status == 200);
  CHECK(MetricValue(metrics.body, "xgw_connections_rejected_total") == rejected);
  CHECK(d->Alive());
}

TEST_CASE("RequiredClientCertificateRefusesBareAndUnpinnedClientsAndMapsPinnedOnes") {
  // Organisations and pins are registered while certificates are optional
  // (an operator needs a pinned certificate of its own once they are
  // required), then the reload switches to "require".
  auto d = Daemon::Start({{"tls", {{"client_auth", "optional"}}}});
  const std::string dir = d->dir();
  const std::string pin_a = MakeClientCertificate(dir, "a");
  MakeClientCertificate(dir, "stranger");
  const std::string org_a = MustJson(
      Request(*d, "POST", "/api/v1/orgs",
              {.token = d->operator_token(),
               .body = json{{"name", "A"}, {"client_cert_pins", {pin_a}}}.dump()}),
      201)["id"];
  const std::string org_b = MustJson(Request(*d, "POST", "/api/v1/orgs",
                                             {.token = d->operator_token(),
                                              .body = json{{"name", "B"}}.dump()}),
                                     201)["id"];
  auto token_for = [&](const std::string& org) -> std::string {
    const std::string user =
        MustJson(Request(*d, "POST", "/api/v1/orgs/" + org + "/users",
                         {.token = d->operator_token(),
                          .body = json{{"display_name", "u"}, {"roles", {"sender"}}}.dump()}),
                 201)["id"];
    return MustJson(Request(*d, "POST", "/api/v1/users/" + user + "/tokens",
                            {.token = d->operator_token(), .body = json{{"ttl_seconds", 3600}}.dump()}),
                    201)["token"];
  };
  const std::string token_a = token_for(org_a);
  const std::string token_b = token_for(org_b);
  // Here the first operator's organisation gets no pin (see
  // OperatorAddsAPinToTheInitOrganisation... for that), so operators who
  // will work under "require" get a pinned organisation of their own.
  const std::string pin_ops = MakeClientCertificate(dir, "ops");
  const std::string org_ops = MustJson(
      Request(*d, "POST", "/api/v1/orgs",
              {.token = d->operator_token(),
               .body = json{{"name", "operators"}, {"client_cert_pins", {pin_ops}}}.dump()}),
      201)["id"];
  const std::string ops_user =
      MustJson(Request(*d, "POST", "/api/v1/orgs/" + org_ops + "/users",
                       {.token = d->operator_token(),
                        .body = json{{"display_name", "ops"}, {"roles", {"operator"}}}.dump()}),
               201)["id"];
  const std::string token_ops =
      MustJson(Request(*d, "POST", "/api/v1/users/" + ops_user + "/tokens",
                       {.token = d->operator_token(), .body = json{{"ttl_seconds", 3600}}.dump()}),
               201)["token"];

  d->RewriteConfig({{"tls", {{"client_auth", "require"}}}});
  d->Signal(SIGHUP);
  REQUIRE(WaitFor([&] { return d->Log().find("configuration reloaded") != std::string::npos; }, 10000));

  // No certificate: refused during the TLS handshake, on any route.
  for (const std::string& path : {std::string("/healthz"), std::string("/api/v1/me")}) {
    auto bare = Request(*d, "GET", path, {.token = token_a});
    INFO(path << ": " << bare.curl_error);
    CHECK(bare.status == 0);
    CHECK(bare.curl_code != 0);
    CHECK(bare.curl_code != CURLE_OPERATION_TIMEDOUT);
  }
  CHECK(d->Alive());

  // A pinned certificate with its organisation's token: served, as org A.
  json me = MustJson(Request(*d, "GET", "/api/v1/me", WithCertificate(dir, "a", token_a)), 200);
  CHECK(me["organisation"]["id"] == org_a);

  // A pinned certificate with another organisation's token: 403, clear problem.
  auto crossed = Request(*d, "GET", "/api/v1/me", WithCertificate(dir, "a", token_b));
  CHECK(crossed.status == 403);
  CHECK(crossed.content_type == "application/problem+json");
  CHECK(crossed.Json()["type"] == "urn:xgw:problem:client-certificate");

  // A certificate whose pin no organisation registered: 403 with a valid
  // token, 401 without one; never served.
  auto stranger = Request(*d, "GET", "/api/v1/me", WithCertificate(dir, "stranger", token_b));
  CHECK(stranger.status == 403);
  CHECK(stranger.Json()["type"] == "urn:xgw:problem:client-certificate");
  CHECK(stranger.Json()["detail"].get<std::string>().find("SPKI pin") != std::string::npos);
  auto stranger_no_token = Request(*d, "GET", "/api/v1/me", WithCertificate(dir, "stranger"));
  CHECK(stranger_no_token.status == 401);

  // The pinned operator still administers the gateway; the first operator,
  // whose organisation has no pin, can no longer.
  auto created = Request(*d, "POST", "/api/v1/orgs",
                         [&] {
                           RequestOptions o = WithCertificate(dir, "ops", token_ops);
                           o.body = json{{"name", "C"}}.dump();
                           return o;
                         }());
  CHECK(created.status == 201);
  CHECK(Request(*d, "GET", "/api/v1/orgs", WithCertificate(dir, "ops", d->operator_token())).status ==
        403);

  CHECK(d->Alive());
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("SystemdNotificationsReadyWatchdogReloadingAndStopping") {
  char tmpl[] = "/tmp/xgw-notify-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string sock_dir = tmpl;
  {
    NotifySocket sock(sock_dir + "/notify");
    // sd_notify sends to $NOTIFY_SOCKET; WATCHDOG_USEC turns the keep-alive
    // on (every half period). The daemon inherits both from this process.
    ScopedEnv notify("NOTIFY_SOCKET", sock_dir + "/notify");
    ScopedEnv watchdog("WATCHDOG_USEC", "400000");
    auto d = Daemon::Start();

    // READY=1 once listening, naming the bound port.
    REQUIRE(sock.WaitForMessage("READY=1", 10000));
    const std::string& ready = sock.messages()[sock.IndexOf("READY=1")];
    CHECK(ready.find("STATUS=listening on 127.0.0.1:" + std::to_string(d->port())) !=
          std::string::npos);
    CHECK(Request(*d, "GET", "/healthz").status == 200);

    // Several keep-alives follow.
    REQUIRE(WaitFor(
        [&] {
          sock.WaitForMessage("no such message", 100);
          return sock.Count("WATCHDOG=1") >= 3;
        },
        10000));

    // SIGHUP: RELOADING=1, then READY=1 again once the reload is done.
    const size_t readies = sock.Count("READY=1");
    d->Signal(SIGHUP);
    REQUIRE(sock.WaitForMessage("RELOADING=1", 10000));
    REQUIRE(WaitFor(
        [&] {
          sock.WaitForMessage("no such message", 100);
          return sock.Count("READY=1") > readies;
        },
        10000));
    CHECK(sock.IndexOf("RELOADING=1") > sock.IndexOf("READY=1"));

    // SIGTERM: STOPPING=1, then a clean exit.
    CHECK(d->StopAndWait(SIGTERM) == 0);
    CHECK(sock.WaitForMessage("STOPPING=1", 1000));
    CHECK(sock.IndexOf("READY=1") < sock.IndexOf("STOPPING=1"));
  }
  std::error_code ec;
  std::filesystem::remove_all(sock_dir, ec);
}

namespace {

RequestOptions Json(const std::string& token, const json& body) {
  RequestOptions o;
  o.token = token;
  o.body = body.dump();
  return o;
}

// http.request events of successful changes concerning `org`, from the audit log.
size_t PinChangeEvents(const Daemon& d, const std::string& org) {
  json j = MustJson(Request(d, "GET", "/api/v1/audit/events?action=http.request&organisation=" + org +
                                          "&limit=1000",
                            {.token = d.operator_token()}),
                    200);
  // A change is recorded before it runs ("success": allowed) and again if it
  // then fails ("failed"/"refused", same request id): count the requests
  // that were allowed and did not fail.
  std::map<std::string, bool> changed;  // request id -> allowed and not failed
  for (const auto& it : j["items"]) {
    const json& ev = it["event"];
    bool about_org = false;
    if (ev.contains("orgs") && ev["orgs"].is_array()) {
      for (const auto& o : ev["orgs"]) about_org = about_org || o == org;
    }
    if (!about_org) continue;
    const std::string rid = ev.value("request", "");
    const bool success = ev.value("outcome", "") == "success";
    auto [pos, fresh] = changed.emplace(rid, success);
    if (!fresh) pos->second = pos->second && success;
  }
  size_t n = 0;
  for (const auto& [rid, ok] : changed) n += ok ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("OperatorAddsAPinToTheInitOrganisationAndKeepsWorkingWhenClientCertificatesAreRequired") {
  auto d = Daemon::Start();
  const std::string dir = d->dir();
  const std::string op = d->operator_token();
  const std::string ops_org = MustJson(Request(*d, "GET", "/api/v1/me", {.token = op}), 200)["organisation"]["id"];
  const std::string pins_path = "/api/v1/orgs/" + ops_org + "/client-pins";
  const std::string hex_pin = MakeClientCertificate(dir, "ops");
  const std::string b64_pin = Base64Pin(dir, "ops");
  const std::string pin_id = hex_pin.substr(7);

  CHECK(MustJson(Request(*d, "GET", pins_path, {.token = op}), 200)["items"].empty());
  const size_t events_before = PinChangeEvents(*d, ops_org);

  // Added in curl's spelling; listed in every spelling, with its id.
  json added = MustJson(Request(*d, "POST", pins_path, Json(op, {{"pin", b64_pin}})), 201);
  CHECK(added["id"] == pin_id);
  CHECK(added["pin"] == hex_pin);
  CHECK(added["pin_base64"] == b64_pin);
  // Adding it again (in the other spelling) changes nothing.
  CHECK(MustJson(Request(*d, "POST", pins_path, Json(op, {{"pin", hex_pin}})), 200)["id"] == pin_id);
  json listed = MustJson(Request(*d, "GET", pins_path, {.token = op}), 200);
  REQUIRE(listed["items"].size() == 1);
  CHECK(listed["items"][0]["id"] == pin_id);
  CHECK(MustJson(Request(*d, "GET", "/api/v1/orgs/" + ops_org, {.token = op}), 200)["client_cert_pins"] ==
        json::array({hex_pin}));

  // Malformed pins: 400 with a problem that says what to give; nothing changes.
  const std::vector<json> bad = {
      {{"pin", "sha256:" + pin_id.substr(0, 63)}},
      {{"pin", "sha256:" + std::string(64, 'g')}},
      {{"pin", pin_id}},
      {{"pin", "sha1:" + pin_id.substr(0, 40)}},
      {{"pin", "sha256//" + b64_pin.substr(8, 43)}},
      {{"pin", "sha256//" + b64_pin.substr(8, 42) + "-="}},  // URL-safe alphabet
      {{"pin", 42}},
      json::object(),
      {{"pin", hex_pin}, {"org", ops_org}},
  };
  for (const auto& body : bad) {
    auto r = Request(*d, "POST", pins_path, Json(op, body));
    INFO(body.dump() << " -> " << r.status << " " << r.body);
    CHECK(r.status == 400);
    CHECK(r.content_type == "application/problem+json");
    CHECK(r.Json()["detail"].get<std::string>().find("pin") != std::string::npos);
  }
  auto bad_id = Request(*d, "DELETE", pins_path + "/not-a-pin", {.token = op});
  CHECK(bad_id.status == 400);
  CHECK(MustJson(Request(*d, "GET", pins_path, {.token = op}), 200)["items"].size() == 1);

  // A pin maps to one organisation only: 409, and both stay as they were.
  const std::string other_pin = MakeClientCertificate(dir, "other");
  const std::string other_org =
      MustJson(Request(*d, "POST", "/api/v1/orgs", Json(op, {{"name", "Other"}, {"client_cert_pins", {other_pin}}})),
               201)["id"];
  auto taken = Request(*d, "POST", pins_path, Json(op, {{"pin", other_pin}}));
  CHECK(taken.status == 409);
  CHECK(taken.Json()["detail"].get<std::string>().find("another organisation") != std::string::npos);
  auto taken_back = Request(*d, "POST", "/api/v1/orgs/" + other_org + "/client-pins", Json(op, {{"pin", hex_pin}}));
  CHECK(taken_back.status == 409);
  CHECK(MustJson(Request(*d, "GET", pins_path, {.token = op}), 200)["items"].size() == 1);
  CHECK(MustJson(Request(*d, "GET", "/api/v1/orgs/" + other_org + "/client-pins", {.token = op}), 200)["items"]
            .size() == 1);
  // Removing a pin the organisation does not have: 404.
  CHECK(Request(*d, "DELETE", pins_path + "/" + other_pin.substr(7), {.token = op}).status == 404);

  // Non-operators, even of the organisation concerned: 403; no token: 401.
  const std::string user =
      MustJson(Request(*d, "POST", "/api/v1/orgs/" + other_org + "/users",
                       Json(op, {{"display_name", "u"}, {"roles", {"dpo", "sender"}}})),
               201)["id"];
  const std::string user_token =
      MustJson(Request(*d, "POST", "/api/v1/users/" + user + "/tokens", Json(op, {{"ttl_seconds", 3600}})), 201)["token"];
  const std::string other_pins = "/api/v1/orgs/" + other_org + "/client-pins";
  CHECK(Request(*d, "GET", other_pins, {.token = user_token}).status == 403);
  CHECK(Request(*d, "POST", other_pins, Json(user_token, {{"pin", hex_pin}})).status == 403);
  CHECK(Request(*d, "DELETE", other_pins + "/" + other_pin.substr(7), {.token = user_token}).status == 403);
  CHECK(Request(*d, "GET", other_pins, {}).status == 401);
  CHECK(MustJson(Request(*d, "GET", other_pins, {.token = op}), 200)["items"].size() == 1);

  // The two successful calls on the operators' organisation's pins (the add
  // and the repeated add) were audited; the refusals are recorded as such.
  CHECK(PinChangeEvents(*d, ops_org) == events_before + 2);

  // Certificates required from now on: the pinned operator still works.
  REQUIRE(d->StopAndWait(SIGTERM) == 0);
  d->RewriteConfig({{"tls", {{"client_auth", "require"}}}});
  d->Restart();
  auto bare = Request(*d, "GET", "/api/v1/orgs", {.token = op});
  CHECK(bare.status == 0);
  CHECK(MustJson(Request(*d, "GET", "/api/v1/orgs", WithCertificate(dir, "ops", op)), 200)["items"].size() == 2);

  // Removing the pin (by its URL-safe form) locks that certificate out at once.
  RequestOptions remove = WithCertificate(dir, "ops", op);
  json removed = MustJson(Request(*d, "DELETE", pins_path + "/" + UrlSafePin(b64_pin), remove), 200);
  CHECK(removed["id"] == pin_id);
  auto locked = Request(*d, "GET", "/api/v1/orgs", WithCertificate(dir, "ops", op));
  CHECK(locked.status == 403);
  CHECK(locked.Json()["type"] == "urn:xgw:problem:client-certificate");
  CHECK(locked.Json()["detail"].get<std::string>().find("SPKI pin") != std::string::npos);
  CHECK(Request(*d, "GET", "/api/v1/orgs", WithCertificate(dir, "ops")).status == 401);

  // The removal was audited too (checked without certificates: the operator
  // just locked itself out).
  CHECK(d->StopAndWait(SIGTERM) == 0);
  d->RewriteConfig({{"tls", {{"client_auth", "none"}}}});
  d->Restart();
  CHECK(PinChangeEvents(*d, ops_org) == events_before + 3);
  CHECK(MustJson(Request(*d, "GET", pins_path, {.token = op}), 200)["items"].empty());
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("XgwdInitOperatorPinLetsTheFirstOperatorWorkWithRequiredClientCertificates") {
  char tmpl[] = "/tmp/xgw-pin-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string certs = tmpl;
  const std::string pin = MakeClientCertificate(certs, "first");

  // A malformed pin: init refuses before writing anything.
  int status = 0;
  const std::string out = RunCommand(XgwdPath() + " init --state " + certs + "/state --operator-pin sha256:00 2>&1",
                                     &status);
  CHECK(status != 0);
  CHECK(out.find("--operator-pin") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(certs + "/state"));

  {
    auto d = Daemon::Start({{"tls", {{"client_auth", "require"}}}}, {"--operator-pin", Base64Pin(certs, "first")});
    json me = MustJson(Request(*d, "GET", "/api/v1/me", WithCertificate(certs, "first", d->operator_token())), 200);
    CHECK(me["roles"] == json::array({"operator"}));
    const std::string org = me["organisation"]["id"];
    json pins = MustJson(Request(*d, "GET", "/api/v1/orgs/" + org + "/client-pins",
                                 WithCertificate(certs, "first", d->operator_token())),
                         200);
    REQUIRE(pins["items"].size() == 1);
    CHECK(pins["items"][0]["pin"] == pin);
    CHECK(Request(*d, "GET", "/api/v1/me", {.token = d->operator_token()}).status == 0);
    CHECK(d->StopAndWait(SIGTERM) == 0);
  }
  std::filesystem::remove_all(certs);
}
