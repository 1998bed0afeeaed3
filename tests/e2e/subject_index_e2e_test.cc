// End-to-end tests of the subject index in gateway-encrypt mode
// (exchanges.subject_keys_dir): the real xgwd over TLS, the shared CIR world
// (tests/e2e/cir_world.h) with its protocol made periodic so that one test
// may send several lists, plaintext uploads through
// POST /api/v1/exchanges/plaintext, and a DPO looking people up with the
// value their own client computes (SubjectLookupValue). Every person in the
// lists is synthetic (cir_test_data.h), and the tests print no number.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>
#include <string>

#include "crypto/hash.h"
#include "policy/manifest.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"
#include "tests/gateway/temp_dir.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

// The CIR world with its protocol (periodic) in force and
// exchanges.subject_keys_dir set to a fresh directory (0700, ours) that holds
// no key yet.
struct KeyedWorld {
  KeyedWorld()
      : w(CirPeriodicProtocolDoc("SUBJ_PERIODIC"),
          json{{"exchanges", {{"subject_keys_dir", keys.path}}}}) {
    w.ProposeAcceptActivate();
  }

  // The sending organisation's key file.
  std::string KeyPath() const { return keys.path + "/" + w.thuispunt + ".key"; }
  void WriteKey(const std::string& content, mode_t mode = 0600) const {
    std::ofstream(KeyPath(), std::ios::binary | std::ios::trunc) << content;
    REQUIRE(::chmod(KeyPath().c_str(), mode) == 0);
  }
  // The world's subject key as the client's `--subject-key` file holds it.
  std::string KeyHex() const { return HexEncode(w.subject_key) + "\n"; }

  // The exchanges the DPO `dpo` finds for a national number, looked up by
  // the value the DPO's client computes with the organisation's key.
  json Search(const Account& dpo, const std::string& nrn) {
    auto value = SubjectLookupValue(w.subject_key, FieldType::kBeNationalNumber, nrn);
    REQUIRE(value);
    return MustJson(Request(*w.d, "GET", "/api/v1/subject-index/" + *value, {.token = dpo.token}),
                    200)["items"];
  }

  // Rows in the exchanges table, pending ones included.
  std::string ExchangeRows() { return w.DbDump("SELECT count(*) FROM exchanges"); }

  // No number from the lists, and no key, in anything xgwd logged.
  void CheckLogHoldsNoPersonalDataOrKey(std::initializer_list<int> serials) {
    const std::string log = w.d->Log();
    for (int serial : serials) CHECK(log.find(SyntheticNrn(serial)) == std::string::npos);
    CHECK(log.find(HexEncode(w.subject_key)) == std::string::npos);
  }

  // The http.request audit event of request `rid`.
  json RequestEvent(const std::string& rid) {
    json events =
        MustJson(Request(*w.d, "GET", "/api/v1/audit/events?action=http.request&limit=1000",
                         {.token = w.d->operator_token()}),
                 200);
    for (const auto& e : events["items"]) {
      if (e["event"].value("request", "") == rid) return e["event"];
    }
    return nullptr;
  }

  test::TempDir keys;  // declared first: it outlives the daemon
  CirWorld w;
};

std::string ListOf(std::initializer_list<int> serials) {
  std::string csv = kCirHeader;
  for (int serial : serials) csv += CirRow(serial);
  return csv;
}

}  // namespace

TEST_CASE("GatewayEncryptListsAreFoundByTheSendingDposSubjectLookup") {
  KeyedWorld k;
  k.WriteKey(k.KeyHex());
  json sent = MustJson(k.w.SendPlaintext(ListOf({61, 62})), 201);
  const std::string id = sent["id"];
  const json& index = sent["manifest"]["subject_index"];
  CHECK(index["key_id"] == k.w.thuispunt);  // documented: the sending organisation's id
  CHECK(index["values"].size() == 2);

  json found = k.Search(k.w.dpo_send, SyntheticNrn(62));
  REQUIRE(found.size() == 1);
  CHECK(found[0]["id"] == id);
  CHECK(k.Search(k.w.dpo_send, SyntheticNrn(63)).empty());  // not in the list

  // The index is exactly what the sender's own client would have made.
  auto value = SubjectLookupValue(k.w.subject_key, FieldType::kBeNationalNumber, SyntheticNrn(61));
  REQUIRE(value);
  CHECK(std::find(index["values"].begin(), index["values"].end(), *value) != index["values"].end());
  k.CheckLogHoldsNoPersonalDataOrKey({61, 62, 63});
}

