// Tampering with a real SQLite log file, each case detected by VerifyLog.
// The attacker has write access to the file but not the signing key; they
// drop the append-only triggers first.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "crypto/signed_note.h"
#include "audit/audit_log.h"
#include "audit/verify.h"
#include "tests/audit/audit_test_util.h"

using namespace xgw;
using namespace xgw::testing;

namespace {

constexpr const char* kDropTriggers =
    "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;"
    "DROP TRIGGER IF EXISTS tiles_no_update; DROP TRIGGER IF EXISTS tiles_no_delete;"
    "DROP TRIGGER IF EXISTS checkpoints_no_update; DROP TRIGGER IF EXISTS checkpoints_no_delete;";

std::string Vkey() { return FormatVerifierKey(kOrigin, FixedKey()->public_key()); }

class Fixture {
 public:
  // 20 events, a checkpoint at 12 and one at 20; `saved` is the checkpoint
  // at 20 as a DPO would have kept it outside the gateway.
  Fixture() : path(dir.File("audit.db")) {
    auto log = *AuditLog::Open(path, Options());
    for (int i = 0; i < 12; ++i) REQUIRE(log->Append(UserEvent(i)));
    REQUIRE(log->SignCheckpoint());
    for (int i = 12; i < 20; ++i) REQUIRE(log->Append(UserEvent(i)));
    saved = *log->SignCheckpoint();
  }
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, (std::string(kDropTriggers) + sql).c_str(), nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
  }
  // Runs the check, and asserts it fails with kCorrupt.
  std::string Detected(bool with_saved = false) {
    std::vector<std::string> trusted;
    if (with_saved) trusted.push_back(saved);
    auto r = VerifyLog(path, trusted, Vkey());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kCorrupt);
    return r.error().message;
  }

  TempDir dir;
  std::string path;
  std::string saved;
};

// A forged event in canonical form, so only the Merkle checks can catch it.
std::string Forged() { return *ToCanonicalJson(DeletionEvent("x-99", 1727474399005)); }

}  // namespace

TEST_CASE("UntouchedLogVerifiesWithStoredAndTrustedCheckpoints") {
  Fixture f;
  std::vector<std::string> trusted = {f.saved};
  auto r = VerifyLog(f.path, trusted, Vkey());
  REQUIRE(r);
  CHECK(r->events == 20);
  CHECK(r->stored_checkpoints == 2);
  CHECK(r->trusted_checkpoints == 1);
  CHECK(r->nodes_checked == 16);  // one full tile of leaf hashes; the rest is recomputed
}

TEST_CASE("EditedEventIsDetected") {
  Fixture f;
  f.Exec("UPDATE events SET event = '" + Forged() + "' WHERE idx = 5");
  CHECK(f.Detected().find("event 5 does not match its stored leaf hash") != std::string::npos);
}

TEST_CASE("DeletedEventIsDetected") {
  Fixture f;
  f.Exec("DELETE FROM events WHERE idx = 7");
  CHECK(f.Detected().find("has index 8") != std::string::npos);
}

TEST_CASE("InsertedEventIsDetected") {
  Fixture f;
  const std::string ev = Forged();
  f.Exec("UPDATE events SET idx = -idx - 1 WHERE idx >= 4; UPDATE events SET idx = -idx WHERE idx < 0;"
         "INSERT INTO events(idx, event) VALUES (4, '" + ev + "')");
  CHECK(f.Detected().find("event 4 does not match its stored leaf hash") != std::string::npos);
}

TEST_CASE("ReorderedEventsAreDetected") {
  Fixture f;
  f.Exec("UPDATE events SET idx = 100 WHERE idx = 3; UPDATE events SET idx = 3 WHERE idx = 4;"
         "UPDATE events SET idx = 4 WHERE idx = 100;");
  CHECK(f.Detected().find("event 3 does not match its stored leaf hash") != std::string::npos);
}

TEST_CASE("TruncatedTailIsDetected") {
  Fixture f;
  f.Exec("DELETE FROM events WHERE idx >= 15; DELETE FROM tiles WHERE (idx + 1) * (1 << (4 * (level + 1))) > 15;");
  CHECK(f.Detected().find("shorter than this checkpoint") != std::string::npos);
}

TEST_CASE("TruncationThatAlsoDropsCheckpointsIsExposedBySavedCheckpoint") {
  Fixture f;
  f.Exec("DELETE FROM events WHERE idx >= 15; DELETE FROM tiles WHERE (idx + 1) * (1 << (4 * (level + 1))) > 15;"
         "DELETE FROM checkpoints WHERE size > 15;");
  CHECK(VerifyLog(f.path, {}, Vkey()));  // nothing left inside the file to contradict it
  CHECK(f.Detected(true).find("the log is shorter") != std::string::npos);
}

TEST_CASE("AlteredStoredCheckpointIsDetected") {
  Fixture f;
  f.Exec("UPDATE checkpoints SET note = replace(note, char(10) || '20' || char(10), char(10) || '19' || char(10)) "
         "WHERE size = 20");
  CHECK(f.Detected().find("stored checkpoint of size 20") != std::string::npos);
}

TEST_CASE("FullRecomputationWithoutTheKeyIsExposedBySavedCheckpoint") {
  Fixture f;
  // The attacker rewrites event 5, recomputes every tile of hashes ...
  MerkleTree tree;
  std::string sql = "DELETE FROM tiles; DELETE FROM checkpoints;";
  for (uint64_t i = 0; i < 20; ++i) {
    const std::string ev = i == 5 ? Forged() : *ToCanonicalJson(UserEvent(static_cast<int>(i)));
    tree.Append(MerkleLeafHash(ev));
  }
  sql += "UPDATE events SET event = '" + Forged() + "' WHERE idx = 5;";
  for (const AuditTile& t : TilesOf(tree)) {
    sql += "INSERT INTO tiles VALUES (" + std::to_string(t.level) + "," + std::to_string(t.index) + ",x'" +
           HexEncode(std::span(reinterpret_cast<const uint8_t*>(t.hashes.data()), t.hashes.size())) + "');";
  }
  f.Exec(sql);
  // ... and drops the stored checkpoints: the file is self-consistent now.
  CHECK(VerifyLog(f.path, {}, Vkey()));
  // A checkpoint saved before the tampering still exposes it.
  CHECK(f.Detected(true).find("not consistent with it") != std::string::npos);

  // Re-creating the checkpoints with a key of their own does not help either.
  auto fake_key = FixedKey(99);
  NoteSigner fake{kOrigin, fake_key.get()};
  const std::string body = std::string(kOrigin) + "\n20\n" + Base64Encode(tree.Root()) + "\n";
  auto note = SignNote(body, std::span(&fake, 1));
  REQUIRE(note);
  f.Exec("INSERT INTO checkpoints VALUES (20, '" + *note + "')");
  CHECK(f.Detected().find("not signed by any known key") != std::string::npos);
}
