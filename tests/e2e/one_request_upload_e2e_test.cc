// End-to-end tests of the one-request upload (POST /api/v1/exchanges/upload:
// the create document on one line, "\n", the age file) against the real xgwd
// over TLS, with the CIR protocol (one-off) of tests/e2e/cir_world.h.
#include <signal.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

constexpr const char* kType = "application/vnd.xgw.exchange";

HttpResult UploadOne(CirWorld& w, const std::string& body, const std::string& type = kType) {
  return Request(*w.d, "POST", "/api/v1/exchanges/upload",
                 {.token = w.sender.token, .body = body, .content_type = type, .timeout_ms = 60000});
}

// What a refused upload must leave untouched: every exchange row and every
// blob (temp or final).
std::string Fingerprint(CirWorld& w) {
  int status = 0;
  std::string out = w.DbDump("SELECT id, state FROM exchanges ORDER BY id;") +
                    RunCommand("find " + w.d->dir() + "/state/blobs -type f -not -path '*/segments/*' | sort", &status);
  for (const auto& r : PackedBlobs(w.d->dir() + "/state")) out += "packed " + r + "\n";
  return out;
}

std::vector<std::string> Actions(CirWorld& w, const std::string& id) {
  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + id,
                                 {.token = w.d->operator_token()}),
                         200);
  std::vector<std::string> out;
  for (const auto& e : events["items"]) out.push_back(e["event"]["action"]);
  return out;
}

// The body of a one-request upload of a one-row list under `w`'s protocol:
// the signed create document, a newline, the age file.
std::string OneRowUpload(CirWorld& w) {
  const std::string csv = kCirHeader + CirRow(1);
  return w.CreateBody(csv) + "\n" + w.Encrypt(csv);
}

}  // namespace

TEST_CASE("OneRequestUploadDeliversAndAuditsLikeTheTwoRequestForm") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string csv = kCirHeader + CirRow(1) + CirRow(2);
  const std::string blob = w.Encrypt(csv);
  auto r = UploadOne(w, w.CreateBody(csv) + "\n" + blob);
  json up = MustJson(r, 201);
  const std::string id = up["id"];
  CHECK(up["state"] == "available");
  CHECK(up["size"] == blob.size());
  CHECK(up.contains("expires_at"));
  // Never a pending row: the row is written when the exchange is complete.
  CHECK(w.DbDump("SELECT state, size FROM exchanges;") == "available|" + std::to_string(blob.size()) + "\n");
  CHECK(w.State(id) == "available");
  json inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.social.token}), 200);
  CHECK(ContainsId(inbox, id));
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
  REQUIRE(dl.status == 200);
  CHECK(dl.body == blob);
  const auto actions = Actions(w, id);
  CHECK(std::count(actions.begin(), actions.end(), "exchange.created") == 1);
  CHECK(std::count(actions.begin(), actions.end(), "exchange.uploaded") == 1);
  // The subject index is stored with the row: the sending DPO finds the list.
  auto lookup = SubjectLookupValue(w.subject_key, FieldType::kBeNationalNumber, SyntheticNrn(2));
  REQUIRE(lookup);
  json found = MustJson(Request(*w.d, "GET", "/api/v1/subject-index/" + *lookup, {.token = w.dpo_send.token}), 200);
  CHECK(ContainsId(found, id));
  // The protocol is one-off: a second upload is refused and leaves nothing.
  const std::string before = Fingerprint(w);
  auto again = UploadOne(w, w.CreateBody(csv) + "\n" + blob);
  CHECK(again.status == 422);
  CHECK(Fingerprint(w) == before);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("MalformedOneRequestUploadsAreRefusedClearlyAndChangeNothing") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string csv = kCirHeader + CirRow(1);
  const std::string doc = w.CreateBody(csv);
  const std::string blob = w.Encrypt(csv);
  const std::string before = Fingerprint(w);
  struct Case {
    std::string name, body, type;
    long status;
    std::string says;  // a word the problem's detail must contain
  };
  auto [manifest, sig] = w.SignedManifest(csv, w.sender_keys);
  std::string forged_sig = sig;
  forged_sig[3] = forged_sig[3] == 'A' ? 'B' : 'A';
  json bigger = manifest;
  bigger["byte_size"] = 10;  // declares a list far smaller than the age file
  auto [small_manifest, small_sig] = w.SignedManifest(kCirHeader, w.sender_keys);
  (void)small_manifest;
  const std::vector<Case> cases = {
      {"document without a newline", doc, kType, 400, "newline"},
      {"no document at all", "\n" + blob, kType, 400, "create document"},
      {"document that is not JSON", "{\"protocol_id\":\n" + blob, kType, 400, "create document"},
      {"document missing a field", json{{"protocol_id", "2024_VB_00591"}}.dump() + "\n" + blob, kType, 400,
       "version_hash"},
      {"forged signature", w.CreateBody(manifest, forged_sig) + "\n" + blob, kType, 400, "signature"},
      {"signature of another manifest", w.CreateBody(bigger, sig) + "\n" + blob, kType, 400, "signature"},
      {"not an age file", doc + "\n" + std::string(4000, 'x'), kType, 400, "age"},
      {"empty age file", doc + "\n", kType, 400, "age"},
      {"wrong content type", doc + "\n" + blob, "application/octet-stream", 400, "vnd.xgw.exchange"},
      {"document longer than the JSON limit", std::string(2u << 20, ' ') + doc + "\n" + blob, kType, 413,
       "first line"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = UploadOne(w, c.body, c.type);
    INFO(r.status << " " << r.body.substr(0, 400));
    CHECK(r.status == c.status);
    CHECK(IsProblem(r));
    if (IsProblem(r)) CHECK(r.Json().value("detail", "").find(c.says) != std::string::npos);
    CHECK(Fingerprint(w) == before);
  }
  // The refusals are audited, and none names an exchange that never existed.
  json refusals = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?action=exchange.refused",
                                   {.token = w.d->operator_token()}),
                           200);
  CHECK(refusals["items"].size() >= 4);
  for (const auto& e : refusals["items"]) {
    INFO(e.dump());
    CHECK(!e["event"].contains("exchange"));
  }
  // The daemon is alive and the protocol still allows its one transfer.
  MustJson(UploadOne(w, doc + "\n" + blob), 201);
}

