// The "world" the exchange end-to-end tests play in: a real xgwd (manual
// clock from 2024-09-20, sweeper every second), three organisations with
// their users, keys and tokens, and the CIR protocol (or a variant of it),
// plus the client side of sending: manifests signed, lists encrypted, calls
// made. Shared by tests/e2e/exchange_e2e_test.cc,
// exchange_matrix_e2e_test.cc, audit_failure_e2e_test.cc and
// subject_index_e2e_test.cc.
//
//   thuispunt ("Thuispunt Gent"): sender (role sender, keys), dpo_send (dpo)
//   ocmw ("OCMW Gent"): social (social-worker-welzijnsbureau, keys: the
//       allowed recipient), cleaner (facility, keys: not a recipient),
//       dpo_recv (dpo)
//   third ("Elsewhere", no party): outsider (sender, keys), dpo_third (dpo)
//
// Every person in the lists is synthetic (cir_test_data.h).
#ifndef XGW_TESTS_E2E_CIR_WORLD_H_
#define XGW_TESTS_E2E_CIR_WORLD_H_

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/sign.h"
#include "policy/canonical_json.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/harness.h"

namespace xgw::e2e {

// The CIR example (config/examples/cir-thuispunt-ocmw-2024_VB_00591.json)
// as a periodic protocol with id `id` (so that several exchanges may exist at
// once, at most `max_per_day` a day), kept until 2024-09-27 whether or not
// it is acknowledged.
inline nlohmann::json CirPeriodicProtocolDoc(const std::string& id, int max_per_day = 10000) {
  nlohmann::json doc = nlohmann::json::parse(ReadTextFile(kCirProtocolFile));
  doc["id"] = id;
  doc["frequency"] = {{"kind", "periodic"}, {"max_transfers", max_per_day}, {"per", "day"}};
  doc["retention"] = {{"delete_on", "2024-09-27"}};
  doc["limits"] = {{"max_rows", 100000}, {"max_bytes", 64 << 20}};
  return doc;
}

// A user of the world with the organisation it belongs to and its API token
// (not a protocol party: see Protocol for those).
struct Account {
  std::string org;
  std::string user;
  std::string token;
};

struct Keys {
  std::unique_ptr<age::X25519Identity> identity;
  std::unique_ptr<Ed25519SecretKey> signing;
};

class CirWorld {
 public:
  // Starts xgwd with `overrides` merged into the test configuration and
  // registers the organisations and users. `protocol_doc` is the protocol
  // the exchanges are sent under (not yet proposed): the CIR example unless
  // given.
  explicit CirWorld(nlohmann::json protocol_doc = nullptr, const nlohmann::json& overrides = {}) {
    nlohmann::json cfg = {{"clock", {{"mode", "manual"}, {"start", "2024-09-20T07:00:00Z"}}},
                          {"exchanges", {{"sweep_interval_seconds", 1}}}};
    if (overrides.is_object()) cfg.merge_patch(overrides);
    d = Daemon::Start(cfg);
    doc = protocol_doc.is_null() ? nlohmann::json::parse(ReadTextFile(kCirProtocolFile)) : std::move(protocol_doc);
    auto p = ParseProtocolDocument(doc);
    REQUIRE(p);
    protocol = std::make_unique<Protocol>(std::move(*p));
    thuispunt = Org("Thuispunt Gent", "BE 0400.032.156");
    ocmw = Org("OCMW Gent", "0212.214.125");
    third = Org("Elsewhere", "0417.497.106");
    sender = User(thuispunt, "sender", {"sender"}, &sender_keys);
    dpo_send = User(thuispunt, "dpo sender side", {"dpo"}, nullptr);
    social = User(ocmw, "social worker", {"social-worker-welzijnsbureau"}, &social_keys);
    cleaner = User(ocmw, "not a recipient", {"facility"}, &cleaner_keys);
    dpo_recv = User(ocmw, "dpo receiver side", {"dpo"}, nullptr);
    outsider = User(third, "outsider sender", {"sender"}, &outsider_keys);
    dpo_third = User(third, "dpo third", {"dpo"}, nullptr);
  }

  // --- identities (operator) ---

  std::string Org(const std::string& name, const std::string& kbo) {
    return MustJson(Request(*d, "POST", "/api/v1/orgs",
                            {.token = d->operator_token(),
                             .body = nlohmann::json{{"name", name}, {"enterprise_number", kbo}}.dump()}),
                    201)["id"];
  }

  // A new token of `user`: {token id, secret}.
  std::pair<std::string, std::string> Token(const std::string& user, int64_t ttl) {
    nlohmann::json j = MustJson(Request(*d, "POST", "/api/v1/users/" + user + "/tokens",
                                        {.token = d->operator_token(),
                                         .body = nlohmann::json{{"ttl_seconds", ttl}}.dump()}),
                                201);
    return {j["id"], j["token"]};
  }

