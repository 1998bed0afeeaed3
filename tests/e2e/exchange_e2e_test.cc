// End-to-end tests of the exchange API: the real xgwd on 127.0.0.1:0 over
// TLS, a manual clock starting 2024-09-20, the CIR protocol
// (config/examples/cir-thuispunt-ocmw-2024_VB_00591.json). The test plays the
// client: it checks the list, signs the manifest and encrypts with the xgw
// libraries, then drives the daemon through the whole life of an exchange.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <algorithm>
#include <set>
#include <thread>

#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "audit/audit_store.h"
#include "audit/event_codec.h"
#include "crypto/merkle.h"
#include "crypto/sign.h"
#include "audit/verify.h"
#include "policy/canonical_json.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {


const std::string& kHeader = kCirHeader;

using World = CirWorld;  // the CIR example protocol (one-off)

std::string CanonicalJsonOf(const json& j) {
  auto c = CanonicalJson(j);
  REQUIRE(c);
  return *c;
}

bool HasViolation(const json& problem, const std::string& code) {
  if (!problem.contains("violations")) return false;
  for (const auto& v : problem["violations"]) {
    if (v["code"] == code) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("CirProtocolFullCycleEndToEndMode") {
  World w;
  w.ProposeAcceptActivate();
  const std::string csv = kHeader + CirRow(1) + CirRow(2) + CirRow(3);
  const std::string id = w.Send(csv);

  // The recipient sees it in the inbox, downloads it and decrypts the list.
  json inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.social.token}), 200);
  REQUIRE(inbox["items"].size() == 1);
  CHECK(inbox["items"][0]["id"] == id);
  CHECK(inbox["items"][0]["rows"] == 3);
  json one = MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.social.token}), 200);
  CHECK(one["signer"] == "user:" + w.sender.user);
  CHECK(one["sender_ed25519_verify_key"] == Base64Encode(w.sender_keys.signing->public_key()));
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
  REQUIRE(dl.status == 200);
  CHECK(DecryptAge(*w.social_keys.identity, dl.body) == csv);
  // A user of the receiving organisation without a recipient role gets nothing.
  auto wrong = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.cleaner.token});
  CHECK(wrong.status == 404);
  json cleaner_inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.cleaner.token}), 200);
  CHECK(cleaner_inbox["items"].empty());
  // The sender sees it in the sent box.
  json sent = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=sent", {.token = w.sender.token}), 200);
  CHECK(sent["items"].size() == 1);

  // The DPO of the receiving party finds it by a subject's lookup value.
  auto lookup = SubjectLookupValue(w.subject_key, FieldType::kBeNationalNumber, SyntheticNrn(2));
  REQUIRE(lookup);
  json found = MustJson(Request(*w.d, "GET", "/api/v1/subject-index/" + *lookup, {.token = w.dpo_recv.token}), 200);
  REQUIRE(found["items"].size() == 1);
  CHECK(found["items"][0]["id"] == id);

  // One-off: a second list under the same protocol is refused.
  auto [m2, s2] = w.SignedManifest(kHeader + CirRow(7), w.sender_keys);
  auto again = w.Create(w.sender, m2, s2);
  CHECK(again.status == 422);
  CHECK(HasViolation(again.Json(), "one_off_used"));

  // Acknowledgement deletes it (delete_on_acknowledgement), the sweeper acts.
  json ack = MustJson(Request(*w.d, "POST", "/api/v1/exchanges/" + id + "/ack", {.token = w.social.token}), 200);
  CHECK(ack["state"] == "acknowledged");
  REQUIRE(w.WaitForState(id, "deleted"));
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token}).status == 410);
  auto receipt = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/receipt", {.token = w.sender.token});
  REQUIRE(receipt.status == 200);
  auto verified = VerifyDeletionReceipt(receipt.body, w.VerifierKey());
  REQUIRE(verified);
  CHECK(verified->event.exchange_id == id);
  // Nothing of the blob remains.
  int status = 0;
  CHECK(RunCommand("ls " + w.d->dir() + "/state/blobs/ | grep -c age || true", &status) == "0\n");
  CHECK(PackedBlobs(w.d->dir() + "/state").empty());

  // DPO audit endpoints.
  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + id, {.token = w.dpo_recv.token}), 200);
  CHECK(events["items"].size() >= 4);
  auto cp = Request(*w.d, "GET", "/api/v1/audit/checkpoint", {.token = w.dpo_recv.token});
  CHECK(cp.status == 200);
  CHECK(cp.content_type.rfind("text/plain", 0) == 0);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("SweeperDeletesAfterTheProtocolRetentionDateAndReceiptVerifies") {
  World w;
  w.ProposeAcceptActivate();
  const std::string id = w.Send(kHeader + CirRow(1));
  json one = MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.sender.token}), 200);
  // delete_on 2024-09-27 = end of that day in Brussels (CEST, UTC+2).
  CHECK(one["expires_at"] == "2024-09-27T22:00:00Z");
  w.Advance(6 * 86400);  // 2024-09-26: still there
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(w.State(id) == "available");
  w.Advance(2 * 86400);  // 2024-09-28
  REQUIRE(w.WaitForState(id, "deleted"));
  auto receipt = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/receipt", {.token = w.dpo_recv.token});
  REQUIRE(receipt.status == 200);
  auto verified = VerifyDeletionReceipt(receipt.body, w.VerifierKey());
  REQUIRE(verified);
  CHECK(verified->event.exchange_id == id);
  CHECK(AuditActionName(verified->event.action) == "exchange.deleted_expiry");
}

