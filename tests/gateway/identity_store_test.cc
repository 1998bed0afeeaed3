#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "gateway/database.h"
#include "gateway/identity_rules.h"
#include "gateway/identity_store.h"
#include "gateway/ids.h"
#include "gateway/migrations.h"
#include "tests/gateway/temp_dir.h"

namespace fs = std::filesystem;
using namespace xgw;
using xgw::test::TempDir;

namespace {

constexpr const char* kAge = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
constexpr const char* kEd = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr int64_t kNow = 1'700'000'000;

}  // namespace

TEST_CASE("IdsAreRandomPrefixedAndStrictlyShaped") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string id = NewId(kOrgPrefix);
    CHECK(IsValidId(kOrgPrefix, id));
    CHECK(id.size() == 4 + 26);
    seen.insert(id);
  }
  CHECK(seen.size() == 200);
  const std::string good = NewId(kUserPrefix);
  CHECK_FALSE(IsValidId(kOrgPrefix, good));
  CHECK_FALSE(IsValidId(kUserPrefix, good + "a"));
  CHECK_FALSE(IsValidId(kUserPrefix, good.substr(0, good.size() - 1)));
  std::string upper = good;
  upper[5] = 'A';
  CHECK_FALSE(IsValidId(kUserPrefix, upper));
  CHECK_FALSE(IsValidId(kUserPrefix, "usr-../../../../etc/passwd"));
  std::string nul = good;
  nul[6] = '\0';
  CHECK_FALSE(IsValidId(kUserPrefix, nul));
}

TEST_CASE("TokenSecretsCarry256BitsAndOnlyTheirHashIsKept") {
  const std::string a = NewTokenSecret();
  const std::string b = NewTokenSecret();
  CHECK(a != b);
  CHECK(IsTokenSecretShape(a));
  CHECK(a.size() == 5 + 52);  // 52 base32 chars = 260 bits >= 256 random bits
  CHECK(TokenHash(a).size() == 64);
  CHECK(TokenHash(a) != TokenHash(b));
  CHECK_FALSE(IsTokenSecretShape("xgwt_short"));
}

TEST_CASE("MigrationsApplyOnceAndRecordTheirVersion") {
  TempDir dir;
  const std::string path = dir.path + "/db.sqlite";
  {
    auto db = Database::Open(path);
    REQUIRE(db);
    auto v = ApplyMigrations(*db);
    REQUIRE(v);
    CHECK(*v == KnownMigrations().back().version);
    auto again = ApplyMigrations(*db);
    REQUIRE(again);
    CHECK(*again == *v);
    auto st = db->Prepare("SELECT COUNT(*) FROM schema_migrations");
    REQUIRE(st);
    REQUIRE(*st->Step());
    CHECK(st->Int(0) == static_cast<int64_t>(KnownMigrations().size()));
  }
  CHECK((fs::status(path).permissions() & fs::perms::others_all) == fs::perms::none);
}

TEST_CASE("AFailingMigrationLeavesTheSchemaAtTheLastGoodVersion") {
  TempDir dir;
  auto db = Database::Open(dir.path + "/db.sqlite");
  REQUIRE(db);
  const Migration ms[] = {{1, "one", "CREATE TABLE a (x INTEGER);"},
                          {2, "broken", "CREATE TABLE b (y INTEGER); THIS IS NOT SQL;"}};
  auto r = ApplyMigrations(*db, ms);
  REQUIRE_FALSE(r);
  auto v = SchemaVersion(*db);
  REQUIRE(v);
  CHECK(*v == 1);
  auto st = db->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'");
  REQUIRE(st);
  REQUIRE(*st->Step());
  CHECK(st->Int(0) == 0);
}

TEST_CASE("ADatabaseFromANewerXgwdIsRefused") {
  TempDir dir;
  auto db = Database::Open(dir.path + "/db.sqlite");
  REQUIRE(db);
  REQUIRE(ApplyMigrations(*db));
  REQUIRE(db->Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (999, 'f', 0)"));
  auto r = ApplyMigrations(*db);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kConflict);
}

