// The metadata store contract (gateway/metadata_store.h), on the embedded
// SQLite store: what a PostgreSQL store must also do. Above all, a callback
// that refuses or fails leaves nothing written.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "gateway/database.h"
#include "gateway/migrations.h"
#include "gateway/sqlite_metadata_store.h"
#include "temp_dir.h"

namespace {

using xgw::ErrorCode;
using xgw::ExchangeFilter;
using xgw::ExchangeRow;
using xgw::ProtocolState;
using xgw::Result;
using xgw::StoredProtocol;

struct World {
  xgw::test::TempDir dir;
  std::unique_ptr<xgw::ReadPool> readers;
  std::unique_ptr<xgw::SqliteMetadataStore> store;

  World() {
    const std::string path = dir.path + "/xgwd.db";
    {
      auto db = xgw::Database::Open(path);
      REQUIRE(db);
      REQUIRE(xgw::ApplyMigrations(*db));
      // The parties' organisations (identities are IdentityStore's).
      REQUIRE(db->Exec("INSERT INTO organisations(id, name, created_at) VALUES ('org-a', 'A', 1), ('org-b', 'B', 1)"));
    }
    auto pool = xgw::ReadPool::Open(path, 2);
    REQUIRE(pool);
    readers = std::move(*pool);
    auto s = xgw::SqliteMetadataStore::Open(path, *readers);
    REQUIRE(s);
    store = std::move(*s);
  }

  // Proposes version `hash` of protocol `id`, approving it.
  void Propose(const std::string& id, const std::string& hash, int64_t now) {
    xgw::Proposal p{id, hash, "{\"v\":\"" + hash + "\"}", "usr-op", {{"a", "org-a"}, {"b", "org-b"}}, now};
    auto r = store->Propose(p, [](const auto&, const std::string&) -> Result<bool> { return true; });
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    REQUIRE(*r);
  }
};

ExchangeRow Row(const std::string& id, int64_t created_at, const std::string& state = "pending") {
  ExchangeRow e;
  e.id = id;
  e.protocol_id = "P1";
  e.version_hash = "h1";
  e.sender_org = "org-a";
  e.sender_user = "usr-a";
  e.sender_party = "a";
  e.mode = "e2e";
  e.state = state;
  e.manifest = "{}";
  e.manifest_signature = "sig";
  e.signer = "user:usr-a";
  e.created_at = created_at;
  return e;
}

xgw::Sha256Digest Digest(uint8_t b) {
  xgw::Sha256Digest d{};
  d.fill(b);
  return d;
}

xgw::TransferWindow Window() {
  xgw::TransferWindow w;
  w.since = xgw::ToInstant(0);
  w.limit = 10;
  w.period = "month@Europe/Brussels";
  return w;
}

}  // namespace

TEST_CASE("a proposal is written only if approved, and its callback sees the protocol as it stands") {
  World w;
  xgw::Proposal p{"P1", "h1", "{}", "usr-op", {{"a", "org-a"}}, 100};
  auto refused = w.store->Propose(p, [](const std::optional<StoredProtocol>& existing, const std::string& state)
                                         -> Result<bool> {
    CHECK_FALSE(existing);
    CHECK(state.empty());
    return false;
  });
  REQUIRE(refused);
  CHECK_FALSE(*refused);
  CHECK_FALSE(*w.store->ReadProtocol("P1"));
  auto failed = w.store->Propose(p, [](const auto&, const auto&) -> Result<bool> {
    return xgw::Fail(ErrorCode::kIo, "audit-unavailable");
  });
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message == "audit-unavailable");
  CHECK(w.store->ProtocolIds(false)->empty());

  w.Propose("P1", "h1", 100);
  auto again = w.store->Propose(p, [](const std::optional<StoredProtocol>& existing, const std::string& state)
                                       -> Result<bool> {
    REQUIRE(existing);
    CHECK(existing->state == ProtocolState::kProposed);
    CHECK(existing->party_org.at("b") == "org-b");
    CHECK(state == "proposed");
    return false;
  });
  REQUIRE(again);
  // A second first version replaces the first (never in force), which is withdrawn.
  w.Propose("P1", "h2", 200);
  auto read = w.store->ReadProtocol("P1");
  REQUIRE(*read);
  CHECK((*read)->version_hash == "h2");
  CHECK((*read)->proposed_at == 200);
  CHECK(*w.store->VersionState("P1", "h1") == "withdrawn");
  CHECK(*w.store->VersionState("P1", "h2") == "proposed");
  CHECK(*w.store->VersionState("P1", "h9") == "");
}

