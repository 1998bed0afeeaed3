// End-to-end tests of protocol amendments: one protocol id, several versions
// over time. The real xgwd on 127.0.0.1:0, a manual clock starting
// 2024-09-20, the CIR protocol made periodic (v1) and an amendment (v2) that
// drops a column, shortens retention and narrows the recipients. Lists are
// sent in gateway-encrypt mode, so the daemon checks them against the version
// in force.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/sign.h"
#include "policy/protocol.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kId = "2024_VB_00591";

// Header with the "missing documents" column v2 no longer allows.
const std::string kHeaderV1 =
    "Naam;Voornaam;Rijksregisternummer;Status dossier;Ontbrekende documenten\n";
const std::string kHeaderV2 = "Naam;Voornaam;Rijksregisternummer;Status dossier\n";

std::string RowV1(int i) { return "Testnaam" + std::to_string(i) + ";Voornaam;" + SyntheticNrn(i) + ";onvolledig;attest\n"; }
std::string RowV2(int i) { return "Testnaam" + std::to_string(i) + ";Voornaam;" + SyntheticNrn(i) + ";onvolledig\n"; }

// v1: the CIR protocol, periodic so that several lists may be sent.
json DocV1() {
  json d = json::parse(ReadTextFile(kCirProtocolFile));
  d["frequency"] = {{"kind", "periodic"}, {"max_transfers", 20}, {"per", "month"}};
  return d;
}

// v2: no "missing_documents" column, deleted two days earlier, only head
// social workers receive.
json DocV2() {
  json d = DocV1();
  d["version"] = "2";
  json fields = json::array();
  for (const auto& f : d["fields"]) {
    if (f["name"] != "missing_documents") fields.push_back(f);
  }
  d["fields"] = fields;
  d["retention"]["delete_on"] = "2024-09-25";
  d["recipients"][0]["roles"] = json::array({"head-social-worker"});
  return d;
}

std::string HashOf(const json& doc) {
  auto p = ParseProtocolDocument(doc);
  REQUIRE(p);
  return p->version_hash;
}

// The CIR world (cir_world.h: xgwd on a manual clock from 2024-09-20, both
// organisations, their users and keys) with what these tests add: a head
// social worker (the only recipient role of v2) and the protocol's versions.
class World : public CirWorld {
 public:
  World() { head = User(ocmw, "head social worker", {"head-social-worker"}, &head_keys); }

  // Accepts for `org` the version `hash`, or without a hash the version
  // the protocol proposes.
  HttpResult AcceptVersion(const std::string& org, const std::string& hash = "") {
    json body = {{"organisation", org}};
    if (!hash.empty()) body["version_hash"] = hash;
    return Request(*d, "POST", std::string("/api/v1/protocols/") + kId + "/accept",
                   {.token = d->operator_token(), .body = body.dump()});
  }

  json Show(const std::string& token) {
    return MustJson(Request(*d, "GET", std::string("/api/v1/protocols/") + kId, {.token = token}), 200);
  }

  json Versions(const std::string& token) {
    return MustJson(Request(*d, "GET", std::string("/api/v1/protocols/") + kId + "/versions", {.token = token}),
                    200);
  }

  // v1 proposed, accepted by both parties, in force.
  void V1InForce() {
    json r = MustJson(ProposeRequest(DocV1()), 201);
    CHECK(r["state"] == "proposed");
    MustJson(AcceptVersion(thuispunt), 200);
    json a = MustJson(AcceptVersion(ocmw), 200);
    CHECK(a["state"] == "valid");
  }

  json Exchange(const std::string& id) {
    return MustJson(Request(*d, "GET", "/api/v1/exchanges/" + id, {.token = sender.token}), 200);
  }

  std::string Decrypt(const HttpResult& r, const Keys& keys) { return DecryptAge(*keys.identity, r.body); }

