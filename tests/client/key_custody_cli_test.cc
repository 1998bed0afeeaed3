// Key custody through build/bin/xgw against the real xgwd: a person keeps
// their identity file on the gateway wrapped with their passphrase (`xgw key
// backup`), restores it on a second computer and opens a list with it;
// `xgw register-key --rotate` adds a new key (lists sent before still open,
// lists sent after are encrypted to the new key only) and renews the backup;
// the DPO of the person's organisation sees every key event; nobody else
// fetches the backup; a key the gateway could use is never accepted; the
// passphrase never reaches the gateway.
#include <catch2/catch.hpp>

#include "crypto/keyfile.h"
#include "tests/client/cli_world.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kPassphrase = "correct horse battery staple";

std::string KeyBackupPath(const std::string& user) { return "/api/v1/users/" + user + "/key-backup"; }

}  // namespace

TEST_CASE("A person keeps a passphrase-wrapped key on the gateway, restores it and rotates it") {
  CliWorld w;
  w.MakeUser("dpo", w.ocmw, "dpo");
  const std::string worker = w.RunJson("worker", "whoami")["id"];

  // A protected identity file, registered and kept on the gateway.
  w.Ok("worker", "register-key --new-identity protected.key");
  w.Ok("worker", "key backup");
  CHECK(w.RunJson("worker", "whoami")["key_backup"].is_object());
  int rc = -1;
  std::string err;
  const std::string whoami = w.Run("worker", "whoami", &rc, &err);
  REQUIRE(rc == 0);
  const json keys = w.RunJson("worker", "whoami")["keys"];
  CHECK(whoami.find(keys["fingerprint"].get<std::string>()) != std::string::npos);
  CHECK(keys["fingerprint"] == age::KeyFingerprint(keys["age_recipient"].get<std::string>()));

  // The sender sees the recipient's name and the fingerprint of the key the list is encrypted to.
  WriteFile(w.dir + "/list1.csv", kCirHeader + CirRow(1));
  const std::string out1 = w.Run("sender", "send --protocol " + kCliProtocolId + " list1.csv", &rc, &err);
  REQUIRE(rc == 0);
  CHECK(err.find(keys["fingerprint"].get<std::string>()) != std::string::npos);
  const std::string first = w.RunJson("sender", "inbox --sent")[0]["id"].get<std::string>();

  // A second computer: restore the backup (the passphrase opens it) and read the list.
  w.Ok("worker", "key restore -o restored.key");
  CHECK(ReadTextFile(w.dir + "/restored.key") == ReadTextFile(w.dir + "/protected.key"));
  w.Ok("worker", "receive " + first + " -o got1.csv --identity restored.key");
  CHECK(ReadTextFile(w.dir + "/got1.csv") == kCirHeader + CirRow(1));
  // The restored file exists: restoring again refuses to replace it.
  w.Run("worker", "key restore -o restored.key", &rc, &err);
  CHECK(rc != 0);

  // Rotation: the new key serves lists sent after it; the earlier one stays in the file.
  const std::string before = ReadTextFile(w.dir + "/protected.key");
  w.Ok("worker", "register-key --rotate");
  const json rotated = w.RunJson("worker", "whoami")["keys"];
  CHECK(rotated["age_recipient"] != keys["age_recipient"]);
  CHECK(ReadTextFile(w.dir + "/protected.key") != before);
  WriteFile(w.dir + "/list2.csv", kCirHeader + CirRow(2));
  w.Ok("sender", "send --protocol " + kCliProtocolId + " list2.csv");
  const json sent = w.RunJson("sender", "inbox --sent");
  std::string second;
  for (const auto& e : sent) {
    if (e["id"] != first) second = e["id"];
  }
  REQUIRE(!second.empty());
  w.Ok("worker", "receive " + first + " -o old.csv");
  w.Ok("worker", "receive " + second + " -o new.csv");
  CHECK(ReadTextFile(w.dir + "/new.csv") == kCirHeader + CirRow(2));
  // Only the old key (the restored copy from before the rotation) cannot open the new list.
  w.Ok("worker", "receive " + second + " --raw -o second.age");
  w.Run("worker", "decrypt -i restored.key -o second.csv second.age", &rc, &err);
  CHECK(rc != 0);
  // The rotation renewed the backup: it now holds both keys.
  const json backup = Request(*w.d, "GET", KeyBackupPath(worker), {.token = w.tokens["worker"]}).Json();
  CHECK(backup["file"] == ReadTextFile(w.dir + "/protected.key"));

  // History: the world's key, the protected one, the rotated one; each closed when the next came.
  const json history = w.RunJson("worker", "key history");
  REQUIRE(history.size() == 3);
  CHECK(history[0]["until"] == history[1]["from"]);
  CHECK(history[1]["until"] == history[2]["from"]);
  CHECK(history[1]["fingerprint"] == keys["fingerprint"]);
  CHECK(history[2]["until"].is_null());
  CHECK(history[2]["fingerprint"] == rotated["fingerprint"]);

  // The DPO of the person's organisation sees each key event.
  const json answer = w.RunJson("dpo", "audit events --user " + worker);
  const json events = answer.is_object() && answer.contains("items") ? answer["items"] : answer;
  std::map<std::string, int> seen;
  for (const auto& e : events) seen[e["event"].value("action", "")]++;
  CHECK(seen["user.key_changed"] >= 3);  // the world's key, the protected key, the rotation
  CHECK(seen["key.backup_stored"] == 2);
  CHECK(seen["key.backup_fetched"] >= 2);

  // Nobody else fetches the backup, not even an operator or the DPO (the same
  // 404 as for a user that does not exist); an operator may delete it.
  for (const std::string& other : {w.tokens["sender"], w.d->operator_token(), w.tokens["dpo"]})
    CHECK(Request(*w.d, "GET", KeyBackupPath(worker), {.token = other}).status == 404);

  // Passphrase and identity never reach the gateway's audit log or log.
  const std::string log = w.d->Log();
  CHECK(log.find(kPassphrase) == std::string::npos);
  CHECK(log.find("AGE-SECRET-KEY") == std::string::npos);

  CHECK(Request(*w.d, "DELETE", KeyBackupPath(worker), {.token = w.d->operator_token()}).status == 200);
  CHECK(Request(*w.d, "GET", KeyBackupPath(worker), {.token = w.tokens["worker"]}).status == 404);
}

