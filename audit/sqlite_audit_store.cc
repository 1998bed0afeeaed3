#include "audit/sqlite_audit_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "audit/event_codec.h"
#include "audit/fault_points.h"
#include "audit/sqlite_util.h"

namespace xgw {

using audit_internal::Db;
using audit_internal::Stmt;

namespace {

constexpr int kSchemaVersion = 2;

// WAL checkpoint threshold (frames), and how far the WAL file is kept
// written ahead of its last frame (ZeroWalAhead).
constexpr int kWalCheckpointFrames = 8192;
constexpr int64_t kWalAhead = int64_t{1} << 20;
constexpr int64_t kWalZeroChunk = int64_t{4} << 20;

// Every table refuses UPDATE and DELETE through triggers: writers that go
// around this API (a script, a confused tool) cannot silently rewrite
// history. An attacker can drop the triggers, which is why VerifyLog trusts
// nothing in the file and checks against signed checkpoints.
//
// Schema 2 keeps per event only what cannot be derived: the stored form of
// its canonical bytes (event_codec.h). Leaf hashes and interior nodes live
// in full tiles of 16 hashes (audit_store.h); the query index (keys, their
// dictionary, times) is written behind the durable path.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(idx INTEGER PRIMARY KEY, event BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tiles(
  level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL,
  PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_keys(
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, UNIQUE(kind, key));
CREATE TABLE IF NOT EXISTS event_keys(
  key_id INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY(key_id, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_times(
  time_ms INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY(time_ms, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS keys_no_update BEFORE UPDATE ON event_keys
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS keys_no_delete BEFORE DELETE ON event_keys
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tiles_no_update BEFORE UPDATE ON tiles
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tiles_no_delete BEFORE DELETE ON tiles
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
)sql";

// Schema 1 (until 2026-11): events(idx, time_ms, action, outcome,
// leaf_hash, event) with two indexes, one row per interior node in `nodes`,
// event_keys(kind, key, idx). Migration keeps every event's bytes (in their
// stored form) and every checkpoint; the tiles are rebuilt from the events
// by AuditLog::Open, which then checks them against the latest signed
// checkpoint; the query index is rebuilt.
constexpr const char* kDropSchema1 = R"sql(
DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;
DROP TRIGGER IF EXISTS keys_no_update; DROP TRIGGER IF EXISTS keys_no_delete;
DROP TRIGGER IF EXISTS nodes_no_update; DROP TRIGGER IF EXISTS nodes_no_delete;
DROP TABLE events; DROP TABLE nodes; DROP TABLE event_keys;
ALTER TABLE events_v2 RENAME TO events;
)sql";

// The audit log is as private as xgwd.db, whatever the umask: a new file is
// created 0600 before SQLite opens it (SQLite gives its -wal and -shm files
// the database file's mode), and an existing one, with its -wal and -shm,
// loses any group or other permission (chmod by path: opening and closing a
// descriptor here would drop SQLite's POSIX locks, see Database::Open).
Result<void> MakeAuditFilesPrivate(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Fail(ErrorCode::kIo, "stat " + path + ": " + std::strerror(errno));
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      return Fail(ErrorCode::kIo, "create " + path + ": " + std::strerror(errno));
    }
    if (fd >= 0) ::close(fd);  // ours alone: no lock of anyone's on it yet
    return {};
  }
  for (const std::string& p : {path, path + "-wal", path + "-shm"}) {
    if (::stat(p.c_str(), &st) != 0 || (st.st_mode & 077) == 0) continue;
    if (::chmod(p.c_str(), st.st_mode & 0700) != 0) {
      return Fail(ErrorCode::kIo, "chmod " + p + " (it is readable by others; make it 0600): " +
                                      std::strerror(errno));
    }
  }
  return {};
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class SqliteAuditStore final : public AuditStore {
 public:
  Result<void> Open(const std::string& path, bool writable);
  Result<void> Initialise(std::string_view origin) override;
  Result<std::optional<std::string>> Origin() override;
  Result<uint64_t> Size() override;
  Result<void> Append(uint64_t first, std::span<const AuditLeaf> leaves, std::span<const AuditTile> tiles,
                      bool* outcome_unknown) override;
  Result<void> ProbeDurableWrite() override;
  Result<std::optional<std::string>> Tile(unsigned level, uint64_t index) override;
  Result<void> ForEachTile(const std::function<Result<void>(unsigned, uint64_t, std::string_view)>& fn) override;
  Result<std::vector<AuditRecord>> Range(uint64_t first, uint64_t end, size_t limit) override;
  Result<void> ForEachEvent(uint64_t first, const EventFn& fn) override;
  Result<void> AddCheckpoint(uint64_t size, std::string_view note) override;
  Result<std::optional<std::string>> LatestCheckpoint() override;
  Result<void> ForEachCheckpoint(const std::function<Result<void>(int64_t, std::string_view)>& fn) override;
  Result<uint64_t> IndexedUpto() override;
  Result<void> AddIndex(std::span<const AuditIndexEntry> entries) override;
  Result<std::vector<AuditRecord>> Query(const AuditKeys& keys, const AuditQuery& q, size_t limit) override;
  Result<void> BeginSnapshot() override { return db_.Exec("BEGIN"); }
  void EndSnapshot() override { (void)db_.Exec("COMMIT"); }

 private:
  Result<void> MigrateFromSchema1();
  Result<void> WriteTransaction(const std::function<Result<void>()>& body);
  // The id of (kind, key) in index_keys; with `create`, added if missing.
  Result<std::optional<int64_t>> KeyId(char kind, std::string_view key, bool create);
  Result<std::vector<AuditRecord>> ReadRecords(Stmt& s);

  static int WalHook(void* self, sqlite3* db, const char* name, int frames);
  void ZeroWalAhead();

  Db db_;
  int64_t page_size_ = 4096;
  int wal_frames_ = 0;       // frames in the WAL after the last commit (WalHook)
  int64_t wal_zeroed_ = -1;  // the WAL file is written up to here (-1: not known yet)
  Stmt tile_, ins_event_, ins_tile_, begin_, commit_;
  bool tile_ready_ = false;
  std::unordered_map<std::string, int64_t> key_ids_;  // cache of index_keys
};

Result<void> SqliteAuditStore::Open(const std::string& path, bool writable) {
  if (!writable) {
    XGW_CHECK(db_.Open("file:" + path + "?mode=ro", SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX));
  } else {
    XGW_CHECK(MakeAuditFilesPrivate(path));
    XGW_CHECK(db_.Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX));
    XGW_CHECK(db_.Exec("PRAGMA journal_mode=WAL"));
    // FULL: every commit fsyncs the WAL, so a returned Append is durable.
    XGW_CHECK(db_.Exec("PRAGMA synchronous=FULL"));
    // Fewer, larger WAL checkpoints: each one stalls a commit for an
    // fsync of the main file (docs/audit-log.md says why a background
    // checkpointer was tried and removed). The hook replaces
    // wal_autocheckpoint (same threshold) and also tracks the WAL's length.
    sqlite3_wal_hook(db_.get(), &SqliteAuditStore::WalHook, this);
    Stmt page;
    XGW_CHECK(page.Prepare(db_, "PRAGMA page_size"));
    XGW_TRY(bool row, page.Step());
    if (row && page.Int(0) > 0) page_size_ = page.Int(0);
  }
  return {};
}

int SqliteAuditStore::WalHook(void* self, sqlite3* db, const char* name, int frames) {
  auto* store = static_cast<SqliteAuditStore*>(self);
  store->wal_frames_ = frames;
  if (frames >= kWalCheckpointFrames) {
    (void)sqlite3_wal_checkpoint(db, name);  // passive, as wal_autocheckpoint does
    store->wal_frames_ = 0;  // the WAL restarts at the next write if the checkpoint completed
  }
  return SQLITE_OK;
}

// A commit that makes the WAL file longer costs a journal commit of the file
// system on top of the fdatasync (the new size and blocks are metadata);
// overwriting blocks already written does not. SQLite reuses its WAL from the
// start after a checkpoint, but a new log's WAL grows with every commit until
// then, which made a lone writer ~35 % slower than the same inserts into a
// WAL already grown. So the WAL is kept written with zeros ahead of its last
// frame (kWalAhead .. kWalAhead + kWalZeroChunk), through SQLite's own file
// handle. Bytes after the last valid frame are never read as frames (their
// salt and checksum do not match), exactly like the old frames SQLite itself
// leaves behind when it restarts the WAL. Best effort: an error here is left
// for the next commit to meet.
void SqliteAuditStore::ZeroWalAhead() {
  const int64_t end = 32 + static_cast<int64_t>(wal_frames_) * (page_size_ + 24);
  if (wal_zeroed_ - end >= kWalAhead) return;
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || wal == nullptr ||
      wal->pMethods == nullptr) {
    return;
  }
  sqlite3_int64 size = 0;
  if (wal->pMethods->xFileSize(wal, &size) != SQLITE_OK) return;
  wal_zeroed_ = size;
  if (size - end >= kWalAhead) return;
  // SQLite's unix VFS writes at most 128 KiB per call (it masks the length).
  static const std::string kZeros(64 << 10, '\0');
  const int64_t target = end + kWalAhead + kWalZeroChunk;
  for (int64_t at = size; at < target; at += static_cast<int64_t>(kZeros.size())) {
    const int n = static_cast<int>(std::min<int64_t>(static_cast<int64_t>(kZeros.size()), target - at));
    if (wal->pMethods->xWrite(wal, kZeros.data(), n, at) != SQLITE_OK) return;
  }
  if (wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK) return;
  wal_zeroed_ = target;
}

Result<void> SqliteAuditStore::WriteTransaction(const std::function<Result<void>()>& body) {
  XGW_CHECK(db_.Exec("BEGIN IMMEDIATE"));
  auto r = body();
  if (r) r = db_.Exec("COMMIT");
  if (!r) (void)db_.Exec("ROLLBACK");
  return r;
}

Result<void> SqliteAuditStore::Initialise(std::string_view origin) {
  auto init = [&]() -> Result<void> {
    XGW_CHECK(db_.Exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
    std::string version;
    {
      Stmt schema;
      XGW_CHECK(schema.Prepare(db_, "SELECT value FROM meta WHERE key = 'schema'"));
      XGW_TRY(bool row, schema.Step());
      if (row) version = schema.Text(0);
    }
    if (version == "1") {
      XGW_CHECK(MigrateFromSchema1());
    } else if (!version.empty() && version != std::to_string(kSchemaVersion)) {
      return Fail(ErrorCode::kCorrupt, "audit log has an unknown schema version; this xgw is too old for it");
    }
    XGW_CHECK(db_.Exec(kSchema));
    Stmt get;
    XGW_CHECK(get.Prepare(db_, "SELECT value FROM meta WHERE key = 'origin'"));
    XGW_TRY(bool row, get.Step());
    if (row) {
      if (get.Text(0) != origin) return Fail(ErrorCode::kConflict, "audit log belongs to another origin");
      return {};
    }
    Stmt put;
    XGW_CHECK(put.Prepare(db_, "INSERT INTO meta(key, value) VALUES ('origin', ?), ('schema', '2'), "
                               "('indexed_upto', '0')"));
    put.Bind(1, origin);
    return put.Step().map([](bool) {});
  };
  XGW_CHECK(WriteTransaction(init));
  XGW_CHECK(ins_event_.Prepare(db_, "INSERT INTO events(idx, event) VALUES (?, ?)"));
  XGW_CHECK(ins_tile_.Prepare(db_, "INSERT INTO tiles(level, idx, hashes) VALUES (?, ?, ?)"));
  XGW_CHECK(begin_.Prepare(db_, "BEGIN IMMEDIATE"));
  return commit_.Prepare(db_, "COMMIT");
}

// Inside Initialise's transaction: all or nothing.
Result<void> SqliteAuditStore::MigrateFromSchema1() {
  XGW_CHECK(db_.Exec("CREATE TABLE events_v2(idx INTEGER PRIMARY KEY, event BLOB NOT NULL)"));
  {
    Stmt read, write;  // finalised before the tables are dropped
    XGW_CHECK(read.Prepare(db_, "SELECT idx, event FROM events ORDER BY idx"));
    XGW_CHECK(write.Prepare(db_, "INSERT INTO events_v2(idx, event) VALUES (?, ?)"));
    for (;;) {
      XGW_TRY(bool row, read.Step());
      if (!row) break;
      write.Reset();
      write.Bind(1, read.Int(0));
      write.BindBlob(2, Bytes(EncodeStoredEvent(read.View(1))));
      XGW_CHECK(write.Step());
    }
  }
  XGW_CHECK(db_.Exec(kDropSchema1));
  return db_.Exec("UPDATE meta SET value = '2' WHERE key = 'schema'; "
                  "INSERT OR REPLACE INTO meta(key, value) VALUES ('indexed_upto', '0')");
}

Result<std::optional<std::string>> SqliteAuditStore::Origin() {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT value FROM meta WHERE key = 'origin'"));
  XGW_TRY(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

Result<uint64_t> SqliteAuditStore::Size() {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT COALESCE(MAX(idx) + 1, 0) FROM events"));
  XGW_CHECK(s.Step());
  return static_cast<uint64_t>(s.Int(0));
}

Result<void> SqliteAuditStore::Append(uint64_t first, std::span<const AuditLeaf> leaves,
                                      std::span<const AuditTile> tiles, bool* outcome_unknown) {
  *outcome_unknown = false;
  begin_.Reset();
  {
    auto b = begin_.Step();
    begin_.Reset();
    XGW_CHECK(b);
  }
  auto body = [&]() -> Result<void> {
    for (size_t i = 0; i < leaves.size(); ++i) {
      ins_event_.Reset();
      ins_event_.Bind(1, static_cast<int64_t>(first + i));
      ins_event_.BindBlob(2, Bytes(leaves[i].stored));
      XGW_CHECK(ins_event_.Step());
    }
    for (const AuditTile& t : tiles) {
      ins_tile_.Reset();
      ins_tile_.Bind(1, static_cast<int64_t>(t.level));
      ins_tile_.Bind(2, static_cast<int64_t>(t.index));
      ins_tile_.BindBlob(3, Bytes(t.hashes));
      XGW_CHECK(ins_tile_.Step());
    }
    return {};
  }();
  if (!body) {
    (void)db_.Exec("ROLLBACK");
    return body;
  }
  commit_.Reset();
  Result<bool> c = FaultPointActive("audit-commit")
                       ? Result<bool>(Fail(ErrorCode::kIo, "injected fault: audit commit"))
                       : commit_.Step();
  commit_.Reset();
  if (!c) {
    // The outcome of a failed COMMIT (e.g. fsync error) is unknown.
    (void)db_.Exec("ROLLBACK");
    *outcome_unknown = true;
    return tl::unexpected(c.error());
  }
  ZeroWalAhead();
  return {};
}

Result<void> SqliteAuditStore::ProbeDurableWrite() {
  (void)db_.Exec("ROLLBACK");
  if (FaultPointActive("audit-commit")) return Fail(ErrorCode::kIo, "injected fault: audit commit");
  return WriteTransaction([&] { return db_.Exec("INSERT OR REPLACE INTO meta(key, value) VALUES ('probe', '1')"); });
}

Result<std::optional<std::string>> SqliteAuditStore::Tile(unsigned level, uint64_t index) {
  if (!tile_ready_) {
    XGW_CHECK(tile_.Prepare(db_, "SELECT hashes FROM tiles WHERE level = ? AND idx = ?"));
    tile_ready_ = true;
  }
  tile_.Reset();
  tile_.Bind(1, static_cast<int64_t>(level));
  tile_.Bind(2, static_cast<int64_t>(index));
  XGW_TRY(bool row, tile_.Step());
  std::optional<std::string> out;
  if (row) out = tile_.Text(0);
  tile_.Reset();
  return out;
}

Result<void> SqliteAuditStore::ForEachTile(
    const std::function<Result<void>(unsigned, uint64_t, std::string_view)>& fn) {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT level, idx, hashes FROM tiles ORDER BY level, idx"));
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) return {};
    const int64_t level = s.Int(0), idx = s.Int(1);
    if (level < 0 || level > 64 || idx < 0) return Fail(ErrorCode::kCorrupt, "audit log holds a tile with a bad position");
    XGW_CHECK(fn(static_cast<unsigned>(level), static_cast<uint64_t>(idx), s.Text(2)));
  }
}

Result<std::vector<AuditRecord>> SqliteAuditStore::ReadRecords(Stmt& s) {
  std::vector<AuditRecord> out;
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) return out;
    AuditRecord r;
    r.index = static_cast<uint64_t>(s.Int(0));
    const std::string stored = s.Text(1);
    if (!DecodeStoredEvent(stored, r.event)) r.event = stored;
    out.push_back(std::move(r));
  }
}

