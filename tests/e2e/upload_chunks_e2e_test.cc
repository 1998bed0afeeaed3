// End-to-end tests of uploads in chunks (PUT .../content/chunks/{n}, GET
// .../content/chunks, POST .../content/finalize) against the real xgwd over
// TLS, with the CIR protocol as a periodic protocol (tests/e2e/cir_world.h).
// Hostile and mistaken requests are refused with a clear problem and change
// nothing; a kill between chunks loses nothing answered; abandoned chunks go
// with their exchange.
#include <signal.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

// Small chunks, so that a list of a few rows spans several.
const json kConfig = {{"exchanges", {{"upload_chunk_max_bytes", 65536}}}};

std::string DigestHeader(const std::string& bytes) {
  return "Content-Digest: sha-256=:" + Base64Encode(Sha256::Hash(bytes)) + ":";
}

std::string ChunkPath(const std::string& id, const std::string& n) {
  return "/api/v1/exchanges/" + id + "/content/chunks/" + n;
}

HttpResult PutChunk(CirWorld& w, const std::string& id, const std::string& n, const std::string& bytes,
                    const std::vector<std::string>& headers, const Account* who = nullptr) {
  return Request(*w.d, "PUT", ChunkPath(id, n),
                 {.token = (who ? *who : w.sender).token, .body = bytes,
                  .content_type = "application/octet-stream", .headers = headers});
}

HttpResult PutChunk(CirWorld& w, const std::string& id, int n, const std::string& bytes) {
  return PutChunk(w, id, std::to_string(n), bytes, {DigestHeader(bytes)});
}

HttpResult Finalize(CirWorld& w, const std::string& id, const json& body) {
  return Request(*w.d, "POST", "/api/v1/exchanges/" + id + "/content/finalize",
                 {.token = w.sender.token, .body = body.dump(), .timeout_ms = 60000});
}

HttpResult Finalize(CirWorld& w, const std::string& id, size_t chunks, const std::string& content) {
  return Finalize(w, id, {{"chunks", chunks}, {"sha256", HexEncode(Sha256::Hash(content))}});
}

json Held(CirWorld& w, const std::string& id) {
  return MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content/chunks", {.token = w.sender.token}), 200);
}

// `bytes` in `parts` pieces of about equal size.
std::vector<std::string> Split(const std::string& bytes, size_t parts) {
  std::vector<std::string> out;
  const size_t step = (bytes.size() + parts - 1) / parts;
  for (size_t at = 0; at < bytes.size(); at += step) out.push_back(bytes.substr(at, step));
  return out;
}

std::vector<std::string> Actions(CirWorld& w, const std::string& id) {
  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + id, {.token = w.d->operator_token()}), 200);
  std::vector<std::string> out;
  for (const auto& e : events["items"]) out.push_back(e["event"]["action"]);
  return out;
}

size_t ChunkFilesOf(CirWorld& w, const std::string& id) {
  const std::filesystem::path dir = w.d->dir() + "/state/chunks/" + id;
  if (!std::filesystem::exists(dir)) return 0;
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

std::string ChunkRows(CirWorld& w, const std::string& id) {
  return w.DbDump("SELECT n, size FROM upload_chunks WHERE exchange_id = '" + id + "' ORDER BY n;");
}

// A list of `rows` rows and its age file for the allowed recipient.
struct List {
  std::string csv, age;
};
List MakeList(CirWorld& w, int rows) {
  std::string csv = kCirHeader;
  for (int i = 1; i <= rows; ++i) csv += CirRow(i % 900 + 1);
  return {csv, w.Encrypt(csv, w.social_keys)};
}

}  // namespace