// The sweeper audits a deletion, then deletes. If it stops in between (a
// crash; here, equivalently, the gateway database restored from a copy taken
// before the deletion while the audit log kept its event), the next pass
// deletes without recording the deletion a second time.
TEST_CASE("ADeletionRetriedAfterAnInterruptionIsAuditedOnce") {
  World w;
  w.ProposeAcceptActivate();
  const std::string id = w.Send(kHeader + CirRow(1));
  const std::string state = w.d->dir() + "/state";
  const std::string blob = state + "/blobs/" + id + ".age";
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  int rc = -1;
  RunCommand("cp " + state + "/xgwd.db " + w.d->dir() + "/xgwd.db.before && cp " + blob + " " + w.d->dir() +
                 "/blob.before",
             &rc);
  REQUIRE(rc == 0);
  w.d->Restart();
  w.Advance(8 * 86400);  // past delete_on 2024-09-27
  REQUIRE(w.WaitForState(id, "deleted"));
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  RunCommand("rm -f " + state + "/xgwd.db-wal " + state + "/xgwd.db-shm && cp " + w.d->dir() + "/xgwd.db.before " +
                 state + "/xgwd.db && cp " + w.d->dir() + "/blob.before " + blob,
             &rc);
  REQUIRE(rc == 0);
  w.d->Restart();
  w.Advance(8 * 86400);
  REQUIRE(w.WaitForState(id, "deleted"));
  CHECK_FALSE(std::filesystem::exists(blob));
  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + id + "&action=exchange.deleted_expiry",
                                 {.token = w.d->operator_token()}),
                         200);
  CHECK(events["items"].size() == 1);
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(state);
}

// Identity and audit changes are recorded under their own actions (what a
// DPO filters on), with the user or token they concern; so are refused
// authentications and configuration reloads.
TEST_CASE("OperatorChangesAreAuditedUnderTheirOwnActions") {
  World w;  // registers organisations, users, their keys and tokens through the API
  auto events = [&](const std::string& action) {
    return MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&action=" + action,
                            {.token = w.d->operator_token()}),
                    200)["items"];
  };
  auto concerning = [&](const json& items, const char* field, const std::string& id) {
    return std::count_if(items.begin(), items.end(),
                         [&](const json& e) { return e["event"].value(field, "") == id; });
  };
  auto naming_org = [](const json& items, const std::string& org) {
    return std::count_if(items.begin(), items.end(), [&](const json& e) {
      const json& orgs = e["event"].value("orgs", json::array());
      return std::find(orgs.begin(), orgs.end(), org) != orgs.end();
    });
  };
  // A creation is audited before it happens, under the id it then gets:
  // a DPO finds an organisation's, a user's or a token's creation by its id.
  json orgs_registered = events("org.registered");
  CHECK(orgs_registered.size() >= 3);
  CHECK(naming_org(orgs_registered, w.sender.org) == 1);
  json registered = events("user.registered");
  CHECK(registered.size() >= 4);
  CHECK(concerning(registered, "user", w.sender.user) == 1);
  CHECK(naming_org(registered, w.sender.org) >= 1);
  CHECK(concerning(events("user.key_changed"), "user", w.sender.user) >= 1);
  CHECK(concerning(events("auth.token_issued"), "user", w.sender.user) >= 1);
  auto [issued_id, issued_secret] = w.Token(w.sender.user, 3600);
  CHECK(concerning(events("auth.token_issued"), "token", issued_id) == 1);
  // The query a DPO runs finds them by the organisation and by the user.
  auto query = [&](const std::string& filter) {
    return MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&" + filter,
                            {.token = w.d->operator_token()}),
                    200)["items"];
  };
  CHECK(query("action=org.registered&organisation=" + w.sender.org).size() == 1);
  CHECK(query("action=user.registered&user=" + w.sender.user).size() == 1);
  // A revoked token: the event names it.
  auto [token_id, secret] = w.Token(w.sender.user, 3600);
  MustJson(Request(*w.d, "DELETE", "/api/v1/tokens/" + token_id, {.token = w.d->operator_token()}), 200);
  CHECK(concerning(events("auth.token_revoked"), "token", token_id) == 1);
  // A refused authentication: an anonymous actor, never the secret.
  CHECK(Request(*w.d, "GET", "/api/v1/me", {.token = secret}).status == 401);
  json failed = events("auth.login_failed");
  REQUIRE(failed.size() >= 1);
  CHECK(failed.back()["event"]["actor"]["type"] == "anonymous");
  CHECK(failed.back()["event"].dump().find(secret) == std::string::npos);
  // A signed checkpoint and a configuration reload (SIGHUP).
  CHECK(Request(*w.d, "POST", "/api/v1/audit/checkpoint", {.token = w.d->operator_token()}).status == 200);
  CHECK(events("audit.checkpoint_signed").size() == 1);
  w.d->Signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    reloaded = !events("config.reloaded").empty();
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(reloaded);
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

