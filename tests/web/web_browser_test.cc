// The web app in a real browser: Debian's Chromium, driven by playwright-core
// (tests/web/*.mjs: a first visit, a recipient, a DPO, an operator), against
// the real xgwd on loopback over TLS, with lists sent by build/bin/xgw; each
// script saves a screenshot of every view in build/test-artefacts/web. And
// what xgwd serves the page with: the files the build made, under a strict
// Content Security Policy.
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include "audit/verify.h"
#include "gateway/totp.h"
#include "tests/client/cli_world.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kPassword = "a long enough password 42";

std::string Header(const HttpResult& r, const std::string& name) {
  const std::regex re("(^|\r\n)" + name + ": ([^\r\n]*)", std::regex::icase);
  std::smatch m;
  return std::regex_search(r.headers, m, re) ? m[2].str() : "";
}

json Op(const Daemon& d, const std::string& method, const std::string& path, const json& body = nullptr) {
  return Request(d, method, path, {.token = d.operator_token(), .body = body.is_null() ? "" : body.dump()}).Json();
}

// A TOTP code of `secret` (base32) on a step no earlier sign-in used (the
// daemon's clock is the test's: move it on by one step first).
std::string FreshCode(const Daemon& d, const std::string& secret) {
  Op(d, "POST", "/api/v1/admin/clock", json{{"advance_seconds", 30}});
  std::tm tm{};
  const std::string text = Op(d, "GET", "/api/v1/admin/clock")["now"];
  strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return TotpCode(Base32Decode(secret), TotpStep(timegm(&tm)));
}

// Enrols `user` as a person who signs in with `name`, kPassword and TOTP,
// through the API a browser's enrolment page uses. Returns the TOTP secret (base32).
std::string Enrol(const Daemon& d, const std::string& user, const std::string& name) {
  const json inv = Op(d, "POST", "/api/v1/users/" + user + "/invitations", json{{"signin_name", name}});
  const auto step1 = Request(d, "POST", "/api/v1/auth/enrolment",
                             {.body = json{{"code", inv["code"]}, {"password", kPassword}}.dump()});
  REQUIRE(step1.status == 200);
  const std::string secret = step1.Json()["totp_secret"];
  const auto step2 = Request(d, "POST", "/api/v1/auth/enrolment/confirm",
                             {.body = json{{"code", inv["code"]}, {"totp_code", FreshCode(d, secret)}}.dump()});
  REQUIRE(step2.status == 200);
  return secret;
}

std::string ArtefactDir();

struct ScriptRun {
  int status = -1;
  std::string log;
};

// Runs tests/web/<script> with node against `d`: what browser.mjs needs and
// `more` reach it through its environment, never its command line.
ScriptRun RunBrowserScript(const Daemon& d, const std::string& script, std::map<std::string, std::string> more) {
  const std::string pin = ServerPin(d);
  more.insert({{"XGW_URL", d.base_url()},
               {"XGW_SPKI", pin.substr(pin.find("//") + 2)},
               {"XGW_CACERT", d.cacert()},
               {"XGW_OPERATOR_TOKEN", d.operator_token()},
               {"XGW_SCREENSHOTS", ArtefactDir()},
               {"XGW_WEB_DIR", XGW_SOURCE_DIR "/web"}});
  for (const auto& [k, v] : more) ::setenv(k.c_str(), v.c_str(), 1);
  ScriptRun run;
  run.log = RunCommand("node " XGW_SOURCE_DIR "/tests/web/" + script + " 2>&1", &run.status);
  for (const auto& [k, v] : more) ::unsetenv(k.c_str());
  return run;
}

std::string ArtefactDir() {
  const char* dir = std::getenv("XGW_ARTEFACTS");
  const std::string path = std::string(dir ? dir : XGW_BIN_DIR "/../test-artefacts") + "/web";
  std::filesystem::create_directories(path);
  return path;
}

}  // namespace

