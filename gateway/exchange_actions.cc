// What happens to an exchange after its upload, as services: listing the
// inbox and the sent box, reading one, the download, acknowledgement,
// revocation, violation reports, the deletion receipt, and the DPO's
// subject-index lookup. Each decides who may act (exchange_access.cc and
// policy::MayReceive), records its audit event first (fail closed) and
// changes the exchange through the MetadataStore and BlobStore.
#include <map>
#include <set>

#include "crypto/hash.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"

namespace xgw {

using nlohmann::json;

ServiceResult<std::pair<ExchangeRow, ProtocolRecord>> ExchangeService::Impl::VisibleExchange(const Caller& caller,
                                                                                             const std::string& id) {
  XGW_TRY(auto e, LoadExchange(id));
  if (!e) return Refuse(Refusal::kNotFound, "no such exchange, or it is not visible to you");
  XGW_TRY(auto pr, LoadProtocolVersion(e->protocol_id, e->version_hash));
  if (!pr || !MaySee(*pr, *e, *caller.principal) || (!e->delivered_at && e->sender_org != caller.org_id())) {
    // An attempt to look at someone else's exchange is a refusal the
    // parties' DPOs must be able to see, under that exchange's id.
    if (pr) {
      (void)deps.audit.AppendEvent(
          RefusedAccessEvent(caller, AuditAction::kExchangeDownloadRefused, *e, *pr, "not_recipient"));
    }
    return Refuse(Refusal::kNotFound, "no such exchange, or it is not visible to you");
  }
  return std::make_pair(std::move(*e), std::move(*pr));
}

// An exchange the caller may not receive, or not yet delivered, gets the
// answer of an unknown id: its state must not leak.
ServiceResult<std::pair<ExchangeRow, ProtocolRecord>> ExchangeService::Impl::ReceivableExchange(
    const Caller& caller, const std::string& id, AuditAction action) {
  XGW_TRY(auto e, LoadExchange(id));
  std::optional<ProtocolRecord> pr;
  if (e) {
    XGW_TRY(pr, LoadProtocolVersion(e->protocol_id, e->version_hash));
  }
  if (!e || !pr || !MayReceiveExchange(*pr, *e, *caller.principal)) {
    if (e && pr) (void)deps.audit.AppendEvent(RefusedAccessEvent(caller, action, *e, *pr, "not_recipient"));
    return Refuse(Refusal::kNotFound, "no such exchange, or you may not receive it");
  }
  return std::make_pair(std::move(*e), std::move(*pr));
}

ServiceResult<ExchangePageResult> ExchangeService::Impl::ListExchanges(const Caller& caller, bool inbox,
                                                                       const ListPage& page) {
  ExchangePageResult out;
  if (!inbox) {
    XGW_TRY(out.next, ListPageOf({ExchangeFilter::Set::kSentBy, 0, caller.org_id()}, page,
                                 [&](const ExchangeRow& e) -> Result<bool> {
                                   out.rows.push_back(e);
                                   return true;
                                 }));
  } else {
    // Only exchanges under protocols the caller's organisation is a party
    // of; who may receive each one is decided by the version it was sent
    // under.
    std::map<std::string, std::optional<ProtocolRecord>> cache;
    XGW_TRY(out.next, ListPageOf({ExchangeFilter::Set::kDeliveredToOrg, 0, caller.org_id()}, page,
                                 [&](const ExchangeRow& e) -> Result<bool> {
                                   const std::string key = e.protocol_id + "@" + e.version_hash;
                                   if (!cache.count(key)) {
                                     XGW_TRY(cache[key], LoadProtocolVersion(e.protocol_id, e.version_hash));
                                   }
                                   const auto& pr = cache[key];
                                   if (!pr) return false;
                                   if (!pr->protocol->IsReceiver(PartyOf(*pr, caller.org_id()))) return false;
                                   if (!ReceiveViolations(*pr, *caller.principal).empty()) return false;
                                   out.rows.push_back(e);
                                   return true;
                                 }));
  }
  // Who looked at which box is an access to exchange metadata: audited (one
  // event per page) before the page is served.
  if (!deps.audit.AppendEvent(EventFor(caller, AuditAction::kExchangeListed, nullptr, nullptr))) {
    return Refuse(Refusal::kAuditUnavailable, "");
  }
  return out;
}

ServiceResult<ExchangeView> ExchangeService::Impl::GetExchange(const Caller& caller, const std::string& id) {
  XGW_TRY(auto found, VisibleExchange(caller, id));
  ExchangeView view{std::move(found.first), std::nullopt};
  if (view.row.signer == "gateway") {
    view.sender_verify_key = Base64Encode(deps.gateway_key->public_key());
  } else if (auto u = deps.identities.GetUser(view.row.sender_user); u && u->keys) {
    view.sender_verify_key = u->keys->ed25519_verify_key;
  }
  return view;
}

namespace {

// Why a download is refused ("" if it is not): not a recipient or not yet
// delivered (404), or no longer there (`gone`, 410).
std::string DownloadRefusal(ExchangeService::Impl& m, const Caller& caller, const ExchangeRow& e,
                            const ProtocolRecord& pr, bool& gone) {
  Violations v = m.ReceiveViolations(pr, *caller.principal);
  if (v.empty() && !pr.protocol->IsReceiver(ExchangeService::Impl::PartyOf(pr, caller.org_id()))) {
    v.push_back({"recipient_not_allowed", "not a receiving party", 0, ""});
  }
  if (!v.empty()) return "not_recipient";
  if (!e.delivered_at) return "wrong_state";  // unknown to recipients (404, not 410)
  if (IsLive(e.state) && e.expires_at && *e.expires_at > caller.now) return "";
  gone = true;
  return e.state == "revoked" ? "exchange_revoked" : e.state == "deleted" ? "exchange_deleted" : "exchange_expired";
}

}  // namespace

ServiceResult<StoredBlob> ExchangeService::Impl::Download(const Caller& caller, const std::string& id) {
  XGW_TRY(auto e, LoadExchange(id));
  std::optional<ProtocolRecord> pr;
  if (e) {
    XGW_TRY(pr, LoadProtocolVersion(e->protocol_id, e->version_hash));
  }
  bool gone = false;
  const std::string refusal = e && pr ? DownloadRefusal(*this, caller, *e, *pr, gone) : "unknown";
  if (!refusal.empty()) {
    if (e && pr) {
      (void)deps.audit.AppendEvent(RefusedAccessEvent(caller, AuditAction::kExchangeDownloadRefused, *e, *pr, refusal));
    }
    deps.metrics.CountRefusal("download_refused");
    if (gone) return Refuse(Refusal::kGone, "the exchange was deleted, revoked or has expired");
    return Refuse(Refusal::kNotFound, "no such exchange, or you may not receive it");
  }
  XGW_TRY(auto blob, blobs->Read(e->id));
  if (!deps.audit.AppendEvent(EventFor(caller, AuditAction::kExchangeDownloaded, &*e, &*pr))) {
    return Refuse(Refusal::kAuditUnavailable, "");
  }
  if (!e->first_download_at) {
    // The first download may start a shorter retention.
    ExchangeRow after = *e;
    after.first_download_at = caller.now;
    XGW_CHECK(store->RecordFirstDownload(e->id, caller.now, FromInstant(Expiry(*pr, after))));
  }
  deps.metrics.CountExchange("downloaded");
  return blob;
}

ServiceResult<ExchangeRow> ExchangeService::Impl::Acknowledge(const Caller& caller, const std::string& id) {
  XGW_TRY(auto found, ReceivableExchange(caller, id, AuditAction::kExchangeAcknowledged));
  auto& [e, pr] = found;
  if (e.state == "acknowledged") {
    if (!e.expires_at) e.expires_at = caller.now;
    return e;
  }
  if (e.state != "available") return Refuse(Refusal::kNotAcknowledgeable, "only an available exchange can be acknowledged");
  if (!deps.audit.AppendEvent(EventFor(caller, AuditAction::kExchangeAcknowledged, &e, &pr))) {
    return Refuse(Refusal::kAuditUnavailable, "");
  }
  ExchangeRow after = e;
  after.acknowledged_at = caller.now;
  const int64_t expires = std::min(FromInstant(Expiry(pr, after)), e.expires_at.value_or(INT64_MAX));
  XGW_CHECK(store->RecordAcknowledged(e.id, caller.now, expires));
  deps.metrics.CountExchange("acknowledged");
  if (expires <= caller.now) WakeSweeper();
  after.state = "acknowledged";
  after.expires_at = expires;
  return after;
}

ServiceResult<void> ExchangeService::Impl::Revoke(const Caller& caller, const std::string& id) {
  XGW_TRY(auto e, LoadExchange(id));
  if (!e || e->sender_org != caller.org_id()) return Refuse(Refusal::kNotFound, "no such exchange, or it is not yours");
  // Claimed, then read again: an upload that was completing this exchange
  // has finished, and the revocation applies to what it left.
  const std::optional<Claim> claim = TryClaim(e->id);
  if (!claim) {
    return Refuse(Refusal::kBusy,
                  "an upload of this exchange is completing or the sweeper is deleting it; read its state and try "
                  "again");
  }
  XGW_TRY(e, LoadExchange(e->id));
  if (!e) return Fail(ErrorCode::kInternal, "exchange vanished");
  if (!IsLive(e->state) && e->state != "pending") {
    return Refuse(Refusal::kNotRevocable, "the exchange is already revoked or deleted");
  }
  XGW_TRY(auto pr, LoadProtocol(e->protocol_id));
  AuditEvent ev = EventFor(caller, AuditAction::kExchangeRevoked, &*e, pr ? &*pr : nullptr);
  ev.reason = "party_request";
  if (!deps.audit.AppendEvent(ev)) return Refuse(Refusal::kAuditUnavailable, "");
  AuditEvent del = ev;
  del.action = AuditAction::kExchangeDeleted;
  del.reason = "exchange_revoked";
  if (!deps.audit.AppendEvent(del)) return Refuse(Refusal::kAuditUnavailable, "");
  XGW_CHECK(DeleteExchangeData(e->id, "revoked", "exchange_revoked", caller.now));
  deps.metrics.CountDeletion("revoked");
  RefreshLive();
  return {};
}

ServiceResult<void> ExchangeService::Impl::ReportViolation(const Caller& caller, const std::string& id,
                                                           const std::string& code, const json& details) {
  XGW_TRY(auto found, ReceivableExchange(caller, id, AuditAction::kViolationReported));
  auto& [e, pr] = found;
  // A report is about delivered content: the exchange is (or was, before it
  // was deleted or revoked) there to be downloaded.
  if (!IsLive(e.state) && !e.first_download_at) {
    return Refuse(Refusal::kNothingToReport,
                  "the exchange was revoked or deleted before its content was downloaded; a violation can be "
                  "reported only about content you received");
  }
  static const std::set<std::string> kCodes = {"manifest_mismatch", "content_not_allowed", "hash_mismatch",
                                               "decrypt_failed",    "signature_invalid",   "other"};
  if (!kCodes.count(code)) {
    return Refuse(Refusal::kInvalidRequest,
                  "code must be one of manifest_mismatch, content_not_allowed, hash_mismatch, decrypt_failed, "
                  "signature_invalid, other");
  }
  AuditEvent ev = EventFor(caller, AuditAction::kViolationReported, &e, &pr);
  ev.reason = code == "manifest_mismatch"   ? "content_mismatch"
              : code == "hash_mismatch"     ? "hash_mismatch"
              : code == "decrypt_failed"    ? "decrypt_failed"
              : code == "signature_invalid" ? "signature_invalid"
                                            : "validation_failed";
  if (!deps.audit.AppendEvent(ev)) return Refuse(Refusal::kAuditUnavailable, "");
  XGW_CHECK(store->RecordViolationReport(e.id, caller.principal->user_id, caller.org_id(), code, details.dump(),
                                         caller.now));
  deps.metrics.CountRefusal("violation_reported");
  return {};
}

ServiceResult<json> ExchangeService::Impl::DeletionReceipt(const Caller& caller, const std::string& id) {
  XGW_TRY(auto found, VisibleExchange(caller, id));
  auto receipt = deps.audit.log().DeletionReceipt(found.first.id);
  if (!receipt) {
    if (receipt.error().code == ErrorCode::kNotFound) {
      return Refuse(Refusal::kNotDeleted, "the exchange has no deletion event yet");
    }
    return tl::make_unexpected(ServiceError(receipt.error()));
  }
  (void)deps.audit.AppendEvent(EventFor(caller, AuditAction::kAuditReceiptIssued, &found.first, &found.second));
  return std::move(*receipt);
}

ServiceResult<std::vector<SubjectHit>> ExchangeService::Impl::SubjectLookup(const Caller& caller,
                                                                           const std::string& value_hex) {
  XGW_TRY(auto ids, store->ExchangesOfSubject(value_hex));
  std::vector<SubjectHit> hits;
  for (const auto& id : ids) {
    XGW_TRY(auto e, LoadExchange(id));
    if (!e) continue;
    XGW_TRY(auto pr, LoadProtocol(e->protocol_id));
    if (!pr || PartyOf(*pr, caller.org_id()).empty()) continue;
    // Available, or deleted when and why, and to whom it was disclosed:
    // every download.
    XGW_TRY(json downloads, DownloadsOf(e->id));
    hits.push_back({std::move(*e), std::move(downloads)});
  }
  AuditEvent ev = EventFor(caller, AuditAction::kSubjectSearched, nullptr, nullptr);
  ev.reason = "dpo_request";
  (void)deps.audit.AppendEvent(ev);
  return hits;
}

}  // namespace xgw
