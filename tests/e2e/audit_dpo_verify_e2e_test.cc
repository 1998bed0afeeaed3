// What a DPO verifies is what the DPO reads: an attacker with write access to
// audit.db (append-only triggers dropped, hashes recomputed or not) edits,
// removes, reorders or rewrites events behind a running xgwd; the DPO's real
// `xgw audit events` and `xgw audit verify --full` must each refuse with exit
// 6 and name the index, and show none of the forged history. The untampered
// log is the positive control.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/audit_store.h"
#include "audit/event_codec.h"
#include "crypto/merkle.h"
#include "tests/e2e/cir_world.h"

namespace xgw::e2e {
namespace {

using nlohmann::json;

constexpr int kExitLogFailed = 6;  // docs/cli.md: verification failed

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

// The DPO's own client: a config file made by `xgw login`, and its state
// file (the pinned key, the last verified checkpoint) next to it.
class DpoClient {
 public:
  DpoClient(const Daemon& d, const std::string& token) : config_(d.dir() + "/dpo.json") {
    WriteFile(d.dir() + "/dpo.token", token + "\n");
    Run r = Xgw("login --gateway " + d.base_url() + " --token-file " + d.dir() + "/dpo.token --cacert " +
                d.cacert());
    INFO(r.err);
    REQUIRE(r.status == 0);
  }
  Run Xgw(const std::string& args) const {
    const std::string err_file = config_ + ".stderr";
    Run r;
    r.out = RunCommand("XGW_CONFIG=" + config_ + " " + XgwPath() + " " + args + " 2>" + err_file + " </dev/null",
                       &r.status);
    r.err = ReadTextFile(err_file);
    return r;
  }
  // After a restart the daemon listens on another port.
  void MoveTo(const Daemon& d) {
    json cfg = json::parse(ReadTextFile(config_));
    cfg["gateway_url"] = d.base_url();
    WriteFile(config_, cfg.dump());
  }

 private:
  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  std::string config_;
};

// The attacker: a writable connection to the live audit.db, triggers gone.
class Attacker {
 public:
  explicit Attacker(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 10000);
    Exec("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;"
         "DROP TRIGGER IF EXISTS keys_no_update; DROP TRIGGER IF EXISTS keys_no_delete;"
         "DROP TRIGGER IF EXISTS tiles_no_update; DROP TRIGGER IF EXISTS tiles_no_delete;"
         "DROP TRIGGER IF EXISTS checkpoints_no_update; DROP TRIGGER IF EXISTS checkpoints_no_delete;");
  }
  ~Attacker() { sqlite3_close(db_); }
  Attacker(const Attacker&) = delete;
  Attacker& operator=(const Attacker&) = delete;

  void Exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  // A refused download becomes a successful one (the text only). Events
  // are stored in a compact form (audit/event_codec.h): the attacker
  // decodes, edits and encodes again, as anyone reading the docs could.
  void ForgeSuccess(uint64_t idx) {
    std::string event = Events().at(idx);
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"\"exchange.download_refused\"",
                                                                       "\"exchange.downloaded\""},
                                   {"\"refused\"", "\"success\""}}) {
      const size_t at = event.find(from);
      REQUIRE(at != std::string::npos);
      event.replace(at, from.size(), to);
    }
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "UPDATE events SET event = ? WHERE idx = ?", -1, &s, nullptr) == SQLITE_OK);
    const std::string stored = EncodeStoredEvent(event);
    sqlite3_bind_blob(s, 1, stored.data(), static_cast<int>(stored.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(idx));
    REQUIRE(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_finalize(s);
    // The query index follows the forgery (it filed the event under its
    // action), so that `--action exchange.downloaded` serves it.
    Exec("INSERT OR IGNORE INTO index_keys(kind, key) VALUES ('a', 'exchange.downloaded');"
         "INSERT OR IGNORE INTO event_keys(key_id, idx) SELECT id, " + std::to_string(idx) +
         " FROM index_keys WHERE kind = 'a' AND key = 'exchange.downloaded';"
         "DELETE FROM event_keys WHERE idx = " + std::to_string(idx) +
         " AND key_id IN (SELECT id FROM index_keys WHERE kind = 'a' AND key = 'exchange.download_refused');");
  }
  // Makes the stored leaf hashes (the tiles of level 0) agree with the
  // event bytes again.
  void RecomputeLeafHashes() { RewriteTiles(false); }
  // A consistent forgery: every tile recomputed from the events as they now
  // are, every checkpoint signed before thrown away.
  void RecomputeEverything() {
    RewriteTiles(true);
    Exec("DELETE FROM checkpoints;");
  }

 private:
  std::map<uint64_t, std::string> Events() {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "SELECT idx, event FROM events ORDER BY idx", -1, &s, nullptr) == SQLITE_OK);
    std::map<uint64_t, std::string> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(s, 1));
      std::string event;
      REQUIRE(DecodeStoredEvent(std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s, 1))), event));
      out.emplace(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), std::move(event));
    }
    sqlite3_finalize(s);
    return out;
  }
  void RewriteTiles(bool all_levels) {
    MerkleTree tree;
    for (const auto& [idx, event] : Events()) tree.Append(MerkleLeafHash(event));
    Exec(all_levels ? "DELETE FROM tiles;" : "DELETE FROM tiles WHERE level = 0;");
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "INSERT INTO tiles(level, idx, hashes) VALUES (?, ?, ?)", -1, &s, nullptr) ==
            SQLITE_OK);
    const auto& levels = tree.levels();
    for (size_t l = 0; l < levels.size(); l += kAuditTileHeight) {
      if (l > 0 && !all_levels) break;
      for (uint64_t i = 0; i < levels[l].size() / kAuditTileWidth; ++i) {
        std::string hashes;
        for (uint64_t k = 0; k < kAuditTileWidth; ++k) {
          hashes.append(reinterpret_cast<const char*>(levels[l][i * kAuditTileWidth + k].data()), 32);
        }
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(l / kAuditTileHeight));
        sqlite3_bind_int64(s, 2, static_cast<int64_t>(i));
        sqlite3_bind_blob(s, 3, hashes.data(), static_cast<int>(hashes.size()), SQLITE_TRANSIENT);
        REQUIRE(sqlite3_step(s) == SQLITE_DONE);
      }
    }
    sqlite3_finalize(s);
  }

  sqlite3* db_ = nullptr;
};