TEST_CASE("AnAgeFileLargerThanItsManifestDeclaresIsRefused") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string csv = kCirHeader + CirRow(1);
  const std::string before = Fingerprint(w);
  // The manifest is for `csv`; the age file carries 200 KiB more.
  std::string padded = csv;
  for (int i = 2; padded.size() < csv.size() + 200 * 1024; ++i) padded += CirRow(i);
  auto r = UploadOne(w, w.CreateBody(csv) + "\n" + w.Encrypt(padded));
  CHECK(r.status == 413);
  CHECK(IsProblem(r));
  CHECK(Fingerprint(w) == before);
}

// Concurrent one-request uploads under a one-off protocol: exactly one is
// delivered; the others are refused when they complete and leave no row.
TEST_CASE("ConcurrentOneRequestUploadsUnderAOneOffProtocolDeliverExactlyOnce") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string body = OneRowUpload(w);
  constexpr int kUploads = 6;
  std::vector<long> statuses(kUploads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kUploads; ++i) threads.emplace_back([&, i] { statuses[i] = UploadOne(w, body).status; });
  for (auto& t : threads) t.join();
  CHECK(std::count(statuses.begin(), statuses.end(), 201L) == 1);
  CHECK(std::count(statuses.begin(), statuses.end(), 422L) == kUploads - 1);
  CHECK(w.DbDump("SELECT COUNT(*) FROM exchanges WHERE state = 'available';") == "1\n");
  CHECK(StoredBlobCount(w.d->dir() + "/state") == 1);
}

