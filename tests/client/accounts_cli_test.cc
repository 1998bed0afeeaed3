// People signing in through build/bin/xgw against the real xgwd: `xgw enrol`
// with an operator's invitation (password, authenticator secret, code,
// recovery codes), `xgw login --user` storing a session instead of a token,
// sending and receiving a list with those sessions, `xgw logout`, and that no
// password, code or session secret reaches the audit log or the daemon's log.
#include <sys/stat.h>
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "crypto/io.h"
#include "gateway/totp.h"
#include "tests/client/cli_world.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kPassword = "a long enough password 42";



struct World : CliWorld {
  std::vector<std::string> secrets{kPassword};

  json Op(const std::string& method, const std::string& path, const json& body = nullptr) {
    return Request(*d, method, path, {.token = d->operator_token(), .body = body.is_null() ? "" : body.dump()}).Json();
  }
  int64_t Now() {
    std::tm tm{};
    const std::string now = Op("GET", "/api/v1/admin/clock")["now"];
    strptime(now.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return timegm(&tm);
  }
  // The current code of `secret`, on a step no earlier sign-in used.
  std::string Code(const std::string& secret) {
    Op("POST", "/api/v1/admin/clock", json{{"advance_seconds", 30}});
    return TotpCode(Base32Decode(secret), TotpStep(Now()));
  }

  // `xgw enrol` for `name` (user `who`'s CLI config): the code of the app is
  // written into a FIFO once the secret is printed, as a person types it
  // after adding the account to the app. Returns the TOTP secret.
  std::string Enrol(const std::string& who, const std::string& name) {
    const std::string user = Request(*d, "GET", "/api/v1/me", {.token = tokens[who]}).Json()["id"];
    json inv = Op("POST", "/api/v1/users/" + user + "/invitations", json{{"signin_name", name}});
    secrets.push_back(inv["code"]);
    WriteFile(dir + "/" + who + ".invitation", inv["code"].get<std::string>() + "\n");
    WriteFile(dir + "/" + who + ".password", std::string(kPassword) + "\n");
    const std::string fifo = dir + "/" + who + ".totp";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string cmd = "cd " + dir + " && XGW_CONFIG=" + dir + "/" + who + ".json " + xgw +
                            " enrol --gateway " + d->base_url() + " --pin " + pin + " --code-file " + who +
                            ".invitation --password-file " + who + ".password --totp-file " + fifo + " 2>" + dir +
                            "/enrol.err";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string secret, out;
    char line[4096];
    while (std::fgets(line, sizeof line, p) != nullptr) {
      std::string l(line);
      out += l;
      if (l.rfind("  secret: ", 0) == 0) {
        secret = Trimmed(l.substr(10));
        std::ofstream(fifo) << Code(secret) << "\n";
      }
    }
    const int status = ::pclose(p);
    UNSCOPED_INFO("stderr: " << ReadTextFile(dir + "/enrol.err"));
    REQUIRE(!secret.empty());
    REQUIRE(status == 0);
    CHECK(out.find("otpauth://totp/xgw:" + name + "?secret=" + secret) != std::string::npos);
    CHECK(out.find("Recovery codes") != std::string::npos);
    secrets.push_back(secret);
    return secret;
  }

  // `xgw login --user`, the code from a file.
  void Login(const std::string& who, const std::string& name, const std::string& secret) {
    WriteFile(dir + "/" + who + ".code", Code(secret) + "\n");
    Ok(who, "login --gateway " + d->base_url() + " --user " + name + " --password-file " + who +
                ".password --totp-file " + who + ".code");
    const json cfg = json::parse(ReadTextFile(dir + "/" + who + ".json"));
    const std::string session = cfg["token"];
    REQUIRE(session.rfind("xgws_", 0) == 0);
    secrets.push_back(session);
  }
};

}  // namespace

TEST_CASE("People enrol and sign in with xgw and send and receive a list with their sessions") {
  World w;
  const std::string sender_secret = w.Enrol("sender", "sender.thuispunt");
  const std::string worker_secret = w.Enrol("worker", "worker.ocmw");
  w.Login("sender", "sender.thuispunt", sender_secret);
  w.Login("worker", "worker.ocmw", worker_secret);
  CHECK(w.RunJson("worker", "whoami")["credential"]["type"] == "session");

  WriteFile(w.dir + "/list.csv", kCirHeader + CirRow(1) + CirRow(2));
  const json sent = w.RunJson("sender", "send --protocol " + kCliProtocolId + " list.csv");
  const std::string id = sent["id"];
  w.Ok("worker", "receive " + id + " -o got.csv");
  CHECK(ReadTextFile(w.dir + "/got.csv") == kCirHeader + CirRow(1) + CirRow(2));

  // A wrong code is refused and stores nothing.
  WriteFile(w.dir + "/wrong.code", "000000\n");
  int rc = -1;
  std::string err;
  w.Run("worker", "login --gateway " + w.d->base_url() + " --user worker.ocmw --password-file worker.password "
                  "--totp-file wrong.code", &rc, &err);
  CHECK(rc != 0);
  CHECK(err.find("000000") == std::string::npos);

  // xgw password: the new password from a file, the code from another; the
  // session goes on, and the new password signs in.
  const std::string kNew = "another long enough passphrase";
  w.secrets.push_back(kNew);
  WriteFile(w.dir + "/worker.new", kNew + "\n");
  WriteFile(w.dir + "/worker.code", w.Code(worker_secret) + "\n");
  w.Run("worker", "password --password-file worker.password --new-password-file worker.new --totp-file worker.code",
        &rc, &err);
  INFO(err);
  CHECK(rc == 0);
  CHECK(err.find("your password was changed") != std::string::npos);
  w.Ok("worker", "whoami");
  WriteFile(w.dir + "/worker.password", kNew + "\n");
  w.Login("worker", "worker.ocmw", worker_secret);

  // Logout ends the session at the gateway.
  const std::string session = json::parse(ReadTextFile(w.dir + "/worker.json"))["token"];
  w.Ok("worker", "logout");
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = session}).status == 401);
  w.Run("worker", "whoami", &rc);
  CHECK(rc != 0);
  // The token-file login keeps working.
  w.Ok("worker", "login --gateway " + w.d->base_url() + " --token-file worker.tok --pin " + w.pin);
  w.Ok("worker", "whoami");

  const std::string audit = AuditText(*w.d);
  const std::string log = w.d->Log();
  for (const auto& s : w.secrets) {
    INFO("a secret of the test appears in the audit log or the daemon's log");
    CHECK(audit.find(s) == std::string::npos);
    CHECK(log.find(s) == std::string::npos);
  }
}