TEST_CASE("AnUploadInChunksBecomesAvailableAsOneUploadWould") {
  CirWorld w(CirPeriodicProtocolDoc("CHUNKS_OK"), kConfig);
  w.ProposeAcceptActivate();
  const List list = MakeList(w, 2500);  // ~190 KB: four chunks of at most 64 KiB
  const std::string id = w.CreatePending(list.csv);
  const std::vector<std::string> parts = Split(list.age, 4);
  REQUIRE(parts.size() == 4);
  REQUIRE(parts[0].size() <= 65536);

  // Out of order, and the answer says what was stored.
  for (int n : {2, 0, 3, 1}) {
    json stored = MustJson(PutChunk(w, id, n, parts[static_cast<size_t>(n)]), 201);
    CHECK(stored["n"] == n);
    CHECK(stored["size"] == parts[static_cast<size_t>(n)].size());
    CHECK(stored["sha256"] == HexEncode(Sha256::Hash(parts[static_cast<size_t>(n)])));
  }
  json held = Held(w, id);
  CHECK(held["state"] == "pending");
  CHECK(held["chunks"].size() == 4);
  CHECK(held["bytes"] == list.age.size());
  CHECK(held["chunk_max_bytes"] == 65536);
  CHECK(w.State(id) == "pending");  // nothing is visible before the finalize

  json done = MustJson(Finalize(w, id, 4, list.age), 200);
  CHECK(done["state"] == "available");
  CHECK(done["size"] == list.age.size());
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
  REQUIRE(dl.status == 200);
  CHECK(dl.body == list.age);
  // Audited as any upload; the chunks are gone.
  CHECK(Actions(w, id) == std::vector<std::string>{"exchange.created", "exchange.uploaded", "exchange.downloaded"});
  CHECK(ChunkFilesOf(w, id) == 0);
  CHECK(ChunkRows(w, id).empty());
  CHECK(Held(w, id)["chunks"].empty());

  // Finalizing again, or another chunk: the exchange is no longer pending.
  auto again = Finalize(w, id, 4, list.age);
  CHECK(again.status == 409);
  CHECK(again.body.find("not waiting for its content") != std::string::npos);
  CHECK(PutChunk(w, id, 4, "late").status == 409);
  CHECK(ChunkFilesOf(w, id) == 0);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("ChunksThatAreDamagedMalformedForeignOrTooLargeAreRefusedAndKeepNothing") {
  CirWorld w(CirPeriodicProtocolDoc("CHUNKS_REFUSED"), kConfig);
  w.ProposeAcceptActivate();
  const List list = MakeList(w, 3);
  const std::string id = w.CreatePending(list.csv);
  const std::string& bytes = list.age;

  // The body is not what its digest says.
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 1;
  auto r = PutChunk(w, id, "0", damaged, {DigestHeader(bytes)});
  CHECK(r.status == 400);
  CHECK(r.body.find("content-digest-mismatch") != std::string::npos);
  // Digests missing or malformed.
  const std::string b64 = Base64Encode(Sha256::Hash(bytes));
  for (const std::string& header : std::vector<std::string>{
           "", "Content-Digest: sha-256=" + b64, "Content-Digest: sha-256=:!!!:",
           "Content-Digest: sha-512=:" + b64 + ":", "Content-Digest: sha-256=:" + b64.substr(4) + ":",
           "Content-Digest: =:" + b64 + ":", "Content-Digest: sha-256=:" + b64 + ":, sha-256=:" + b64 + ":"}) {
    INFO(header);
    r = PutChunk(w, id, "0", bytes, header.empty() ? std::vector<std::string>{} : std::vector<std::string>{header});
    CHECK(r.status == 400);
    CHECK(r.body.find("Content-Digest") != std::string::npos);
  }
  // Chunk numbers that are not numbers, or out of range.
  for (const std::string n : {"01", "-1", "100000", "abc", "99999999999999999999", "1e3", "%30"}) {
    INFO(n);
    r = PutChunk(w, id, n, bytes, {DigestHeader(bytes)});
    CHECK((r.status == 400 || r.status == 404));
  }
  // Another type of body.
  r = Request(*w.d, "PUT", ChunkPath(id, "0"),
              {.token = w.sender.token, .body = bytes, .content_type = "text/csv", .headers = {DigestHeader(bytes)}});
  CHECK(r.status == 400);
  // Someone else's exchange: the answer for an unknown id.
  r = PutChunk(w, id, "0", bytes, {DigestHeader(bytes)}, &w.outsider);
  CHECK(r.status == 404);
  r = PutChunk(w, id, "0", bytes, {DigestHeader(bytes)}, &w.social);
  CHECK((r.status == 403 || r.status == 404));
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content/chunks", {.token = w.outsider.token}).status == 404);
  // A chunk over exchanges.upload_chunk_max_bytes.
  const std::string big(65537, 'x');
  r = PutChunk(w, id, "0", big, {DigestHeader(big)});
  CHECK(r.status == 413);
  // None of it kept anything.
  CHECK(Held(w, id)["chunks"].empty());
  CHECK(ChunkRows(w, id).empty());
  CHECK(ChunkFilesOf(w, id) == 0);

  // Chunks together may not hold more than the upload may (the manifest's
  // size as ciphertext): 64 KiB of a three-row list is already over it.
  const std::string full(65536, 'y');
  MustJson(PutChunk(w, id, 0, full), 201);
  r = PutChunk(w, id, 1, full);
  CHECK(r.status == 413);
  CHECK(ChunkFilesOf(w, id) == 1);
  // The same bytes again are accepted as held; other bytes are refused.
  json same = MustJson(PutChunk(w, id, 0, full), 200);
  CHECK(same["stored"] == "already");
  r = PutChunk(w, id, 0, bytes);
  CHECK(r.status == 409);
  CHECK(r.body.find("chunk-conflict") != std::string::npos);
  CHECK(ChunkFilesOf(w, id) == 1);

  // Finalize documents that are not one.
  for (const json& body : {json::object(), json{{"chunks", 0}, {"sha256", std::string(64, 'a')}},
                           json{{"chunks", 1}, {"sha256", "xyz"}}, json{{"chunks", -1}, {"sha256", std::string(64, 'a')}},
                           json{{"chunks", 1}, {"sha256", std::string(64, 'A')}},
                           json{{"chunks", 1}, {"sha256", std::string(64, 'a')}, {"more", 1}}, json::array()}) {
    INFO(body.dump());
    CHECK(Finalize(w, id, body).status == 400);
  }
  // A chunk missing.
  r = Finalize(w, id, 2, full + bytes);
  CHECK(r.status == 409);
  CHECK(r.Json()["missing"] == json::array({1}));
  CHECK(r.Json()["held"] == 1);
  // Chunks that are not the content the sender names: all dropped.
  r = Finalize(w, id, 1, bytes);
  CHECK(r.status == 409);
  CHECK(r.body.find("chunks-mismatch") != std::string::npos);
  CHECK(Held(w, id)["chunks"].empty());
  CHECK(ChunkFilesOf(w, id) == 0);
  CHECK(w.State(id) == "pending");

  // Content that is not an age file is refused at the finalize, as PUT
  // .../content refuses it; its chunks go, the exchange waits for content.
  const std::string not_age = "this is not an age file";
  MustJson(PutChunk(w, id, 0, not_age), 201);
  r = Finalize(w, id, 1, not_age);
  CHECK(r.status == 400);
  CHECK(r.body.find("age-invalid") != std::string::npos);
  CHECK(Held(w, id)["chunks"].empty());
  CHECK(w.State(id) == "pending");

  // The right content still completes it.
  MustJson(PutChunk(w, id, 0, bytes), 201);
  MustJson(Finalize(w, id, 1, bytes), 200);
  CHECK(w.State(id) == "available");
  // The daemon never logged a chunk's bytes, and is still serving.
  CHECK(w.d->Log().find(bytes.substr(0, 40)) == std::string::npos);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("AKillBetweenChunksLosesNoAnsweredChunkAndTheUploadResumes") {
  CirWorld w(CirPeriodicProtocolDoc("CHUNKS_KILL"), kConfig);
  w.ProposeAcceptActivate();
  const List list = MakeList(w, 1500);
  const std::string id = w.CreatePending(list.csv);
  const std::vector<std::string> parts = Split(list.age, 2);
  MustJson(PutChunk(w, id, 0, parts[0]), 201);
  CHECK(w.d->StopAndWait(SIGKILL) == 128 + SIGKILL);
  // What a crash between a chunk's file and its record leaves: a file no
  // record names. The start-up pass removes it.
  const std::string stray = w.d->dir() + "/state/chunks/" + id + "/1-chk-stray";
  std::ofstream(stray) << "left by a crash";
  REQUIRE(std::filesystem::exists(stray));
  w.d->Restart();
  CHECK(WaitFor([&] { return !std::filesystem::exists(stray); }, 10000));

  json held = Held(w, id);
  REQUIRE(held["chunks"].size() == 1);
  CHECK(held["chunks"][0]["n"] == 0);
  CHECK(held["chunks"][0]["sha256"] == HexEncode(Sha256::Hash(parts[0])));
  MustJson(PutChunk(w, id, 1, parts[1]), 201);
  MustJson(Finalize(w, id, 2, list.age), 200);
  auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
  REQUIRE(dl.status == 200);
  CHECK(dl.body == list.age);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

TEST_CASE("AnUploadInChunksStaysPendingWhileChunksArriveAndIsDiscardedWithThemWhenAbandoned") {
  CirWorld w(CirPeriodicProtocolDoc("CHUNKS_SWEEP"),
             {{"exchanges", {{"upload_chunk_max_bytes", 65536}, {"pending_timeout_seconds", 3600}}}});
  w.ProposeAcceptActivate();
  const List list = MakeList(w, 1500);
  const std::string id = w.CreatePending(list.csv);
  const std::vector<std::string> parts = Split(list.age, 3);
  w.Advance(3000);
  MustJson(PutChunk(w, id, 0, parts[0]), 201);
  // An hour and more after its creation, but a chunk came 1,000 s ago.
  w.Advance(1000);
  MustJson(PutChunk(w, id, 1, parts[1]), 201);
  w.Advance(1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a sweeper pass or two
  CHECK(w.State(id) == "pending");
  // Abandoned: an hour without a chunk.
  w.Advance(3700);
  CHECK(w.WaitForState(id, "discarded"));
  CHECK(ChunkFilesOf(w, id) == 0);
  CHECK(ChunkRows(w, id).empty());
  CHECK(PutChunk(w, id, 2, parts[2]).status == 409);
  CHECK(ChunkFilesOf(w, id) == 0);

  // Revoking a pending upload removes its chunks too.
  const std::string other = w.CreatePending(list.csv);
  MustJson(PutChunk(w, other, 0, parts[0]), 201);
  MustJson(Request(*w.d, "POST", "/api/v1/exchanges/" + other + "/revoke", {.token = w.sender.token}), 200);
  CHECK(ChunkFilesOf(w, other) == 0);
  CHECK(ChunkRows(w, other).empty());
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

// Not run in CI ([.] hides it): bench/gateway/chunks.sh runs it. The same
// encrypted list (XGW_BENCH_CHUNKS_MIB MiB of a CIR list, default 1024) is
// uploaded to the real xgwd alternately in one PUT .../content and in chunks
// (XGW_BENCH_CHUNK_MIB MiB each, default 8, as xgw send sends them; one TLS
// connection per request, as xgw does) + finalize, ROUNDS times each (default
// 2); prints MB/s of each and the ratio, best of the rounds.
TEST_CASE("BenchUploadInChunksAgainstOnePut", "[.bench]") {
  const auto env = [](const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::stoull(v) : fallback;
  };
  const uint64_t mib = env("XGW_BENCH_CHUNKS_MIB", 1024);
  const uint64_t chunk = env("XGW_BENCH_CHUNK_MIB", 8) << 20;
  const int rounds = static_cast<int>(env("XGW_BENCH_ROUNDS", 2));
  json doc = CirPeriodicProtocolDoc("CHUNKS_BENCH");
  doc["limits"] = {{"max_rows", 50000000}, {"max_bytes", 4ull << 30}};
  CirWorld w(doc, {{"limits", {{"max_upload_bytes", 4ull << 30}}}});
  w.ProposeAcceptActivate();
  std::string csv = kCirHeader;
  for (int i = 0; csv.size() < (mib << 20); ++i) csv += CirRow(i % 900 + 1);
  const std::string age = w.Encrypt(csv, w.social_keys);
  const std::string create = w.CreateBody(csv);
  csv.clear();
  csv.shrink_to_fit();
  const std::string sha = HexEncode(Sha256::Hash(age));
  const auto pending = [&] {
    return MustJson(Request(*w.d, "POST", "/api/v1/exchanges", {.token = w.sender.token, .body = create}), 201)["id"]
        .get<std::string>();
  };
  double best_one = 0, best_chunks = 0;
  for (int r = 0; r < rounds; ++r) {
    std::string id = pending();
    auto t0 = std::chrono::steady_clock::now();
    MustJson(Request(*w.d, "PUT", "/api/v1/exchanges/" + id + "/content",
                     {.token = w.sender.token, .body = age, .content_type = "application/octet-stream",
                      .timeout_ms = 600000}),
             200);
    const double one = static_cast<double>(age.size()) / 1e6 /
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    id = pending();
    t0 = std::chrono::steady_clock::now();
    size_t n = 0;
    for (size_t at = 0; at < age.size(); at += chunk, ++n) {
      const std::string part = age.substr(at, chunk);
      MustJson(PutChunk(w, id, static_cast<int>(n), part), 201);
    }
    const auto t1 = std::chrono::steady_clock::now();
    MustJson(Finalize(w, id, {{"chunks", n}, {"sha256", sha}}), 200);
    const auto t2 = std::chrono::steady_clock::now();
    const double chunks = static_cast<double>(age.size()) / 1e6 / std::chrono::duration<double>(t2 - t0).count();
    std::printf("bench: round %d: one PUT %.1f MB/s, in %zu chunks + finalize %.1f MB/s (chunks %.2f s, finalize %.2f s)\n",
                r + 1, one, n, chunks, std::chrono::duration<double>(t1 - t0).count(),
                std::chrono::duration<double>(t2 - t1).count());
    best_one = std::max(best_one, one);
    best_chunks = std::max(best_chunks, chunks);
  }
  std::printf("bench: %llu bytes of ciphertext, best of %d: one PUT %.1f MB/s, chunks %.1f MB/s, chunks / one %.2fx\n",
              static_cast<unsigned long long>(age.size()), rounds, best_one, best_chunks, best_chunks / best_one);
}