TEST_CASE("TokensAuthenticateUntilTheyExpireOrAreRevoked") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  auto& s = **store;
  auto org = s.CreateOrganisation({"OCMW Gent", "0212.214.125", "dpo@example.org", {}}, kNow);
  REQUIRE(org);
  CHECK(org->enterprise_number == "0212214125");
  auto user = s.CreateUser(org->id, "worker", {"social_worker", "sender", "sender"}, kNow);
  REQUIRE(user);
  CHECK(user->roles == std::vector<std::string>{"sender", "social_worker"});

  auto t = s.IssueToken(user->id, 100, "laptop", kNow);
  REQUIRE(t);
  auto p = s.Authenticate(t->secret, kNow + 1);
  REQUIRE(p);
  CHECK(p->user_id == user->id);
  CHECK(p->org_id == org->id);
  CHECK(p->HasRole("sender"));
  CHECK_FALSE(p->HasRole("operator"));
  auto info = s.GetToken(t->info.id);
  REQUIRE(info);
  CHECK(info->last_used_at == kNow + 1);

  // Expiry is exclusive at expires_at.
  auto expired = s.Authenticate(t->secret, kNow + 100);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().code == ErrorCode::kUnauthenticated);

  auto t2 = s.IssueToken(user->id, 1000, std::nullopt, kNow);
  REQUIRE(t2);
  REQUIRE(s.Authenticate(t2->secret, kNow + 1));
  auto revoked = s.RevokeToken(t2->info.id, kNow + 2);
  REQUIRE(revoked);
  CHECK(revoked->revoked_at == kNow + 2);
  auto again = s.RevokeToken(t2->info.id, kNow + 5);
  REQUIRE(again);
  CHECK(again->revoked_at == kNow + 2);
  auto after = s.Authenticate(t2->secret, kNow + 3);
  REQUIRE_FALSE(after);

  // Every failure is the same error, whatever the cause.
  auto unknown = s.Authenticate(NewTokenSecret(), kNow);
  auto malformed = s.Authenticate("Bearer nonsense", kNow);
  REQUIRE_FALSE(unknown);
  REQUIRE_FALSE(malformed);
  CHECK(unknown.error().message == expired.error().message);
  CHECK(malformed.error().message == after.error().message);
}

TEST_CASE("TheDatabaseNeverHoldsTokenSecrets") {
  TempDir dir;
  const std::string path = dir.path + "/db.sqlite";
  std::string secret;
  {
    auto store = IdentityStore::Open(path);
    REQUIRE(store);
    auto org = (*store)->CreateOrganisation({"o", {}, {}, {}}, kNow);
    auto user = (*store)->CreateUser(org->id, "u", {}, kNow);
    auto t = (*store)->IssueToken(user->id, 100, std::nullopt, kNow);
    REQUIRE(t);
    secret = t->secret;
  }
  auto db = Database::Open(path);
  REQUIRE(db);
  auto st = db->Prepare("SELECT hash FROM api_tokens");
  REQUIRE(st);
  REQUIRE(*st->Step());
  CHECK(st->Text(0) == TokenHash(secret));
  CHECK(st->Text(0).find(secret.substr(5)) == std::string::npos);
}