TEST_CASE("an amendment comes into force only after its audit callback succeeded, once") {
  World w;
  w.Propose("P1", "h1", 100);
  REQUIRE(w.store->SetProtocolState("P1", ProtocolState::kProposed, ProtocolState::kValid, "h1", 110));
  REQUIRE(w.store->RecordAcceptance("P1", {"a", "h1", "usr-a", 105}));
  w.Propose("P1", "h2", 120);
  auto read = *w.store->ReadProtocol("P1");
  REQUIRE(read);
  CHECK(read->state == ProtocolState::kValid);
  CHECK(read->version_hash == "h1");
  REQUIRE(read->pending);
  CHECK(read->pending->version_hash == "h2");
  CHECK(read->pending->proposed_by == "usr-op");
  REQUIRE(read->acceptances.size() == 1);
  CHECK(read->acceptances[0].accepted_by == "usr-a");

  auto failed = w.store->ActivateVersion("P1", "h2", "{}", 130, [] { return xgw::Result<void>(xgw::Fail(ErrorCode::kIo, "audit-unavailable")); });
  REQUIRE_FALSE(failed);
  CHECK(*w.store->VersionState("P1", "h2") == "proposed");
  CHECK(*w.store->VersionState("P1", "h1") == "current");

  int audited = 0;
  const auto audit = [&audited]() -> Result<void> {
    ++audited;
    return {};
  };
  auto first = w.store->ActivateVersion("P1", "h2", "{\"v\":\"h2\"}", 130, audit);
  REQUIRE(first);
  CHECK(*first);
  auto second = w.store->ActivateVersion("P1", "h2", "{\"v\":\"h2\"}", 131, audit);
  REQUIRE(second);
  CHECK_FALSE(*second);  // already current: no second event
  CHECK(audited == 1);
  CHECK(*w.store->VersionState("P1", "h1") == "superseded");
  auto after = *w.store->ReadProtocol("P1");
  CHECK(after->version_hash == "h2");
  CHECK_FALSE(after->pending);
  auto old = *w.store->ReadProtocolVersion("P1", "h1");
  REQUIRE(old);
  CHECK(old->document == "{\"v\":\"h1\"}");
  CHECK_FALSE(w.store->ReadProtocolVersion("P1", "h9"));  // an exchange naming an unknown version: corrupt
  auto versions = w.store->Versions("P1");
  REQUIRE(versions);
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].state == "superseded");
  CHECK((*versions)[1].state == "current");
}