  // A user with `roles` and a token; with `keys`, also an age identity and
  // an Ed25519 signing key, registered by the user.
  Account User(const std::string& org, const std::string& name, const std::vector<std::string>& roles,
             Keys* keys) {
    Account p;
    p.org = org;
    p.user = MustJson(Request(*d, "POST", "/api/v1/orgs/" + org + "/users",
                              {.token = d->operator_token(),
                               .body = nlohmann::json{{"display_name", name}, {"roles", roles}}.dump()}),
                      201)["id"];
    p.token = Token(p.user, 86400 * 300).second;
    if (keys) {
      keys->identity = std::make_unique<age::X25519Identity>(age::X25519Identity::Generate());
      keys->signing = std::make_unique<Ed25519SecretKey>(Ed25519SecretKey::Generate());
      MustJson(Request(*d, "PUT", "/api/v1/users/" + p.user + "/keys",
                       {.token = p.token,
                        .body = nlohmann::json{{"age_recipient", keys->identity->Recipient().String()},
                                               {"ed25519_verify_key", Base64Encode(keys->signing->public_key())}}
                                    .dump()}),
               200);
    }
    return p;
  }

  // --- protocols (operator) ---

  HttpResult ProposeRequest(const nlohmann::json& protocol_doc) {
    return Request(*d, "POST", "/api/v1/protocols", {.token = d->operator_token(), .body = protocol_doc.dump()});
  }
  HttpResult AcceptRequest(const std::string& id, const std::string& hash, const std::string& org) {
    return Request(*d, "POST", "/api/v1/protocols/" + id + "/accept",
                   {.token = d->operator_token(),
                    .body = nlohmann::json{{"version_hash", hash}, {"organisation", org}}.dump()});
  }
  // POST /api/v1/protocols/{id}/{verb}: activate, suspend or terminate.
  HttpResult Lifecycle(const std::string& id, const std::string& verb) {
    return Request(*d, "POST", "/api/v1/protocols/" + id + "/" + verb, {.token = d->operator_token()});
  }

  // Proposes `protocol_doc`; returns its version hash.
  std::string Propose(const nlohmann::json& protocol_doc) {
    nlohmann::json r = MustJson(ProposeRequest(protocol_doc), 201);
    CHECK(r["state"] == "proposed");
    return r["version_hash"];
  }
  void Accept(const std::string& id, const std::string& hash, const std::string& org) {
    MustJson(AcceptRequest(id, hash, org), 200);
  }
  // Proposes `protocol_doc` and has both parties accept it: it is then in force.
  std::string ProposeAndAccept(const nlohmann::json& protocol_doc) {
    const std::string hash = Propose(protocol_doc);
    Accept(protocol_doc["id"], hash, thuispunt);
    Accept(protocol_doc["id"], hash, ocmw);
    return hash;
  }
  // As ProposeAndAccept, then activates it explicitly; the world's own
  // protocol unless `protocol_doc` is given.
  void ProposeAcceptActivate(const nlohmann::json& protocol_doc = nullptr) {
    const nlohmann::json& pd = protocol_doc.is_null() ? doc : protocol_doc;
    const std::string hash = ProposeAndAccept(pd);
    if (protocol_doc.is_null()) CHECK(hash == protocol->version_hash);
    nlohmann::json a = MustJson(Lifecycle(pd["id"], "activate"), 200);
    CHECK(a["state"] == "valid");
  }

  // --- sending (client side) ---

  // The manifest of `csv` under the world's protocol and its signature by `keys`.
  std::pair<nlohmann::json, std::string> SignedManifest(const std::string& csv, const Keys& keys) {
    MemorySource src(csv);
    auto reader = OpenCsvReader(src);
    REQUIRE(reader);
    CheckListOptions o;
    o.subject_key = subject_key;
    o.subject_key_id = "thuispunt-2024";
    auto check = CheckList(*protocol, **reader, o);
    REQUIRE(check);
    auto canonical = ManifestToCanonicalJson(check->manifest);
    REQUIRE(canonical);
    const auto sig = keys.signing->Sign(*canonical);
    return {nlohmann::json::parse(*canonical), Base64Encode(sig)};
  }

  // The body of POST /api/v1/exchanges.
  std::string CreateBody(const nlohmann::json& manifest, const std::string& sig) {
    return nlohmann::json{{"protocol_id", protocol->id},
                          {"version_hash", protocol->version_hash},
                          {"manifest", manifest},
                          {"manifest_signature", sig}}
        .dump();
  }
  // ... for `csv`, signed by the sender.
  std::string CreateBody(const std::string& csv) {
    auto [manifest, sig] = SignedManifest(csv, sender_keys);
    return CreateBody(manifest, sig);
  }