TEST_CASE("InvalidIdentityFieldsAreRefusedByName") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  auto& s = **store;
  auto bad_kbo = s.CreateOrganisation({"x", "0400.032.157", {}, {}}, kNow);
  REQUIRE_FALSE(bad_kbo);
  CHECK(bad_kbo.error().message.find("enterprise_number") != std::string::npos);
  CHECK(bad_kbo.error().message.find("032.157") == std::string::npos);
  CHECK_FALSE(s.CreateOrganisation({"", {}, {}, {}}, kNow));
  CHECK_FALSE(s.CreateOrganisation({"a\nb", {}, {}, {}}, kNow));
  auto bad_pin = s.CreateOrganisation({"x", {}, {}, {"sha256:zz"}}, kNow);
  REQUIRE_FALSE(bad_pin);
  CHECK(bad_pin.error().message.find("client_cert_pins[0]") != std::string::npos);

  auto org = s.CreateOrganisation({"org", {}, {}, {}}, kNow);
  REQUIRE(org);
  auto bad_role = s.CreateUser(org->id, "u", {"sender", "Bad Role"}, kNow);
  REQUIRE_FALSE(bad_role);
  CHECK(bad_role.error().message.find("roles[1]") != std::string::npos);
  CHECK_FALSE(s.CreateUser("org-aaaaaaaaaaaaaaaaaaaaaaaaaa", "u", {}, kNow));

  auto user = s.CreateUser(org->id, "u", {}, kNow);
  REQUIRE(user);
  auto bad_age = s.SetKeys(user->id, "age1notreally", kEd, kNow);
  REQUIRE_FALSE(bad_age);
  CHECK(bad_age.error().message.find("age_recipient") != std::string::npos);
  auto bad_ed = s.SetKeys(user->id, kAge, "AAAA", kNow);
  REQUIRE_FALSE(bad_ed);
  CHECK(bad_ed.error().message.find("ed25519_verify_key") != std::string::npos);
  auto ok = s.SetKeys(user->id, kAge, kEd, kNow);
  REQUIRE(ok);
  REQUIRE(ok->keys);
  CHECK(ok->keys->age_recipient == kAge);
}

TEST_CASE("ClientCertificatePinsMapToOneOrganisation") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  const std::string hex(64, 'a');
  auto org = (*store)->CreateOrganisation({"o", {}, {}, {"sha256:" + std::string(64, 'A')}}, kNow);
  REQUIRE(org);
  CHECK(org->client_cert_pins == std::vector<std::string>{hex});
  auto found = (*store)->OrganisationForPin(hex);
  REQUIRE(found);
  CHECK(*found == org->id);
  auto dup = (*store)->CreateOrganisation({"p", {}, {}, {"sha256:" + hex}}, kNow);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == ErrorCode::kConflict);
  auto none = (*store)->OrganisationForPin(std::string(64, 'b'));
  REQUIRE(none);
  CHECK_FALSE(*none);
}

TEST_CASE("PinsAreAcceptedAsHexOrCurlBase64AndAsPathIdsAsHexOrUrlSafeBase64") {
  const std::string hex(64, 'a');
  CHECK(NormalisePin("sha256:" + std::string(64, 'A')) == hex);
  CHECK(NormalisePin("sha256//qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=") == hex);
  CHECK_FALSE(NormalisePin(hex));
  CHECK_FALSE(NormalisePin("sha256:" + hex.substr(1)));
  CHECK_FALSE(NormalisePin("sha256//qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo"));   // no padding
  CHECK_FALSE(NormalisePin("sha256//qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqr="));  // trailing bits
  CHECK_FALSE(NormalisePin("sha256//-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s="));  // URL-safe alphabet
  CHECK(PinBase64Form(hex) == "sha256//qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=");
  CHECK(NormalisePinId(std::string(64, 'F')).has_value());
  CHECK(NormalisePinId("-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s") ==
        NormalisePin("sha256//+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s="));
  CHECK_FALSE(NormalisePinId("+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s"));
  CHECK_FALSE(NormalisePinId("sha256:" + hex));
  CHECK_FALSE(NormalisePinId(hex.substr(2)));
}

