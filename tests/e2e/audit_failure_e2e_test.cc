// End-to-end tests of issue 5's rule "if the audit append fails, the action
// does not happen": after a normal setup (protocol in force, one exchange
// delivered) the daemon's audit commits are made to fail through its
// "audit-commit" fault point (audit/fault_points.h: the COMMIT fails
// as on a full disk), so these run on every machine and never skip. Every
// state-changing call and every download must then be refused with 503 and
// change nothing (database, blobs, audit log); the sweeper must delete
// nothing; the daemon stays up and /healthz says it is degraded. Once the
// fault is removed the log recovers by itself (no restart), everything works
// again and `xgwd audit-verify` passes.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

const std::string& kHeader = kCirHeader;

// A periodic CIR variant, so that further exchanges are allowed after the first.
json ProtocolDoc(const std::string& id) { return CirPeriodicProtocolDoc(id); }

class World : public CirWorld {
 public:
  World() : CirWorld(ProtocolDoc("AF_MAIN")) {}

  HttpResult Plaintext(const std::string& csv) {
    return Request(*d, "POST", "/api/v1/exchanges/plaintext?protocol_id=AF_MAIN&format=csv",
                   {.token = sender.token, .body = csv, .content_type = "text/csv"});
  }
  HttpResult Download(const std::string& id) {
    return Request(*d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = social.token});
  }
  HttpResult ExchangeCall(const std::string& id, const std::string& verb, const Account& who,
                          const std::string& body = "") {
    return Request(*d, "POST", "/api/v1/exchanges/" + id + "/" + verb, {.token = who.token, .body = body});
  }

  // Everything a refused call must leave untouched: every table of the
  // database, every file under blobs/ (tmp included) and the audit log.
  std::string Fingerprint() { return StoreFingerprint(*d) + "audit:\n" + AuditFingerprint(*d); }

  std::string Blobs() {
    int status = 0;
    std::string out = RunCommand("find " + d->dir() + "/state/blobs -type f -not -path '*/segments/*' | sort", &status);
    for (const auto& r : PackedBlobs(d->dir() + "/state")) out += "packed " + r + "\n";
    return out;
  }
};

bool IsAuditUnavailable(const HttpResult& r) {
  const json j = r.Json();
  return r.status == 503 && r.content_type == "application/problem+json" && j.is_object() &&
         j.value("type", "") == "urn:xgw:problem:audit-unavailable" &&
         j.value("detail", "").find("audit log") != std::string::npos;
}

// The normal setup, then the audit log's commits failing.
struct BrokenAudit {
  FaultDir faults;  // before the daemon starts: it reads XGW_FAULT_DIR then
  World w;
  std::string delivered;  // an available exchange, sent and uploaded
  std::string pending;    // created, content not yet uploaded
  std::string delivered_blob, pending_blob;

  void Break() { faults.Fail("audit-commit"); }

  void Setup() {
    w.ProposeAndAccept(ProtocolDoc("AF_MAIN"));
    const std::string csv = kHeader + CirRow(1) + CirRow(2);
    delivered = MustJson(w.CreateRequest(csv), 201)["id"];
    delivered_blob = w.Encrypt(csv);
    MustJson(w.Upload(delivered, delivered_blob), 200);
    const std::string csv_p = kHeader + CirRow(3);
    pending = MustJson(w.CreateRequest(csv_p), 201)["id"];
    pending_blob = w.Encrypt(csv_p);
  }

  // Checks the daemon is up and says it is degraded, removes the fault and
  // waits (at most 15 s; the log re-probes every 2 s) for the log to
  // recover by itself: the same process then serves again.
  void Repair() {
    REQUIRE(w.d->Alive());
    const pid_t pid = w.d->pid();
    // Monitoring sees the daemon degraded; the operator finds the cause in its log.
    auto health = Request(*w.d, "GET", "/healthz");
    CHECK(health.status == 503);
    CHECK(health.Json().value("audit", "") == "unavailable");
    CHECK(w.d->Log().find("audit append failed") != std::string::npos);
    faults.Heal("audit-commit");
    long status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (status != 200 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      status = Request(*w.d, "GET", "/healthz").status;
    }
    REQUIRE(status == 200);
    CHECK(w.d->pid() == pid);
  }

  void VerifyAudit() {
    CheckAuditVerifies(w.d->dir() + "/state");
  }

  void StopAndVerify() {
    CHECK(w.d->StopAndWait(SIGTERM) == 0);
    VerifyAudit();
  }
};

}  // namespace

