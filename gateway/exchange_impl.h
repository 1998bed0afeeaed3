// Inside ExchangeService (internal to gateway/): the state the protocol
// registry, the exchange and upload services, the retention sweeper and the
// API resources share, and the functions between them. Where each part
// lives:
//   protocol_registry.cc  protocols as the policy sees them, their lifecycle
//   exchange_access.cc    who may see or receive an exchange, its events,
//                         expiry and deletion, claims
//   exchange_uploads.cc   the decision on a new exchange and the completion
//                         of an upload (blob, audit, one commit)
//   retention_sweeper.cc  deletions at expiry, discards, orphans
//   api_protocols.cc, api_exchanges.cc, api_uploads.cc, api_upload_chunks.cc,
//   api_admin.cc          the REST resources: request in, response out
// SQL lives only in the MetadataStore implementation, ciphertext I/O only in
// the BlobStore's.
#ifndef XGW_GATEWAY_EXCHANGE_IMPL_H_
#define XGW_GATEWAY_EXCHANGE_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/audit_event.h"
#include "gateway/blob_store.h"
#include "gateway/caller.h"
#include "gateway/exchange_records.h"
#include "gateway/exchange_service.h"
#include "gateway/metadata_store.h"
#include "gateway/service_error.h"
#include "gateway/upload_chunks.h"
#include "gateway/http/router.h"
#include "policy/decisions.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "policy/protocol_diff.h"

namespace xgw {

class SubjectIndexUpload;

// A protocol as the services use it: its stored form with the documents
// parsed (the version in force, or the version an exchange was sent under).
struct ProtocolRecord {
  std::shared_ptr<const Protocol> protocol;
  ProtocolStatus status;
  std::string document;  // canonical JSON
  int64_t proposed_at = 0;
  std::optional<int64_t> activated_at, suspended_at, terminated_at;
  std::map<std::string, std::string> party_org;  // party id -> gateway org id
  std::map<std::string, std::pair<std::string, int64_t>> accepted;  // party -> (hash, at)
  // A proposed amendment of a protocol already in force (valid or
  // suspended); the version above stays in force until every party of the
  // amendment accepted it. Never set for a protocol whose first version is
  // still only proposed: that version is the one above.
  struct Pending {
    std::shared_ptr<const Protocol> protocol;
    std::string document;
    int64_t proposed_at = 0;
    std::string proposed_by;  // "" for versions from schema 2
    std::vector<Acceptance> acceptances;
    std::map<std::string, std::pair<std::string, int64_t>> accepted_by;  // party -> (user, at)
  };
  std::optional<Pending> pending;
};

// One page of a listing: at most `limit` rows after `after`.
struct ListPage {
  static constexpr size_t kDefaultLimit = 100;
  static constexpr size_t kMaxLimit = 1000;
  size_t limit = kDefaultLimit;
  std::optional<ListCursor> after;
};
std::string FormatListCursor(const ListCursor& c);
std::optional<ListCursor> ParseListCursor(const std::string& s);

// Shared by the resources' responses.
nlohmann::json ViolationsJson(const Violations& v);
// The audit reason for a policy violation code.
std::string ReasonForViolation(const std::string& code);

// What the protocol services answer.
struct ProposalResult {
  std::string id, version, version_hash;
  // Set when the proposal amends a protocol in force: its state and the
  // version that stays in force until every party accepted the new one.
  std::optional<ProtocolState> state_in_force;
  std::string current_version_hash;
};
struct AcceptRequest {
  std::optional<std::string> version_hash;  // default: the version waiting for acceptances
  std::optional<std::string> organisation;  // gateway org id or party id; default: the caller's
};
struct AcceptResult {
  ProtocolRecord record;  // after the acceptance (and the activation it caused)
  std::string party, version_hash;
  bool in_force = false;
};
struct LifecycleResult {
  ProtocolRecord record;
  uint64_t exchanges_deleted = 0;
  bool was_in_force = false;  // "activate" of a valid protocol (it put a pending amendment in force, if any)
};
struct RecipientKey {
  std::string user_id, organisation, party;
  std::string name, organisation_name;  // display names, for the sender to read
  std::vector<std::string> roles;
  std::string age_recipient, ed25519_verify_key;
};

// What the exchange services answer.
struct ExchangePageResult {
  std::vector<ExchangeRow> rows;
  std::optional<ListCursor> next;
};
struct ExchangeView {
  ExchangeRow row;
  std::optional<std::string> sender_verify_key;  // base64 Ed25519, of the user or the gateway
};
// An upload made available.
struct Completion {
  std::string id;
  uint64_t size = 0;     // ciphertext bytes
  int64_t expires_at = 0;
};
// ... by the gateway (gateway-encrypt): with the manifest it signed.
struct GatewayEncrypted {
  Completion completion;
  std::string manifest_canonical, signature;
};
struct SubjectHit {
  ExchangeRow row;
  nlohmann::json downloads;  // who downloaded it, when (DownloadsOf)
};

struct ExchangeService::Impl {
  Deps deps;
  std::unique_ptr<MetadataStore> store;  // protocols, exchanges, quotas, subject index
  std::unique_ptr<BlobStore> blobs;      // ciphertexts
  std::unique_ptr<ChunkFiles> chunks;    // chunks of uploads in parts, until finalized
  std::string spool_dir;                 // local scratch for streamed subject indexes
  std::mutex cache_mu;
  std::map<std::string, std::shared_ptr<const Protocol>> parsed;  // version_hash -> protocol