TEST_CASE("a publication the decision refuses, or that fails, writes nothing, one that passes counts its transfer") {
  World w;
  w.Propose("P1", "h1", 100);
  REQUIRE(w.store->SetProtocolState("P1", ProtocolState::kProposed, ProtocolState::kValid, "h1", 110));
  const std::vector<xgw::Sha256Digest> subjects = {Digest(1), Digest(2)};
  xgw::Publication pub;
  pub.row = Row("exc-1", 200, "available");
  pub.row.delivered_at = 200;
  pub.row.expires_at = 900;
  pub.row.size = 42;
  pub.insert = true;
  pub.listed_subjects = subjects;
  pub.window = Window();

  auto refused = w.store->Publish(pub, [](ProtocolState state, uint64_t transfers) -> Result<xgw::Violations> {
    CHECK(state == ProtocolState::kValid);
    CHECK(transfers == 0);
    return xgw::Violations{xgw::Violation{"one_off_used", "already sent", 0, ""}};
  });
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kPolicy);
  auto failed = w.store->Publish(pub, [](ProtocolState, uint64_t) -> Result<xgw::Violations> {
    return xgw::Fail(ErrorCode::kIo, "injected");
  });
  REQUIRE_FALSE(failed);
  CHECK_FALSE(*w.store->ReadExchange("exc-1"));
  CHECK(w.store->ExchangesOfSubject(xgw::HexEncode(Digest(1)))->empty());

  const auto allow = [](ProtocolState, uint64_t) -> Result<xgw::Violations> { return xgw::Violations{}; };
  auto published = w.store->Publish(pub, allow);
  REQUIRE(published);
  CHECK(*published);
  auto row = *w.store->ReadExchange("exc-1");
  REQUIRE(row);
  CHECK(row->state == "available");
  CHECK(row->size == 42);
  CHECK(*w.store->CountLive() == 1);
  CHECK(*w.store->TransfersInWindow("P1", "a", Window()) == 1);
  CHECK(*w.store->ExchangesOfSubject(xgw::HexEncode(Digest(2))) == std::vector<std::string>{"exc-1"});

  // The two-request form: only a pending row becomes available.
  REQUIRE(w.store->InsertPending(Row("exc-2", 300), {}));
  xgw::Publication upd = pub;
  upd.row = Row("exc-2", 300, "available");
  upd.row.delivered_at = 310;
  upd.row.expires_at = 900;
  upd.row.size = 7;
  upd.insert = false;
  upd.listed_subjects = {};
  REQUIRE(*w.store->Publish(upd, allow));
  CHECK(*w.store->TransfersInWindow("P1", "a", Window()) == 2);
  auto twice = w.store->Publish(upd, allow);
  REQUIRE(twice);
  CHECK_FALSE(*twice);
  CHECK(*w.store->TransfersInWindow("P1", "a", Window()) == 2);

  // A suspension committed before the publication is what the decision sees.
  REQUIRE(w.store->SetProtocolState("P1", ProtocolState::kValid, ProtocolState::kSuspended, "h1", 320));
  REQUIRE(w.store->InsertPending(Row("exc-3", 330), {}));
  upd.row.id = "exc-3";
  ProtocolState seen = ProtocolState::kDraft;
  REQUIRE(w.store->Publish(upd, [&seen](ProtocolState state, uint64_t) -> Result<xgw::Violations> {
    seen = state;
    return xgw::Violations{};
  }));
  CHECK(seen == ProtocolState::kSuspended);
}

TEST_CASE("listings page by (created_at, id) and each filter selects what it says") {
  World w;
  w.Propose("P1", "h1", 100);
  for (int i = 0; i < 5; ++i) REQUIRE(w.store->InsertPending(Row("exc-" + std::to_string(i), 1000 + i / 2), {}));
  std::vector<std::string> seen;
  std::optional<xgw::ListCursor> after;
  for (int page = 0; page < 10; ++page) {
    auto rows = w.store->ListExchanges({ExchangeFilter::Set::kPendingSince, 2000, ""}, after, 2);
    REQUIRE(rows);
    for (const auto& e : *rows) {
      seen.push_back(e.id);
      CHECK_FALSE(e.manifest);  // listings leave the manifest out
      after = xgw::ListCursor{e.created_at, e.id};
    }
    if (rows->size() < 2) break;
  }
  CHECK(seen == std::vector<std::string>{"exc-0", "exc-1", "exc-2", "exc-3", "exc-4"});
  CHECK(w.store->ListExchanges({ExchangeFilter::Set::kPendingSince, 1000, ""}, std::nullopt, std::nullopt)->size() == 2);
  CHECK(w.store->ListExchanges({ExchangeFilter::Set::kSentBy, 0, "org-a"}, std::nullopt, std::nullopt)->empty());
  CHECK(w.store->ListExchanges({ExchangeFilter::Set::kOpenOfProtocol, 0, "P1"}, std::nullopt, std::nullopt)->size() == 5);
  CHECK(w.store->OpenExchangeStates()->size() == 5);
  REQUIRE(w.store->ReadExchange("exc-0").value()->manifest == "{}");
}