// A periodic quota (2 a day, Brussels time) through the API, in both upload
// forms: the third transfer of a day is refused; the next day it is allowed.
TEST_CASE("APeriodicQuotaIsEnforcedPerCalendarDayInBothUploadForms") {
  CirWorld w(CirPeriodicProtocolDoc("QUOTA_DAY", 2));
  w.ProposeAcceptActivate();
  const std::string csv = kCirHeader + CirRow(1);
  const std::string body = OneRowUpload(w);
  MustJson(UploadOne(w, body), 201);
  w.Send(csv);  // the two-request form
  const std::string before = Fingerprint(w);
  auto third = UploadOne(w, body);
  CHECK(third.status == 422);
  CHECK(third.body.find("period_quota_reached") != std::string::npos);
  auto third_announced = w.CreateRequest(csv);
  CHECK(third_announced.status == 422);
  CHECK(third_announced.body.find("period_quota_reached") != std::string::npos);
  CHECK(Fingerprint(w) == before);
  // A database without the per-window counts (an upgrade from schema 4)
  // counts the day's deliveries from the exchanges themselves, even while
  // the clock stands before them (a system clock stepped back, or, as here,
  // a manual clock that starts again at its start after a restart: an hour
  // earlier, the same day): a clock going back must not reopen a quota.
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  int status = 0;
  const std::string out = RunCommand("sqlite3 " + w.d->dir() + "/state/xgwd.db 'DELETE FROM transfer_counts;' 2>&1",
                                     &status);
  INFO(out);
  REQUIRE(status == 0);
  w.d->RewriteConfig({{"clock", {{"start", "2024-09-20T06:00:00Z"}}}});
  w.d->Restart();
  CHECK(UploadOne(w, body).status == 422);
  w.Advance(24 * 3600);
  MustJson(UploadOne(w, body), 201);
  MustJson(UploadOne(w, body), 201);
  CHECK(UploadOne(w, body).status == 422);
}

// The sweeper runs every second while uploads complete: a one-request
// upload's blob is in the blob directory for a moment before its row exists
// (rename, directory fsync, then the row). The sweeper must not take it for
// an orphan: every acknowledged upload keeps its content.
TEST_CASE("UploadsCompletingWhileTheSweeperRunsKeepTheirContent") {
  CirWorld w(CirPeriodicProtocolDoc("MANY_A_DAY", 100000));
  w.ProposeAcceptActivate();
  const std::string body = OneRowUpload(w);
  constexpr int kThreads = 4;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3500);
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (std::chrono::steady_clock::now() < until) {
        auto r = UploadOne(w, body);
        json j = r.Json();
        if (r.status == 201 && j.is_object() && j.contains("id")) {
          ids[t].push_back(j["id"]);
        } else {
          ++failures[t];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  size_t uploaded = 0;
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[t] == 0);
    uploaded += ids[t].size();
  }
  REQUIRE(uploaded > 20);
  // Let at least one more sweep pass over the finished uploads.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  size_t missing = 0;
  const std::set<std::string> stored = StoredBlobIds(w.d->dir() + "/state");
  for (const auto& list : ids) {
    for (const auto& id : list) {
      if (!stored.contains(id)) ++missing;
    }
  }
  INFO(uploaded << " uploads");
  CHECK(missing == 0);
  CHECK(w.DbDump("SELECT COUNT(*) FROM exchanges WHERE state = 'available';") == std::to_string(uploaded) + "\n");
  const std::string& last = ids[0].back();
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + last + "/content", {.token = w.social.token});
  CHECK(dl.status == 200);
}