  std::string Encrypt(const std::string& csv, const Keys& to) {
    auto recipient = to.identity->Recipient();
    const age::Recipient* rs[] = {&recipient};
    MemorySource src(csv);
    StringSink out;
    REQUIRE(age::Encrypt(rs, src, out, false));
    return out.str();
  }
  // ... to the allowed recipient.
  std::string Encrypt(const std::string& csv) { return Encrypt(csv, social_keys); }

  HttpResult Create(const Account& who, const nlohmann::json& manifest, const std::string& sig) {
    return Request(*d, "POST", "/api/v1/exchanges", {.token = who.token, .body = CreateBody(manifest, sig)});
  }
  // POST /api/v1/exchanges for `csv` as the sender.
  HttpResult CreateRequest(const std::string& csv) {
    return Request(*d, "POST", "/api/v1/exchanges", {.token = sender.token, .body = CreateBody(csv)});
  }
  // Creates a pending exchange of `csv` as the sender; returns its id.
  std::string CreatePending(const std::string& csv) {
    nlohmann::json c = MustJson(CreateRequest(csv), 201);
    REQUIRE(c["state"] == "pending");
    return c["id"];
  }

  HttpResult Upload(const Account& who, const std::string& id, const std::string& bytes) {
    return Request(*d, "PUT", "/api/v1/exchanges/" + id + "/content",
                   {.token = who.token, .body = bytes, .content_type = "application/octet-stream",
                    .timeout_ms = 60000});
  }
  // ... as the sender.
  HttpResult Upload(const std::string& id, const std::string& bytes) { return Upload(sender, id, bytes); }

  // Full E2E send by the sender to the allowed recipient; returns the exchange id.
  std::string Send(const std::string& csv) {
    auto [manifest, sig] = SignedManifest(csv, sender_keys);
    nlohmann::json c = MustJson(Create(sender, manifest, sig), 201);
    CHECK(c["state"] == "pending");
    const std::string id = c["id"];
    nlohmann::json u = MustJson(Upload(sender, id, Encrypt(csv, social_keys)), 200);
    CHECK(u["state"] == "available");
    return id;
  }

  // POST /api/v1/exchanges/plaintext (gateway-encrypt mode): `csv` under the
  // world's protocol, as the sender.
  HttpResult SendPlaintext(const std::string& csv) {
    return Request(*d, "POST",
                   "/api/v1/exchanges/plaintext?protocol_id=" + protocol->id + "&format=csv",
                   {.token = sender.token, .body = csv, .content_type = "text/csv"});
  }

  // --- observing ---

  void Advance(int64_t seconds) {
    MustJson(Request(*d, "POST", "/api/v1/admin/clock",
                     {.token = d->operator_token(), .body = nlohmann::json{{"advance_seconds", seconds}}.dump()}),
             200);
  }

  std::string State(const std::string& id) {
    return MustJson(Request(*d, "GET", "/api/v1/exchanges/" + id, {.token = sender.token}), 200)["state"];
  }

  // Waits up to 30 s: the sweeper runs every second, but a loaded CI machine
  // can delay a pass (fsyncs of the audit log and the blob directory).
  bool WaitForState(const std::string& id, const std::string& state) {
    for (int i = 0; i < 300; ++i) {
      if (State(id) == state) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string VerifierKey() {
    auto r = Request(*d, "GET", "/api/v1/audit/verifier-key", {.token = d->operator_token()});
    REQUIRE(r.status == 200);
    std::string k = r.body;
    while (!k.empty() && k.back() == '\n') k.pop_back();
    return k;
  }

  // The output of `sql` run read-only on the daemon's database (pending
  // exchanges included, which the API does not list).
  std::string DbDump(const std::string& sql) {
    int status = 0;
    const std::string out = RunCommand(
        "sqlite3 -readonly -cmd '.timeout 5000' " + d->dir() + "/state/xgwd.db \"" + sql + "\" 2>&1", &status);
    INFO(out);
    REQUIRE(status == 0);
    return out;
  }

  std::unique_ptr<Daemon> d;
  nlohmann::json doc;  // the world's protocol document
  std::unique_ptr<Protocol> protocol;
  std::vector<uint8_t> subject_key = std::vector<uint8_t>(32, 0x42);
  std::string thuispunt, ocmw, third;
  Keys sender_keys, social_keys, cleaner_keys, outsider_keys;
  Account sender, dpo_send, social, cleaner, dpo_recv, outsider, dpo_third;
};

}  // namespace xgw::e2e

#endif  // XGW_TESTS_E2E_CIR_WORLD_H_