// An operator's change that its checks refuse (bad input, an unknown id, a
// conflict) did not happen, and the audit log says exactly that: one event,
// refused, under the request id the caller was given; no event claims it
// succeeded.
TEST_CASE("AnOperatorChangeRefusedByItsChecksIsRecordedOnceAsRefused") {
  World w;
  const std::string op = w.d->operator_token();
  const std::string other_pin(64, 'b');
  MustJson(Request(*w.d, "POST", "/api/v1/orgs/" + w.ocmw + "/client-pins",
                   {.token = op, .body = json{{"pin", "sha256:" + other_pin}}.dump()}),
           201);
  struct Call {
    std::string what, method, path, body, action;
    long status;
  };
  const std::vector<Call> calls = {
      {"an invalid enterprise number", "POST", "/api/v1/orgs", R"({"name":"Another","enterprise_number":"123"})",
       "org.registered", 400},
      {"a user with an unknown role", "POST", "/api/v1/orgs/" + w.ocmw + "/users",
       R"({"display_name":"new","roles":["no such role"]})", "user.registered", 400},
      {"a token that outlives the maximum", "POST", "/api/v1/users/" + w.sender.user + "/tokens",
       R"({"ttl_seconds":99999999999})", "auth.token_issued", 400},
      {"malformed keys", "PUT", "/api/v1/users/" + w.sender.user + "/keys",
       R"({"age_recipient":"age1nope","ed25519_verify_key":"AAAA"})", "user.key_changed", 400},
      {"a pin another organisation has", "POST", "/api/v1/orgs/" + w.thuispunt + "/client-pins",
       json{{"pin", "sha256:" + other_pin}}.dump(), "http.request", 409},
      {"a pin the organisation does not have", "DELETE",
       "/api/v1/orgs/" + w.thuispunt + "/client-pins/" + std::string(64, 'c'), "", "http.request", 404},
      {"an unknown token", "DELETE", "/api/v1/tokens/tok-" + std::string(26, 'a'), "", "auth.token_revoked", 404},
  };
  auto identities = [&] {
    return w.DbDump("SELECT id, name FROM organisations ORDER BY id; "
                    "SELECT pin, org_id FROM organisation_client_pins ORDER BY 1; "
                    "SELECT id FROM users ORDER BY id; SELECT user_id, role FROM user_roles ORDER BY 1, 2; "
                    "SELECT user_id, age_recipient, ed25519_verify_key FROM user_keys ORDER BY 1; "
                    "SELECT id, COALESCE(revoked_at, 0) FROM api_tokens ORDER BY id;");
  };
  const std::string before = identities();
  for (const auto& c : calls) {
    INFO(c.what);
    auto r = Request(*w.d, c.method, c.path, {.token = op, .body = c.body});
    REQUIRE(r.status == c.status);
    const std::string rid = r.Json()["request_id"];
    json items = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&action=" + c.action, {.token = op}),
                          200)["items"];
    std::vector<json> of_request;
    for (const auto& e : items) {
      if (e["event"].value("request", "") == rid) of_request.push_back(e["event"]);
    }
    REQUIRE(of_request.size() == 1);
    CHECK(of_request[0]["outcome"] == "refused");
  }
  CHECK(identities() == before);
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("PolicyRefusalsThroughTheApi") {
  World w;
  const std::string good = kHeader + CirRow(1);
  auto [manifest, sig] = w.SignedManifest(good, w.sender_keys);

  // Proposed but not accepted: nothing may be sent.
  MustJson(Request(*w.d, "POST", "/api/v1/protocols", {.token = w.d->operator_token(), .body = ReadTextFile(kCirProtocolFile)}),
           201);
  auto r = w.Create(w.sender, manifest, sig);
  CHECK(r.status == 422);
  CHECK(HasViolation(r.Json(), "protocol_not_accepted"));

  for (const auto& org : {w.thuispunt, w.ocmw}) {
    MustJson(Request(*w.d, "POST", "/api/v1/protocols/2024_VB_00591/accept",
                     {.token = w.d->operator_token(),
                      .body = json{{"version_hash", w.protocol->version_hash}, {"organisation", org}}.dump()}),
             200);
  }
  SECTION("column not allowed, required missing, too many rows") {
    json m = manifest;
    m["columns"].push_back("favourite_colour");
    std::string canonical = json(m).dump();
    // Re-sign a tampered manifest properly so only the policy refuses it.
    auto c1 = w.SignedManifest(good, w.sender_keys);
    json bad_cols = c1.first;
    bad_cols["columns"] = {"first_name", "national_number"};  // last_name, cir_status missing
    auto sign = [&](const json& mj) {
      return Base64Encode(w.sender_keys.signing->Sign(mj.dump()));
    };
    auto rr = w.Create(w.sender, bad_cols, sign(bad_cols));
    CHECK(rr.status == 422);
    CHECK(HasViolation(rr.Json(), "required_column_missing"));
    json many = c1.first;
    many["row_count"] = 20000;
    rr = w.Create(w.sender, many, sign(many));
    CHECK(rr.status == 422);
    CHECK(HasViolation(rr.Json(), "too_many_rows"));
    (void)canonical;
  }
  SECTION("forged manifest signature") {
    auto rr = w.Create(w.sender, manifest, Base64Encode(w.outsider_keys.signing->Sign(manifest.dump())));
    CHECK(rr.status == 400);
    CHECK(rr.Json()["type"] == "urn:xgw:problem:signature-invalid");
  }
  SECTION("sender not a party") {
    auto [m3, s3] = w.SignedManifest(good, w.outsider_keys);
    auto rr = w.Create(w.outsider, m3, s3);
    CHECK(rr.status == 403);
  }
  SECTION("recipient may not send") {
    auto rr = w.Create(w.social, manifest, sig);
    CHECK(rr.status == 403);  // no sender role
  }
  SECTION("suspended and terminated protocols") {
    MustJson(Request(*w.d, "POST", "/api/v1/protocols/2024_VB_00591/suspend", {.token = w.d->operator_token()}), 200);
    auto rr = w.Create(w.sender, manifest, sig);
    CHECK(rr.status == 422);
    CHECK(HasViolation(rr.Json(), "protocol_suspended"));
    MustJson(Request(*w.d, "POST", "/api/v1/protocols/2024_VB_00591/terminate", {.token = w.d->operator_token()}), 200);
    rr = w.Create(w.sender, manifest, sig);
    CHECK(rr.status == 422);
    CHECK(HasViolation(rr.Json(), "protocol_terminated"));
  }
  SECTION("bad age file, wrong content type, path tricks: 4xx, daemon alive, nothing stored") {
    json c = MustJson(w.Create(w.sender, manifest, sig), 201);
    const std::string id = c["id"];
    auto up = w.Upload(w.sender, id, "this is not an age file at all\n");
    CHECK(up.status == 400);
    auto ct = Request(*w.d, "PUT", "/api/v1/exchanges/" + id + "/content",
                      {.token = w.sender.token, .body = w.Encrypt(good, w.social_keys), .content_type = "text/csv"});
    CHECK(ct.status == 400);
    CHECK(Request(*w.d, "GET", "/api/v1/exchanges/../orgs", {.token = w.sender.token}).status == 400);
    CHECK(Request(*w.d, "GET", "/api/v1/exchanges/exc-..%2f", {.token = w.sender.token}).status == 400);
    CHECK(Request(*w.d, "GET", "/api/v1/protocols/a%00b", {.token = w.sender.token}).status == 400);
    CHECK(w.d->Alive());
    json inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.social.token}), 200);
    CHECK(inbox["items"].empty());
    int status = 0;
    CHECK(RunCommand("find " + w.d->dir() + "/state/blobs -type f | wc -l", &status) == "0\n");
    // The pending exchange still accepts a correct upload.
    MustJson(w.Upload(w.sender, id, w.Encrypt(good, w.social_keys)), 200);
  }
}