namespace {

// After refused uploads: nothing new in the database (exchange rows
// included) or under blobs/ (tmp included). Listing a box is an audited
// access too: while the log cannot be written, it is refused as well.
void CheckNothingStored(BrokenAudit& b, const std::string& before, const std::string& blobs_before) {
  CHECK(LineDiff(before, b.w.Fingerprint()) == "");
  CHECK(b.w.Blobs() == blobs_before);
  for (const auto& [box, token] : {std::pair{"inbox", b.w.social.token}, std::pair{"sent", b.w.sender.token}}) {
    auto r = Request(*b.w.d, "GET", std::string("/api/v1/exchanges?box=") + box, {.token = token});
    CHECK(r.status == 503);
    CHECK(r.body.find("audit") != std::string::npos);
  }
}

}  // namespace

TEST_CASE("EndToEndUploadsThatCannotBeAuditedAreRefusedAndLeaveNoExchangeAndNoBlob") {
  BrokenAudit b;
  b.Setup();
  const std::string blobs_before = b.w.Blobs();
  const std::string before = b.w.Fingerprint();
  b.Break();

  SECTION("content of a pending exchange") {
    auto r = b.w.Upload(b.pending, b.pending_blob);
    INFO(r.body);
    CHECK(IsAuditUnavailable(r));
  }
  SECTION("a new exchange") {
    auto r = b.w.CreateRequest(kHeader + CirRow(4));
    INFO(r.body);
    CHECK(IsAuditUnavailable(r));
  }
  // Both again, once the log is known to be broken.
  CHECK(IsAuditUnavailable(b.w.Upload(b.pending, b.pending_blob)));
  CHECK(IsAuditUnavailable(b.w.CreateRequest(kHeader + CirRow(5))));
  CheckNothingStored(b, before, blobs_before);

  b.Repair();
  MustJson(b.w.Upload(b.pending, b.pending_blob), 200);
  const std::string fresh = MustJson(b.w.CreateRequest(kHeader + CirRow(8)), 201)["id"];
  MustJson(b.w.Upload(fresh, b.w.Encrypt(kHeader + CirRow(8))), 200);
  auto dl = b.w.Download(b.pending);
  REQUIRE(dl.status == 200);
  CHECK(dl.body == b.pending_blob);
  b.StopAndVerify();
}

// Gateway-encrypt mode: the exchange.created event comes before the row,
// and a row whose upload then fails is discarded at once (the sender never
// got its id).
TEST_CASE("GatewayEncryptUploadsThatCannotBeAuditedAreRefusedAndLeaveNoExchangeAndNoBlob") {
  BrokenAudit b;
  b.Setup();
  const std::string blobs_before = b.w.Blobs();
  const std::string before = b.w.Fingerprint();
  b.Break();
  for (int i = 0; i < 2; ++i) {  // the failing commit, then the broken log
    auto r = b.w.Plaintext(kHeader + CirRow(5 + i));
    INFO(r.body);
    CHECK(IsAuditUnavailable(r));
  }
  CHECK(b.w.Blobs() == blobs_before);
  CheckNothingStored(b, before, blobs_before);

  b.Repair();
  MustJson(b.w.Plaintext(kHeader + CirRow(7)), 201);
  b.StopAndVerify();
}

TEST_CASE("ADownloadThatCannotBeAuditedDoesNotHappen") {
  BrokenAudit b;
  b.Setup();
  const std::string before = b.w.Fingerprint();
  b.Break();
  for (int i = 0; i < 2; ++i) {  // the failing commit, then the broken log
    auto r = b.w.Download(b.delivered);
    INFO(r.status << " " << r.body.substr(0, 200));
    CHECK(IsAuditUnavailable(r));
    CHECK(r.body.find(b.delivered_blob.substr(0, 64)) == std::string::npos);
  }
  CHECK(LineDiff(before, b.w.Fingerprint()) == "");
  // While the log cannot be written xgwd still shuts down cleanly, and a
  // restart with the fault gone serves again.
  REQUIRE(b.w.d->Alive());
  CHECK(b.w.d->StopAndWait(SIGTERM) == 0);
  b.faults.Heal("audit-commit");
  b.VerifyAudit();
  b.w.d->Restart();
  CHECK(Request(*b.w.d, "GET", "/healthz").status == 200);
  auto dl = b.w.Download(b.delivered);
  REQUIRE(dl.status == 200);
  CHECK(dl.body == b.delivered_blob);
  b.StopAndVerify();
}