  std::thread sweeper;
  std::mutex sweep_mu;
  std::condition_variable sweep_cv;
  bool stop = false;
  bool wake = false;
  std::mutex prune_mu;
  std::optional<int64_t> last_subject_prune;  // under prune_mu
  std::atomic<uint64_t> live{0};
  // Bytes of secret memory held by gateway-encrypt uploads at this moment
  // (PlaintextSink), bounded by exchanges.plaintext_memory_budget_bytes.
  std::atomic<uint64_t> plaintext_held{0};

  // Exchanges an upload is publishing or the sweeper is discarding, one
  // at a time. An upload holds its claim from just before the rename that
  // publishes its blob to the end of the transaction that makes the
  // exchange available (or of the clean-up when that fails): a one-request
  // upload has no row in that time, and a two-request one still says
  // "pending", so without the claim the sweeper would take the blob for an
  // orphan, or discard an upload that is being acknowledged.
  std::mutex claims_mu;
  std::set<std::string> claimed;
  std::condition_variable claim_released;

  class Claim {
   public:
    Claim(Impl& impl, std::string id) : impl_(&impl), id_(std::move(id)) {}
    Claim(Claim&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)), id_(std::move(other.id_)) {}
    Claim& operator=(Claim&&) = delete;
    ~Claim();

   private:
    Impl* impl_;
    std::string id_;
  };
  // The claim on `id`, once whoever holds it let go: an upload holds it for
  // one publication, the sweeper or a revocation for one deletion, so the
  // wait is a few milliseconds. For a change that must not skip the
  // exchange (a termination deletes all of its protocol's data).
  Claim ClaimWhenFree(const std::string& id);
  // The claim on `id`, or nothing if someone else holds it.
  std::optional<Claim> TryClaim(const std::string& id);
  bool IsClaimed(const std::string& id);

  explicit Impl(Deps d) : deps(std::move(d)) {}
  const Config& config() const { return *deps.config; }
  int64_t Now() const { return deps.clock.Now(); }

  // ---- protocols (protocol_registry.cc) -------------------------------------
  Result<std::shared_ptr<const Protocol>> Parse(const std::string& document, const std::string& hash);
  Result<ProtocolRecord> RecordOf(const StoredProtocol& s);
  // The protocol as it stands (never waits for a commit).
  Result<std::optional<ProtocolRecord>> LoadProtocol(const std::string& id);
  // The protocol as an exchange sent under version `hash` sees it: the
  // protocol's state and parties, but that version's rules (recipients,
  // retention, limits), whatever version is in force now.
  Result<std::optional<ProtocolRecord>> LoadProtocolVersion(const std::string& id, const std::string& hash);
  // The caller's party in a protocol ("" if none).
  static std::string PartyOf(const ProtocolRecord& r, const std::string& org_id);
  // Why r.pending may not be put in force at `now` (OK: it may).
  static Result<void> CheckPendingActivation(const ProtocolRecord& r, Instant now);
  // Puts r.pending in force (audit first).
  ServiceResult<void> ActivatePending(const Caller& caller, ProtocolRecord& r);
  // A lifecycle transition: audit first, then the state change.
  ServiceResult<void> Transition(const Caller& caller, ProtocolRecord& r, ProtocolState to, AuditAction action,
                                 const std::string& reason);
  // The protocol services of the REST API (the caller is authenticated;
  // the route's grant was checked).
  ServiceResult<ProposalResult> Propose(const Caller& caller, const nlohmann::json& document);
  // Protocols the caller's organisation is a party of (every one for an operator).
  ServiceResult<std::vector<ProtocolRecord>> ListProtocols(const Caller& caller);
  // kNotFound unless the caller is an operator or a party.
  ServiceResult<ProtocolRecord> VisibleProtocol(const Caller& caller, const std::string& id);
  ServiceResult<AcceptResult> Accept(const Caller& caller, const std::string& id, const AcceptRequest& request);
  ServiceResult<LifecycleResult> ChangeLifecycle(const Caller& caller, const std::string& id, ProtocolState to,
                                                 AuditAction action);
  ServiceResult<std::vector<StoredVersion>> Versions(const Caller& caller, const ProtocolRecord& r);
  // What the pending amendment changes against the version in force.
  ServiceResult<std::vector<ProtocolChange>> PendingChanges(const ProtocolRecord& r);
  // Every user allowed to receive who registered keys; for senders and operators.
  ServiceResult<std::vector<RecipientKey>> Recipients(const Caller& caller, const ProtocolRecord& r);
  // Marks protocols whose validity period is over as expired (audit first).
  Result<void> ExpireProtocols(int64_t now);