TEST_CASE("WithoutAKeyFileForTheSenderGatewayEncryptUploadsWorkWithoutAnIndex") {
  KeyedWorld k;  // the directory is set but holds no key of the sender's organisation
  json sent = MustJson(k.w.SendPlaintext(ListOf({64})), 201);
  CHECK(sent["manifest"]["subject_index"]["key_id"] == "");
  CHECK(sent["manifest"]["subject_index"]["values"].empty());
  CHECK(k.Search(k.w.dpo_send, SyntheticNrn(64)).empty());
  CHECK(k.w.DbDump("SELECT count(*) FROM exchange_subjects") == "0\n");
  CHECK(k.w.State(sent["id"]) == "available");
  k.CheckLogHoldsNoPersonalDataOrKey({64});
}

TEST_CASE("AMalformedKeyFileStopsTheUploadWithAClearErrorAndStoresNothing") {
  KeyedWorld k;
  const std::string truncated = HexEncode(k.w.subject_key).substr(0, 63);
  k.WriteKey(truncated + "\n");
  auto r = k.w.SendPlaintext(ListOf({65}));
  REQUIRE(r.status == 500);
  json problem = r.Json();
  CHECK(problem["type"] == "urn:xgw:problem:subject-key-unusable");
  const std::string detail = problem["detail"];
  CHECK(detail.find(k.w.thuispunt + ".key") != std::string::npos);
  CHECK(detail.find("must hold 32 bytes or 64 hex digits") != std::string::npos);
  CHECK(r.body.find(truncated) == std::string::npos);
  CHECK(k.ExchangeRows() == "0\n");
  int status = 0;
  CHECK(RunCommand("find " + k.w.d->dir() + "/state/blobs -type f | wc -l", &status) == "0\n");
  // Audited as a failed request, under the request id the caller was given.
  json ev = k.RequestEvent(problem["request_id"]);
  REQUIRE(ev.is_object());
  CHECK(ev["outcome"] == "failed");
  CHECK(ev["reason"] == "config_invalid");
  // The operator's log says which file and what is wrong, never the bytes.
  const std::string log = k.w.d->Log();
  CHECK(log.find(k.w.thuispunt + ".key in exchanges.subject_keys_dir must hold 32 bytes") !=
        std::string::npos);
  CHECK(log.find(truncated) == std::string::npos);

  // The daemon is unharmed: once the operator fixes the file, the same list goes through.
  REQUIRE(k.w.d->Alive());
  k.WriteKey(k.KeyHex());
  json sent = MustJson(k.w.SendPlaintext(ListOf({65})), 201);
  CHECK(k.Search(k.w.dpo_send, SyntheticNrn(65)).size() == 1);
  k.CheckLogHoldsNoPersonalDataOrKey({65});
}

TEST_CASE("KeyFilesAndKeyDirectoriesOpenToOthersAreRefused") {
  KeyedWorld k;
  auto refused_because = [&](const std::string& what) {
    auto r = k.w.SendPlaintext(ListOf({66}));
    INFO(r.body);
    CHECK(r.status == 500);
    CHECK(r.Json()["detail"].get<std::string>().find(what) != std::string::npos);
    CHECK(k.ExchangeRows() == "0\n");
  };
  k.WriteKey(k.KeyHex(), 0640);
  refused_because(k.w.thuispunt +
                  ".key in exchanges.subject_keys_dir is readable or writable by group or others");
  k.WriteKey(k.KeyHex(), 0600);
  REQUIRE(::chmod(k.keys.path.c_str(), 0755) == 0);
  refused_because("exchanges.subject_keys_dir must not be accessible to group or others");
  if (::geteuid() == 0) {  // only root can give the directory away
    REQUIRE(::chmod(k.keys.path.c_str(), 0700) == 0);
    REQUIRE(::chown(k.keys.path.c_str(), 65534, 65534) == 0);
    refused_because("exchanges.subject_keys_dir must be owned by the user xgwd runs as");
    REQUIRE(::chown(k.keys.path.c_str(), 0, 0) == 0);
  }
  REQUIRE(::chmod(k.keys.path.c_str(), 0700) == 0);
  MustJson(k.w.SendPlaintext(ListOf({66})), 201);
}