namespace {

int64_t ParseUtc(const std::string& t) {
  std::tm tm{};
  REQUIRE(strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

// The sweeper may delete an expired exchange only once the deletion is in the
// audit log: while the log fails, the manual clock passes the exchange's
// expiry and the sweeper (every second) finds it due, yet deletes nothing.
TEST_CASE("TheSweeperDeletesNothingWhileTheAuditLogFailsAndDeletesOnceItRecovers") {
  BrokenAudit b;
  World& w = b.w;
  b.Setup();
  const auto clock_now = [&] {
    return ParseUtc(MustJson(Request(*w.d, "GET", "/api/v1/admin/clock", {.token = w.d->operator_token()}), 200)
                        .value("now", ""));
  };
  const int64_t expires =
      ParseUtc(MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + b.delivered, {.token = w.sender.token}), 200)
                   .value("expires_at", ""));
  // Five seconds before the expiry: the fault is in force before the clock
  // (which also runs at real speed) reaches it.
  w.Advance(expires - clock_now() - 5);
  REQUIRE(expires - clock_now() >= 3);
  b.Break();
  const std::string before = w.Fingerprint();
  const std::string row_before = w.DbDump("SELECT state, COALESCE(deleted_at, 0) FROM exchanges WHERE id = '" +
                                          b.delivered + "';");
  CHECK(row_before == "available|0\n");
  // Past the expiry by three sweeps and more.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (clock_now() < expires + 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  REQUIRE(clock_now() >= expires + 4);
  const std::string state_dir = w.d->dir() + "/state";
  CHECK(BlobStored(state_dir, b.delivered));
  CHECK(w.DbDump("SELECT state, COALESCE(deleted_at, 0) FROM exchanges WHERE id = '" + b.delivered + "';") ==
        row_before);
  CHECK(LineDiff(before, w.Fingerprint()) == "");
  CHECK(w.d->Log().find("audit append failed") != std::string::npos);

  // Once the log records again, the next sweep deletes it, audited once.
  b.Repair();
  CHECK(w.WaitForState(b.delivered, "deleted"));
  CHECK_FALSE(BlobStored(state_dir, b.delivered));
  json items = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&exchange=" + b.delivered,
                                {.token = w.d->operator_token()}),
                        200)["items"];
  int deletions = 0;
  for (const auto& it : items) {
    deletions += it["event"].value("action", "").rfind("exchange.deleted", 0) == 0 ? 1 : 0;
  }
  INFO(items.dump());
  CHECK(deletions == 1);
  b.StopAndVerify();
}

TEST_CASE("ExchangeAndProtocolChangesThatCannotBeAuditedAreRefusedAndChangeNothing") {
  BrokenAudit b;
  World& w = b.w;
  b.Setup();
  // AF_LIFE: in force, then suspended (for activate); AF_NEXT: proposed only (for accept).
  w.ProposeAndAccept(ProtocolDoc("AF_LIFE"));
  MustJson(w.Lifecycle("AF_LIFE", "suspend"), 200);
  const std::string next_hash = w.Propose(ProtocolDoc("AF_NEXT"));
  const std::string before = w.Fingerprint();
  const std::string store_before = StoreFingerprint(*w.d);
  b.Break();

  struct Call {
    std::string what;
    std::function<HttpResult()> run;
  };
  const std::vector<Call> calls = {
      {"acknowledge", [&] { return w.ExchangeCall(b.delivered, "ack", w.social); }},
      {"report a violation", [&] { return w.ExchangeCall(b.delivered, "violations", w.social, R"({"code":"other"})"); }},
      {"revoke", [&] { return w.ExchangeCall(b.delivered, "revoke", w.sender); }},
      {"propose a protocol", [&] { return w.ProposeRequest(ProtocolDoc("AF_NEW")); }},
      {"accept a protocol", [&] { return w.AcceptRequest("AF_NEXT", next_hash, w.thuispunt); }},
      {"activate a protocol", [&] { return w.Lifecycle("AF_LIFE", "activate"); }},
      {"suspend a protocol", [&] { return w.Lifecycle("AF_MAIN", "suspend"); }},
      {"terminate a protocol", [&] { return w.Lifecycle("AF_MAIN", "terminate"); }},
      {"advance the clock", [&] {
         return Request(*w.d, "POST", "/api/v1/admin/clock",
                        {.token = w.d->operator_token(), .body = R"({"advance_seconds":86400})"});
       }},
  };
  const auto clock_now = [&] {
    return MustJson(Request(*w.d, "GET", "/api/v1/admin/clock", {.token = w.d->operator_token()}), 200)
        .value("now", "");
  };
  const std::string clock_before = clock_now();
  for (const auto& c : calls) {
    auto r = c.run();
    INFO(c.what << " -> " << r.status << " " << r.body);
    CHECK(IsAuditUnavailable(r));
    CHECK(LineDiff(before, w.Fingerprint()) == "");
  }
  CHECK(w.d->Alive());
  // Not advanced by a day (the manual clock also ticks with real time).
  CHECK(clock_now().substr(0, 10) == clock_before.substr(0, 10));

  b.Repair();
  // The database and blobs as before; the log has since recorded the refusals.
  CHECK(LineDiff(store_before, StoreFingerprint(*w.d)) == "");
  const auto report = w.ExchangeCall(b.delivered, "violations", w.social, R"({"code":"other"})");
  CHECK((report.status >= 200 && report.status < 300));
  MustJson(w.ExchangeCall(b.delivered, "ack", w.social), 200);
  w.Accept("AF_NEXT", next_hash, w.thuispunt);
  MustJson(w.Lifecycle("AF_LIFE", "activate"), 200);
  w.Propose(ProtocolDoc("AF_NEW"));
  CHECK(w.DbDump("SELECT id, state FROM protocols ORDER BY id;") ==
        "AF_LIFE|valid\nAF_MAIN|valid\nAF_NEW|proposed\nAF_NEXT|proposed\n");
  b.StopAndVerify();
}