TEST_CASE("The gateway keeps only a key it cannot use") {
  CliWorld w;
  const std::string worker = w.RunJson("worker", "whoami")["id"];
  const auto put = [&](const std::string& file) {
    // A binary file is not UTF-8: sent as JSON it arrives with replacement characters.
    const std::string body = json{{"file", file}}.dump(-1, ' ', false, json::error_handler_t::replace);
    return Request(*w.d, "PUT", KeyBackupPath(worker), {.token = w.tokens["worker"], .body = body});
  };
  // The world's worker key has no passphrase: `xgw key backup` refuses before sending it.
  int rc = -1;
  std::string err;
  w.Run("worker", "key backup", &rc, &err);
  CHECK(rc != 0);
  CHECK(err.find("passphrase") != std::string::npos);
  CHECK(err.find("AGE-SECRET-KEY") == std::string::npos);

  const std::string plain = ReadTextFile(w.dir + "/worker.key");
  w.Ok("worker", "encrypt -r " + w.RunJson("worker", "whoami")["keys"]["age_recipient"].get<std::string>() +
                     " -a -o wrapped-x25519.age worker.key");
  w.Ok("worker", "encrypt -o binary.age -p worker.key");
  const std::string refused[] = {
      plain,                                          // a usable identity in the clear
      ReadTextFile(w.dir + "/wrapped-x25519.age"),    // wrapped to a key, not a passphrase
      ReadTextFile(w.dir + "/binary.age"),            // scrypt, but not armored
      "-----BEGIN AGE ENCRYPTED FILE-----\nnot base64 at all\n-----END AGE ENCRYPTED FILE-----\n",
      "",
  };
  for (const auto& file : refused) {
    const HttpResult r = put(file);
    CHECK(r.status == 400);
    CHECK(r.body.find("AGE-SECRET-KEY") == std::string::npos);
  }
  // A body that is not the one field, or too large: refused too.
  CHECK(Request(*w.d, "PUT", KeyBackupPath(worker), {.token = w.tokens["worker"], .body = R"({"file":1})"}).status == 400);
  CHECK(Request(*w.d, "PUT", KeyBackupPath(worker),
                {.token = w.tokens["worker"], .body = json{{"file", std::string(70000, 'a')}}.dump()})
            .status == 413);
  // Nothing was stored.
  CHECK(Request(*w.d, "GET", KeyBackupPath(worker), {.token = w.tokens["worker"]}).status == 404);
  CHECK(w.RunJson("worker", "whoami")["key_backup"].is_null());
}