  // ---- exchanges (exchange_access.cc) ---------------------------------------
  Result<std::optional<ExchangeRow>> LoadExchange(const std::string& id) { return store->ReadExchange(id); }
  // One page of a listing: rows of `filter` after the cursor, offered to
  // `take` until it accepted `page.limit` of them (take returns whether it
  // listed the row). Reads a bounded batch at a time. Returns the cursor of
  // the next page, or nothing when the listing is complete.
  Result<std::optional<ListCursor>> ListPageOf(const ExchangeFilter& filter, const ListPage& page,
                                               const std::function<Result<bool>(const ExchangeRow&)>& take);
  // Transfers from `party` that count towards a send decision now.
  Result<uint64_t> TransfersInWindow(const Protocol& protocol, const std::string& party, Instant now);
  Violations ReceiveViolations(const ProtocolRecord& pr, const Principal& p);
  bool IsPartyDpo(const ProtocolRecord& pr, const Principal& p);
  bool MaySee(const ProtocolRecord& pr, const ExchangeRow& e, const Principal& p);
  bool MayReceiveExchange(const ProtocolRecord& pr, const ExchangeRow& e, const Principal& p);
  xgw::Expiry ExpiryAndCause(const ProtocolRecord& pr, const ExchangeRow& e);
  Instant Expiry(const ProtocolRecord& pr, const ExchangeRow& e) { return ExpiryAndCause(pr, e).at; }
  std::string DeletionCause(const ExchangeRow& e);
  AuditEvent EventFor(const Caller& caller, AuditAction action, const ExchangeRow* e, const ProtocolRecord* pr);
  AuditEvent EventFor(const RequestContext& ctx, AuditAction action, const ExchangeRow* e,
                      const ProtocolRecord* pr);
  AuditEvent RefusedAccessEvent(const Caller& caller, AuditAction action, const ExchangeRow& e,
                                const ProtocolRecord& pr, std::string reason);
  // Deletes every pending or live exchange of a terminated protocol whose
  // data go with it (audit first); how many.
  ServiceResult<uint64_t> DeleteOnTermination(const Caller& caller, const ProtocolRecord& r);

  // ---- exchange services of the REST API (exchange_actions.cc) -------------
  ServiceResult<ExchangePageResult> ListExchanges(const Caller& caller, bool inbox, const ListPage& page);
  ServiceResult<ExchangeView> GetExchange(const Caller& caller, const std::string& id);
  // The ciphertext to stream, once the download is audited.
  ServiceResult<StoredBlob> Download(const Caller& caller, const std::string& id);
  ServiceResult<ExchangeRow> Acknowledge(const Caller& caller, const std::string& id);
  ServiceResult<void> Revoke(const Caller& caller, const std::string& id);
  // `code`: one of the report codes of docs/api.yaml ("" if none was sent);
  // `details`: codes with row/column only, already stripped of values.
  ServiceResult<void> ReportViolation(const Caller& caller, const std::string& id, const std::string& code,
                                      const nlohmann::json& details);
  ServiceResult<nlohmann::json> DeletionReceipt(const Caller& caller, const std::string& id);
  ServiceResult<std::vector<SubjectHit>> SubjectLookup(const Caller& caller, const std::string& value_hex);
  // An exchange the caller may see / receive, else kNotFound (the attempt
  // audited as refused under the exchange).
  ServiceResult<std::pair<ExchangeRow, ProtocolRecord>> VisibleExchange(const Caller& caller, const std::string& id);
  ServiceResult<std::pair<ExchangeRow, ProtocolRecord>> ReceivableExchange(const Caller& caller,
                                                                           const std::string& id, AuditAction action);
  // Whether the audit log already holds `action` for this exchange.
  Result<bool> AlreadyAudited(const std::string& exchange_id, AuditAction action);
  // Deletes the ciphertext and marks the exchange; its audit event must
  // already be recorded.
  Result<void> DeleteExchangeData(const std::string& id, const std::string& state, const std::string& reason,
                                  int64_t now);
  // Who downloaded exchange `id`, from the audit log, oldest first.
  Result<nlohmann::json> DownloadsOf(const std::string& id);
  void RefreshLive();

