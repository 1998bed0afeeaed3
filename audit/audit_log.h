// The audit log: an append-only RFC 6962 Merkle log of AuditEvents, with
// signed checkpoints, proofs, deletion receipts and DPO queries. Its bytes
// live behind AuditStore; by default in its own SQLite file (WAL,
// synchronous=FULL). Design: docs/audit-log.md.
//
// Durability contract: Append returns an index only after the transaction
// holding the event has committed and been fsynced; if Append returns an
// error, the caller must not perform the action (the event is not recorded,
// or, after an fsync failure whose outcome is unknown, the log refuses all
// further appends until reopened). Concurrent appends are group-committed:
// each queued batch is written in one transaction by one of the appenders
// (leader/follower, see audit_log.cc).
//
// Thread safety: every method may be called from any number of threads.
#ifndef XGW_AUDIT_AUDIT_LOG_H_
#define XGW_AUDIT_AUDIT_LOG_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/error.h"
#include "crypto/merkle.h"
#include "crypto/sign.h"
#include "audit/audit_event.h"

namespace xgw {

class AuditStore;  // audit/audit_store.h

struct AuditLogOptions {
  // Checkpoint origin and signing key name, e.g. "xgw.example.org/audit".
  // Stored at creation; reopening with another origin fails.
  std::string origin;
  // Signs checkpoints; without it SignCheckpoint and receipts needing a new
  // checkpoint fail with kKey.
  std::shared_ptr<const Ed25519SecretKey> signing_key;
  // > 0: a background thread signs a checkpoint this often when the log grew.
  std::chrono::milliseconds checkpoint_interval{0};
  // Most events in one group-commit transaction.
  size_t max_batch = 4096;
  // Longest the next leader waits, after a commit, for the writers it
  // released to append again so that the next transaction is full (it waits
  // at most half the last commit's duration, and not at all for a lone
  // writer). 0: commit whatever is queued at once.
  std::chrono::microseconds max_commit_linger{400};
};

struct TreeHead {
  uint64_t size = 0;
  MerkleHash root{};
};

// Group-commit counters since Open (for metrics and benchmarks).
struct AuditLogStats {
  uint64_t commits = 0;  // durable transactions (one fsync each) holding appended events
  uint64_t events = 0;   // events appended through them
};

struct AuditRecord {
  uint64_t index = 0;
  std::string event;  // canonical JSON bytes, exactly as hashed
  MerkleHash leaf_hash{};
};

// Filters are ANDed; absent ones do not filter. Results are in index order,
// starting after `after` (the cursor of the previous page).
struct AuditQuery {
  std::optional<std::string> exchange_id;
  std::optional<std::string> protocol_id;
  std::optional<std::string> organisation;  // actor's organisation or one the event concerns
  std::optional<std::string> user;          // actor user or the user acted upon
  std::optional<AuditAction> action;
  std::optional<int64_t> from_ms;   // time >= from_ms
  std::optional<int64_t> until_ms;  // time < until_ms
  std::optional<uint64_t> after;    // index cursor (exclusive)
  std::optional<uint64_t> before;   // index < before: only the events of a tree of this size
  size_t limit = 100;               // capped at kMaxAuditQueryLimit
};
inline constexpr size_t kMaxAuditQueryLimit = 1000;

struct AuditPage {
  std::vector<AuditRecord> records;
  std::optional<uint64_t> next;  // cursor for the next page, if there may be one
};

class AuditLog {
 public:
  // Opens or creates the log file at `path` (parent directory must exist).
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path, AuditLogOptions options);
  // Opens the log held by another storage engine: `writer` takes appends,
  // checkpoints and index writes, `reader` serves proofs and queries (two
  // connections to the same log; see audit/audit_store.h).
  static Result<std::unique_ptr<AuditLog>> Open(std::unique_ptr<AuditStore> writer,
                                                std::unique_ptr<AuditStore> reader, AuditLogOptions options);
  ~AuditLog();  // stops the threads; pending appends fail
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Validates, serialises, durably appends; returns the event's leaf index.
  // kInvalidArgument for an invalid event, kIo if it could not be recorded.
  Result<uint64_t> Append(const AuditEvent& event);
  // Appends several events in this order, queued together so that they
  // usually share one commit (they may be split between two; each is
  // durable when this returns). The first failure is returned; events
  // before it may be recorded.
  Result<void> AppendAll(std::span<const AuditEvent> events);

  // AppendAll in two halves, so that a caller can do its own I/O while the
  // events are committed: Queue validates and queues them and returns at
  // once; the ticket's Wait() returns when they are recorded (or failed),
  // with AppendAll's result. A ticket waits in its destructor if Wait was
  // not called. The log must outlive its tickets.
  class Ticket {
   public:
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    Result<void> Wait();

   private:
    friend class AuditLog;
    struct State;
    explicit Ticket(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };
  Result<std::unique_ptr<Ticket>> Queue(std::span<const AuditEvent> events);

  TreeHead Head() const;
  AuditLogStats Stats() const;
  // False once a commit failed: every further Append is refused until the
  // log is reopened (the daemon restarted).
  bool Writable() const;
  // "<origin>+<key id>+<key>" of the signing key (kKey without one).
  Result<std::string> VerifierKey() const;

  // Signs a checkpoint of the current head (after checking it is consistent
  // with the last signed one), stores it and returns the note. Returns the
  // stored note unchanged if the log has not grown since.
  Result<std::string> SignCheckpoint();
  // The latest stored checkpoint note; kNotFound if none was signed yet.
  Result<std::string> LatestCheckpoint();

  Result<AuditRecord> Get(uint64_t index);
  // REQUIRES index < tree_size <= Head().size (kInvalidArgument otherwise).
  Result<std::vector<MerkleHash>> InclusionProof(uint64_t index, uint64_t tree_size);
  // REQUIRES old_size <= new_size <= Head().size.
  Result<std::vector<MerkleHash>> ConsistencyProof(uint64_t old_size, uint64_t new_size);

  Result<AuditPage> Query(const AuditQuery& query);
  // The stored records with first <= index < end, in index order, at most
  // `limit` of them, exactly as the file holds them: a row missing from the
  // file is missing here too (no error), so that a verifier sees the gap.
  // For clients that recompute the tree (docs/audit-log.md, "Verifying from
  // a client").
  Result<std::vector<AuditRecord>> Range(uint64_t first, uint64_t end, size_t limit);

  // Self-contained proof that an exchange was deleted: its last successful
  // exchange.deleted_expiry / exchange.deleted event, an inclusion proof and
  // a signed checkpoint covering it (signed now if needed). kNotFound if the
  // exchange has no deletion event. Format: docs/audit-log.md.
  Result<nlohmann::json> DeletionReceipt(const std::string& exchange_id);

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgw

#endif  // XGW_AUDIT_AUDIT_LOG_H_