// SIGKILL while an upload streams in: an exchange answered 200 before the
// kill survives it whole; the one in flight is, after the restart, either
// complete (available, its blob byte for byte, answered or not) or pending
// with no file left behind, and can then be completed.
TEST_CASE("KillDuringConcurrentUploadsLeavesNoPartialExchange") {
  World w(CirPeriodicProtocolDoc("KILL_UPLOAD"));
  w.ProposeAcceptActivate();
  // Large list so that uploads are in flight when the daemon dies.
  std::string csv = kHeader;
  for (int i = 1; i < 3000; ++i) csv += CirRow(i % 900 + 1);
  // A complete exchange, answered 200 before the crash: it must survive it.
  const std::string done_csv = kHeader + CirRow(1);
  const std::string done_blob = w.Encrypt(done_csv, w.social_keys);
  const std::string done_id = w.CreatePending(done_csv);
  MustJson(w.Upload(done_id, done_blob), 200);

  const std::string id = w.CreatePending(csv);
  const std::string blob = w.Encrypt(csv, w.social_keys);
  HttpResult answer;
  std::thread uploader([&] { answer = w.Upload(w.sender, id, blob); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(w.d->StopAndWait(SIGKILL) == 128 + SIGKILL);
  uploader.join();
  CheckAuditVerifies(w.d->dir() + "/state");
  w.d->Restart();

  CHECK(w.State(done_id) == "available");
  auto done_dl = Request(*w.d, "GET", "/api/v1/exchanges/" + done_id + "/content", {.token = w.social.token});
  REQUIRE(done_dl.status == 200);
  CHECK(done_dl.body == done_blob);
  INFO("in-flight upload answered " << answer.status << " " << answer.curl_error);
  CHECK((answer.status == 200 || answer.status == 0));  // answered, or cut off by the kill
  const std::string state = w.State(id);
  const std::string files = std::to_string(StoredBlobCount(w.d->dir() + "/state")) + "\n";
  if (answer.status == 200) CHECK(state == "available");
  if (state == "available") {
    CHECK(files == "2\n");
    auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
    REQUIRE(dl.status == 200);
    CHECK(dl.body == blob);
  } else {
    CHECK(state == "pending");
    CHECK(files == "1\n");  // the start-up sweep removed the partial upload
    MustJson(w.Upload(id, blob), 200);
  }
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

// The kill placed exactly between an upload's commit and its answer (the
// "kill-after-publish" fault point: xgwd exits 137 there): the sender never
// hears back, yet what was committed is kept; and every upload that was
// answered 200 or 201 before survives too. Two-request, one-request and
// gateway-encrypt uploads each.
TEST_CASE("AKillBetweenAnUploadsCommitAndItsAnswerKeepsEveryCommittedAndEveryAnsweredUpload") {
  FaultDir faults;  // before the daemon starts: it reads XGW_FAULT_DIR then
  World w(CirPeriodicProtocolDoc("KILL_PUBLISH"));
  w.ProposeAcceptActivate();
  struct Sent {
    std::string id, blob;  // blob empty: gateway-encrypt (decrypted to csv)
    std::string csv;
  };
  std::vector<Sent> answered;
  int row = 1;
  const auto answered_upload = [&] {
    const std::string csv = kHeader + CirRow(row++);
    Sent s{w.CreatePending(csv), w.Encrypt(csv), csv};
    MustJson(w.Upload(s.id, s.blob), 200);
    answered.push_back(s);
  };
  const auto answered_plaintext = [&] {
    const std::string csv = kHeader + CirRow(row++);
    answered.push_back({MustJson(w.SendPlaintext(csv), 201)["id"], "", csv});
  };
  // Every exchange the daemon holds (pending ones and gateway-encrypt ones
  // included), from its database.
  const auto sent_ids = [&] {
    std::set<std::string> ids;
    std::istringstream rows(w.DbDump("SELECT id FROM exchanges;"));
    for (std::string id; std::getline(rows, id);) ids.insert(id);
    return ids;
  };
  const auto killed = [&](const HttpResult& r) {
    INFO("answer " << r.status << " " << r.body.substr(0, 300));
    CHECK(r.status == 0);  // no answer: the daemon died before writing it
    CHECK(w.d->WaitForExit(10000) == 137);
    faults.Heal("kill-after-publish");
    w.d->Restart();
  };
  std::vector<Sent> unanswered;

  answered_upload();
  answered_plaintext();
  {  // two requests: create, then PUT the content
    const std::string csv = kHeader + CirRow(row++);
    Sent s{w.CreatePending(csv), w.Encrypt(csv), csv};
    faults.Fail("kill-after-publish");
    killed(w.Upload(s.id, s.blob));
    unanswered.push_back(s);
  }
  answered_upload();
  {  // gateway-encrypt: the exchange only exists once committed
    const std::string csv = kHeader + CirRow(row++);
    const std::set<std::string> before = sent_ids();
    faults.Fail("kill-after-publish");
    killed(w.SendPlaintext(csv));
    std::set<std::string> after = sent_ids();
    for (const auto& id : before) after.erase(id);
    REQUIRE(after.size() == 1);
    unanswered.push_back({*after.begin(), "", csv});
  }
  {  // one request: manifest and content together
    const std::string csv = kHeader + CirRow(row++);
    const std::string blob = w.Encrypt(csv);
    const std::set<std::string> before = sent_ids();
    faults.Fail("kill-after-publish");
    killed(Request(*w.d, "POST", "/api/v1/exchanges/upload",
                   {.token = w.sender.token, .body = w.CreateBody(csv) + "\n" + blob,
                    .content_type = "application/vnd.xgw.exchange"}));
    std::set<std::string> after = sent_ids();
    for (const auto& id : before) after.erase(id);
    REQUIRE(after.size() == 1);
    unanswered.push_back({*after.begin(), blob, csv});
  }
  answered_plaintext();

  REQUIRE(answered.size() == 4);
  REQUIRE(unanswered.size() == 3);
  std::vector<Sent> all = answered;
  all.insert(all.end(), unanswered.begin(), unanswered.end());
  for (const auto& s : all) {
    INFO(s.id);
    CHECK(w.State(s.id) == "available");
    auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + s.id + "/content", {.token = w.social.token});
    REQUIRE(dl.status == 200);
    if (!s.blob.empty()) CHECK(dl.body == s.blob);
    CHECK(DecryptAge(*w.social_keys.identity, dl.body) == s.csv);
  }
  // The sender's sent box lists every one of them, the unanswered included.
  auto sent = Request(*w.d, "GET", "/api/v1/exchanges?box=sent&limit=100", {.token = w.sender.token});
  REQUIRE(sent.status == 200);
  std::set<std::string> listed;
  const auto page = sent.Json();  // kept: the loop below reads into it
  for (const auto& item : page["items"]) listed.insert(item["id"].get<std::string>());
  for (const auto& s : all) CHECK(listed.count(s.id) == 1);
  CHECK(StoredBlobCount(w.d->dir() + "/state") == all.size());
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("GatewayEncryptModeValidatesEncryptsAndNeverStoresPlaintext") {
  World w;
  w.ProposeAcceptActivate();
  auto post = [&](const std::string& body) { return w.SendPlaintext(body); };
  // Violations: an unknown column and an invalid national number; 422 lists
  // row/column/rule and never a value.
  const std::string bad = "Naam;Voornaam;Rijksregisternummer;Status dossier;Favoriete kleur\n"
                          "Testnaam1;Voornaam;12345678901;onvolledig;blauw\n";
  auto r = post(bad);
  CHECK(r.status == 422);
  CHECK(HasViolation(r.Json(), "column_not_allowed"));
  CHECK(HasViolation(r.Json(), "invalid_value"));
  CHECK(r.body.find("12345678901") == std::string::npos);
  CHECK(r.body.find("blauw") == std::string::npos);
  json inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.social.token}), 200);
  CHECK(inbox["items"].empty());

  // A good list: stored encrypted to the allowed recipients, manifest signed by the gateway.
  const std::string csv = kHeader + CirRow(41) + CirRow(42);
  json ok = MustJson(post(csv), 201);
  const std::string id = ok["id"];
  CHECK(ok["signer"] == "gateway");
  json one = MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.social.token}), 200);
  CHECK(one["signer"] == "gateway");
  {
    auto pk = Base64Decode(one["sender_ed25519_verify_key"].get<std::string>());
    auto sig = Base64Decode(one["manifest_signature"].get<std::string>());
    REQUIRE(pk);
    REQUIRE(sig);
    Ed25519PublicKey key{};
    Ed25519Signature s{};
    std::copy(pk->begin(), pk->end(), key.begin());
    std::copy(sig->begin(), sig->end(), s.begin());
    auto canonical = CanonicalJsonOf(one["manifest"]);
    CHECK(VerifyEd25519(key, canonical, s));
  }
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
  REQUIRE(dl.status == 200);
  CHECK(DecryptAge(*w.social_keys.identity, dl.body) == csv);

  // The stored file opens with the allowed recipient's key only: not with
  // the key of a user of the receiving organisation who is no recipient, nor
  // with an outsider's.
  const std::string stored = ReadTextFile(w.d->dir() + "/state/blobs/" + id + ".age");
  REQUIRE(stored == dl.body);
  const auto opens_with = [&](const age::Identity& identity) {
    MemorySource src(stored);
    StringSink plain;
    const age::Identity* ids[] = {&identity};
    const bool decrypted = age::Decrypt(ids, src, plain).has_value();
    return decrypted && plain.str() == csv;
  };
  CHECK(opens_with(*w.social_keys.identity));
  CHECK_FALSE(opens_with(*w.cleaner_keys.identity));
  CHECK_FALSE(opens_with(*w.outsider_keys.identity));

  // No byte of the plaintext anywhere under the state directory (SQLite, WAL,
  // blobs): grep exits 1 (nothing found), not 2 (could not search). The same
  // search finds what is there (the organisation's name, the exchange id).
  const std::string state = w.d->dir() + "/state";
  const auto grep = [&](const std::string& needle) {
    int status = -1;
    const std::string hits = RunCommand("grep -rl --binary-files=binary -F -- '" + needle + "' " + state, &status);
    INFO(needle.size() << " bytes sought; files: " << hits);
    return status;
  };
  CHECK(grep("Thuispunt Gent") == 0);
  CHECK(grep(id) == 0);
  for (const std::string& needle : {SyntheticNrn(41), SyntheticNrn(42), std::string("Testnaam41"),
                                    std::string("Testnaam42"), std::string("blauw"), std::string("12345678901")}) {
    CHECK(grep(needle) == 1);
  }
}