  // ---- uploads (exchange_uploads.cc) ----------------------------------------
  // What the create document of an end-to-end upload (protocol_id,
  // version_hash, manifest, manifest_signature) asks, decided by the
  // policy; a refusal is audited where it was decided.
  struct CreateDecision {
    ProtocolRecord pr;
    std::string party, canonical, signature;
    Manifest manifest;
  };
  ServiceResult<CreateDecision> DecideCreate(const Caller& caller, const nlohmann::json& body);
  // A pending exchange (the two-request form, and gateway-encrypt before
  // its content); `audit_first` is recorded before the row. Its id.
  ServiceResult<std::string> CreateExchange(const Caller& caller, const ProtocolRecord& pr, const std::string& party,
                                            const Manifest& manifest, const std::string& manifest_canonical,
                                            const std::string& signature_b64, const std::string& signer,
                                            const std::string& mode, const AuditEvent* audit_first);
  // The exchange row as it will be stored, before it exists.
  static ExchangeRow NewExchangeRow(const Caller& caller, const ProtocolRecord& pr, const std::string& party,
                                    const Manifest& manifest, const std::string& canonical,
                                    const std::string& signature, const std::string& signer,
                                    const std::string& mode);
  // A pending blob that is not an age file with an X25519 recipient stanza
  // is refused (audited).
  ServiceResult<void> CheckAgeFile(const Caller& caller, const ExchangeRow* e, const ProtocolRecord& pr,
                                   PendingBlob& blob);
  // Marks an uploaded exchange available: publish the pending blob, then
  // its durability and the audit events side by side, then the commit.
  // With `new_row` the exchange has no row yet (a one-request upload).
  ServiceResult<Completion> CompleteUpload(const Caller& caller, const ExchangeRow& e, const ProtocolRecord& pr,
                                           PendingBlob& blob, const Manifest* new_row = nullptr,
                                           const SubjectIndexUpload* index = nullptr);
  // An upload whose transfer the protocol no longer allows: audited, its
  // data deleted, the exchange discarded; the refusal to answer.
  ServiceError RefuseCompletion(const Caller& caller, const ExchangeRow& e, const ProtocolRecord& pr,
                                const Violations& v, int64_t now);
  // Gateway-encrypt mode: checks the plaintext list, encrypts it to every
  // allowed recipient with a key and completes the exchange. `wipe` is
  // called as soon as the plaintext is no longer needed.
  ServiceResult<GatewayEncrypted> EncryptAndSend(const Caller& caller, const Config& config, const ProtocolRecord& pr,
                                                 const std::string& party, InputFormat format,
                                                 std::span<const uint8_t> plaintext, const std::function<void()>& wipe);
  // The most ciphertext an upload of a list of byte_size bytes may have.
  static uint64_t CiphertextCap(const ProtocolRecord& pr, int64_t byte_size, const Config& config);
  static uint64_t MaxCiphertext(uint64_t plain);

  // ---- sweeper (retention_sweeper.cc) ---------------------------------------
  Result<SweepStats> SweepOnce(bool startup);
  void StartSweeper();
  void StopSweeper();
  void WakeSweeper();
  struct SweepStep;
  Result<uint64_t> SweepExchanges(const SweepStep& step, int64_t now);
  Result<void> PruneSubjectIndex(int64_t now);
  Result<uint64_t> RemoveOrphanBlobs(bool startup);
  Result<uint64_t> RemoveOrphanChunks(bool startup);
};

// The REST resources (one file each).
void RegisterProtocolRoutes(Router& router, ExchangeService::Impl& m);
void RegisterUploadRoutes(Router& router, ExchangeService::Impl& m);
void RegisterExchangeRoutes(Router& router, ExchangeService::Impl& m);
void RegisterAdminRoutes(Router& router, ExchangeService::Impl& m);
void RegisterUploadChunkRoutes(Router& router, ExchangeService::Impl& m);

// The body sink of PUT .../content for the caller's pending exchange
// `exchange_id` (api_uploads.cc): the subject index its manifest declares,
// then the age file. An upload in chunks feeds it the chunks in order.
Result<std::unique_ptr<RequestBodySink>> OpenContentSink(ExchangeService::Impl& m, RequestContext& ctx,
                                                         const std::string& exchange_id,
                                                         std::string_view content_type);
// Media type of PUT .../content when the manifest streams its subject index.
inline constexpr std::string_view kIndexedContentType = "application/vnd.xgw.exchange-content";

}  // namespace xgw

#endif  // XGW_GATEWAY_EXCHANGE_IMPL_H_