  // The audit events of the protocol, as "action version-prefix reason" lines.
  std::vector<std::string> ProtocolEvents() {
    json ev = MustJson(Request(*d, "GET", std::string("/api/v1/audit/events?protocol=") + kId + "&limit=1000",
                               {.token = d->operator_token()}),
                       200);
    std::vector<std::string> out;
    for (const auto& item : ev["items"]) {
      const json& e = item["event"];
      const std::string action = e["action"];
      if (action.rfind("protocol.", 0) != 0) continue;
      std::string line = action + " " + e["protocol"].value("version", std::string()).substr(0, 8);
      if (e.contains("reason")) line += " " + e["reason"].get<std::string>();
      out.push_back(line);
    }
    return out;
  }

  // Waits up to 30 s (the sweeper runs every second) for the protocol's state.
  bool WaitForProtocolState(const std::string& state) {
    for (int i = 0; i < 300; ++i) {
      if (Show(d->operator_token())["state"] == state) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  Keys head_keys;
  Account head;
};

}  // namespace

TEST_CASE("AnAmendmentComesIntoForceOnlyWhenEveryPartyAcceptedItAndEarlierListsKeepTheirVersion") {
  World w;
  const std::string v1 = HashOf(DocV1()), v2 = HashOf(DocV2());
  REQUIRE(v1 != v2);
  w.V1InForce();

  // A list under v1: with the "missing documents" column, for social workers,
  // deleted at the end of 2024-09-27 (Brussels).
  const std::string list1 = kHeaderV1 + RowV1(1) + RowV1(2);
  json x1 = MustJson(w.SendPlaintext(list1), 201);
  const std::string e1 = x1["id"];
  CHECK(w.Exchange(e1)["version_hash"] == v1);
  CHECK(w.Exchange(e1)["expires_at"] == "2024-09-27T22:00:00Z");

  // v2 proposed: v1 stays in force, v2 waits for both parties.
  json p2 = MustJson(w.ProposeRequest(DocV2()), 201);
  CHECK(p2["version_hash"] == v2);
  CHECK(p2["state"] == "valid");
  CHECK(p2["version_state"] == "proposed");
  CHECK(p2["current_version_hash"] == v1);
  json shown = w.Show(w.dpo_recv.token);
  CHECK(shown["version_hash"] == v1);
  CHECK(shown["valid_now"] == true);
  REQUIRE(shown["pending_version"].is_object());
  CHECK(shown["pending_version"]["version_hash"] == v2);
  CHECK(shown["pending_version"]["version"] == "2");
  CHECK(shown["pending_version"]["acceptances"].empty());
  CHECK(shown["pending_version"]["awaiting"] == json::array({"org-thuispunt-gent", "org-ocmw-gent"}));
  CHECK(shown["pending_version"]["definition"]["retention"]["delete_on"] == "2024-09-25");

  // One party accepts v2 (the default is the pending version): still v1.
  json a1 = MustJson(w.AcceptVersion(w.thuispunt), 200);
  CHECK(a1["version_hash"] == v2);
  CHECK(a1["version_state"] == "proposed");
  CHECK(a1["current_version_hash"] == v1);
  shown = w.Show(w.d->operator_token());
  CHECK(shown["version_hash"] == v1);
  CHECK(shown["pending_version"]["acceptances"].size() == 1);
  CHECK(shown["pending_version"]["awaiting"] == json::array({"org-ocmw-gent"}));

  // Activation with one acceptance missing is refused and changes nothing.
  auto act = Request(*w.d, "POST", std::string("/api/v1/protocols/") + kId + "/activate",
                     {.token = w.d->operator_token()});
  CHECK(act.status == 409);
  CHECK(act.body.find("org-ocmw-gent") != std::string::npos);
  CHECK(w.Show(w.d->operator_token())["version_hash"] == v1);

  // Sends go on under v1 while v2 is pending; v2's hash is not yet usable.
  json x2 = MustJson(w.SendPlaintext(kHeaderV1 + RowV1(3)), 201);
  CHECK(w.Exchange(x2["id"])["version_hash"] == v1);

  // The second acceptance puts v2 in force; v1 is superseded.
  json a2 = MustJson(w.AcceptVersion(w.ocmw, v2), 200);
  CHECK(a2["version_state"] == "current");
  CHECK(a2["current_version_hash"] == v2);
  CHECK(a2["state"] == "valid");
  shown = w.Show(w.d->operator_token());
  CHECK(shown["version_hash"] == v2);
  CHECK(shown["pending_version"].is_null());
  CHECK(shown["definition"]["retention"]["delete_on"] == "2024-09-25");
  json versions = w.Versions(w.sender.token);
  REQUIRE(versions["items"].size() == 2);
  CHECK(versions["items"][0]["version_hash"] == v1);
  CHECK(versions["items"][0]["state"] == "superseded");
  CHECK(versions["items"][0]["acceptances"].size() == 2);
  CHECK(versions["items"][1]["version_hash"] == v2);
  CHECK(versions["items"][1]["state"] == "current");
  CHECK(versions["items"][1]["version"] == "2");
  CHECK(versions["items"][1]["acceptances"].size() == 2);
  CHECK(versions["items"][1]["proposed_by"].is_string());

  // New sends use v2: a list valid under v1 is refused, a v2 list is taken
  // with v2's retention.
  auto refused = w.SendPlaintext(kHeaderV1 + RowV1(4));
  CHECK(refused.status == 422);
  CHECK(refused.body.find("column_not_allowed") != std::string::npos);
  json x3 = MustJson(w.SendPlaintext(kHeaderV2 + RowV2(5)), 201);
  const std::string e3 = x3["id"];
  CHECK(w.Exchange(e3)["version_hash"] == v2);
  CHECK(w.Exchange(e3)["expires_at"] == "2024-09-25T22:00:00Z");

  // The v1 list keeps v1's recipients (social workers) and v1's expiry, also
  // after a download recomputes it.
  auto dl1 = Request(*w.d, "GET", "/api/v1/exchanges/" + e1 + "/content", {.token = w.social.token});
  REQUIRE(dl1.status == 200);
  CHECK(w.Decrypt(dl1, w.social_keys) == list1);
  CHECK(w.Exchange(e1)["expires_at"] == "2024-09-27T22:00:00Z");
  json inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.social.token}), 200);
  bool e1_in_inbox = false, e3_in_inbox = false;
  for (const auto& it : inbox["items"]) {
    e1_in_inbox = e1_in_inbox || it["id"] == e1;
    e3_in_inbox = e3_in_inbox || it["id"] == e3;
  }
  CHECK(e1_in_inbox);
  CHECK_FALSE(e3_in_inbox);
  // The v2 list: head social workers only.
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + e3 + "/content", {.token = w.social.token}).status == 404);
  auto dl3 = Request(*w.d, "GET", "/api/v1/exchanges/" + e3 + "/content", {.token = w.head.token});
  REQUIRE(dl3.status == 200);
  CHECK(w.Decrypt(dl3, w.head_keys) == kHeaderV2 + RowV2(5));

  // The audit log tells the story with the version concerned.
  const auto events = w.ProtocolEvents();
  const std::vector<std::string> expected = {
      "protocol.proposed " + v1.substr(0, 8),  "protocol.accepted " + v1.substr(0, 8),
      "protocol.accepted " + v1.substr(0, 8),  "protocol.activated " + v1.substr(0, 8),
      "protocol.proposed " + v2.substr(0, 8),  "protocol.accepted " + v2.substr(0, 8),
      "protocol.accepted " + v2.substr(0, 8),  "protocol.activated " + v2.substr(0, 8)};
  CHECK(events == expected);

  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("ProposalsThatCannotBeVersionsAndUnknownVersionsAreRefusedWithoutChangingAnything") {
  World w;
  const std::string v1 = HashOf(DocV1()), v2 = HashOf(DocV2());
  w.V1InForce();
  const auto fingerprint = [&] {
    return w.DbDump("SELECT id, version_hash, state FROM protocols; "
                    "SELECT version_hash, state FROM protocol_versions ORDER BY proposed_at, rowid; "
                    "SELECT version_hash, party FROM protocol_acceptances ORDER BY 1, 2;");
  };

  // The version in force, proposed again.
  std::string before = fingerprint();
  auto again = w.ProposeRequest(DocV1());
  CHECK(again.status == 409);
  CHECK(again.body.find("version-exists") != std::string::npos);
  CHECK(again.body.find("already proposed") != std::string::npos);
  CHECK(fingerprint() == before);

  // Acceptance of a version that does not exist: 4xx, nothing recorded.
  auto unknown = w.AcceptVersion(w.thuispunt, std::string(64, 'a'));
  CHECK(unknown.status == 422);
  CHECK(unknown.body.find("unknown-version") != std::string::npos);
  CHECK(fingerprint() == before);
  // Re-accepting the version in force is refused too.
  CHECK(w.AcceptVersion(w.thuispunt, v1).status == 409);
  CHECK(fingerprint() == before);

  // A pending amendment proposed twice: refused; a different one replaces it.
  MustJson(w.ProposeRequest(DocV2()), 201);
  MustJson(w.AcceptVersion(w.thuispunt), 200);
  before = fingerprint();
  auto twice = w.ProposeRequest(DocV2());
  CHECK(twice.status == 409);
  CHECK(twice.body.find("already proposed") != std::string::npos);
  CHECK(fingerprint() == before);
  json v3doc = DocV2();
  v3doc["version"] = "3";
  const std::string v3 = HashOf(v3doc);
  json p3 = MustJson(w.ProposeRequest(v3doc), 201);
  CHECK(p3["version_hash"] == v3);
  json versions = w.Versions(w.dpo_recv.token);
  REQUIRE(versions["items"].size() == 3);
  CHECK(versions["items"][0]["state"] == "current");
  CHECK(versions["items"][1]["version_hash"] == v2);
  CHECK(versions["items"][1]["state"] == "withdrawn");
  CHECK(versions["items"][1]["ended_at"].is_string());
  CHECK(versions["items"][2]["state"] == "proposed");
  // The withdrawn version can no longer be accepted; its acceptance did not
  // carry over to v3.
  before = fingerprint();
  auto withdrawn = w.AcceptVersion(w.ocmw, v2);
  CHECK(withdrawn.status == 409);
  CHECK(withdrawn.body.find("withdrawn") != std::string::npos);
  CHECK(fingerprint() == before);
  json shown = w.Show(w.d->operator_token());
  CHECK(shown["version_hash"] == v1);
  CHECK(shown["pending_version"]["version_hash"] == v3);
  CHECK(shown["pending_version"]["acceptances"].empty());
  const auto events = w.ProtocolEvents();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back() == "protocol.proposed " + v3.substr(0, 8) + " superseded");

  // A party may not change organisation between versions.
  json moved = DocV2();
  moved["version"] = "4";
  moved["parties"][1]["enterprise_number"] = "0417.497.106";
  // (the world's third organisation, "Elsewhere", has that number: one
  // organisation per enterprise number)
  before = fingerprint();
  auto party_moved = w.ProposeRequest(moved);
  CHECK(party_moved.status == 422);
  CHECK(party_moved.body.find("party-changed") != std::string::npos);
  CHECK(fingerprint() == before);

  // A terminated protocol cannot be amended; its pending version is withdrawn.
  MustJson(Request(*w.d, "POST", std::string("/api/v1/protocols/") + kId + "/terminate",
                   {.token = w.d->operator_token()}),
           200);
  versions = w.Versions(w.d->operator_token());
  CHECK(versions["items"][2]["state"] == "withdrawn");
  json v5doc = DocV2();
  v5doc["version"] = "5";
  before = fingerprint();
  auto closed = w.ProposeRequest(v5doc);
  CHECK(closed.status == 409);
  CHECK(closed.body.find("protocol-closed") != std::string::npos);
  CHECK(fingerprint() == before);
  CHECK(w.AcceptVersion(w.thuispunt, v3).status == 409);
  CHECK(fingerprint() == before);
}