Result<std::vector<AuditRecord>> SqliteAuditStore::Range(uint64_t first, uint64_t end, size_t limit) {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT idx, event FROM events WHERE idx >= ?1 AND idx < ?2 ORDER BY idx LIMIT ?3"));
  s.Bind(1, static_cast<int64_t>(first));
  s.Bind(2, static_cast<int64_t>(end));
  s.Bind(3, static_cast<int64_t>(limit));
  return ReadRecords(s);
}

Result<void> SqliteAuditStore::ForEachEvent(uint64_t first, const EventFn& fn) {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT idx, event FROM events WHERE idx >= ? ORDER BY idx"));
  s.Bind(1, static_cast<int64_t>(first));
  std::string event;
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) return {};
    const std::string_view stored = s.View(1);
    event.clear();
    const bool decoded = static_cast<bool>(DecodeStoredEvent(stored, event));
    XGW_TRY(bool more, fn(s.Int(0), decoded ? std::string_view(event) : stored, decoded));
    if (!more) return {};
  }
}

Result<void> SqliteAuditStore::AddCheckpoint(uint64_t size, std::string_view note) {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "INSERT INTO checkpoints(size, note) VALUES (?, ?)"));
  s.Bind(1, static_cast<int64_t>(size));
  s.Bind(2, note);
  return s.Step().map([](bool) {});
}

