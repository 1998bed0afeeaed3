// End-to-end test of the xgw client: the real xgwd (tests/e2e/harness.h) and
// build/bin/xgw run as a subprocess for every role, each user with its own
// --config file. The CIR protocol is used with a periodic frequency so one
// daemon can carry several exchanges. Every person here is invented.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "client/exchange_crypto.h"
#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/keyfile.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "tests/client/cli_world.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

const std::string kProtocolId = "2024_VB_00591";

const std::string& kHeader = kCirHeader;
std::string Row(int i) { return CirRow(i); }

}  // namespace

TEST_CASE("EveryRoleWorksThroughTheXgwClientAgainstTheRealDaemon") {
  auto d = Daemon::Start({{"clock", {{"mode", "manual"}, {"start", "2024-09-20T07:00:00Z"}}},
                          {"exchanges", {{"sweep_interval_seconds", 1}}}});
  XgwCli cli;
  cli.dir = d->dir() + "/client";
  std::filesystem::create_directories(cli.dir);
  WriteFile(cli.dir + "/pass", "correct horse battery staple\n");
  WriteFile(cli.dir + "/operator.tok", d->operator_token() + "\n");
  // The subject-index key of Thuispunt, handed to its senders and to the DPOs.
  WriteFile(cli.dir + "/subject.key", HexEncode(std::vector<uint8_t>(32, 0x5a)) + "\n");
  // The CIR protocol, periodic so that one daemon can take several lists.
  json protocol_doc = json::parse(ReadTextFile(std::string(XGW_SOURCE_DIR) +
                                           "/config/examples/cir-thuispunt-ocmw-2024_VB_00591.json"));
  protocol_doc["frequency"] = {{"kind", "periodic"}, {"max_transfers", 20}, {"per", "month"}};
  // Room for one list above the size `xgw send` uploads in one request.
  protocol_doc["limits"] = {{"max_rows", 1000000}, {"max_bytes", 64 << 20}};
  WriteFile(cli.dir + "/protocol.json", protocol_doc.dump(2));
  auto protocol = ParseProtocolDocument(protocol_doc);
  REQUIRE(protocol);

  // The pin the operator publishes: SHA-256 of the server key's SPKI.
  int rc = -1;
  std::string pin_b64 = RunCommand("openssl x509 -in " + d->cacert() +
                                       " -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 "
                                       "-binary | base64",
                                   &rc);
  REQUIRE(rc == 0);
  while (!pin_b64.empty() && pin_b64.back() == '\n') pin_b64.pop_back();
  const std::string pin = "sha256//" + pin_b64;
  const std::string url = d->base_url();

  // A wrong pin is a TLS failure (exit 5) and nothing is saved.
  std::string err;
  cli.Run("operator", "login --gateway " + url + " --token-file operator.tok --pin sha256//" +
                          Base64Encode(std::vector<uint8_t>(32, 1)),
          &rc, &err);
  CHECK(rc == 5);
  CHECK(err.find("pinned") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(cli.dir + "/operator.json"));

  cli.Ok("operator", "login --gateway " + url + " --token-file operator.tok --pin " + pin);
  struct stat st {};
  REQUIRE(::stat((cli.dir + "/operator.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(ReadTextFile(cli.dir + "/operator.json").find(pin) != std::string::npos);

  // Trust on first use: without --pin or a CA file the client reads the
  // gateway's key, shows its pin and (with --trust) keeps exactly that pin.
  cli.Run("tofu", "login --gateway " + url + " --token-file operator.tok --trust", &rc, &err);
  CHECK(rc == 0);
  CHECK(err.find(pin) != std::string::npos);
  CHECK(ReadTextFile(cli.dir + "/tofu.json").find(pin) != std::string::npos);

  // Commands start alike (StartCommand): usage errors exit 2, --help shows
  // the usage and exits 0, both before any configuration is read.
  cli.Run("nobody", "protocol show", &rc, &err);
  CHECK(rc == 2);
  CHECK(err.find("give exactly one protocol id") != std::string::npos);
  cli.Run("nobody", "whoami extra", &rc);
  CHECK(rc == 2);
  CHECK(cli.Run("nobody", "inbox --help", &rc).find("usage: xgw inbox") == 0);
  CHECK(rc == 0);
  cli.Run("nobody", "inbox", &rc, &err);
  CHECK(rc == 1);
  CHECK(err.find("not logged in") != std::string::npos);

  // A refused token is "not authorised" (exit 4) and saves nothing.
  WriteFile(cli.dir + "/bogus.tok", "xgwt_notarealtoken\n");
  cli.Run("bogus", "login --gateway " + url + " --token-file bogus.tok --pin " + pin, &rc);
  CHECK(rc == 4);
  CHECK_FALSE(std::filesystem::exists(cli.dir + "/bogus.json"));

  // Operator: organisations, users, tokens, protocol.
  std::string thuispunt = cli.RunJson("operator", "org create --name 'Thuispunt Gent' --enterprise-number 'BE 0400.032.156'")["id"];
  std::string ocmw = cli.RunJson("operator", "org create --name 'OCMW Gent' --enterprise-number 0212.214.125")["id"];
  CHECK(cli.RunJson("operator", "org list").size() >= 2);

  // Client-certificate pins of an existing organisation: add, list, refuse a
  // second owner or a malformed pin, remove by the other spelling.
  {
    const std::string client_pin = "sha256//" + Base64Encode(std::vector<uint8_t>(32, 0x11));
    const std::string pin_hex = HexEncode(std::vector<uint8_t>(32, 0x11));
    json added = cli.RunJson("operator", "org pin add " + ocmw + " " + client_pin);
    CHECK(added["id"] == pin_hex);
    json pins = cli.RunJson("operator", "org pin list " + ocmw);
    REQUIRE(pins.size() == 1);
    CHECK(pins[0]["pin_base64"] == client_pin);
    std::string pin_err;
    cli.Run("operator", "org pin add " + thuispunt + " sha256:" + pin_hex, &rc, &pin_err);
    CHECK(rc != 0);
    CHECK(pin_err.find("another organisation") != std::string::npos);
    cli.Run("operator", "org pin add " + thuispunt + " sha256:1234", &rc, &pin_err);
    CHECK(rc != 0);
    CHECK(pin_err.find("pin") != std::string::npos);
    cli.Ok("operator", "org pin remove " + ocmw + " sha256:" + pin_hex);
    CHECK(cli.RunJson("operator", "org pin list " + ocmw).empty());
    cli.Run("operator", "org pin frobnicate " + ocmw, &rc);
    CHECK(rc == 2);
    // From a certificate file: the same pin openssl computes.
    RunCommand("cd " + cli.dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               "-keyout client.key -out client.crt -subj /CN=client -days 1 >/dev/null 2>&1", &rc);
    REQUIRE(rc == 0);
    std::string cert_pin = RunCommand("openssl x509 -in " + cli.dir + "/client.crt -pubkey -noout | openssl pkey "
                                      "-pubin -outform der | openssl dgst -sha256 -binary | base64", &rc);
    while (!cert_pin.empty() && cert_pin.back() == '\n') cert_pin.pop_back();
    CHECK(cli.RunJson("operator", "org pin add " + thuispunt + " --cert client.crt")["pin_base64"] ==
          "sha256//" + cert_pin);
    cli.Ok("operator", "org pin remove " + thuispunt + " --cert client.crt");
    CHECK(cli.RunJson("operator", "org pin list " + thuispunt).empty());
  }
  auto make_user = [&](const std::string& name, const std::string& org, const std::string& role) {
    std::string id = cli.RunJson("operator", "user create --org " + org + " --name '" + name + "' --role " + role)["id"];
    int r = -1;
    std::string token = cli.Run("operator", "token issue " + id + " --ttl 300d", &r);
    REQUIRE(r == 0);
    WriteFile(cli.dir + "/" + name + ".tok", token);
    cli.Ok(name, "login --gateway " + url + " --token-file " + name + ".tok --pin " + pin +
                     " --subject-key subject.key");
    return id;
  };
  make_user("sender", thuispunt, "sender");
  make_user("worker", ocmw, "social-worker-welzijnsbureau");
  make_user("dpo", ocmw, "dpo");
  CHECK(cli.RunJson("operator", "user list --org " + ocmw).size() == 2);

  cli.Ok("operator", "protocol propose protocol.json");
  cli.Ok("operator", "protocol accept " + kProtocolId + " --org " + thuispunt);
  cli.Ok("operator", "protocol accept " + kProtocolId + " --org " + ocmw);
  cli.Ok("operator", "protocol activate " + kProtocolId);

  // Keys: the sender's identity is passphrase-protected; the worker's is plain so `age -d` can use it.
  cli.Ok("sender", "register-key --new-identity sender.key");
  cli.Ok("worker", "register-key --new-identity worker.key --no-passphrase");
  CHECK(ReadTextFile(cli.dir + "/sender.key").find("BEGIN AGE ENCRYPTED FILE") != std::string::npos);

  // Protocols in plain words.
  json protocols = cli.RunJson("sender", "protocols");
  REQUIRE(protocols.size() == 1);
  CHECK(protocols[0]["id"] == kProtocolId);
  std::string shown = cli.Run("worker", "protocol show " + kProtocolId, &rc);
  CHECK(rc == 0);
  CHECK(shown.find("national_number") != std::string::npos);

  // Send an honest list.
  const std::string list = kHeader + Row(1) + Row(2) + Row(3);
  WriteFile(cli.dir + "/list.csv", list);
  json sent = cli.RunJson("sender", "send --protocol " + kProtocolId + " list.csv");
  const std::string id = sent["id"];
  CHECK(sent["rows"] == 3);

  // A list above 16 MiB is announced first (POST /api/v1/exchanges), then
  // uploaded (PUT .../content); smaller ones go in one request.
  {
    std::string big = kHeader;
    for (int i = 1; big.size() < (17u << 20); ++i) big += Row(i);
    WriteFile(cli.dir + "/big.csv", big);
    json big_sent = cli.RunJson("sender", "send --protocol " + kProtocolId + " big.csv");
    CHECK(big_sent["exchange"]["state"] == "available");
    CHECK(big_sent["exchange"]["size"].get<uint64_t>() > big.size());
    CHECK(sent["exchange"]["state"] == "available");
  }

  // A list with an extra column is refused locally (exit 3), naming the column, never a value.
  WriteFile(cli.dir + "/extra.csv", kHeader.substr(0, kHeader.size() - 1) + ";Opmerking\n" +
                                        Row(4).substr(0, Row(4).size() - 1) + ";Zeerpersoonlijkeopmerking\n");
  cli.Run("sender", "send --protocol " + kProtocolId + " extra.csv", &rc, &err);
  CHECK(rc == 3);
  CHECK(err.find("column_not_allowed") != std::string::npos);
  CHECK(err.find("Zeerpersoonlijkeopmerking") == std::string::npos);
  CHECK(err.find(SyntheticNrn(4)) == std::string::npos);

  // The recipient sees it, receives it verified, and the file is 0600.
  json inbox = cli.RunJson("worker", "inbox");
  bool listed = false;
  for (const auto& e : inbox) listed = listed || e["id"] == id;
  CHECK(listed);
  // --json keeps the ids; the listing shows who sent it by name and the times in Brussels time.
  REQUIRE(!inbox.empty());
  CHECK(inbox[0]["sender_org"].get<std::string>().rfind("org-", 0) == 0);
  const std::string sender_org_name = inbox[0]["sender_org_name"];
  const std::string sender_name = inbox[0]["sender_user_name"];
  CHECK(!sender_org_name.empty());
  CHECK(!sender_name.empty());
  const std::string listing = cli.Run("worker", "inbox", &rc, &err);
  CHECK(rc == 0);
  CHECK(listing.find("from " + sender_name + " (" + sender_org_name + ")") != std::string::npos);
  CHECK(listing.find(" +02:00") != std::string::npos);  // 20 September: summer time
  CHECK(listing.find("org-") == std::string::npos);
  CHECK(listing.find("Z  deleted") == std::string::npos);
  cli.Ok("worker", "receive " + id + " -o got.csv");
  CHECK(ReadTextFile(cli.dir + "/got.csv") == list);
  REQUIRE(::stat((cli.dir + "/got.csv").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A list already there is never silently replaced: refused (before any
  // download), left as it was; --force replaces it.
  WriteFile(cli.dir + "/got.csv", "an earlier list\n");
  cli.Run("worker", "receive " + id + " -o got.csv", &rc, &err);
  CHECK(rc == 1);
  CHECK(err.find("--force") != std::string::npos);
  CHECK(ReadTextFile(cli.dir + "/got.csv") == "an earlier list\n");
  cli.Ok("worker", "receive " + id + " -o got.csv --force");
  CHECK(ReadTextFile(cli.dir + "/got.csv") == list);
  // The raw age file decrypts with age itself.
  cli.Ok("worker", "receive " + id + " --raw -o raw.age");
  cli.Run("worker", "receive " + id + " --raw -o raw.age", &rc, &err);
  CHECK(rc == 1);
  CHECK(err.find("--force") != std::string::npos);
  std::string plain = RunCommand("age -d -i " + cli.dir + "/worker.key " + cli.dir + "/raw.age", &rc);
  CHECK(rc == 0);
  CHECK(plain == list);
  // The DPO finds the person by national number, computed locally.
  json found = cli.RunJson("dpo", "audit subject --rrn " + SyntheticNrn(2));
  bool hit = false;
  for (const auto& e : found) hit = hit || e["id"] == id;
  CHECK(hit);
  cli.Ok("worker", "ack " + id);

  // A sender who lies in the manifest: declares six columns, sends seven.
  std::string liar_id;
  {
    auto ids = age::ReadIdentityFile(cli.dir + "/sender.key", []() -> Result<SecretBuffer> {
      return SecretBuffer::CopyOf(std::string_view("correct horse battery staple"));
    });
    REQUIRE(ids);
    auto signing = cli::DeriveSigningKey((*ids)[0]);
    REQUIRE(signing);
    const std::string honest = kHeader + Row(7);
    MemorySource honest_src(honest);
    auto reader = OpenCsvReader(honest_src);
    REQUIRE(reader);
    auto check = CheckList(*protocol, **reader, {});
    REQUIRE(check);
    REQUIRE(check->ok());
    // Same bytes, same hashes; only the declared columns lie (one is hidden).
    Manifest lie = check->manifest;
    REQUIRE(lie.columns.back() == "reminder_date");
    lie.columns.pop_back();
    auto sm = cli::SignManifest(lie, *signing);
    REQUIRE(sm);
    std::string token = ReadTextFile(cli.dir + "/sender.tok");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    auto created = Request(*d, "POST", "/api/v1/exchanges",
                           {.token = token,
                            .body = json{{"protocol_id", kProtocolId},
                                         {"version_hash", protocol->version_hash},
                                         {"manifest", json::parse(sm->canonical_json)},
                                         {"manifest_signature", sm->signature}}
                                        .dump()});
    INFO(created.body);
    REQUIRE(created.status == 201);
    liar_id = created.Json()["id"];
    auto worker_recipient = age::X25519Recipient::Parse(RunCommand(cli.xgw + " keygen -y " + cli.dir + "/worker.key", &rc).substr(0, 62));
    REQUIRE(worker_recipient);
    const age::Recipient* rs[] = {&*worker_recipient};
    MemorySource src(honest);
    StringSink ct;
    REQUIRE(age::Encrypt(rs, src, ct, false));
    auto up = Request(*d, "PUT", "/api/v1/exchanges/" + liar_id + "/content",
                      {.token = token, .body = ct.str(), .content_type = "application/octet-stream"});
    INFO(up.body);
    REQUIRE(up.status == 200);
  }
  cli.Run("worker", "receive " + liar_id + " -o lie.csv", &rc, &err);
  CHECK(rc == 6);
  CHECK(err.find("columns") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(cli.dir + "/lie.csv"));
  // Events come a page at a time; the listing says how to get the next page.
  {
    const std::string page = cli.Run("dpo", "audit events --limit 1", &rc);
    CHECK(rc == 0);
    const size_t at = page.find("--after ");
    REQUIRE(at != std::string::npos);
    const std::string after = page.substr(at + 8, page.find('\n', at) - at - 8);
    const std::string next = cli.Run("dpo", "audit events --limit 1 --after " + after, &rc);
    CHECK(rc == 0);
    CHECK(next != page);
  }
  json events = cli.RunJson("dpo", "audit events --exchange " + liar_id);
  bool reported = false;
  for (const auto& item : events["items"]) reported = reported || item["event"]["action"] == "violation.reported";
  CHECK(reported);

  // The DPO verifies the log twice: first use pins, the second proves it only grew.
  cli.Ok("dpo", "audit verify");
  cli.Ok("dpo", "audit verify");

  // Past the protocol's deletion date the sweeper deletes the list; the DPO
  // gets a deletion receipt verified offline with the pinned key.
  cli.Ok("operator", "clock advance 8d");
  bool receipt = false;
  for (int i = 0; i < 40 && !receipt; ++i) {
    cli.Run("dpo", "audit receipt " + id + " -o receipt.json", &rc);
    receipt = rc == 0;
    if (!receipt) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  CHECK(receipt);
  CHECK(ReadTextFile(cli.dir + "/receipt.json").find(id) != std::string::npos);
  cli.Ok("dpo", "audit verify");

  // An amendment: `protocol show` lists the pending version and who has yet
  // to accept; `protocol accept` accepts the pending version.
  json amended = protocol_doc;
  amended["version"] = "2";
  WriteFile(cli.dir + "/protocol-v2.json", amended.dump(2));
  auto v2 = ParseProtocolDocument(amended);
  REQUIRE(v2);
  cli.Ok("operator", "protocol propose protocol-v2.json");
  std::string pending = cli.Run("operator", "protocol show " + kProtocolId, &rc);
  CHECK(rc == 0);
  CHECK(pending.find("Proposed new version 2 (" + v2->version_hash + ")") != std::string::npos);
  CHECK(pending.find("waiting for: org-thuispunt-gent, org-ocmw-gent") != std::string::npos);
  cli.Ok("operator", "protocol accept " + kProtocolId + " --org " + thuispunt);
  cli.Ok("operator", "protocol accept " + kProtocolId + " --org " + ocmw);
  std::string after = cli.Run("operator", "protocol show " + kProtocolId, &rc);
  CHECK(rc == 0);
  CHECK(after.find("Version hash: " + v2->version_hash) != std::string::npos);
  CHECK(after.find("Proposed new version") == std::string::npos);
  cli.Ok("dpo", "audit verify");
}
