// AuditStore: where the audit log's bytes live. AuditLog (Merkle logic, group
// commit, proofs, checkpoints) talks only to this interface; the SQLite file
// (sqlite_audit_store.h) is the embedded default, and a server database can
// hold the log instead (docs/audit-log.md, "Storage interface", maps every
// operation onto PostgreSQL).
//
// A store never decides what is true: it holds what AuditLog hands it and
// returns it as stored. Everything it returns may have been tampered with
// and is checked against signed checkpoints by its callers.
//
// Thread safety: an instance is used by one thread at a time (AuditLog holds
// one for writes and one for reads, each under its own mutex). Instances on
// the same log may be used concurrently; a reader sees only committed
// transactions.
#ifndef XGW_AUDIT_AUDIT_STORE_H_
#define XGW_AUDIT_AUDIT_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/error.h"
#include "crypto/merkle.h"
#include "audit/audit_log.h"

namespace xgw {

// One event to append: its canonical bytes (exactly what the leaf hash is
// over) and the fields a store may index.
struct AuditLeaf {
  std::string_view stored;  // EncodeStoredEvent(canonical bytes): what the store keeps
};

// Query keys of one event: (kind, key) with kind 'x' exchange, 'p'
// protocol, 'o' organisation, 'u' user, 'a' action.
using AuditKeys = std::vector<std::pair<char, std::string>>;
struct AuditIndexEntry {
  uint64_t index = 0;
  int64_t time_ms = 0;
  AuditKeys keys;
};

// The hashes a batch adds to the tree, in tiles: tile (level, index) holds
// the hashes of tree level level·kAuditTileHeight at positions
// [index·kAuditTileWidth, (index+1)·kAuditTileWidth). Only full tiles are
// stored; the hashes of the partial right edge are recomputed from the
// events after the last full tile.
inline constexpr unsigned kAuditTileHeight = 4;
inline constexpr uint64_t kAuditTileWidth = uint64_t{1} << kAuditTileHeight;
struct AuditTile {
  unsigned level = 0;
  uint64_t index = 0;
  std::string hashes;  // kAuditTileWidth × 32 bytes
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;

  // Creates the log's schema for `origin`, or checks that an existing log
  // belongs to it (kConflict otherwise). Writable stores only.
  virtual Result<void> Initialise(std::string_view origin) = 0;
  // The origin the log was created for; nullopt if none is stored.
  virtual Result<std::optional<std::string>> Origin() = 0;
  // One past the highest stored event index (0 for an empty log).
  virtual Result<uint64_t> Size() = 0;

  // Appends events first .. first+leaves.size()-1 and the tiles they
  // complete in ONE durable transaction: when it returns success the batch
  // survives a crash; on error none of it is visible, except that if
  // *outcome_unknown is set (a failed commit, e.g. fsync) it may or may not
  // have landed.
  virtual Result<void> Append(uint64_t first, std::span<const AuditLeaf> leaves,
                              std::span<const AuditTile> tiles, bool* outcome_unknown) = 0;
  // A small durable write of its own, to prove the storage takes writes
  // again after a failed commit.
  virtual Result<void> ProbeDurableWrite() = 0;

  // The stored tile, or nullopt if there is none.
  virtual Result<std::optional<std::string>> Tile(unsigned level, uint64_t index) = 0;
  // Every stored tile, in (level, index) order (verification).
  virtual Result<void> ForEachTile(const std::function<Result<void>(unsigned, uint64_t, std::string_view)>& fn) = 0;

  // Stored events with first <= index < end, in index order, at most
  // `limit`, decoded to canonical bytes; a missing row is absent, a row that
  // does not decode is returned as stored. leaf_hash is left zero: callers
  // hash the bytes.
  virtual Result<std::vector<AuditRecord>> Range(uint64_t first, uint64_t end, size_t limit) = 0;
  // Every stored event from `first` on, in index order (verification and
  // index rebuilds): fn(index, canonical bytes, decoded); `decoded` is false
  // for a row whose stored form does not decode (its stored bytes are given).
  // fn returns false to stop.
  using EventFn = std::function<Result<bool>(int64_t, std::string_view, bool)>;
  virtual Result<void> ForEachEvent(uint64_t first, const EventFn& fn) = 0;

  // Signed checkpoint notes by tree size; sizes only grow.
  virtual Result<void> AddCheckpoint(uint64_t size, std::string_view note) = 0;
  virtual Result<std::optional<std::string>> LatestCheckpoint() = 0;
  virtual Result<void> ForEachCheckpoint(const std::function<Result<void>(int64_t, std::string_view)>& fn) = 0;

  // The query index: derived data written behind the durable path. Events
  // below IndexedUpto() have their keys stored.
  virtual Result<uint64_t> IndexedUpto() = 0;
  // Stores the keys and times of these events (ascending indices) and sets
  // IndexedUpto() to one past the last, in one transaction.
  virtual Result<void> AddIndex(std::span<const AuditIndexEntry> entries) = 0;
  // Events matching all `keys` (ANDed; the first drives the scan) and the
  // time, after/before filters of `query` (its key fields are ignored), in
  // index order, at most `limit`, decoded as Range does.
  virtual Result<std::vector<AuditRecord>> Query(const AuditKeys& keys, const AuditQuery& query,
                                                 size_t limit) = 0;

  // A consistent read snapshot for a sequence of reads (verification).
  virtual Result<void> BeginSnapshot() = 0;
  virtual void EndSnapshot() = 0;
};

}  // namespace xgw

#endif  // XGW_AUDIT_AUDIT_STORE_H_
