// The metadata store: protocols (documents, versions, parties,
// acceptances), exchanges (rows without their ciphertext, which lives in the
// BlobStore), quotas (transfer counts per window) and the subject index.
// Identities live in IdentityStore. The services (ProtocolRegistry,
// ExchangeService, RetentionSweeper) reach the database only through this
// interface; SqliteMetadataStore is the embedded implementation, and
// docs/architecture.md says how each operation maps onto a server database.
//
// Operations that must see and change state atomically with an audit event
// take a callback that runs inside the store's lock or transaction, after
// the store read what it needs and before it writes: the callback decides
// (policy) and records the audit event; if it fails or refuses, nothing is
// written. On a server database the same shape is a transaction with
// SELECT ... FOR UPDATE around the callback.
//
// Thread safety: every method may be called from any thread.
#ifndef XGW_GATEWAY_METADATA_STORE_H_
#define XGW_GATEWAY_METADATA_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/error.h"
#include "crypto/hash.h"
#include "gateway/exchange_records.h"
#include "policy/decisions.h"

namespace xgw {

class SubjectIndexUpload;

// Which exchanges a listing or a sweep reads, in (created_at, id) order.
struct ExchangeFilter {
  enum class Set {
    kExpiredBy,        // live, expires_at <= bound
    kPendingSince,     // pending, created_at <= bound, no chunk received after bound
    kSentBy,           // sender_org = key, anything but pending
    kDeliveredToOrg,   // live, under a protocol that has `key` as a party
    kOpenOfProtocol,   // protocol_id = key, pending or live
  };
  Set set;
  int64_t bound = 0;
  std::string key;
};

// A new version of a protocol (the first one creates the protocol).
struct Proposal {
  std::string id, version_hash, document, proposed_by;
  std::map<std::string, std::string> party_org;
  int64_t now = 0;
};

// What makes an uploaded exchange available, in one transaction.
struct Publication {
  ExchangeRow row;            // state "available", delivered_at, expires_at, size set
  bool insert = false;        // a one-request upload: the row does not exist yet
  std::span<const Sha256Digest> listed_subjects;               // the manifest's index (insert only)
  const SubjectIndexUpload* streamed_subjects = nullptr;       // a streamed index, if any
  TransferWindow window;      // the sender's quota window at row.delivered_at
};

// One chunk of an upload in parts, durable in ChunkFiles under `file`.
struct UploadChunk {
  std::string exchange_id;
  int64_t n = 0;             // 0, 1, ...: the chunk's place in the content
  uint64_t size = 0;
  std::string sha256;        // lower-case hex of its bytes
  std::string file;          // its name in the exchange's chunk directory
  int64_t received_at = 0;
  bool operator==(const UploadChunk&) const = default;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // ---- protocols ----------------------------------------------------------
  // Reads never wait for a commit (a pool of read connections).
  virtual Result<std::optional<StoredProtocol>> ReadProtocol(const std::string& id) = 0;
  // The protocol with version `hash`'s document in place of the one in
  // force (one snapshot); kCorrupt if the protocol has no such version.
  virtual Result<std::optional<StoredProtocol>> ReadProtocolVersion(const std::string& id,
                                                                    const std::string& hash) = 0;
  // Every protocol id; with `open_only`, those proposed, valid or suspended.
  virtual Result<std::vector<std::string>> ProtocolIds(bool open_only) = 0;
  virtual Result<std::vector<StoredVersion>> Versions(const std::string& id) = 0;
  // "current", "proposed", "superseded", "withdrawn", or "" if no such version.
  virtual Result<std::string> VersionState(const std::string& id, const std::string& hash) = 0;

  // Stores a proposal. `approve` sees the protocol as it stands (nullopt for
  // a new id) and the state of the proposed version ("" if new), under the
  // lock that orders proposals; it returns false to write nothing. A new
  // version replaces a first version that is only proposed; any other
  // pending version is withdrawn.
  using ApproveProposal =
      std::function<Result<bool>(const std::optional<StoredProtocol>& existing, const std::string& version_state)>;
  virtual Result<bool> Propose(const Proposal& proposal, const ApproveProposal& approve) = 0;