TEST_CASE("AProtocolPastItsValidityIsMarkedExpiredByTheSweeperAndAudited") {
  World w;
  w.V1InForce();
  MustJson(w.ProposeRequest(DocV2()), 201);
  // validity.until 2024-09-30: the first instant after it is 2024-09-30T22:00Z.
  w.Advance(11 * 86400);  // 2024-10-01T07:00Z
  REQUIRE(w.WaitForProtocolState("expired"));
  json shown = w.Show(w.sender.token);
  CHECK(shown["valid_now"] == false);
  CHECK(shown["pending_version"].is_null());
  json versions = w.Versions(w.d->operator_token());
  REQUIRE(versions["items"].size() == 2);
  CHECK(versions["items"][1]["state"] == "withdrawn");
  const auto events = w.ProtocolEvents();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back() == "protocol.expired " + HashOf(DocV1()).substr(0, 8) + " validity_period");
  // An expired protocol cannot be amended.
  json v3doc = DocV2();
  v3doc["version"] = "3";
  auto closed = w.ProposeRequest(v3doc);
  CHECK(closed.status == 409);
  CHECK(closed.body.find("protocol-closed") != std::string::npos);
}

// A proposal that never came into force ends with its validity period too:
// it is marked expired (it used to stay "proposed" for ever, though nothing
// could put it in force any more), audited, and closed to amendments.
TEST_CASE("AProposalNeverPutInForceExpiresWithItsValidityPeriod") {
  World w;
  MustJson(w.ProposeRequest(DocV1()), 201);
  MustJson(w.AcceptVersion(w.thuispunt), 200);
  w.Advance(11 * 86400);  // past validity.until (2024-09-30)
  REQUIRE(w.WaitForProtocolState("expired"));
  CHECK(w.Show(w.sender.token)["valid_now"] == false);
  json versions = w.Versions(w.d->operator_token());
  REQUIRE(versions["items"].size() == 1);
  CHECK(versions["items"][0]["state"] == "withdrawn");
  const auto events = w.ProtocolEvents();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back() == "protocol.expired " + HashOf(DocV1()).substr(0, 8) + " validity_period");
  // Nothing can bring it back: no acceptance, no activation, no amendment.
  CHECK(w.AcceptVersion(w.ocmw).status == 409);
  CHECK(Request(*w.d, "POST", std::string("/api/v1/protocols/") + kId + "/activate", {.token = w.d->operator_token()})
            .status == 409);
  json v2 = DocV2();
  CHECK(w.ProposeRequest(v2).status == 409);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("ADatabaseFromSchemaTwoKeepsItsProtocolInForceAfterTheUpgrade") {
  World w;
  const std::string v1 = HashOf(DocV1()), v2 = HashOf(DocV2());
  w.V1InForce();
  const std::string list1 = kHeaderV1 + RowV1(1);
  const std::string e1 = MustJson(w.SendPlaintext(list1), 201)["id"];
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);

  // Turn the database back into what a schema-2 xgwd wrote: no version
  // table, one acceptance per (protocol, party).
  int status = 0;
  const std::string out = RunCommand(
      "sqlite3 " + w.d->dir() + "/state/xgwd.db \""
      "BEGIN; DROP TABLE protocol_versions; DROP INDEX IF EXISTS exchanges_by_delivery; "
      "DROP TABLE IF EXISTS transfer_counts; DROP INDEX IF EXISTS exchanges_by_sender_org; "
      "DROP TABLE IF EXISTS sessions; DROP TABLE IF EXISTS recovery_codes; DROP TABLE IF EXISTS invitations; "
      "DROP TABLE IF EXISTS accounts; ALTER TABLE users DROP COLUMN disabled_at; "
      "ALTER TABLE organisations DROP COLUMN time_zone; "
      "DROP TABLE IF EXISTS key_backups; DROP TABLE IF EXISTS user_key_history; DROP TABLE IF EXISTS upload_chunks; "
      "DROP TABLE IF EXISTS sso_identities; "
      "ALTER TABLE protocol_acceptances RENAME TO pa3; "
      "CREATE TABLE protocol_acceptances (protocol_id TEXT NOT NULL REFERENCES protocols(id), "
      "party TEXT NOT NULL, version_hash TEXT NOT NULL, accepted_by TEXT NOT NULL, at INTEGER NOT NULL, "
      "PRIMARY KEY (protocol_id, party)); "
      "INSERT INTO protocol_acceptances SELECT protocol_id, party, version_hash, accepted_by, at FROM pa3; "
      "DROP TABLE pa3; DELETE FROM schema_migrations WHERE version >= 3; COMMIT;\" 2>&1",
      &status);
  INFO(out);
  REQUIRE(status == 0);
  REQUIRE(w.DbDump("SELECT MAX(version) FROM schema_migrations;") == "2\n");

  w.d->Restart();
  CHECK(w.DbDump("SELECT MAX(version) FROM schema_migrations;") == "11\n");  // the newest migration
  json shown = w.Show(w.dpo_recv.token);
  CHECK(shown["state"] == "valid");
  CHECK(shown["version_hash"] == v1);
  CHECK(shown["acceptances"].size() == 2);
  CHECK(shown["pending_version"].is_null());
  json versions = w.Versions(w.sender.token);
  REQUIRE(versions["items"].size() == 1);
  CHECK(versions["items"][0]["state"] == "current");
  CHECK(versions["items"][0]["acceptances"].size() == 2);
  CHECK(versions["items"][0]["proposed_by"].is_null());

  // The list sent before the upgrade is still there; sending goes on.
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + e1 + "/content", {.token = w.social.token});
  REQUIRE(dl.status == 200);
  CHECK(w.Decrypt(dl, w.social_keys) == list1);
  MustJson(w.SendPlaintext(kHeaderV1 + RowV1(2)), 201);

  // And the migrated protocol can be amended.
  MustJson(w.ProposeRequest(DocV2()), 201);
  MustJson(w.AcceptVersion(w.thuispunt), 200);
  CHECK(MustJson(w.AcceptVersion(w.ocmw), 200)["current_version_hash"] == v2);
  versions = w.Versions(w.sender.token);
  REQUIRE(versions["items"].size() == 2);
  CHECK(versions["items"][0]["state"] == "superseded");
  CHECK(versions["items"][1]["state"] == "current");
}

TEST_CASE("ASuspendedProtocolCanBeAmendedAndStaysSuspendedUntilResumed") {
  World w;
  const std::string v2 = HashOf(DocV2());
  w.V1InForce();
  const std::string path = std::string("/api/v1/protocols/") + kId;
  MustJson(Request(*w.d, "POST", path + "/suspend", {.token = w.d->operator_token()}), 200);
  MustJson(w.ProposeRequest(DocV2()), 201);
  MustJson(w.AcceptVersion(w.thuispunt), 200);
  json a = MustJson(w.AcceptVersion(w.ocmw), 200);
  CHECK(a["current_version_hash"] == v2);
  CHECK(a["state"] == "suspended");
  // In force only once resumed, and then under v2.
  auto refused = w.SendPlaintext(kHeaderV2 + RowV2(1));
  CHECK(refused.status == 422);
  CHECK(refused.body.find("protocol_suspended") != std::string::npos);
  json resumed = MustJson(Request(*w.d, "POST", path + "/activate", {.token = w.d->operator_token()}), 200);
  CHECK(resumed["state"] == "valid");
  json x = MustJson(w.SendPlaintext(kHeaderV2 + RowV2(1)), 201);
  CHECK(w.Exchange(x["id"])["version_hash"] == v2);
}