TEST_CASE("a discarded list loses its subject-index values at once, a deleted one when pruned") {
  World w;
  w.Propose("P1", "h1", 100);
  REQUIRE(w.store->InsertPending(Row("exc-d", 200), std::vector<xgw::Sha256Digest>{Digest(7)}));
  REQUIRE(w.store->InsertPending(Row("exc-x", 200), std::vector<xgw::Sha256Digest>{Digest(7)}));
  REQUIRE(w.store->MarkDeleted("exc-d", "discarded", "upload_timeout", 300));
  REQUIRE(w.store->MarkDeleted("exc-x", "deleted", "retention_expired", 300));
  auto left = w.store->ExchangesOfSubject(xgw::HexEncode(Digest(7)));
  CHECK(*left == std::vector<std::string>{"exc-x"});
  auto row = *w.store->ReadExchange("exc-x");
  CHECK_FALSE(row->manifest);
  CHECK(row->deleted_reason == "retention_expired");
  REQUIRE(w.store->PruneSubjects(299));
  CHECK(w.store->ExchangesOfSubject(xgw::HexEncode(Digest(7)))->size() == 1);
  REQUIRE(w.store->PruneSubjects(300));
  CHECK(w.store->ExchangesOfSubject(xgw::HexEncode(Digest(7)))->empty());
}

TEST_CASE("chunks are recorded once each, within the upload's bound, only while the exchange is pending") {
  World w;
  w.Propose("P1", "h1", 100);
  REQUIRE(w.store->InsertPending(Row("exc-c", 200), {}));
  const auto chunk = [](int64_t n, uint64_t size, const std::string& sha, int64_t at) {
    xgw::UploadChunk c;
    c.exchange_id = "exc-c";
    c.n = n;
    c.size = size;
    c.sha256 = sha;
    c.file = std::to_string(n) + "-" + sha;
    c.received_at = at;
    return c;
  };
  // Recorded: nothing held before.
  auto first = w.store->RecordChunk(chunk(1, 60, "bb", 300), 100);
  REQUIRE(first);
  CHECK_FALSE(*first);
  REQUIRE(*w.store->RecordChunk(chunk(0, 30, "aa", 301), 100) == std::nullopt);
  // Chunk 1 again: the one held is returned, nothing written (same or other bytes).
  auto again = w.store->RecordChunk(chunk(1, 60, "cc", 302), 100);
  REQUIRE(again);
  REQUIRE(*again);
  CHECK((*again)->sha256 == "bb");
  CHECK((*again)->received_at == 300);
  // Over the bound: 90 held, 20 more would make 110 > 100.
  auto over = w.store->RecordChunk(chunk(2, 20, "dd", 303), 100);
  REQUIRE_FALSE(over);
  CHECK(over.error().code == ErrorCode::kLimit);
  auto held = w.store->ListChunks("exc-c");
  REQUIRE(held);
  REQUIRE(held->size() == 2);
  CHECK((*held)[0] == chunk(0, 30, "aa", 301));
  CHECK((*held)[1] == chunk(1, 60, "bb", 300));

  // A chunk keeps its pending exchange out of the timeout's selection while
  // it is newer than the bound.
  CHECK(w.store->ListExchanges({ExchangeFilter::Set::kPendingSince, 250, ""}, std::nullopt, std::nullopt)->empty());
  CHECK(w.store->ListExchanges({ExchangeFilter::Set::kPendingSince, 301, ""}, std::nullopt, std::nullopt)->size() == 1);

  // One chunk dropped, then all; a deleted exchange keeps none and takes no more.
  REQUIRE(w.store->DeleteChunks("exc-c", 0));
  CHECK(w.store->ListChunks("exc-c")->size() == 1);
  REQUIRE(w.store->MarkDeleted("exc-c", "discarded", "upload_timeout", 400));
  CHECK(w.store->ListChunks("exc-c")->empty());
  auto late = w.store->RecordChunk(chunk(3, 1, "ee", 401), 100);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == ErrorCode::kConflict);
  CHECK(w.store->RecordChunk(chunk(0, 1, "ee", 401), 100).error().code == ErrorCode::kConflict);
  CHECK(w.store->ListChunks("exc-c")->empty());
  // Unknown exchange.
  xgw::UploadChunk stray = chunk(0, 1, "ff", 402);
  stray.exchange_id = "exc-none";
  CHECK(w.store->RecordChunk(stray, 100).error().code == ErrorCode::kConflict);
}