TEST_CASE("xgwd serves the web app under a strict Content Security Policy, and nothing else") {
  auto d = Daemon::Start();
  const auto page = Request(*d, "GET", "/");
  REQUIRE(page.status == 200);
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(Header(page, "Cache-Control") == "no-cache");
  const std::string csp = Header(page, "Content-Security-Policy");
  for (const char* directive : {"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
                                "frame-ancestors 'none'", "base-uri 'none'"}) {
    CHECK(csp.find(directive) != std::string::npos);
  }
  CHECK(csp.find("unsafe-") == std::string::npos);
  CHECK(Header(page, "Strict-Transport-Security").rfind("max-age=", 0) == 0);
  CHECK(Header(page, "Referrer-Policy") == "no-referrer");
  CHECK(Header(page, "X-Content-Type-Options") == "nosniff");
  // No inline script or style: every script and style sheet is a file.
  CHECK(page.body.find("<script>") == std::string::npos);
  CHECK(page.body.find("<style") == std::string::npos);
  CHECK(page.body.find(" style=") == std::string::npos);

  // Each asset the page names: served with its type, cached for a year.
  const std::regex asset_ref("/assets/([A-Za-z0-9._-]+)");
  int assets = 0;
  for (auto it = std::sregex_iterator(page.body.begin(), page.body.end(), asset_ref); it != std::sregex_iterator();
       ++it, ++assets) {
    const auto r = Request(*d, "GET", "/assets/" + (*it)[1].str());
    INFO((*it)[1].str());
    CHECK(r.status == 200);
    CHECK(Header(r, "Cache-Control") == "public, max-age=31536000, immutable");
    CHECK((r.content_type.rfind("text/javascript", 0) == 0 || r.content_type.rfind("text/css", 0) == 0));
    CHECK(!Header(r, "Content-Security-Policy").empty());
  }
  CHECK(assets >= 2);
  // The API answers carry the same policy and are never cached.
  const auto api = Request(*d, "GET", "/healthz");
  CHECK(Header(api, "Content-Security-Policy") == csp);
  CHECK(Header(api, "Cache-Control") == "no-store");

  // Nothing outside the built files: unknown names, other types, paths out.
  CHECK(Request(*d, "GET", "/assets/app.js").status == 404);
  CHECK(Request(*d, "GET", "/assets/xgwd.db").status == 400);
  CHECK(Request(*d, "GET", "/assets/../xgwd.db").status == 400);
  CHECK(Request(*d, "GET", "/assets/%2e%2e/xgwd.db").status == 400);
  CHECK(Request(*d, "GET", "/assets/.hidden.js").status == 400);
  CHECK(Request(*d, "GET", "/index.html").status == 404);
  CHECK(Request(*d, "POST", "/", {.body = "{}"}).status == 405);
  REQUIRE(d->Alive());
}

