// End-to-end tests of issue 5's rule "if the audit append fails, the action
// does not happen", with a real failure: after a normal setup (protocol in
// force, one exchange delivered) the audit database's write-ahead log is made
// immutable (chattr +i, ext4), so the daemon's next audit commit fails with an
// I/O error exactly as on a failing disk. Every state-changing call and every
// download must then be refused with 503 and change nothing; the daemon stays
// up and /healthz says it is degraded; once the attribute is removed and xgwd
// restarted, everything works again and `xgwd audit-verify` passes.
//
// Needs root with CAP_LINUX_IMMUTABLE and a state directory on a filesystem
// with the immutable attribute; elsewhere the tests are skipped with a warning.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
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

  // Everything a refused call must leave untouched: rows of every table a
  // call under test could change, and every file under blobs/ (tmp included).
  std::string Fingerprint() {
    int status = 0;
    return DbDump("SELECT id, state, COALESCE(acknowledged_at, 0) FROM exchanges ORDER BY id; "
                  "SELECT id, state FROM protocols ORDER BY id; "
                  "SELECT version_hash, state FROM protocol_versions ORDER BY 1; "
                  "SELECT protocol_id, party FROM protocol_acceptances ORDER BY 1, 2; "
                  "SELECT COUNT(*) FROM violation_reports; "
                  "SELECT id FROM organisations ORDER BY id; "
                  "SELECT id FROM users ORDER BY id; "
                  "SELECT id, COALESCE(revoked_at, 0) FROM api_tokens ORDER BY id; "
                  "SELECT user_id, age_recipient, ed25519_verify_key FROM user_keys ORDER BY 1; "
                  "SELECT user_id, role FROM user_roles ORDER BY 1, 2; "
                  "SELECT pin, org_id FROM organisation_client_pins ORDER BY 1;") +
           "blobs:\n" + RunCommand("cd " + d->dir() + "/state/blobs && find . | sort", &status);
  }

  std::string Blobs() {
    int status = 0;
    return RunCommand("find " + d->dir() + "/state/blobs -type f | sort", &status);
  }
};

// Sets the immutable attribute on a file and always clears it again (even
// when the test fails half-way), so that the state directory can be removed.
class ImmutableFile {
 public:
  explicit ImmutableFile(std::string path) : path_(std::move(path)) {
    int status = 0;
    output_ = RunCommand("chattr +i '" + path_ + "' 2>&1", &status);
    set_ = status == 0;
  }
  ~ImmutableFile() { Clear(); }
  ImmutableFile(const ImmutableFile&) = delete;
  ImmutableFile& operator=(const ImmutableFile&) = delete;
  bool set() const { return set_; }
  const std::string& output() const { return output_; }
  void Clear() {
    if (!set_) return;
    int status = 0;
    RunCommand("chattr -i '" + path_ + "' 2>&1", &status);
    set_ = status != 0;
  }

 private:
  std::string path_;
  std::string output_;
  bool set_ = false;
};