TEST_CASE("OperatorChangesThatCannotBeAuditedAreRefusedAndChangeNothing") {
  BrokenAudit b;
  World& w = b.w;
  b.Setup();
  const std::string op = w.d->operator_token();
  const std::string token_id = w.Token(w.cleaner.user, 3600).first;
  const auto new_age = age::X25519Identity::Generate();
  const auto new_sign = Ed25519SecretKey::Generate();
  const std::string new_keys = json{{"age_recipient", new_age.Recipient().String()},
                                    {"ed25519_verify_key", Base64Encode(new_sign.public_key())}}
                                   .dump();
  const std::string pin(64, 'd');
  MustJson(Request(*w.d, "POST", "/api/v1/orgs/" + w.ocmw + "/client-pins",
                   {.token = op, .body = json{{"pin", "sha256:" + pin}}.dump()}),
           201);
  const std::string before = w.Fingerprint();
  const std::string store_before = StoreFingerprint(*w.d);
  b.Break();
  struct Call {
    std::string what, method, path, body, token;
    long ok_status;
  };
  const std::vector<Call> calls = {
      {"create an organisation", "POST", "/api/v1/orgs", R"({"name":"Another"})", op, 201},
      {"create a user", "POST", "/api/v1/orgs/" + w.ocmw + "/users", R"({"display_name":"new","roles":["dpo"]})", op,
       201},
      {"create a token", "POST", "/api/v1/users/" + w.social.user + "/tokens", R"({"ttl_seconds":3600})", op, 201},
      {"change roles", "PUT", "/api/v1/users/" + w.dpo_recv.user + "/roles", R"({"roles":["dpo","sender"]})", op,
       200},
      {"register keys", "PUT", "/api/v1/users/" + w.social.user + "/keys", new_keys, w.social.token, 200},
      {"revoke a token", "DELETE", "/api/v1/tokens/" + token_id, "", op, 200},
      {"add a client-certificate pin", "POST", "/api/v1/orgs/" + w.thuispunt + "/client-pins",
       json{{"pin", "sha256:" + std::string(64, 'e')}}.dump(), op, 201},
      {"remove a client-certificate pin", "DELETE", "/api/v1/orgs/" + w.ocmw + "/client-pins/" + pin, "", op, 200},
  };
  for (const auto& c : calls) {
    auto r = Request(*w.d, c.method, c.path, {.token = c.token, .body = c.body});
    INFO(c.what << " -> " << r.status << " " << r.body);
    CHECK(IsAuditUnavailable(r));
    CHECK(r.body.find("\"token\"") == std::string::npos);
    CHECK(LineDiff(before, w.Fingerprint()) == "");
  }
  b.Repair();
  // The database and blobs as before; the log has since recorded the refusals.
  CHECK(LineDiff(store_before, StoreFingerprint(*w.d)) == "");
  for (const auto& c : calls) {
    INFO(c.what);
    MustJson(Request(*w.d, c.method, c.path, {.token = c.token, .body = c.body}), c.ok_status);
  }
  b.StopAndVerify();
}
