// Context peer for bench/gateway's small uploads: what this disk gives for
// storing small files durably, with no network, TLS, HTTP, policy or audit.
// nginx (the HTTP baseline) answers a PUT without any fsync; xgwd may answer
// only once the ciphertext, its audit event and its row are on disk. This
// tool measures the storage steps alone, done the simple way, so that the
// two servers' ratio can be read against what durability costs here.
//
//   --steps file      per store: create a temp file, write the body,
//                     fdatasync, close, rename into place, fsync the
//                     directory (the design's "temp file, fsync, rename,
//                     fsync dir")
//   --steps file+row  the same, then one SQLite transaction inserting a
//                     row (WAL, synchronous=FULL, one connection shared by
//                     the threads under a mutex: one commit per store)
//
// THREADS threads store back to back for SECONDS (after one warm-up store per
// thread); prints one key=value line like upload_bench: stores/s and p50/p99
// latency of one store. Files are written under DIR and removed at the end.
//
// Not part of the project build (CI does not run benchmarks): run.sh compiles
// it with g++ against the system libsqlite3.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "round_line.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string dir;
  std::string steps = "file";
  size_t bytes = 50 * 1024;
  int threads = 8;
  double seconds = 10;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "durable_floor: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      Die("write");
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

class RowStore {
 public:
  explicit RowStore(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) Die("sqlite3_open " + path);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec("CREATE TABLE IF NOT EXISTS stored (name TEXT PRIMARY KEY, size INTEGER NOT NULL)");
    if (sqlite3_prepare_v2(db_, "INSERT INTO stored (name, size) VALUES (?, ?)", -1, &insert_, nullptr) != SQLITE_OK) {
      Die(std::string("prepare: ") + sqlite3_errmsg(db_));
    }
  }
  ~RowStore() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  void Insert(const std::string& name, size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    Exec("BEGIN IMMEDIATE");
    sqlite3_bind_text(insert_, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert_, 2, static_cast<sqlite3_int64>(size));
    if (sqlite3_step(insert_) != SQLITE_DONE) Die(std::string("insert: ") + sqlite3_errmsg(db_));
    sqlite3_reset(insert_);
    Exec("COMMIT");
  }

 private:
  void Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::fprintf(stderr, "durable_floor: %s: %s\n", sql, err ? err : "?");
      std::exit(1);
    }
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  std::mutex mu_;
};

// One durable store of the body as DIR/NAME, the way the design describes.
void StoreFile(const Options& o, int dir_fd, const std::string& body, const std::string& name) {
  const std::string tmp = o.dir + "/tmp-" + name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) Die("open " + tmp);
  WriteAll(fd, body.data(), body.size());
  if (::fdatasync(fd) != 0) Die("fdatasync");
  ::close(fd);
  if (::rename(tmp.c_str(), (o.dir + "/" + name).c_str()) != 0) Die("rename");
  if (::fsync(dir_fd) != 0) Die("fsync dir");
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--dir") o.dir = v;
    else if (k == "--steps") o.steps = v;
    else if (k == "--bytes") o.bytes = std::stoul(v);
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else {
      std::fprintf(stderr, "durable_floor: unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  if (o.dir.empty() || (o.steps != "file" && o.steps != "file+row") || o.threads < 1) {
    std::fprintf(stderr,
                 "usage: durable_floor --dir DIR [--steps file|file+row] [--bytes N] [--threads N] [--seconds S]\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  std::filesystem::create_directories(o.dir);
  const int dir_fd = ::open(o.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) Die("open " + o.dir);
  std::string body(o.bytes, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 + 7);
  std::unique_ptr<RowStore> rows;
  if (o.steps == "file+row") rows = std::make_unique<RowStore>(o.dir + "/rows.db");

  std::vector<std::vector<double>> latencies(static_cast<size_t>(o.threads));
  std::barrier start(o.threads + 1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      long n = 0;
      const auto store = [&] {
        const std::string name = std::to_string(t) + "-" + std::to_string(n++);
        StoreFile(o, dir_fd, body, name);
        if (rows) rows->Insert(name, body.size());
      };
      store();  // warm-up, not counted
      start.arrive_and_wait();
      auto& mine = latencies[static_cast<size_t>(t)];
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        store();
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  start.arrive_and_wait();
  const auto began = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - began).count();
  ::close(dir_fd);
  rows.reset();
  xgw::bench::PrintRoundLine(latencies, 0, elapsed);
  std::filesystem::remove_all(o.dir);
  return 0;
}