TEST_CASE("In Chromium a person signs in, opens a list sent with xgw, saves it and confirms receipt") {
  CliWorld w;
  const std::string worker = w.RunJson("worker", "whoami")["id"];
  // The worker's key, protected with a passphrase and kept on the gateway.
  w.Ok("worker", "register-key --new-identity protected.key");
  w.Ok("worker", "key backup");
  const auto secret = Enrol(*w.d, worker, "worker.ocmw");

  const std::string list = kCirHeader + CirRow(1) + CirRow(2) + CirRow(3);
  WriteFile(w.dir + "/list.csv", list);
  const std::string id = w.RunJson("sender", "send --protocol " + kCliProtocolId + " list.csv")["id"];
  const json sender = w.RunJson("sender", "whoami");

  const std::string out = w.dir + "/browser";
  std::filesystem::create_directories(out);
  const std::string passphrase = Trimmed(ReadTextFile(w.dir + "/pass"));
  const ScriptRun run = RunBrowserScript(*w.d, "receive.mjs", {
      {"XGW_NAME", "worker.ocmw"},
      {"XGW_PASSWORD", kPassword},
      {"XGW_CODE", FreshCode(*w.d, secret)},
      {"XGW_PASSPHRASE", passphrase},
      {"XGW_EXCHANGE", id},
      {"XGW_SENDER_NAME", sender["display_name"].get<std::string>()},
      {"XGW_ROWS", "3"},
      {"XGW_OUT", out},
  });
  const std::string& log = run.log;
  INFO(log);
  CHECK(run.status == 0);
  CHECK(log.find("all steps passed") != std::string::npos);

  // What the page saved is the list that was sent, byte for byte.
  // (Compared, not printed: test output never shows a list's values.)
  const bool saved_as_sent = ReadTextFile(out + "/saved-list") == list;
  CHECK(saved_as_sent);
  // The gateway saw the download, both refusals and the acknowledgement.
  const json exchange = Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.tokens["worker"]}).Json();
  // Acknowledged; the CIR protocol then deletes the list at once.
  CHECK((exchange["state"] == "acknowledged" || exchange["state"] == "deleted"));
  CHECK(exchange["acknowledged_at"].is_string());
  std::multiset<std::string> actions;
  const json events = Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + id, {.token = w.d->operator_token()}).Json();
  for (const auto& e : events["items"]) actions.insert(e["event"]["action"].get<std::string>());
  CHECK(actions.count("exchange.downloaded") == 3);  // modified, cut short, the real one
  CHECK(actions.count("violation.reported") == 3);  // the two failed checks, the reported problem
  CHECK(actions.count("exchange.acknowledged") == 1);
  const std::string audit = AuditText(*w.d);
  // Neither the password nor the passphrase nor a value from the list
  // reached the gateway's log or audit log.
  for (const std::string& secret_text : {std::string(kPassword), passphrase, CirRow(2)}) {
    CHECK(w.d->Log().find(secret_text) == std::string::npos);
    CHECK(audit.find(secret_text) == std::string::npos);
  }
  CHECK(log.find(CirRow(2)) == std::string::npos);

  // The DPO of OCMW Gent checks the list's whole timeline in the page, each
  // event proven against the signed log, and its deletion receipt.
  w.MakeUser("dpo", w.ocmw, "dpo");
  const std::string dpo = w.RunJson("dpo", "whoami")["id"];
  const auto dpo_secret = Enrol(*w.d, dpo, "dpo.ocmw");
  // A second list, sent with Thuispunt's subject-index key, that the worker downloads.
  WriteFile(w.dir + "/subject.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
  WriteFile(w.dir + "/indexed.csv", kCirHeader + CirRow(7));
  const std::string indexed =
      w.RunJson("sender", "send --protocol " + kCliProtocolId + " --subject-key subject.key indexed.csv")["id"];
  w.Ok("worker", "receive " + indexed + " -o indexed-got.csv");
  std::string subject_number = CirRow(7);
  for (int field = 0; field < 2; ++field) subject_number = subject_number.substr(subject_number.find(';') + 1);
  subject_number = subject_number.substr(0, subject_number.find(';'));
  const std::string dpo_out = w.dir + "/dpo";
  std::filesystem::create_directories(dpo_out);
  const ScriptRun dpo_run = RunBrowserScript(*w.d, "dpo.mjs", {
      {"XGW_NAME", "dpo.ocmw"},
      {"XGW_PASSWORD", kPassword},
      {"XGW_TOTP_SECRET", dpo_secret},
      {"XGW_EXCHANGE", id},
      {"XGW_SUBJECT_KEY_FILE", w.dir + "/subject.key"},
      {"XGW_SUBJECT_NUMBER", subject_number},
      {"XGW_SUBJECT_EXCHANGE", indexed},
      {"XGW_OUT", dpo_out},
  });
  INFO(dpo_run.log);
  CHECK(dpo_run.status == 0);
  CHECK(dpo_run.log.find("all steps passed") != std::string::npos);
  CHECK(dpo_run.log.find(subject_number) == std::string::npos);
  // The page's fingerprint is the CLI's: `xgw audit subject` finds the same list.
  const json cli_hits = w.RunJson("dpo", "audit subject --rrn " + subject_number + " --subject-key subject.key");
  REQUIRE(cli_hits.size() == 1);
  CHECK(cli_hits[0]["id"] == indexed);
  // The page showed the events the gateway holds for the exchange.
  const std::string shown = ReadTextFile(dpo_out + "/actions.txt");
  for (const char* action : {"exchange.created", "exchange.uploaded", "exchange.downloaded", "violation.reported",
                             "exchange.acknowledged"}) {
    CHECK(shown.find(action) != std::string::npos);
  }
  CHECK(shown.find("exchange.deleted") != std::string::npos);
  // The receipt the page saved verifies offline with the gateway's key, as `xgw audit receipt` checks it.
  const std::string verifier = Request(*w.d, "GET", "/api/v1/audit/verifier-key", {.token = w.tokens["dpo"]}).body;
  auto receipt = VerifyDeletionReceipt(ReadTextFile(dpo_out + "/receipt.json"), Trimmed(verifier));
  CHECK(receipt);
  if (receipt) CHECK(receipt->event.exchange_id == id);
  CHECK(ReadTextFile(dpo_out + "/events.csv").rfind("index,time,action,actor,exchange,user,outcome,reason,count\r\n", 0) == 0);
}