// Two exchanges created before either was uploaded both pass the one-off
// check at creation; only the first upload may complete. The second is
// refused when it completes, audited, and leaves nothing behind.
TEST_CASE("AOneOffProtocolDeliversOnceEvenWhenTwoUploadsWereCreatedTogether") {
  World w;
  w.ProposeAcceptActivate();
  const std::string csv = kHeader + CirRow(1);
  auto [manifest, sig] = w.SignedManifest(csv, w.sender_keys);
  const std::string first = MustJson(w.Create(w.sender, manifest, sig), 201)["id"];
  const std::string second = MustJson(w.Create(w.sender, manifest, sig), 201)["id"];
  const std::string bytes = w.Encrypt(csv, w.social_keys);
  MustJson(w.Upload(w.sender, first, bytes), 200);
  auto late = w.Upload(w.sender, second, bytes);
  REQUIRE(late.status == 422);
  CHECK(HasViolation(late.Json(), "one_off_used"));
  CHECK(w.State(first) == "available");
  CHECK(w.State(second) == "discarded");
  int status = 0;
  CHECK(RunCommand("find " + w.d->dir() + "/state/blobs -type f | wc -l", &status) == "1\n");
  // The refusal is in the audit log under the second exchange.
  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + second,
                                 {.token = w.d->operator_token()}),
                         200);
  bool refused = false;
  for (const auto& e : events["items"]) {
    refused = refused || (e["event"]["action"] == "exchange.refused" && e["event"]["reason"] == "one_off_used");
  }
  CHECK(refused);
  // A retry of the refused upload finds nothing to complete.
  CHECK(w.Upload(w.sender, second, bytes).status == 409);
}