// Listings come in pages (limit, after = the previous page's next); together
// the pages hold every exchange once, in order.
TEST_CASE("InboxAndSentBoxAreListedInPages") {
  CirWorld w(CirPeriodicProtocolDoc("PAGED", 1000));
  w.ProposeAcceptActivate();
  const std::string body = OneRowUpload(w);
  std::vector<std::string> uploaded;
  for (int i = 0; i < 7; ++i) uploaded.push_back(MustJson(UploadOne(w, body), 201)["id"]);
  std::sort(uploaded.begin(), uploaded.end());
  auto list = [&](const std::string& token, const std::string& query) {
    return Request(*w.d, "GET", "/api/v1/exchanges?" + query, {.token = token});
  };
  // Every page in turn: the sizes of the pages, and every id listed.
  auto walk = [&](const std::string& token, const std::string& box, int limit) {
    std::vector<size_t> sizes;
    std::vector<std::string> ids;
    std::string after;
    for (int guard = 0; guard < 20; ++guard) {
      json page = MustJson(list(token, "box=" + box + "&limit=" + std::to_string(limit) +
                                           (after.empty() ? "" : "&after=" + after)),
                           200);
      sizes.push_back(page["items"].size());
      for (const auto& e : page["items"]) ids.push_back(e["id"]);
      if (page["next"].is_null()) break;
      after = page["next"];
    }
    return std::make_pair(sizes, ids);
  };
  auto [sent_sizes, sent_ids] = walk(w.sender.token, "sent", 3);
  CHECK(sent_sizes == std::vector<size_t>{3, 3, 1});
  auto [inbox_sizes, inbox_ids] = walk(w.social.token, "inbox", 5);
  CHECK(inbox_sizes == std::vector<size_t>{5, 2});
  for (auto* ids : {&sent_ids, &inbox_ids}) {
    std::vector<std::string> sorted = *ids;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == uploaded);
  }
  // Without a limit, one page of at most 100; a larger limit is capped.
  json all = MustJson(list(w.sender.token, "box=sent"), 200);
  CHECK(all["items"].size() == 7);
  CHECK(all["next"].is_null());
  CHECK(MustJson(list(w.sender.token, "box=sent&limit=999999"), 200)["items"].size() == 7);
  // `xgw inbox` follows the pages: with more than one page's worth (100 by
  // default), the recipient's client still lists every exchange once.
  for (int i = 7; i < 103; ++i) uploaded.push_back(MustJson(UploadOne(w, body), 201)["id"]);
  std::sort(uploaded.begin(), uploaded.end());
  const std::string cdir = w.d->dir() + "/client";
  std::filesystem::create_directories(cdir);
  {
    std::ofstream(cdir + "/social.tok") << w.social.token << "\n";
  }
  const std::string env = "XGW_CONFIG=" + cdir + "/social.json ";
  int rc = -1;
  std::string out = RunCommand(env + XgwPath() + " login --gateway " + w.d->base_url() + " --token-file " + cdir +
                                   "/social.tok --trust 2>&1",
                               &rc);
  INFO(out);
  REQUIRE(rc == 0);
  out = RunCommand(env + XgwPath() + " inbox --json 2>/dev/null", &rc);
  REQUIRE(rc == 0);
  json listed = json::parse(out, nullptr, false);
  REQUIRE(listed.is_array());
  std::vector<std::string> cli_ids;
  for (const auto& e : listed) cli_ids.push_back(e["id"]);
  std::sort(cli_ids.begin(), cli_ids.end());
  CHECK(cli_ids == uploaded);
  // Every page served is audited as exchange.listed under the caller.
  json listed_events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?action=exchange.listed&limit=1000",
                                        {.token = w.d->operator_token()}),
                                200);
  size_t by_social = 0;
  for (const auto& e : listed_events["items"]) by_social += e["event"]["actor"]["id"] == w.social.user ? 1 : 0;
  CHECK(by_social >= 2 + 2);  // two API pages and the client's two
  // Malformed paging is refused with a clear problem.
  for (const std::string q : {"box=sent&limit=0", "box=sent&limit=ten", "box=sent&after=yesterday",
                              "box=sent&after=12.exc-nonsense", "box=sent&page=2", "box=outbox"}) {
    INFO(q);
    auto r = list(w.sender.token, q);
    CHECK(r.status == 400);
    CHECK(IsProblem(r));
  }
}

// A sweep reads expired exchanges a bounded batch at a time (256): more
// than a batch expiring at once are all deleted, each audited once.
TEST_CASE("MoreExpiredExchangesThanOneSweepBatchAreAllDeleted") {
  CirWorld w(CirPeriodicProtocolDoc("BULK"));
  w.ProposeAcceptActivate();
  const std::string body = OneRowUpload(w);
  constexpr int kExchanges = 300;
  for (int i = 0; i < kExchanges; ++i) MustJson(UploadOne(w, body), 201);
  w.Advance(8 * 86400);  // past delete_on 2024-09-27
  std::string deleted;
  for (int i = 0; i < 600 && deleted != std::to_string(kExchanges) + "\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    deleted = w.DbDump("SELECT COUNT(*) FROM exchanges WHERE state = 'deleted';");
  }
  CHECK(deleted == std::to_string(kExchanges) + "\n");
  int status = 0;
  CHECK(RunCommand("find " + w.d->dir() + "/state/blobs -name '*.age' | wc -l", &status) == "0\n");
  CHECK(PackedBlobs(w.d->dir() + "/state").empty());
  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?action=exchange.deleted_expiry&limit=1000",
                                 {.token = w.d->operator_token()}),
                         200);
  CHECK(events["items"].size() == static_cast<size_t>(kExchanges));
}