// Why the failure cannot be injected here ("" if it can): chattr +i must
// work and must make an open file refuse writes.
std::string WhyImmutableUnavailable(const std::string& dir) {
  const std::string probe = dir + "/immutable-probe";
  const int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return "cannot create " + probe;
  std::string why;
  {
    ImmutableFile f(probe);
    if (!f.set()) {
      why = "chattr +i failed (needs root with CAP_LINUX_IMMUTABLE on ext4/xfs/btrfs): " + f.output();
    } else if (::pwrite(fd, "x", 1, 0) != -1 || errno != EPERM) {
      why = "a write to an immutable file did not fail with EPERM on this filesystem";
    }
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return why;
}

bool IsAuditUnavailable(const HttpResult& r) {
  const json j = r.Json();
  return r.status == 503 && r.content_type == "application/problem+json" && j.is_object() &&
         j.value("type", "") == "urn:xgw:problem:audit-unavailable" &&
         j.value("detail", "").find("audit log") != std::string::npos;
}

// The normal setup, then the audit log's WAL made immutable. Returns false
// (after a warning) when the failure cannot be injected on this machine.
struct BrokenAudit {
  World w;
  std::string delivered;  // an available exchange, sent and uploaded
  std::string pending;    // created, content not yet uploaded
  std::string delivered_blob, pending_blob;
  std::unique_ptr<ImmutableFile> wal;

  bool Break() {
    const std::string why = WhyImmutableUnavailable(w.d->dir());
    if (!why.empty()) {
      WARN("SKIPPED: cannot make the audit log fail on this machine: " << why);
      return false;
    }
    const std::string path = w.d->dir() + "/state/audit.db-wal";
    REQUIRE(::access(path.c_str(), F_OK) == 0);  // WAL mode: exists while xgwd runs
    wal = std::make_unique<ImmutableFile>(path);
    REQUIRE(wal->set());
    return true;
  }

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

  // Removes the condition, restarts xgwd and checks the log verifies.
  void RepairAndRestart() {
    CHECK(w.d->Alive());
    // Monitoring sees the daemon degraded; the operator finds the cause in its log.
    auto health = Request(*w.d, "GET", "/healthz");
    CHECK(health.status == 503);
    CHECK(health.Json().value("audit", "") == "unavailable");
    CHECK(w.d->Log().find("audit append failed") != std::string::npos);
    // While the log is unwritable xgwd still shuts down cleanly.
    CHECK(w.d->StopAndWait(SIGTERM) == 0);
    wal->Clear();
    REQUIRE_FALSE(wal->set());
    VerifyAudit();
    w.d->Restart();
    CHECK(Request(*w.d, "GET", "/healthz").status == 200);
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
  CHECK(b.w.Fingerprint() == before);
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
  if (!b.Break()) return;

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

  b.RepairAndRestart();
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
  if (!b.Break()) return;
  for (int i = 0; i < 2; ++i) {  // the failing commit, then the broken log
    auto r = b.w.Plaintext(kHeader + CirRow(5 + i));
    INFO(r.body);
    CHECK(IsAuditUnavailable(r));
  }
  CHECK(b.w.Blobs() == blobs_before);
  CheckNothingStored(b, before, blobs_before);

  b.RepairAndRestart();
  MustJson(b.w.Plaintext(kHeader + CirRow(7)), 201);
  b.StopAndVerify();
}

TEST_CASE("ADownloadThatCannotBeAuditedDoesNotHappen") {
  BrokenAudit b;
  b.Setup();
  const std::string before = b.w.Fingerprint();
  if (!b.Break()) return;
  for (int i = 0; i < 2; ++i) {  // the failing commit, then the broken log
    auto r = b.w.Download(b.delivered);
    INFO(r.status << " " << r.body.substr(0, 200));
    CHECK(IsAuditUnavailable(r));
    CHECK(r.body.find(b.delivered_blob.substr(0, 64)) == std::string::npos);
  }
  CHECK(b.w.Fingerprint() == before);
  b.RepairAndRestart();
  auto dl = b.w.Download(b.delivered);
  REQUIRE(dl.status == 200);
  CHECK(dl.body == b.delivered_blob);
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
  if (!b.Break()) return;

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
    CHECK(w.Fingerprint() == before);
  }
  CHECK(w.d->Alive());
  // Not advanced by a day (the manual clock also ticks with real time).
  CHECK(clock_now().substr(0, 10) == clock_before.substr(0, 10));

  b.RepairAndRestart();
  CHECK(w.Fingerprint() == before);
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
  if (!b.Break()) return;
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
    CHECK(w.Fingerprint() == before);
  }
  b.RepairAndRestart();
  CHECK(w.Fingerprint() == before);
  for (const auto& c : calls) {
    INFO(c.what);
    MustJson(Request(*w.d, c.method, c.path, {.token = c.token, .body = c.body}), c.ok_status);
  }
  b.StopAndVerify();
}