TEST_CASE("In Chromium a person enrols with an invitation code, makes a key in the page, and xgw accepts it") {
  CliWorld w;
  w.MakeUser("clerk", w.thuispunt, "sender");
  const std::string clerk = w.RunJson("clerk", "whoami")["id"];
  const json invitation = Op(*w.d, "POST", "/api/v1/users/" + clerk + "/invitations", json{{"signin_name", "clerk.thuispunt"}});
  const std::string out = w.dir + "/first-run";
  std::filesystem::create_directories(out);
  const std::string passphrase = Trimmed(ReadTextFile(w.dir + "/pass"));
  const ScriptRun run = RunBrowserScript(*w.d, "first_run.mjs", {
      {"XGW_INVITATION", invitation["code"].get<std::string>()},
      {"XGW_SIGNIN_NAME", "clerk.thuispunt"},
      {"XGW_PASSWORD", kPassword},
      {"XGW_PASSPHRASE", passphrase},
      {"XGW_OUT", out},
  });
  INFO(run.log);
  CHECK(run.status == 0);
  CHECK(run.log.find("all steps passed") != std::string::npos);

  // The page registered the key and showed the fingerprint the gateway computes.
  const json me = w.RunJson("clerk", "whoami");
  REQUIRE(me["keys"].is_object());
  CHECK(ReadTextFile(out + "/fingerprint.txt") == me["keys"]["fingerprint"].get<std::string>());
  // The saved file is the one the gateway keeps, and it is locked (age scrypt, armored).
  const std::string saved = ReadTextFile(out + "/key.age");
  CHECK(saved.rfind("-----BEGIN AGE ENCRYPTED FILE-----", 0) == 0);
  CHECK(saved.find("AGE-SECRET-KEY") == std::string::npos);
  CHECK(Request(*w.d, "GET", "/api/v1/users/" + clerk + "/key-backup", {.token = w.tokens["clerk"]}).Json()["file"] == saved);

  // xgw opens it with the passphrase, and signs and sends with it: the gateway
  // checks the signature with the key the page derived and registered.
  w.Ok("clerk", "key restore -o clerk.key");
  const std::string list = kCirHeader + CirRow(4) + CirRow(5);
  WriteFile(w.dir + "/clerk-list.csv", list);
  const std::string id = w.RunJson("clerk", "send --protocol " + kCliProtocolId + " --identity clerk.key clerk-list.csv")["id"];
  w.Ok("worker", "receive " + id + " -o got.csv");
  const bool received_as_sent = ReadTextFile(w.dir + "/got.csv") == list;
  CHECK(received_as_sent);

  // The clerk sees that list among the sent ones, in the page.
  const ScriptRun sent = RunBrowserScript(*w.d, "sent.mjs", {
      {"XGW_NAME", "clerk.thuispunt"},
      {"XGW_PASSWORD", kPassword},
      {"XGW_TOTP_SECRET", Trimmed(ReadTextFile(out + "/totp-secret.txt"))},
      {"XGW_EXCHANGE", id},
      {"XGW_ROWS", "2"},
  });
  INFO(sent.log);
  CHECK(sent.status == 0);
  CHECK(sent.log.find("all steps passed") != std::string::npos);

  // Neither the password nor the passphrase reached the gateway's log.
  CHECK(w.d->Log().find(kPassword) == std::string::npos);
  CHECK(w.d->Log().find(passphrase) == std::string::npos);
}

TEST_CASE("In Chromium an operator registers an organisation and a person, invites them and runs a protocol") {
  CliWorld w;
  w.MakeUser("admin", w.thuispunt, "operator");
  const std::string admin = w.RunJson("admin", "whoami")["id"];
  const std::string secret = Enrol(*w.d, admin, "admin.thuispunt");
  json protocol = w.protocol_doc;
  protocol["id"] = "2024_VB_00591_WEB";
  WriteFile(w.dir + "/web-protocol.json", protocol.dump(2));
  json broken = protocol;
  broken.erase("fields");
  WriteFile(w.dir + "/broken-protocol.json", broken.dump(2));
  const std::string out = w.dir + "/operator";
  std::filesystem::create_directories(out);
  const ScriptRun run = RunBrowserScript(*w.d, "operator.mjs", {
      {"XGW_NAME", "admin.thuispunt"},
      {"XGW_PASSWORD", kPassword},
      {"XGW_TOTP_SECRET", secret},
      {"XGW_PROTOCOL_FILE", w.dir + "/web-protocol.json"},
      {"XGW_BROKEN_PROTOCOL_FILE", w.dir + "/broken-protocol.json"},
      {"XGW_PROTOCOL_ID", "2024_VB_00591_WEB"},
      {"XGW_OUT", out},
  });
  INFO(run.log);
  CHECK(run.status == 0);
  CHECK(run.log.find("all steps passed") != std::string::npos);

  // What the pages did is what the gateway holds.
  const json orgs = Op(*w.d, "GET", "/api/v1/orgs");
  std::string woonstad;
  int with_ocmw_number = 0;
  for (const auto& o : orgs["items"]) {
    if (o["name"] == "Woonstad Testbed") woonstad = o["id"];
    if (o["enterprise_number"] == "0212214125") ++with_ocmw_number;
  }
  REQUIRE(!woonstad.empty());
  CHECK(with_ocmw_number == 1);
  const json people = Op(*w.d, "GET", "/api/v1/orgs/" + woonstad + "/users");
  REQUIRE(people["items"].size() == 1);
  CHECK(people["items"][0]["roles"] == json::array({"sender"}));
  // The invitation code the page showed enrols the person.
  const std::string code = Trimmed(ReadTextFile(out + "/invitation.txt"));
  CHECK(Request(*w.d, "POST", "/api/v1/auth/enrolment", {.body = json{{"code", code}, {"password", kPassword}}.dump()}).status == 200);
  CHECK(Op(*w.d, "GET", "/api/v1/protocols/2024_VB_00591_WEB")["state"] == "suspended");
}