TEST_CASE("PinsOfAnExistingOrganisationAreAddedOnceAndRemovedOnlyWhereTheyAre") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  IdentityStore& s = **store;
  auto a = s.CreateOrganisation({"a", {}, {}, {}}, kNow);
  auto b = s.CreateOrganisation({"b", {}, {}, {}}, kNow);
  REQUIRE(a);
  REQUIRE(b);
  const std::string hex(64, 'a');
  auto added = s.AddClientPin(a->id, "sha256//qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=");
  REQUIRE(added);
  CHECK(added->added);
  CHECK(added->pin == hex);
  CHECK(added->org.client_cert_pins == std::vector<std::string>{hex});
  auto again = s.AddClientPin(a->id, "sha256:" + hex);
  REQUIRE(again);
  CHECK_FALSE(again->added);
  auto elsewhere = s.AddClientPin(b->id, "sha256:" + hex);
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().code == ErrorCode::kConflict);
  auto bad = s.AddClientPin(a->id, "sha256:xyz");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  CHECK(bad.error().message.find("xyz") == std::string::npos);
  auto unknown_org = s.AddClientPin(NewId(kOrgPrefix), "sha256:" + std::string(64, 'c'));
  REQUIRE_FALSE(unknown_org);
  CHECK(unknown_org.error().code == ErrorCode::kNotFound);
  CHECK(*s.OrganisationForPin(hex) == a->id);

  auto not_there = s.RemoveClientPin(b->id, hex);
  REQUIRE_FALSE(not_there);
  CHECK(not_there.error().code == ErrorCode::kNotFound);
  auto removed = s.RemoveClientPin(a->id, hex);
  REQUIRE(removed);
  CHECK(removed->client_cert_pins.empty());
  CHECK_FALSE(*s.OrganisationForPin(hex));
  // Free again: another organisation may take it now.
  CHECK(s.AddClientPin(b->id, "sha256:" + hex).has_value());
}

TEST_CASE("RuleChecksAcceptOnlyTheirShapes") {
  CHECK(IsValidRoleName("sender"));
  CHECK(IsValidRoleName("head_social-worker.v2"));
  CHECK_FALSE(IsValidRoleName("1abc"));
  CHECK_FALSE(IsValidRoleName(""));
  CHECK_FALSE(IsValidRoleName(std::string(65, 'a')));
  CHECK(IsAgeRecipientShape(kAge));
  CHECK_FALSE(IsAgeRecipientShape(std::string(kAge).substr(0, 61) + "b"));  // 'b' not Bech32
  CHECK(NormaliseEnterpriseNumber("BE 0400.032.156") == std::optional<std::string>("0400032156"));
  CHECK(NormaliseEnterpriseNumber("12345678") == std::optional<std::string>("12345678"));
  CHECK_FALSE(NormaliseEnterpriseNumber("0400.032.155"));
  CHECK(IsCleanText("Dienst Thuislozenzorg – Gent", 200));
  CHECK_FALSE(IsCleanText("\xc3\x28", 200));
}