  // Puts the proposed version `hash` in force (the one in force is
  // superseded). `audit` runs once the version was found still proposed,
  // before anything is written. Returns false if it was current already;
  // kConflict if it is neither.
  virtual Result<bool> ActivateVersion(const std::string& id, const std::string& hash, const std::string& document,
                                       int64_t now, const std::function<Result<void>()>& audit) = 0;
  // A lifecycle transition of the protocol (its state and the time column
  // of `to`); putting a proposed protocol in force makes `hash` current; a
  // termination or expiry withdraws a pending version.
  virtual Result<void> SetProtocolState(const std::string& id, ProtocolState from, ProtocolState to,
                                        const std::string& hash, int64_t now) = 0;
  virtual Result<void> RecordAcceptance(const std::string& id, const StoredAcceptance& acceptance) = 0;

  // ---- exchanges ----------------------------------------------------------
  virtual Result<std::optional<ExchangeRow>> ReadExchange(const std::string& id) = 0;
  // Rows of `filter` after `after`, at most `limit`, without their manifests.
  virtual Result<std::vector<ExchangeRow>> ListExchanges(const ExchangeFilter& filter,
                                                         const std::optional<ListCursor>& after,
                                                         std::optional<int64_t> limit) = 0;
  // id -> state of every pending or live exchange.
  virtual Result<std::unordered_map<std::string, std::string>> OpenExchangeStates() = 0;
  virtual Result<uint64_t> CountLive() = 0;
  // The earliest expires_at of a live exchange expired by `now`, if any.
  virtual Result<std::optional<int64_t>> OldestExpiryLeft(int64_t now) = 0;

  // Transfers from `party` under `protocol_id` that count in window `w`.
  virtual Result<uint64_t> TransfersInWindow(const std::string& protocol_id, const std::string& party,
                                             const TransferWindow& w) = 0;

  // A pending exchange (two-request form) with its listed subject index;
  // concurrent calls share a commit.
  virtual Result<void> InsertPending(const ExchangeRow& row, std::span<const Sha256Digest> subjects) = 0;

  // Makes an uploaded exchange available and counts its transfer, in one
  // transaction shared with concurrent publications. `decide` runs inside it
  // with the protocol's state and the transfers in the window as they are
  // now, and returns what forbids the transfer (empty: nothing); then
  // nothing is written and kPolicy is returned. Returns false if the row was
  // no longer pending (nothing written).
  using DecidePublication = std::function<Result<Violations>(ProtocolState state, uint64_t transfers)>;
  virtual Result<bool> Publish(const Publication& publication, const DecidePublication& decide) = 0;

  // The exchange's data is gone (its ciphertext already deleted): state,
  // reason and time recorded, manifest and chunk records dropped; a
  // discarded list also loses its subject-index values (it disclosed nothing).
  virtual Result<void> MarkDeleted(const std::string& id, const std::string& state, const std::string& reason,
                                   int64_t now) = 0;
  // First download (only if none was recorded) and acknowledgement (only
  // of an available exchange), with the new expiry.
  virtual Result<void> RecordFirstDownload(const std::string& id, int64_t at, int64_t expires_at) = 0;
  virtual Result<void> RecordAcknowledged(const std::string& id, int64_t at, int64_t expires_at) = 0;
  virtual Result<void> RecordViolationReport(const std::string& exchange_id, const std::string& user,
                                             const std::string& org, const std::string& code,
                                             const std::string& details_json, int64_t at) = 0;

  // ---- uploads in chunks --------------------------------------------------
  // Records `chunk` of a pending exchange, unless the exchange holds chunk
  // `chunk.n` already: then returns that one and writes nothing (the caller
  // compares: the same bytes again, or different ones). kConflict if the
  // exchange is not pending; kLimit if its chunks would then hold more than
  // `max_total` bytes.
  virtual Result<std::optional<UploadChunk>> RecordChunk(const UploadChunk& chunk, uint64_t max_total) = 0;
  // The exchange's recorded chunks, by n.
  virtual Result<std::vector<UploadChunk>> ListChunks(const std::string& exchange_id) = 0;
  // Drops the exchange's chunk records: all of them, or only chunk `n`.
  // (MarkDeleted drops them too.)
  virtual Result<void> DeleteChunks(const std::string& exchange_id, std::optional<int64_t> n = std::nullopt) = 0;

  // ---- subject index ------------------------------------------------------
  virtual Result<std::vector<std::string>> ExchangesOfSubject(const std::string& value_hex) = 0;
  // Drops the values of lists deleted at or before `deleted_before`.
  virtual Result<void> PruneSubjects(int64_t deleted_before) = 0;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_METADATA_STORE_H_