// The same with the uploads truly concurrent: whichever completes first is
// the one transfer; every other one is refused when it completes.
TEST_CASE("ConcurrentUploadsUnderAOneOffProtocolDeliverExactlyOnce") {
  World w;
  w.ProposeAcceptActivate();
  const std::string csv = kHeader + CirRow(1);
  auto [manifest, sig] = w.SignedManifest(csv, w.sender_keys);
  constexpr int kUploads = 6;
  std::vector<std::string> ids;
  for (int i = 0; i < kUploads; ++i) ids.push_back(MustJson(w.Create(w.sender, manifest, sig), 201)["id"]);
  const std::string bytes = w.Encrypt(csv, w.social_keys);
  std::vector<long> statuses(kUploads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kUploads; ++i) {
    threads.emplace_back([&, i] { statuses[i] = w.Upload(w.sender, ids[i], bytes).status; });
  }
  for (auto& t : threads) t.join();
  CHECK(std::count(statuses.begin(), statuses.end(), 200L) == 1);
  CHECK(std::count(statuses.begin(), statuses.end(), 422L) == kUploads - 1);
  int available = 0;
  for (const auto& id : ids) available += w.State(id) == "available" ? 1 : 0;
  CHECK(available == 1);
  int status = 0;
  CHECK(RunCommand("find " + w.d->dir() + "/state/blobs -type f | wc -l", &status) == "1\n");
}

