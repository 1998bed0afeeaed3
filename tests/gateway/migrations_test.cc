// Schema migration 3 (protocol versions) on a database written by a schema-2
// xgwd: every protocol becomes its own first version and keeps its
// acceptances, so protocols in force stay in force after the upgrade.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gateway/database.h"
#include "gateway/migrations.h"
#include "tests/gateway/temp_dir.h"

namespace fs = std::filesystem;
using namespace xgw;
using xgw::test::TempDir;

namespace {

std::string Rows(Database& db, const std::string& sql) {
  auto st = db.Prepare(sql);
  REQUIRE(st);
  std::string out;
  while (true) {
    auto more = st->Step();
    REQUIRE(more);
    if (!*more) break;
    out += st->Text(0) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("MigrationThreeMakesEverySchemaTwoProtocolItsOwnFirstVersionWithItsAcceptances") {
  TempDir dir;
  auto db = Database::Open(dir.path + "/db.sqlite");
  REQUIRE(db);
  const auto known = KnownMigrations();
  REQUIRE(known.size() >= 3);
  REQUIRE(known[2].version == 3);
  REQUIRE(ApplyMigrations(*db, known.first(2)));
  REQUIRE(db->Exec(R"sql(
INSERT INTO organisations(id, name, created_at) VALUES ('org-a', 'A', 1), ('org-b', 'B', 1);
INSERT INTO protocols(id, version_hash, document, state, proposed_at, activated_at)
  VALUES ('P_VALID', 'h1', '{"id":"P_VALID"}', 'valid', 10, 20),
         ('P_NEW', 'h2', '{"id":"P_NEW"}', 'proposed', 30, NULL),
         ('P_GONE', 'h3', '{"id":"P_GONE"}', 'terminated', 40, NULL);
INSERT INTO protocol_parties(protocol_id, party, org_id)
  VALUES ('P_VALID', 'a', 'org-a'), ('P_VALID', 'b', 'org-b'), ('P_NEW', 'a', 'org-a');
INSERT INTO protocol_acceptances(protocol_id, party, version_hash, accepted_by, at)
  VALUES ('P_VALID', 'a', 'h1', 'usr-1', 11), ('P_VALID', 'b', 'h1', 'usr-2', 12),
         ('P_NEW', 'a', 'h2', 'usr-1', 31);
INSERT INTO exchanges(id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state,
                      signer, rows, byte_size, created_at)
  VALUES ('exc-1', 'P_VALID', 'h1', 'org-a', 'usr-3', 'a', 'e2e', 'available', 'gateway', 1, 10, 21);
)sql"));

  auto v = ApplyMigrations(*db);
  REQUIRE(v);
  CHECK(*v == known.back().version);
  CHECK(Rows(*db, "SELECT protocol_id || '|' || version_hash || '|' || state || '|' || proposed_at || '|' || "
                  "COALESCE(activated_at, '-') || '|' || COALESCE(proposed_by, '-') || '|' || document "
                  "FROM protocol_versions ORDER BY protocol_id") ==
        "P_GONE|h3|withdrawn|40|-|-|{\"id\":\"P_GONE\"}\n"
        "P_NEW|h2|proposed|30|-|-|{\"id\":\"P_NEW\"}\n"
        "P_VALID|h1|current|10|20|-|{\"id\":\"P_VALID\"}\n");
  CHECK(Rows(*db, "SELECT protocol_id || '|' || version_hash || '|' || party || '|' || accepted_by || '|' || at "
                  "FROM protocol_acceptances ORDER BY 1") ==
        "P_NEW|h2|a|usr-1|31\nP_VALID|h1|a|usr-1|11\nP_VALID|h1|b|usr-2|12\n");
  // The protocols row and the exchange are untouched; the old table is gone.
  CHECK(Rows(*db, "SELECT id || '|' || version_hash || '|' || state FROM protocols ORDER BY id") ==
        "P_GONE|h3|terminated\nP_NEW|h2|proposed\nP_VALID|h1|valid\n");
  CHECK(Rows(*db, "SELECT version_hash FROM exchanges") == "h1\n");
  CHECK(Rows(*db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'protocol_acceptances_schema2'") == "0\n");

  // Acceptances are now per version: one party may accept two versions.
  REQUIRE(db->Exec("INSERT INTO protocol_acceptances(protocol_id, version_hash, party, accepted_by, at) "
                   "VALUES ('P_VALID', 'h9', 'a', 'usr-1', 50)"));
  CHECK(Rows(*db, "SELECT COUNT(*) FROM protocol_acceptances WHERE protocol_id = 'P_VALID' AND party = 'a'") ==
        "2\n");
  CHECK_FALSE(db->Exec("INSERT INTO protocol_acceptances(protocol_id, version_hash, party, accepted_by, at) "
                       "VALUES ('P_VALID', 'h9', 'a', 'usr-1', 51)"));
}
