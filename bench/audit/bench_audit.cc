// Audit log benchmark (not a test): durable append throughput with 1 and 16
// writers, full verification of a large log, proof latency; and, as a peer in
// the same run, plain SQLite WAL inserts of the same rows, one fsync per row
// and batched. Usage: xgw_bench_audit DIR [verify_events]
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "crypto/signed_note.h"
#include "audit/audit_log.h"
#include "audit/verify.h"

using namespace xgw;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kOrigin = "bench.xgw/audit";

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

AuditEvent Event(uint64_t i) {
  AuditEvent e;
  e.time_ms = 1727474399000 + static_cast<int64_t>(i);
  e.actor = {ActorType::kUser, "u-" + std::to_string(i % 5000), "org-" + std::to_string(i % 40)};
  e.action = i % 3 ? AuditAction::kExchangeDownloaded : AuditAction::kExchangeUploaded;
  e.protocol_id = "p-" + std::to_string(i % 100);
  e.protocol_version = std::string(64, 'c');
  e.exchange_id = "x-" + std::to_string(i / 4);
  e.orgs = {"org-" + std::to_string((i + 7) % 40)};
  e.client_address = "192.0.2.10";
  e.request_id = "r-" + std::to_string(i);
  return e;
}

std::shared_ptr<const Ed25519SecretKey> Key() {
  std::vector<uint8_t> seed(32, 7);
  return std::make_shared<const Ed25519SecretKey>(*Ed25519SecretKey::FromSeed(seed));
}

std::unique_ptr<AuditLog> Open(const std::string& path, std::chrono::microseconds linger = AuditLogOptions{}.max_commit_linger) {
  AuditLogOptions o;
  o.max_commit_linger = linger;
  o.origin = kOrigin;
  o.signing_key = Key();
  auto log = AuditLog::Open(path, std::move(o));
  if (!log) {
    std::fprintf(stderr, "open: %s\n", log.error().message.c_str());
    std::exit(1);
  }
  return std::move(*log);
}

// Appends `per_thread` events from each of `threads` writers; returns events/s.
double Appends(AuditLog& log, int threads, uint64_t per_thread, uint64_t base) {
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (uint64_t i = 0; i < per_thread; ++i) {
        if (!log.Append(Event(base + static_cast<uint64_t>(t) * per_thread + i))) failed = true;
      }
    });
  }
  for (auto& th : ts) th.join();
  const double s = Seconds(t0, Clock::now());
  if (failed) std::fprintf(stderr, "some appends failed\n");
  return static_cast<double>(threads) * static_cast<double>(per_thread) / s;
}