TEST_CASE("CheckConfigAndStartRefuseAMissingOrOpenSubjectKeysDirectory") {
  test::TempDir keys;
  auto d = Daemon::Start(json{{"exchanges", {{"subject_keys_dir", keys.path}}}});
  auto check_config = [&](int* status) {
    return RunCommand(XgwdPath() + " --check-config -c " + d->config_path() + " 2>&1", status);
  };
  int status = -1;
  check_config(&status);
  CHECK(status == 0);

  REQUIRE(::chmod(keys.path.c_str(), 0750) == 0);
  std::string out = check_config(&status);
  CHECK(status != 0);
  CHECK(out.find("exchanges.subject_keys_dir " + keys.path +
                 " must not be accessible to group or others") != std::string::npos);
  REQUIRE(::chmod(keys.path.c_str(), 0700) == 0);

  d->RewriteConfig(json{{"exchanges", {{"subject_keys_dir", keys.path + "/missing"}}}});
  out = check_config(&status);
  CHECK(status != 0);
  CHECK(out.find(keys.path + "/missing: No such file or directory") != std::string::npos);
  // A daemon started with it refuses to start, before it listens.
  REQUIRE(d->StopAndWait(SIGTERM) == 0);
  out = RunCommand("timeout 30 " + XgwdPath() + " serve -c " + d->config_path() + " 2>&1", &status);
  CHECK(status == 1);
  CHECK(out.find("subject_keys_dir") != std::string::npos);
  CHECK(out.find("listening") == std::string::npos);
}

// An access request asks to whom data have been disclosed (GDPR art.
// 15(1)(c)): a list deleted at its retention date is still found, with when
// and why it was deleted and who downloaded it, until the accountability
// period (exchanges.subject_index_retention_days) is over.
TEST_CASE("ADeletedListIsStillFoundWithItsDownloadsUntilTheAccountabilityPeriodEnds") {
  KeyedWorld k;
  k.WriteKey(k.KeyHex());
  const std::string id = MustJson(k.w.SendPlaintext(ListOf({66})), 201)["id"];
  REQUIRE(Request(*k.w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = k.w.social.token}).status ==
          200);
  k.w.Advance(8 * 86400);  // past 27/09/2024, the protocol's retention date
  REQUIRE(k.w.WaitForState(id, "deleted"));

  for (const Account* dpo : {&k.w.dpo_send, &k.w.dpo_recv}) {
    json found = k.Search(*dpo, SyntheticNrn(66));
    REQUIRE(found.size() == 1);
    CHECK(found[0]["id"] == id);
    CHECK(found[0]["state"] == "deleted");
    CHECK(found[0]["deleted_reason"] == "retention_expired");
    CHECK_FALSE(found[0]["deleted_at"].is_null());
    REQUIRE(found[0]["downloads"].size() == 1);
    CHECK(found[0]["downloads"][0]["user"] == k.w.social.user);
    CHECK(found[0]["downloads"][0]["organisation"] == k.w.ocmw);
  }
  CHECK(k.Search(k.w.dpo_third, SyntheticNrn(66)).empty());  // no party: nothing

  // Five years (1826 days, the default) after the deletion the values go.
  k.w.Advance(1827LL * 86400);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = k.w.DbDump("SELECT count(*) FROM exchange_subjects") == "0\n";
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(gone);  // the lookup reads exactly these rows (every token has expired by now)
  k.CheckLogHoldsNoPersonalDataOrKey({66});
}