namespace {

// The append-only triggers an attacker with write access drops first.
constexpr const char* kDropAuditTriggers =
    "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;"
    "DROP TRIGGER IF EXISTS tiles_no_update; DROP TRIGGER IF EXISTS tiles_no_delete;"
    "DROP TRIGGER IF EXISTS checkpoints_no_update; DROP TRIGGER IF EXISTS checkpoints_no_delete;";

// Runs the real `xgwd audit-verify --state <state> <extra>`; returns its exit status.
int AuditVerify(const std::string& state, const std::string& extra, std::string* output) {
  int status = -1;
  *output = RunCommand(XgwdPath() + " audit-verify --state " + state + extra + " 2>&1", &status);
  return status;
}

std::string Sqlite(const std::string& db, const std::string& sql) {
  int status = 0;
  const std::string out = RunCommand("sqlite3 " + db + " \"" + sql + "\" 2>&1", &status);
  INFO(out);
  REQUIRE(status == 0);
  return out;
}

}  // namespace

// The offline verifier the operator and the DPO run, as a binary: exit 0 on
// the untouched log, 1 on an edited one; a log whose hashes were all
// recomputed after an edit (and whose stored checkpoints were dropped) is
// self-consistent, and only a checkpoint saved before, given with
// --checkpoint, exposes it.
TEST_CASE("XgwdAuditVerifyFailsOnATamperedLogAndASavedCheckpointExposesARecomputedOne") {
  World w;
  w.ProposeAcceptActivate();
  w.Send(kHeader + CirRow(1) + CirRow(2));
  auto note = Request(*w.d, "POST", "/api/v1/audit/checkpoint", {.token = w.dpo_recv.token});
  REQUIRE(note.status == 200);
  const std::string dir = w.d->dir();
  {
    std::ofstream(dir + "/saved.note", std::ios::binary) << note.body;
  }
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  int status = 0;
  RunCommand("cp -a " + dir + "/state " + dir + "/edited && cp -a " + dir + "/state " + dir + "/recomputed", &status);
  REQUIRE(status == 0);
  const std::string saved = " --checkpoint " + dir + "/saved.note";
  std::string out;

  // Untouched: verifies, with the saved checkpoint too.
  {
    const int rc = AuditVerify(dir + "/state", saved, &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("trusted checkpoints verified: 1") != std::string::npos);
    CHECK(out.find("result: OK") != std::string::npos);
  }

  // Event 3 (the operator's registration of an organisation) edited in place.
  const std::string edited_db = dir + "/edited/audit.db";
  const std::string event3 = Sqlite(edited_db, "SELECT hex(event) FROM events WHERE idx = 3;");
  Sqlite(edited_db, std::string(kDropAuditTriggers) +
                        "UPDATE events SET event = event || CAST(' ' AS BLOB) WHERE idx = 3;");
  REQUIRE(Sqlite(edited_db, "SELECT hex(event) FROM events WHERE idx = 3;") != event3);
  {
    const int rc = AuditVerify(dir + "/edited", "", &out);
    INFO("edited: " << out);
    CHECK(rc == 1);
    CHECK(out.find("result: FAILED") != std::string::npos);
  }
  {
    const int rc = AuditVerify(dir + "/edited", saved, &out);
    INFO("edited, with the saved checkpoint: " << out);
    CHECK(rc == 1);
  }

  // The same edit with every leaf and node hash recomputed and the stored
  // checkpoints dropped: nothing inside the file contradicts it any more.
  const std::string db = dir + "/recomputed/audit.db";
  std::istringstream rows(Sqlite(db, "SELECT idx, hex(event) FROM events ORDER BY idx;"));
  MerkleTree tree;
  std::string sql = std::string(kDropAuditTriggers) + "DELETE FROM tiles; DELETE FROM checkpoints;";
  uint64_t expected_idx = 0;
  for (std::string line; std::getline(rows, line);) {
    const auto bar = line.find('|');
    REQUIRE(bar != std::string::npos);
    REQUIRE(std::stoull(line.substr(0, bar)) == expected_idx);
    auto bytes = HexDecode(line.substr(bar + 1));
    REQUIRE(bytes);
    std::string ev;
    REQUIRE(DecodeStoredEvent(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), ev));
    if (expected_idx == 3) {
      const auto at = ev.find("success");
      REQUIRE(at != std::string::npos);
      ev.replace(at, 7, "refused");
      const MerkleHash leaf = MerkleLeafHash(ev);
      (void)leaf;
      sql += "UPDATE events SET event = x'" + HexEncode(AsBytes(ev)) + "' WHERE idx = 3;";
    }
    tree.Append(MerkleLeafHash(ev));
    ++expected_idx;
  }
  REQUIRE(expected_idx > 10);
  // Every full tile of 16 hashes (audit/audit_store.h), as the store keeps them.
  for (size_t l = 0; l < tree.levels().size(); l += kAuditTileHeight) {
    for (size_t i = 0; i < tree.levels()[l].size() / kAuditTileWidth; ++i) {
      std::string hex;
      for (size_t k = 0; k < kAuditTileWidth; ++k) hex += HexEncode(tree.levels()[l][i * kAuditTileWidth + k]);
      sql += "INSERT INTO tiles VALUES (" + std::to_string(l / kAuditTileHeight) + "," + std::to_string(i) + ",x'" +
             hex + "');";
    }
  }
  {
    std::ofstream(dir + "/recompute.sql") << sql;
  }
  RunCommand("sqlite3 " + db + " < " + dir + "/recompute.sql", &status);
  REQUIRE(status == 0);
  {
    const int rc = AuditVerify(dir + "/recomputed", "", &out);
    INFO("recomputed, alone: " << out);
    CHECK(rc == 0);
  }
  {
    const int rc = AuditVerify(dir + "/recomputed", saved, &out);
    INFO("recomputed, with the saved checkpoint: " << out);
    CHECK(rc == 1);
    CHECK(out.find("result: FAILED") != std::string::npos);
    CHECK(out.find("not consistent") != std::string::npos);
  }
}
