// The embedded MetadataStore: the gateway's SQLite database (tables of
// migrations 2 and later). One writer connection behind a mutex, whose
// commits concurrent uploads share (GroupCommit), and the daemon's one pool
// of read connections for reads that decide (a protocol, a quota) without
// waiting for a commit.
#ifndef XGW_GATEWAY_SQLITE_METADATA_STORE_H_
#define XGW_GATEWAY_SQLITE_METADATA_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "gateway/database.h"
#include "gateway/group_commit.h"
#include "gateway/metadata_store.h"

namespace xgw {

class SqliteMetadataStore final : public MetadataStore {
 public:
  // Opens the writer connection to `path` (applying migrations if the
  // identity store has not) and borrows `readers`, which must outlive it.
  static Result<std::unique_ptr<SqliteMetadataStore>> Open(const std::string& path, ReadPool& readers);

  Result<std::optional<StoredProtocol>> ReadProtocol(const std::string& id) override;
  Result<std::optional<StoredProtocol>> ReadProtocolVersion(const std::string& id, const std::string& hash) override;
  Result<std::vector<std::string>> ProtocolIds(bool open_only) override;
  Result<std::vector<StoredVersion>> Versions(const std::string& id) override;
  Result<std::string> VersionState(const std::string& id, const std::string& hash) override;
  Result<bool> Propose(const Proposal& proposal, const ApproveProposal& approve) override;
  Result<bool> ActivateVersion(const std::string& id, const std::string& hash, const std::string& document,
                               int64_t now, const std::function<Result<void>()>& audit) override;
  Result<void> SetProtocolState(const std::string& id, ProtocolState from, ProtocolState to,
                                const std::string& hash, int64_t now) override;
  Result<void> RecordAcceptance(const std::string& id, const StoredAcceptance& acceptance) override;

  Result<std::optional<ExchangeRow>> ReadExchange(const std::string& id) override;
  Result<std::vector<ExchangeRow>> ListExchanges(const ExchangeFilter& filter, const std::optional<ListCursor>& after,
                                                 std::optional<int64_t> limit) override;
  Result<std::unordered_map<std::string, std::string>> OpenExchangeStates() override;
  Result<uint64_t> CountLive() override;
  Result<std::optional<int64_t>> OldestExpiryLeft(int64_t now) override;
  Result<uint64_t> TransfersInWindow(const std::string& protocol_id, const std::string& party,
                                     const TransferWindow& w) override;
  Result<void> InsertPending(const ExchangeRow& row, std::span<const Sha256Digest> subjects) override;
  Result<bool> Publish(const Publication& publication, const DecidePublication& decide) override;
  Result<void> MarkDeleted(const std::string& id, const std::string& state, const std::string& reason,
                           int64_t now) override;
  Result<void> RecordFirstDownload(const std::string& id, int64_t at, int64_t expires_at) override;
  Result<void> RecordAcknowledged(const std::string& id, int64_t at, int64_t expires_at) override;
  Result<void> RecordViolationReport(const std::string& exchange_id, const std::string& user, const std::string& org,
                                     const std::string& code, const std::string& details_json, int64_t at) override;
  Result<std::optional<UploadChunk>> RecordChunk(const UploadChunk& chunk, uint64_t max_total) override;
  Result<std::vector<UploadChunk>> ListChunks(const std::string& exchange_id) override;
  Result<void> DeleteChunks(const std::string& exchange_id, std::optional<int64_t> n) override;
  Result<std::vector<std::string>> ExchangesOfSubject(const std::string& value_hex) override;
  Result<void> PruneSubjects(int64_t deleted_before) override;

 private:
  SqliteMetadataStore(Database db, ReadPool& readers) : db_(std::move(db)), readers_(readers) {}

  // REQUIRES: mu_ held, or `c` a pool connection.
  Result<std::optional<StoredProtocol>> ReadProtocolOn(Database& c, const std::string& id);
  // REQUIRES: mu_ held.
  Result<std::string> VersionStateLocked(const std::string& id, const std::string& hash);
  Result<void> WithdrawPendingLocked(const std::string& id, int64_t now);
  Result<void> InsertExchangeLocked(const ExchangeRow& e, std::span<const Sha256Digest> subjects);
  Result<void> InsertStreamedSubjectsLocked(const std::string& id, const SubjectIndexUpload& index);
  Result<void> CountTransferLocked(const std::string& protocol_id, const std::string& party,
                                   const TransferWindow& w);
  Result<ProtocolState> ProtocolStateLocked(const std::string& id);

  std::mutex mu_;  // guards db_
  Database db_;
  ReadPool& readers_;
  // Commits shared by concurrent uploads (see group_commit.h).
  GroupCommit writes_{SqliteTransactionFlush(db_, mu_)};
};

}  // namespace xgw

#endif  // XGW_GATEWAY_SQLITE_METADATA_STORE_H_