uint64_t IndexOf(CirWorld& w, const std::string& action) {
  json j = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&action=" + action,
                            {.token = w.d->operator_token()}),
                    200);
  REQUIRE(j["items"].size() == 1);
  return j["items"][0]["index"].get<uint64_t>();
}

// The DPO's client refuses: exit 6, the index named (if given), nothing shown.
void ExpectCaught(const DpoClient& dpo, const std::string& args, const std::string& at = "") {
  const Run r = dpo.Xgw(args);
  INFO("xgw " << args << " -> " << r.status << "\n" << r.err);
  CHECK(r.status == kExitLogFailed);
  CHECK(r.err.find("the audit log failed verification") != std::string::npos);
  if (!at.empty()) CHECK(r.err.find("at index " + at + ":") != std::string::npos);
  CHECK(r.out.empty());
}

}  // namespace

TEST_CASE("the DPO's client proves every event it shows and catches a rewritten audit.db",
          "[e2e][audit][dpo]") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string id = w.Send(kCirHeader + CirRow(1) + CirRow(2));
  // A recipient role the protocol does not name tries first: refused.
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.cleaner.token}).status == 404);
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token}).status == 200);
  const uint64_t refused = IndexOf(w, "exchange.download_refused");
  const uint64_t downloaded = IndexOf(w, "exchange.downloaded");
  REQUIRE(refused < downloaded);

  // Positive control, which also remembers the checkpoint in the DPO's state.
  DpoClient dpo(*w.d, w.dpo_recv.token);
  {
    Run v = dpo.Xgw("audit verify");
    INFO(v.err);
    REQUIRE(v.status == 0);
    Run e = dpo.Xgw("audit events --limit 1000");
    INFO(e.err);
    REQUIRE(e.status == 0);
    CHECK(e.out.find(std::to_string(refused) + "  ") != std::string::npos);
    // The actor by name and organisation (names read now, beside the proven ids in --json).
    CHECK(e.out.find("exchange.download_refused  refused  by not a recipient (OCMW Gent)") != std::string::npos);
    CHECK(dpo.Xgw("audit events --limit 1000 --json").out.find(w.cleaner.user) != std::string::npos);
    CHECK(e.out.find("is proven to be in the audit log") != std::string::npos);
    Run f = dpo.Xgw("audit verify --full --json");
    INFO(f.err);
    REQUIRE(f.status == 0);
    json j = json::parse(f.out);
    CHECK(j["recomputed"]["events"] == j["tree_size"]);
    CHECK(j["recomputed"]["read_in_full"].get<uint64_t>() >= 2);
    CHECK(j["recomputed"]["read_in_full"].get<uint64_t>() < j["tree_size"].get<uint64_t>());
  }
  const std::string audit_db = w.d->dir() + "/state/audit.db";
  const std::string at_refused = std::to_string(refused);

  SECTION("an edited event, its stored leaf hash kept") {
    Attacker(audit_db).ForgeSuccess(refused);
    ExpectCaught(dpo, "audit events --limit 1000", at_refused);
    ExpectCaught(dpo, "audit events --action exchange.downloaded", at_refused);
    ExpectCaught(dpo, "audit verify --full", at_refused);
  }
  SECTION("an edited event, its leaf hash recomputed") {
    Attacker a(audit_db);
    a.ForgeSuccess(refused);
    a.RecomputeLeafHashes();
    ExpectCaught(dpo, "audit events --limit 1000", at_refused);
    ExpectCaught(dpo, "audit verify --full", at_refused);
  }
  SECTION("a removed event, the later ones renumbered to close the gap") {
    Attacker(audit_db).Exec(
        "DELETE FROM events WHERE idx = " + at_refused + "; DELETE FROM event_keys WHERE idx = " + at_refused +
        "; UPDATE events SET idx = idx - 1 WHERE idx > " + at_refused +
        "; UPDATE event_keys SET idx = idx - 1 WHERE idx > " + at_refused + ";");
    ExpectCaught(dpo, "audit events --limit 1000");
    ExpectCaught(dpo, "audit verify --full");
  }
  SECTION("a removed event, the gap left") {
    Attacker(audit_db).Exec("DELETE FROM events WHERE idx = " + at_refused + "; DELETE FROM event_keys WHERE idx = " +
                            at_refused + ";");
    // What `events` still shows is proven; the gap is found by --full.
    const Run e = dpo.Xgw("audit events --limit 1000");
    CHECK(e.out.find("exchange.download_refused") == std::string::npos);
    CHECK((e.status == 0 || e.status == kExitLogFailed));
    ExpectCaught(dpo, "audit verify --full", at_refused);
  }
  SECTION("two events swapped") {
    const std::string a = at_refused, b = std::to_string(downloaded);
    Attacker(audit_db).Exec(
        "UPDATE events SET idx = -1 WHERE idx = " + a + "; UPDATE events SET idx = " + a + " WHERE idx = " + b +
        "; UPDATE events SET idx = " + b + " WHERE idx = -1;"
        "UPDATE event_keys SET idx = -1 WHERE idx = " + a + "; UPDATE event_keys SET idx = " + a + " WHERE idx = " +
        b + "; UPDATE event_keys SET idx = " + b + " WHERE idx = -1;");
    ExpectCaught(dpo, "audit events --limit 1000", a);
    ExpectCaught(dpo, "audit verify --full", a);
  }
  SECTION("every hash and node recomputed, checkpoints dropped, xgwd restarted on the forgery") {
    // The strongest attacker with the disk only: after the restart xgwd
    // itself signs the forged tree. The DPO's remembered checkpoint is what
    // catches it.
    REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
    {
      Attacker a(audit_db);
      a.ForgeSuccess(refused);
      a.RecomputeEverything();
    }
    w.d->Restart();
    dpo.MoveTo(*w.d);
    ExpectCaught(dpo, "audit verify");
    ExpectCaught(dpo, "audit events --limit 1000");
    ExpectCaught(dpo, "audit verify --full");
  }
  SECTION("every hash and node recomputed behind the running xgwd") {
    {
      Attacker a(audit_db);
      a.ForgeSuccess(refused);
      a.RecomputeEverything();
    }
    ExpectCaught(dpo, "audit events --limit 1000");
    ExpectCaught(dpo, "audit verify --full");
  }
  // A tampered log may refuse appends (its nodes collide with the forgery):
  // the daemon's exit status is not what this test is about.
  if (w.d->Alive()) (void)w.d->StopAndWait(SIGTERM);
}

TEST_CASE("an untampered log verifies in full for the operator, every event read", "[e2e][audit]") {
  CirWorld w;
  w.ProposeAcceptActivate();
  (void)w.Send(kCirHeader + CirRow(1));
  const std::string cfg = w.d->dir() + "/op.json";
  std::ofstream(w.d->dir() + "/op.token") << w.d->operator_token() << "\n";
  int status = -1;
  RunCommand("XGW_CONFIG=" + cfg + " " + XgwPath() + " login --gateway " + w.d->base_url() + " --token-file " +
                 w.d->dir() + "/op.token --cacert " + w.d->cacert() + " >/dev/null 2>&1 </dev/null",
             &status);
  REQUIRE(status == 0);
  const std::string out =
      RunCommand("XGW_CONFIG=" + cfg + " " + XgwPath() + " audit verify --full --json 2>/dev/null </dev/null", &status);
  REQUIRE(status == 0);
  json j = json::parse(out);
  CHECK(j["recomputed"]["events"] == j["tree_size"]);
  CHECK(j["recomputed"]["read_in_full"] == j["tree_size"]);
}

}  // namespace xgw::e2e