Result<std::optional<std::string>> SqliteAuditStore::LatestCheckpoint() {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1"));
  XGW_TRY(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

Result<void> SqliteAuditStore::ForEachCheckpoint(const std::function<Result<void>(int64_t, std::string_view)>& fn) {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT size, note FROM checkpoints ORDER BY size"));
  for (;;) {
    XGW_TRY(bool row, s.Step());
    if (!row) return {};
    XGW_CHECK(fn(s.Int(0), s.Text(1)));
  }
}

Result<uint64_t> SqliteAuditStore::IndexedUpto() {
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_upto'"));
  XGW_TRY(bool row, s.Step());
  return row && s.Int(0) > 0 ? static_cast<uint64_t>(s.Int(0)) : uint64_t{0};
}

Result<std::optional<int64_t>> SqliteAuditStore::KeyId(char kind, std::string_view key, bool create) {
  std::string k(1, kind);
  k.append(key);
  if (auto it = key_ids_.find(k); it != key_ids_.end()) return std::optional<int64_t>(it->second);
  Stmt s;
  XGW_CHECK(s.Prepare(db_, "SELECT id FROM index_keys WHERE kind = ? AND key = ?"));
  s.Bind(1, std::string_view(&kind, 1));
  s.Bind(2, key);
  XGW_TRY(bool row, s.Step());
  std::optional<int64_t> id;
  if (row) {
    id = s.Int(0);
  } else if (create) {
    Stmt ins;
    XGW_CHECK(ins.Prepare(db_, "INSERT INTO index_keys(kind, key) VALUES (?, ?)"));
    ins.Bind(1, std::string_view(&kind, 1));
    ins.Bind(2, key);
    XGW_CHECK(ins.Step());
    id = sqlite3_last_insert_rowid(db_.get());
  }
  // Bounded: exchanges come and go; a miss costs one indexed look-up.
  if (key_ids_.size() > 100000) key_ids_.clear();
  if (id) key_ids_.emplace(std::move(k), *id);
  return id;
}

Result<void> SqliteAuditStore::AddIndex(std::span<const AuditIndexEntry> entries) {
  if (entries.empty()) return {};
  auto r = WriteTransaction([&]() -> Result<void> {
    Stmt key, time, upto;
    XGW_CHECK(key.Prepare(db_, "INSERT OR IGNORE INTO event_keys(key_id, idx) VALUES (?, ?)"));
    XGW_CHECK(time.Prepare(db_, "INSERT OR IGNORE INTO event_times(time_ms, idx) VALUES (?, ?)"));
    // Rows in primary-key order: each insert lands next to the previous one
    // (cached pages, short B-tree descents) instead of on a random page.
    std::vector<std::pair<int64_t, int64_t>> rows;
    rows.reserve(entries.size() * 6);
    for (const AuditIndexEntry& e : entries) {
      for (const auto& [kind, k] : e.keys) {
        XGW_TRY(auto id, KeyId(kind, k, true));
        rows.emplace_back(*id, static_cast<int64_t>(e.index));
      }
    }
    std::sort(rows.begin(), rows.end());
    for (const auto& [id, idx] : rows) {
      key.Reset();
      key.Bind(1, id);
      key.Bind(2, idx);
      XGW_CHECK(key.Step());
    }
    rows.clear();
    for (const AuditIndexEntry& e : entries) rows.emplace_back(e.time_ms, static_cast<int64_t>(e.index));
    std::sort(rows.begin(), rows.end());
    for (const auto& [time_ms, idx] : rows) {
      time.Reset();
      time.Bind(1, time_ms);
      time.Bind(2, idx);
      XGW_CHECK(time.Step());
    }
    XGW_CHECK(upto.Prepare(db_, "UPDATE meta SET value = ? WHERE key = 'indexed_upto'"));
    upto.Bind(1, std::to_string(entries.back().index + 1));
    return upto.Step().map([](bool) {});
  });
  // A rolled-back transaction may have added ids to the cache that are not
  // in the file.
  if (!r) key_ids_.clear();
  return r;
}

// The first key drives the scan through event_keys' primary key (key_id,
// idx), so paging by idx is an index range; the other keys and the time
// range are checked per candidate.
Result<std::vector<AuditRecord>> SqliteAuditStore::Query(const AuditKeys& keys, const AuditQuery& q, size_t limit) {
  std::vector<int64_t> ids;
  for (const auto& [kind, key] : keys) {
    XGW_TRY(auto id, KeyId(kind, key, false));
    if (!id) return std::vector<AuditRecord>();  // a key never indexed matches nothing
    ids.push_back(*id);
  }
  std::string sql;
  if (!ids.empty()) {
    sql = "SELECT e.idx, e.event FROM event_keys k JOIN events e ON e.idx = k.idx "
          "WHERE k.key_id = ?1 AND k.idx > ?3";
  } else {
    sql = "SELECT e.idx, e.event FROM events e WHERE e.idx > ?3";
  }
  if (q.from_ms || q.until_ms) {
    sql += " AND e.idx IN (SELECT idx FROM event_times WHERE time_ms >= ?5 AND time_ms < ?6)";
  }
  if (q.before) sql += " AND e.idx < ?16";
  for (size_t i = 1; i < ids.size() && i < 8; ++i) {
    const std::string a = std::to_string(6 + i);
    sql += " AND EXISTS (SELECT 1 FROM event_keys k" + a + " WHERE k" + a + ".key_id = ?" + a + " AND k" + a +
           ".idx = e.idx)";
  }
  sql += ids.empty() ? " ORDER BY e.idx LIMIT ?15" : " ORDER BY k.idx LIMIT ?15";
  Stmt s;
  XGW_CHECK(s.Prepare(db_, sql));
  if (!ids.empty()) s.Bind(1, ids[0]);
  s.Bind(3, q.after ? static_cast<int64_t>(*q.after) : int64_t{-1});
  s.Bind(5, q.from_ms.value_or(INT64_MIN));
  s.Bind(6, q.until_ms.value_or(INT64_MAX));
  for (size_t i = 1; i < ids.size() && i < 8; ++i) s.Bind(static_cast<int>(6 + i), ids[i]);
  s.Bind(15, static_cast<int64_t>(limit));
  if (q.before) s.Bind(16, static_cast<int64_t>(*q.before));
  return ReadRecords(s);
}

}  // namespace

Result<std::unique_ptr<AuditStore>> OpenSqliteAuditStore(const std::string& path) {
  auto s = std::make_unique<SqliteAuditStore>();
  XGW_CHECK(s->Open(path, true));
  return std::unique_ptr<AuditStore>(std::move(s));
}

Result<std::unique_ptr<AuditStore>> OpenSqliteAuditStoreReadOnly(const std::string& path) {
  auto s = std::make_unique<SqliteAuditStore>();
  XGW_CHECK(s->Open(path, false));
  return std::unique_ptr<AuditStore>(std::move(s));
}

}  // namespace xgw