// Regression: Authenticate read the token and then, with its SELECT still
// open, updated last_used_at. When another connection to the same database
// (xgwd's exchange store) committed in between, SQLite refused that upgrade
// at once with "database is locked" and a valid caller got 500 — seen when
// the retention sweeper ran right after the test clock moved forward.
TEST_CASE("AuthenticateSurvivesAWriterOnAnotherConnectionCommittingMeanwhile") {
  TempDir dir;
  const std::string path = dir.path + "/db.sqlite";
  auto store = IdentityStore::Open(path);
  REQUIRE(store);
  IdentityStore& s = **store;
  auto org = s.CreateOrganisation({"OCMW Gent", "0212.214.125", "dpo@example.org", {}}, kNow);
  REQUIRE(org);
  auto user = s.CreateUser(org->id, "worker", {"sender"}, kNow);
  REQUIRE(user);
  auto t = s.IssueToken(user->id, 10'000'000, std::nullopt, kNow);
  REQUIRE(t);
  auto other = Database::Open(path);
  REQUIRE(other);
  REQUIRE(other->Exec("CREATE TABLE other_writer (x INTEGER)"));
  for (int round = 0; round < 3; ++round) {
    // The other connection holds the write lock while Authenticate reads
    // (last_used_at is old, so it will want to write), then commits.
    REQUIRE(other->Exec("BEGIN IMMEDIATE"));
    REQUIRE(other->Exec("INSERT INTO other_writer VALUES (1)"));
    Result<Principal> p = Fail(ErrorCode::kInternal, "not run");
    std::thread caller([&] { p = s.Authenticate(t->secret, kNow + 86'400 * (round + 1)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(other->Exec("COMMIT"));
    caller.join();
    REQUIRE(p);
    CHECK(p->user_id == user->id);
  }
}

// The router records an operator's change through BeforeCommit: it runs only
// for a change that passed every check, and a change whose record fails is
// rolled back.
TEST_CASE("AChangeCommitsOnlyAfterItsBeforeCommitSucceededAndOnlyPassingChangesCallIt") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  IdentityStore& s = **store;
  int calls = 0;
  const BeforeCommit failing = [&]() -> Result<void> {
    ++calls;
    return Fail(ErrorCode::kIo, "audit down");
  };
  const BeforeCommit counting = [&]() -> Result<void> {
    ++calls;
    return {};
  };
  auto org = s.CreateOrganisation({"a", {}, {}, {}}, kNow, NewId(kOrgPrefix), counting);
  REQUIRE(org);
  auto user = s.CreateUser(org->id, "worker", {"sender"}, kNow, NewId(kUserPrefix), counting);
  REQUIRE(user);
  auto token = s.IssueToken(user->id, 100, std::nullopt, kNow, NewId(kTokenPrefix), counting);
  REQUIRE(token);
  CHECK(calls == 3);

  calls = 0;
  CHECK_FALSE(s.CreateOrganisation({"b", {}, {}, {}}, kNow, NewId(kOrgPrefix), failing));
  CHECK_FALSE(s.CreateUser(org->id, "other", {"sender"}, kNow, NewId(kUserPrefix), failing));
  CHECK_FALSE(s.SetRoles(user->id, {"dpo"}, failing));
  CHECK_FALSE(s.SetKeys(user->id, kAge, kEd, kNow, failing));
  CHECK_FALSE(s.IssueToken(user->id, 100, std::nullopt, kNow, NewId(kTokenPrefix), failing));
  CHECK_FALSE(s.RevokeToken(token->info.id, kNow, failing));
  CHECK_FALSE(s.AddClientPin(org->id, "sha256:" + std::string(64, 'a'), failing));
  CHECK(calls == 7);
  // Nothing of the seven changes was kept.
  auto orgs = s.ListOrganisations();
  REQUIRE(orgs);
  CHECK(orgs->size() == 1);
  CHECK(orgs->front().client_cert_pins.empty());
  auto users = s.ListUsers(org->id);
  REQUIRE(users);
  REQUIRE(users->size() == 1);
  CHECK(users->front().roles == std::vector<std::string>{"sender"});
  CHECK_FALSE(users->front().keys);
  auto tokens = s.ListTokens(user->id);
  REQUIRE(tokens);
  REQUIRE(tokens->size() == 1);
  CHECK_FALSE(tokens->front().revoked_at);
  CHECK(s.Authenticate(token->secret, kNow + 1));

  // A change its checks refuse never calls it.
  calls = 0;
  CHECK_FALSE(s.CreateOrganisation({"", {}, {}, {}}, kNow, NewId(kOrgPrefix), counting));
  CHECK_FALSE(s.CreateUser(NewId(kOrgPrefix), "x", {"sender"}, kNow, NewId(kUserPrefix), counting));
  CHECK_FALSE(s.SetKeys(user->id, "age1nope", kEd, kNow, counting));
  CHECK_FALSE(s.RevokeToken(NewId(kTokenPrefix), kNow, counting));
  CHECK_FALSE(s.RemoveClientPin(org->id, std::string(64, 'c'), counting));
  CHECK(calls == 0);
}

// A request authenticates while an operator's change is between its checks
// and its COMMIT (the router's audit commit runs there, which can take
// milliseconds): it must not wait for that change. Authentication reads a
// committed snapshot on its own connection; it used to queue behind the
// change on the store's one mutex.
TEST_CASE("AuthenticationAndPinLookupsDoNotWaitForAnOperatorChangeBeingCommitted") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  auto& s = **store;
  auto org = s.CreateOrganisation({"org", {}, {}, {"sha256:" + std::string(64, 'a')}}, kNow);
  REQUIRE(org);
  auto user = s.CreateUser(org->id, "u", {"sender"}, kNow);
  REQUIRE(user);
  auto token = s.IssueToken(user->id, 3600, std::nullopt, kNow);
  REQUIRE(token);

  std::promise<void> change_reached_commit;
  std::promise<void> let_change_commit;
  std::shared_future<void> go = let_change_commit.get_future().share();
  const BeforeCommit held = [&]() -> Result<void> {
    change_reached_commit.set_value();
    go.wait();
    return {};
  };
  std::thread change([&] { CHECK(s.CreateOrganisation({"other", {}, {}, {}}, kNow, NewId(kOrgPrefix), held)); });
  change_reached_commit.get_future().wait();
  // 61 s later: the token's last-used time is due for an update as well.
  auto authenticated = std::async(std::launch::async, [&] { return s.Authenticate(token->secret, kNow + 61); });
  auto pin = std::async(std::launch::async, [&] { return s.OrganisationForPin(std::string(64, 'a')); });
  const bool auth_done = authenticated.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  const bool pin_done = pin.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  let_change_commit.set_value();
  change.join();
  CHECK(auth_done);
  CHECK(pin_done);
  auto p = authenticated.get();
  REQUIRE(p);
  CHECK(p->user_id == user->id);
  auto o = pin.get();
  REQUIRE(o);
  CHECK(*o == std::optional<std::string>(org->id));
  // Once the change committed, a new authentication still works and sees it.
  CHECK(s.Authenticate(token->secret, kNow + 62));
  CHECK(s.ListOrganisations()->size() == 2);
}

TEST_CASE("AuthenticateGivesTheTokensExpiryAndEarliestTokenExpiryCountsOnlyWorkingTokens") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  IdentityStore& s = **store;
  CHECK_FALSE(*s.EarliestTokenExpiry(kNow));  // no token at all
  auto org = s.CreateOrganisation({"a", {}, {}, {}}, kNow);
  REQUIRE(org);
  auto user = s.CreateUser(org->id, "worker", {"sender"}, kNow);
  REQUIRE(user);
  auto soon = s.IssueToken(user->id, 100, std::nullopt, kNow);
  auto later = s.IssueToken(user->id, 1000, std::nullopt, kNow);
  REQUIRE(soon);
  REQUIRE(later);
  auto p = s.Authenticate(soon->secret, kNow + 1);
  REQUIRE(p);
  CHECK(p->expires_at == kNow + 100);
  CHECK(*s.EarliestTokenExpiry(kNow) == kNow + 100);
  CHECK(*s.EarliestTokenExpiry(kNow + 100) == kNow + 1000);  // the first has expired by then
  REQUIRE(s.RevokeToken(later->info.id, kNow + 2));
  CHECK(*s.EarliestTokenExpiry(kNow + 2) == kNow + 100);
  CHECK_FALSE(*s.EarliestTokenExpiry(kNow + 100));  // expired and revoked: none works
}

TEST_CASE("AnOrganisationReadsTimesInBrusselsUnlessGivenAnotherKnownZone") {
  TempDir dir;
  auto store = IdentityStore::Open(dir.path + "/db.sqlite");
  REQUIRE(store);
  auto& s = **store;
  auto plain = s.CreateOrganisation({"OCMW Gent", {}, {}, {}}, kNow);
  REQUIRE(plain);
  CHECK(plain->time_zone == "Europe/Brussels");
  NewOrganisation dutch{"Woonbron", {}, {}, {}, "Europe/Amsterdam"};
  auto nl = s.CreateOrganisation(dutch, kNow);
  REQUIRE(nl);
  CHECK(nl->time_zone == "Europe/Amsterdam");
  CHECK(s.GetOrganisation(nl->id)->time_zone == "Europe/Amsterdam");
  for (const std::string& zone : std::vector<std::string>{"Nowhere/Town", "../zoneinfo/UTC", "Europe/Brussels\n", std::string(100, 'a')}) {
    auto bad = s.CreateOrganisation({"x", {}, {}, {}, zone}, kNow);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  }
}