// The peer: the same canonical rows into a plain WAL table, synchronous=FULL.
double PlainSqlite(const std::string& path, uint64_t rows, uint64_t per_txn) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE t(idx INTEGER PRIMARY KEY, event BLOB NOT NULL);", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t(idx, event) VALUES (?, ?)", -1, &st, nullptr);
  std::vector<std::string> evs;
  for (uint64_t i = 0; i < rows; ++i) evs.push_back(*ToCanonicalJson(Event(i)));
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < rows; ++i) {
    if (i % per_txn == 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(i));
    sqlite3_bind_blob(st, 2, evs[i].data(), static_cast<int>(evs[i].size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    if (i % per_txn == per_txn - 1 || i == rows - 1) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  const double s = Seconds(t0, Clock::now());
  sqlite3_finalize(st);
  sqlite3_close(db);
  return static_cast<double>(rows) / s;
}

double PerCommit(const AuditLogStats& s) {
  return s.commits ? static_cast<double>(s.events) / static_cast<double>(s.commits) : 0.0;
}

// The append rates: the plain SQLite peer, then xgw's log with 1 and 16
// writers (with and without the group-commit linger); the table's head.
void ReportAppendRates(const std::filesystem::path& dir) {
  const double peer_one = PlainSqlite(dir / "peer1.db", 3000, 1);
  const double peer_batch = PlainSqlite(dir / "peerb.db", 200000, 1000);
  double one, sixteen, sixteen_nl;
  AuditLogStats st1, st16, st16nl;
  {
    auto log = Open(dir / "a1.db");
    one = Appends(*log, 1, 3000, 0);
    st1 = log->Stats();
  }
  {
    auto log = Open(dir / "a16.db");
    sixteen = Appends(*log, 16, 4000, 0);
    st16 = log->Stats();
  }
  {
    auto log = Open(dir / "a16nl.db", std::chrono::microseconds(0));
    sixteen_nl = Appends(*log, 16, 4000, 0);
    st16nl = log->Stats();
  }
  std::printf("| measurement | value |\n|---|---|\n");
  std::printf("| peer: plain SQLite WAL, 1 row per fsync (3,000 rows) | %.0f rows/s |\n", peer_one);
  std::printf("| peer: plain SQLite WAL, 1,000 rows per transaction (200,000 rows) | %.0f rows/s |\n", peer_batch);
  std::printf("| xgw audit, 1 writer, durable appends (3,000) | %.0f events/s (%.2fx peer 1/fsync; %.1f events/commit) |\n",
              one, one / peer_one, PerCommit(st1));
  std::printf("| xgw audit, 16 writers, group commit (64,000) | %.0f events/s (%.2fx peer 1/fsync; %.1f events/commit) |\n",
              sixteen, sixteen / peer_one, PerCommit(st16));
  std::printf("| xgw audit, 16 writers, group commit without linger (64,000) | %.0f events/s (%.2fx peer 1/fsync; %.1f events/commit) |\n",
              sixteen_nl, sixteen_nl / peer_one, PerCommit(st16nl));
  std::fflush(stdout);
}

// A large log of about `events` events at `path`, written through the API by
// many writers (bigger batches), and its proof latencies. Returns a signed
// checkpoint of it.
std::string ReportLargeLog(const std::string& path, uint64_t events) {
  double build;
  std::string checkpoint;
  {
    auto log = Open(path);
    const int threads = 64;
    build = Appends(*log, threads, events / threads, 0);
    const AuditLogStats stb = log->Stats();
    checkpoint = *log->SignCheckpoint();
    const uint64_t n = log->Head().size;
    std::mt19937_64 rng(1);
    constexpr int kProofs = 2000;
    auto t0 = Clock::now();
    for (int i = 0; i < kProofs; ++i) (void)*log->InclusionProof(rng() % n, n);
    const double incl = Seconds(t0, Clock::now()) / kProofs * 1e6;
    t0 = Clock::now();
    for (int i = 0; i < kProofs; ++i) {
      const uint64_t a = 1 + rng() % (n - 1);
      (void)*log->ConsistencyProof(a, n);
    }
    const double cons = Seconds(t0, Clock::now()) / kProofs * 1e6;
    std::printf("| building a %llu-event log, 64 writers | %.0f events/s (%.1f events/commit) |\n",
                static_cast<unsigned long long>(n), build, PerCommit(stb));
    std::printf("| inclusion proof at size %llu (mean of %d) | %.1f us |\n",
                static_cast<unsigned long long>(n), kProofs, incl);
    std::printf("| consistency proof to size %llu (mean of %d) | %.1f us |\n",
                static_cast<unsigned long long>(n), kProofs, cons);
  }
  return checkpoint;
}

// Full verification of the log at `path` against `checkpoint`; 1 if it fails.
int ReportVerification(const std::string& path, const std::string& checkpoint) {
  const std::string vkey = FormatVerifierKey(kOrigin, Key()->public_key());
  const std::vector<std::string> trusted = {checkpoint};
  const auto t0 = Clock::now();
  auto report = VerifyLog(path, trusted, vkey);
  const double vs = Seconds(t0, Clock::now());
  if (!report) {
    std::fprintf(stderr, "verify failed: %s\n", report.error().message.c_str());
    return 1;
  }
  std::printf("| full verification of %llu events (VerifyLog) | %.2f s |\n",
              static_cast<unsigned long long>(report->events), vs);
  std::printf("| log file size for %llu events | %.0f MiB |\n",
              static_cast<unsigned long long>(report->events),
              static_cast<double>(std::filesystem::file_size(path)) / (1 << 20));
  return 0;
}

// XGW_BENCH_AUDIT_VERIFY_ONLY=1: only verify DIR/big.db left by an earlier
// run (against its latest stored checkpoint), for profiling.
int VerifyOnly(const std::filesystem::path& dir) {
  std::string checkpoint;
  {
    auto log = Open(dir / "big.db");
    checkpoint = *log->LatestCheckpoint();
  }
  const std::vector<std::string> trusted = {checkpoint};
  const auto t0 = Clock::now();
  auto report = VerifyLog(dir / "big.db", trusted, FormatVerifierKey(kOrigin, Key()->public_key()));
  if (!report) {
    std::fprintf(stderr, "verify failed: %s\n", report.error().message.c_str());
    return 1;
  }
  std::printf("verified %llu events in %.3f s\n", static_cast<unsigned long long>(report->events),
              Seconds(t0, Clock::now()));
  return 0;
}

// XGW_BENCH_AUDIT_ONE_ONLY=1: only the peer's and the lone writer's durable
// appends, alternating, three times (for profiling).
int OneWriterOnly(const std::filesystem::path& dir) {
  for (int round = 0; round < 3; ++round) {
    for (const char* f : {"a1.db", "peer1.db"}) {
      for (const char* sfx : {"", "-wal", "-shm"}) std::filesystem::remove(dir / (std::string(f) + sfx));
    }
    const double peer = PlainSqlite(dir / "peer1.db", 3000, 1);
    auto log = Open(dir / "a1.db");
    const double one = Appends(*log, 1, 3000, 0);
    std::printf("peer %.0f rows/s, 1 writer %.0f events/s (%.2fx)\n", peer, one, one / peer);
  }
  return 0;
}

bool EnvIs(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string(v) == "1";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: xgw_bench_audit DIR [verify_events]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const uint64_t big = argc > 2 ? std::stoull(argv[2]) : 1000000;
  std::filesystem::create_directories(dir);
  if (EnvIs("XGW_BENCH_AUDIT_VERIFY_ONLY")) return VerifyOnly(dir);
  for (const char* f : {"a1.db", "a16.db", "a16nl.db", "big.db", "peer1.db", "peerb.db"}) {
    for (const char* sfx : {"", "-wal", "-shm"}) std::filesystem::remove(dir / (std::string(f) + sfx));
  }

  if (EnvIs("XGW_BENCH_AUDIT_ONE_ONLY")) return OneWriterOnly(dir);
  ReportAppendRates(dir);
  const std::string big_path = dir / "big.db";
  const std::string checkpoint = ReportLargeLog(big_path, big);
  return ReportVerification(big_path, checkpoint);
}
