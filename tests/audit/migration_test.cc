// An audit.db written in schema 1 (one row per interior node, leaf hashes
// and indexed columns beside each event) opens with today's code: migrated
// on open, checked against its latest signed checkpoint, proofs unchanged.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "audit/audit_log.h"
#include "audit/checkpoint.h"
#include "audit/verify.h"
#include "crypto/signed_note.h"
#include "tests/audit/audit_test_util.h"

using namespace xgw;
using namespace xgw::testing;

namespace {

// Schema 1 as xgw wrote it until 2026-11 (audit_log.cc at commit 595dc05).
constexpr const char* kSchema1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events(idx INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, action TEXT NOT NULL,
  outcome TEXT NOT NULL, leaf_hash BLOB NOT NULL, event BLOB NOT NULL);
CREATE INDEX events_by_action ON events(action, idx);
CREATE INDEX events_by_time ON events(time_ms);
CREATE TABLE event_keys(kind TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY(kind, key, idx)) WITHOUT ROWID;
CREATE TABLE nodes(level INTEGER NOT NULL, pos INTEGER NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY(level, pos)) WITHOUT ROWID;
CREATE TABLE checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER nodes_no_delete BEFORE DELETE ON nodes BEGIN SELECT RAISE(ABORT, 'append-only'); END;
PRAGMA journal_mode=WAL;
)sql";

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  REQUIRE(rc == SQLITE_OK);
}

std::string Hex(const MerkleHash& h) { return "x'" + HexEncode(h) + "'"; }

// Writes `n` events in schema 1 with a signed checkpoint at n; returns it.
// `forged_at` >= 0: that event's bytes are replaced after the checkpoint
// was signed (leaf hash and nodes left as they were).
std::string WriteSchema1(const std::string& path, int n, int forged_at = -1) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  Exec(db, kSchema1);
  std::string sql = "BEGIN; INSERT INTO meta VALUES ('origin', '" + std::string(kOrigin) +
                    "'), ('schema', '1'), ('indexed_upto', '0');";
  MerkleTree tree;
  for (int i = 0; i < n; ++i) {
    const AuditEvent e = UserEvent(i);
    const std::string ev = *ToCanonicalJson(e);
    tree.Append(MerkleLeafHash(ev));
    const std::string stored = i == forged_at ? *ToCanonicalJson(UserEvent(i + 1000)) : ev;
    sql += "INSERT INTO events VALUES (" + std::to_string(i) + "," + std::to_string(e.time_ms) + ",'" +
           std::string(AuditActionName(e.action)) + "','success'," + Hex(MerkleLeafHash(ev)) + ",'" + stored + "');";
  }
  for (size_t l = 1; l < tree.levels().size(); ++l) {
    for (size_t p = 0; p < tree.levels()[l].size(); ++p) {
      sql += "INSERT INTO nodes VALUES (" + std::to_string(l) + "," + std::to_string(p) + "," +
             Hex(tree.levels()[l][p]) + ");";
    }
  }
  const auto key = FixedKey();
  NoteSigner signer{kOrigin, key.get()};
  const std::string note = *SignCheckpoint(Checkpoint{kOrigin, tree.size(), tree.Root(), {}}, signer);
  sql += "INSERT INTO checkpoints VALUES (" + std::to_string(n) + ", '" + note + "'); COMMIT;";
  Exec(db, sql);
  sqlite3_close(db);
  return note;
}

std::string Vkey() { return FormatVerifierKey(kOrigin, FixedKey()->public_key()); }

}  // namespace

TEST_CASE("Schema1LogIsMigratedOnOpenWithItsProofsUnchanged") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  const std::string old_note = WriteSchema1(path, 300);
  {
    auto log = AuditLog::Open(path, Options());
    REQUIRE(log);
    CHECK((*log)->Head().size == 300);
    CHECK(*(*log)->LatestCheckpoint() == old_note);
    // Every event keeps its exact bytes and proves against the old checkpoint.
    for (uint64_t i : {0u, 15u, 16u, 255u, 256u, 299u}) {
      auto rec = (*log)->Get(i);
      REQUIRE(rec);
      CHECK(rec->event == *ToCanonicalJson(UserEvent(static_cast<int>(i))));
      auto proof = (*log)->InclusionProof(i, 300);
      REQUIRE(proof);
      CHECK(VerifyInclusion(rec->event, i, *proof, old_note, Vkey()));
    }
    AuditQuery q;
    q.exchange_id = "x-3";
    CHECK((*log)->Query(q)->records.size() == 30);
    // Appends continue the same tree, consistent with the old checkpoint.
    for (int i = 300; i < 340; ++i) REQUIRE((*log)->Append(UserEvent(i)));
    const std::string note = *(*log)->SignCheckpoint();
    auto proof = (*log)->ConsistencyProof(300, 340);
    REQUIRE(proof);
    CHECK(VerifyConsistency(old_note, note, *proof, Vkey()));
  }
  std::vector<std::string> trusted = {old_note};
  auto report = VerifyLog(path, trusted, Vkey());
  REQUIRE(report);
  CHECK(report->events == 340);
  // Reopening a migrated log is a plain open.
  CHECK(AuditLog::Open(path, Options()));
}

TEST_CASE("Schema1LogWhoseEventsContradictItsCheckpointIsRefusedAtOpen") {
  TempDir dir;
  const std::string path = dir.File("audit.db");
  WriteSchema1(path, 40, 7);
  auto log = AuditLog::Open(path, Options());
  REQUIRE_FALSE(log);
  CHECK(log.error().code == ErrorCode::kCorrupt);
}
