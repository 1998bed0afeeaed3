// A new exchange, from its create document to "available": the decision
// (DecideCreate: manifest, signature, policy::DecideSend), the pending row of
// the two-request form (CreateExchange), the gateway-encrypt path
// (EncryptAndSend), and the completion every upload ends in
// (CompleteUpload): the blob published, its durability and the audit events
// side by side, then one commit that makes the exchange available.
#include <unistd.h>

#include <algorithm>

#include "audit/fault_points.h"
#include "crypto/age.h"
#include "crypto/age_format.h"
#include "crypto/io.h"
#include "gateway/exchange_impl.h"
#include "gateway/ids.h"
#include "gateway/http/problem.h"
#include "gateway/subject_index_upload.h"
#include "gateway/subject_keys.h"
#include "policy/canonical_json.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"

namespace xgw {

using nlohmann::json;

namespace {

// A subject-index key file the operator placed but xgwd cannot use. The
// upload stops rather than going ahead without an index (the DPO could never
// find that list); the caller learns which file and what is wrong, the log
// also where the directory is. Neither ever sees key bytes.
ServiceError SubjectKeyUnusable(const Caller& caller, const Config& config, const Error& error) {
  std::fprintf(stderr, "xgwd: %s subject-index key unusable (exchanges.subject_keys_dir is %s): %s\n",
               caller.request_id.c_str(), config.exchanges.subject_keys_dir.c_str(), error.message.c_str());
  return ServiceError(Refusal::kSubjectKeyUnusable,
                      "the gateway cannot use your organisation's subject-index key: " + error.message +
                          ". Nothing was stored; ask the gateway operator to fix the key file");
}

// An exchange the policy refused, with its violations, once the refusal is
// recorded (`audited`: by the caller, so the router adds nothing).
ServiceError ExchangeRefused(Refusal refusal, std::string detail, const Violations& v, bool audited = false) {
  ServiceError e(refusal, std::move(detail), {{"violations", ViolationsJson(v)}});
  e.audited = audited;
  return e;
}

}  // namespace

uint64_t ExchangeService::Impl::MaxCiphertext(uint64_t plain) {
  // header + 16-byte nonce + plaintext + 16 bytes per 64 KiB chunk, with
  // room for a 64 KiB header.
  return plain + 16 + 16 * (plain / age::kChunkSize + 1) + 64 * 1024;
}

uint64_t ExchangeService::Impl::CiphertextCap(const ProtocolRecord& pr, int64_t byte_size, const Config& config) {
  uint64_t cap = MaxCiphertext(static_cast<uint64_t>(byte_size));
  if (pr.protocol->limits.max_bytes) cap = std::min(cap, MaxCiphertext(pr.protocol->limits.max_bytes));
  return std::min(cap, config.limits.max_upload_bytes);
}

ServiceResult<void> ExchangeService::Impl::CheckAgeFile(const Caller& caller, const ExchangeRow* e,
                                                       const ProtocolRecord& pr, PendingBlob& blob) {
  XGW_TRY(auto src, blob.ReadBack());
  age::BufferedReader reader(*src);
  auto header = age::ParseHeader(reader);
  size_t x25519 = 0;
  if (header) {
    for (const auto& st : header->stanzas) x25519 += st.type == "X25519" ? 1 : 0;
  }
  if (header && x25519 > 0) return {};
  AuditEvent ev = EventFor(caller, AuditAction::kExchangeRefused, e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = "age_invalid";
  (void)deps.audit.AppendEvent(ev);
  deps.metrics.CountRefusal("age-invalid");
  return Refuse(Refusal::kNotAnAgeFile, header ? "the upload has no X25519 recipient stanza; encrypt it to the "
                                                 "protocol's recipients (GET /api/v1/protocols/{id}/recipients)"
                                               : "the upload is not an age v1 file (binary, not armored); nothing "
                                                 "was kept");
}

ExchangeRow ExchangeService::Impl::NewExchangeRow(const Caller& caller, const ProtocolRecord& pr,
                                                  const std::string& party, const Manifest& manifest,
                                                  const std::string& canonical, const std::string& signature,
                                                  const std::string& signer, const std::string& mode) {
  ExchangeRow e;
  e.id = NewId(kExchangePrefix);
  e.protocol_id = pr.protocol->id;
  e.version_hash = pr.protocol->version_hash;
  e.sender_org = caller.principal->org_id;
  e.sender_user = caller.principal->user_id;
  e.sender_party = party;
  e.mode = mode;
  e.state = "pending";
  e.manifest = canonical;
  e.manifest_signature = signature;
  e.signer = signer;
  e.rows = static_cast<int64_t>(manifest.row_count);
  e.byte_size = static_cast<int64_t>(manifest.byte_size);
  e.created_at = caller.now;
  return e;
}

// Long: the completion is one sequence of durable steps, each with its own
// clean-up on failure, and reads best top to bottom in one place.
ServiceResult<Completion> ExchangeService::Impl::CompleteUpload(const Caller& caller, const ExchangeRow& e,
                                                                const ProtocolRecord& pr, PendingBlob& blob,
                                                                const Manifest* new_row,
                                                                const SubjectIndexUpload* index) {
  const int64_t now = Now();
  const uint64_t size = blob.size();
  // The frequency (one-off, quota) and the protocol's state were decided
  // when the exchange was created, but two exchanges created at the same
  // time both passed that check, and an operator may suspend or terminate
  // the protocol while an upload streams: both are decided again inside the
  // transaction that makes the exchange available, where no other
  // completion or state change can come between. A pending exchange (the
  // two-request form) may have waited long since its creation: it is also
  // checked here, before its upload is audited. A new row was decided
  // milliseconds ago (DecideCreate), so that check would only repeat it.
  if (!new_row) {
    auto past = TransfersInWindow(*pr.protocol, e.sender_party, ToInstant(now));
    if (!past) {
      blob.Discard();
      return tl::make_unexpected(ServiceError(past.error()));
    }
    if (Violations v = FrequencyViolations(*pr.protocol, {e.sender_party, ToInstant(now), *past}); !v.empty()) {
      blob.Discard();
      return tl::make_unexpected(RefuseCompletion(caller, e, pr, v, now));
    }
  }
  Publication pub;
  pub.row = e;
  pub.row.delivered_at = now;
  pub.row.state = "available";
  pub.row.expires_at = FromInstant(Expiry(pr, pub.row));
  pub.row.size = static_cast<int64_t>(size);
  pub.insert = new_row != nullptr;
  if (new_row) pub.listed_subjects = new_row->subject_index.raw();
  pub.streamed_subjects = index;
  pub.window = RelevantTransfers(*pr.protocol, ToInstant(now));
  const Completion done{e.id, size, *pub.row.expires_at};
  std::vector<AuditEvent> events;
  if (new_row) events.push_back(EventFor(caller, AuditAction::kExchangeCreated, &e, &pr));
  events.push_back(EventFor(caller, AuditAction::kExchangeUploaded, &e, &pr));
  for (auto& ev : events) ev.time_ms = now * 1000;
  // The blob is published first: without a row that says "available" it
  // is an orphan, which the sweeper leaves alone while it is being
  // published and removes after a crash. Then the blob becomes durable
  // (BlobStore) while the audit events are committed (the log's own group
  // commit). The row is written only once both did.
  const auto give_up = [&](ServiceError error) {
    blob.Discard();
    return tl::make_unexpected(std::move(error));
  };
  const ServiceError not_pending(Refusal::kUploadNotExpected,
                                 "the exchange is no longer pending (discarded or already uploaded)");
  const std::optional<Claim> claim = TryClaim(e.id);
  if (!claim) {
    return give_up(ServiceError(Refusal::kUploadNotExpected,
                                "the exchange is being completed by another upload or discarded; read its state "
                                "(GET /api/v1/exchanges/{id})"));
  }
  // Never over another blob: an earlier upload of the same exchange that
  // completed (or is completing) keeps its own; kConflict also when the
  // sweeper discarded the exchange (and its pending blob) meanwhile.
  if (auto published = blob.Publish(); !published) {
    return give_up(published.error().code == ErrorCode::kConflict ? not_pending : ServiceError(published.error()));
  }
  auto ticket = deps.audit.QueueEvents(std::move(events));
  const Result<void> durable = blob.AwaitDurable();
  const bool audited = ticket && deps.audit.Wait(**ticket).has_value();
  if (!audited || !durable) {
    blob.Unpublish();
    if (!audited) return Refuse(Refusal::kAuditUnavailable, "");
    return tl::make_unexpected(ServiceError(durable.error()));
  }
  // Inside the publishing transaction: the protocol's state and the
  // transfers as they stand now.
  Violations late;
  const MetadataStore::DecidePublication decide = [&](ProtocolState state, uint64_t transfers) -> Result<Violations> {
    if (FaultPointActive("exchange-publish")) return Fail(ErrorCode::kIo, "injected fault: exchange publish");
    if (state != ProtocolState::kValid) {
      ProtocolStatus status = pr.status;
      status.state = state;
      late = ActiveViolations(*pr.protocol, status, ToInstant(now));
    }
    if (late.empty()) late = FrequencyViolations(*pr.protocol, {e.sender_party, ToInstant(now), transfers});
    return late;
  };
  // The upload's events are in the log already: from here on, an upload that
  // does not become available is recorded as such under the exchange, so
  // the log never says "uploaded" for a list the gateway does not hold.
  const auto unpublished = [&](AuditOutcome outcome, const char* reason) {
    AuditEvent ev = EventFor(caller, AuditAction::kExchangeRefused, &e, &pr);
    ev.time_ms = now * 1000;
    ev.outcome = outcome;
    ev.reason = reason;
    (void)deps.audit.AppendEvent(ev);  // a failure is reported by the sink
  };
  auto still_pending = store->Publish(pub, decide);
  if (!still_pending) {
    blob.Unpublish();
    if (!late.empty()) return tl::make_unexpected(RefuseCompletion(caller, e, pr, late, now));
    unpublished(AuditOutcome::kFailed, "storage_error");
    return tl::make_unexpected(ServiceError(still_pending.error()));
  }
  if (!*still_pending) {
    blob.Unpublish();
    unpublished(AuditOutcome::kRefused, "wrong_state");
    return tl::make_unexpected(not_pending);
  }
  // Tests only: the daemon dies between the commit and the answer.
  if (FaultPointActive("kill-after-publish")) ::_exit(137);
  if (new_row) deps.metrics.CountExchange("created");
  deps.metrics.CountExchange("uploaded");
  deps.metrics.SetExchangesLive(static_cast<int64_t>(++live));
  return done;
}

ServiceError ExchangeService::Impl::RefuseCompletion(const Caller& caller, const ExchangeRow& e,
                                                     const ProtocolRecord& pr, const Violations& v, int64_t now) {
  AuditEvent ev = EventFor(caller, AuditAction::kExchangeRefused, &e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = ReasonForViolation(v.front().code);
  if (!deps.audit.AppendEvent(ev)) return ServiceError(Refusal::kAuditUnavailable, "");
  for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
  deps.metrics.CountExchange("refused");
  // Nothing of it may stay: the exchange can never become available.
  if (auto d = DeleteExchangeData(e.id, "discarded", ev.reason, now); !d) return ServiceError(d.error());
  return ExchangeRefused(Refusal::kExchangeRefused,
                         "the protocol no longer allows this transfer: another transfer under it completed first, or "
                         "it was suspended, terminated or expired meanwhile; see 'violations'. Nothing was kept",
                         v, /*audited=*/true);
}

// Long: the gateway-encrypt path is one decision (read, check, recipients,
// sign, encrypt, complete) whose refusals are each audited where they occur.
ServiceResult<GatewayEncrypted> ExchangeService::Impl::EncryptAndSend(const Caller& caller, const Config& config,
                                                                      const ProtocolRecord& pr,
                                                                      const std::string& party, InputFormat format,
                                                                      std::span<const uint8_t> data,
                                                                      const std::function<void()>& wipe) {
  MemorySource src(data);
  Result<std::unique_ptr<ListReader>> reader = format == InputFormat::kCsv ? OpenCsvReader(src) : OpenXlsxBuffer(data);
  auto refuse = [&](const Violations& v, const std::string& detail) {
    AuditEvent ev = EventFor(caller, AuditAction::kExchangeRefused, nullptr, &pr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = v.empty() ? "validation_failed" : ReasonForViolation(v.front().code);
    (void)deps.audit.AppendEvent(ev);
    for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
    deps.metrics.CountExchange("refused");
    return tl::make_unexpected(ExchangeRefused(Refusal::kExchangeRefused, detail, v));
  };
  if (!reader) {
    // Reader errors name offsets, parts and limits, never cell contents
    // (list_reader.h), so the sender may see what is wrong with the file.
    // The reader's message says what the file is and what to do (a
    // password-protected workbook, an old .xls, an empty sheet and the
    // workbook's sheets): the violation carries it for the sender's client.
    return refuse({Violation{"list_malformed", reader.error().message, 0, ""}},
                  "the list is not a readable " + std::string(InputFormatName(format)) +
                      " file: " + reader.error().message);
  }
  XGW_TRY(auto past, TransfersInWindow(*pr.protocol, party, ToInstant(caller.now)));
  SendRequest req{party, ToInstant(caller.now), past};
  // The sending organisation's subject-index key, if the operator placed one,
  // exists in (locked) memory only while the list is checked.
  auto key = ReadOrgSubjectKey(config.exchanges.subject_keys_dir, caller.org_id());
  if (!key) return tl::make_unexpected(SubjectKeyUnusable(caller, config, key.error()));
  CheckListOptions options;
  if (*key) {
    options.subject_key = (*key)->span();
    options.subject_key_id = caller.org_id();
  }
  auto check = CheckListForSend(*pr.protocol, pr.status, **reader, req, options);
  key->reset();  // sodium_free wipes it
  XGW_TRY(ListCheck checked, std::move(check));
  if (!checked.ok()) {
    return refuse(checked.violations, "the list does not satisfy the protocol; see 'violations' "
                                      "(row, column and rule; values are never shown)");
  }
  // Recipients: every user allowed to receive who registered a key.
  std::vector<age::X25519Recipient> recipients;
  for (const auto& [p, org] : pr.party_org) {
    if (!pr.protocol->IsReceiver(p)) continue;
    XGW_TRY(auto users, deps.identities.ListUsers(org));
    for (const auto& u : users) {
      if (!u.keys || !MayReceive(*pr.protocol, UserRef{p, u.id, u.roles}).empty()) continue;
      if (auto r = age::X25519Recipient::Parse(u.keys->age_recipient)) recipients.push_back(*r);
    }
  }
  if (recipients.empty()) {
    return refuse({Violation{"recipient_key_missing", "no allowed recipient has registered a key", 0, ""}},
                  "no user allowed to receive under this protocol has registered an age key");
  }
  XGW_TRY(std::string canonical, ManifestToCanonicalJson(checked.manifest));
  const std::string sig = Base64Encode(deps.gateway_key->Sign(canonical));
  AuditEvent created = EventFor(caller, AuditAction::kExchangeCreated, nullptr, &pr);
  created.orgs.push_back(caller.org_id());
  XGW_TRY(std::string id, CreateExchange(caller, pr, party, checked.manifest, canonical, sig, "gateway", "gateway",
                                         &created));
  auto encrypt_and_complete = [&]() -> ServiceResult<Completion> {
    XGW_TRY(auto blob, blobs->Create(id, MaxCiphertext(data.size())));
    std::vector<const age::Recipient*> rs;
    for (const auto& r : recipients) rs.push_back(&r);
    MemorySource plain(data);
    XGW_CHECK(age::Encrypt(rs, plain, *blob, false));
    XGW_CHECK(blob->Finish());
    wipe();  // the plaintext is no longer needed: wiped before the slow part
    XGW_TRY(auto e, LoadExchange(id));
    if (!e) return Fail(ErrorCode::kInternal, "exchange vanished");
    return CompleteUpload(caller, *e, pr, *blob);
  };
  auto done = encrypt_and_complete();
  if (!done) {
    // The sender never learns the id of an exchange that failed here: a row
    // left pending would only wait for the sweeper. Discard it now.
    if (auto e = LoadExchange(id); e && *e && (*e)->state == "pending") {
      (void)DeleteExchangeData(id, "discarded", "upload_failed", caller.now);
    }
    return tl::make_unexpected(std::move(done).error());
  }
  return GatewayEncrypted{*done, canonical, sig};
}

ServiceResult<std::string> ExchangeService::Impl::CreateExchange(const Caller& caller, const ProtocolRecord& pr,
                                                                 const std::string& party, const Manifest& manifest,
                                                                 const std::string& manifest_canonical,
                                                                 const std::string& signature_b64,
                                                                 const std::string& signer, const std::string& mode,
                                                                 const AuditEvent* audit_first) {
  const ExchangeRow e =
      NewExchangeRow(caller, pr, party, manifest, manifest_canonical, signature_b64, signer, mode);
  if (audit_first) {
    AuditEvent ev = *audit_first;
    ev.exchange_id = e.id;
    if (!deps.audit.AppendEvent(ev)) return Refuse(Refusal::kAuditUnavailable, "");
  }
  XGW_CHECK(store->InsertPending(e, manifest.subject_index.raw()));
  return e.id;
}

// Long: the checks of a create document in the order the contract
// (docs/api.yaml) promises, each refusal audited where the policy decided.
ServiceResult<ExchangeService::Impl::CreateDecision> ExchangeService::Impl::DecideCreate(const Caller& caller,
                                                                                       const json& body) {
  for (const char* k : {"protocol_id", "version_hash", "manifest_signature"}) {
    if (!body.is_object() || !body.contains(k) || !body[k].is_string()) {
      return Refuse(Refusal::kInvalidRequest, std::string(k) + ": required string");
    }
  }
  if (!body.contains("manifest") || !body["manifest"].is_object() || body.size() != 4) {
    return Refuse(Refusal::kInvalidRequest,
                  "send exactly protocol_id, version_hash, manifest (object) and manifest_signature");
  }
  const std::string pid = body["protocol_id"].get<std::string>();
  if (!IsProtocolId(pid)) return Refuse(Refusal::kInvalidRequest, "protocol_id is malformed");
  XGW_TRY(auto pr, LoadProtocol(pid));
  const std::string party = pr ? PartyOf(*pr, caller.org_id()) : "";
  // A refusal the policy (or the manifest) decided: audited.
  auto refuse = [&](Refusal refusal, const std::string& detail, const Violations& v) {
    AuditEvent ev = EventFor(caller, AuditAction::kExchangeRefused, nullptr, pr ? &*pr : nullptr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = v.empty() ? "manifest_invalid" : ReasonForViolation(v.front().code);
    (void)deps.audit.AppendEvent(ev);
    for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
    deps.metrics.CountExchange("refused");
    return tl::make_unexpected(ExchangeRefused(refusal, detail, v));
  };
  if (!pr) return refuse(Refusal::kProtocolNotFound, "no such protocol, or it is not visible to you", {});
  if (party.empty()) return refuse(Refusal::kSenderNotAParty, "your organisation is not a party of this protocol", {});
  if (body["version_hash"].get<std::string>() != pr->protocol->version_hash) {
    return refuse(Refusal::kExchangeRefused, "version_hash is not the protocol's current version",
                  {Violation{"protocol_mismatch", "the version hash differs from the protocol's", 0, ""}});
  }
  // Manifest: canonical bytes are what was signed.
  auto canonical = CanonicalJson(body["manifest"]);
  if (!canonical) return refuse(Refusal::kManifestInvalid, "the manifest is not canonicalisable JSON", {});
  auto manifest = ParseManifest(*canonical);
  if (!manifest) return refuse(Refusal::kManifestInvalid, manifest.error().message, {});
  XGW_TRY(auto user, deps.identities.GetUser(caller.principal->user_id));
  if (!user.keys) return refuse(Refusal::kKeyMissing, "register your ed25519_verify_key first", {});
  auto pk = Base64Decode(user.keys->ed25519_verify_key);
  auto sig = Base64Decode(body["manifest_signature"].get<std::string>());
  bool sig_ok = false;
  if (pk && pk->size() == 32 && sig && sig->size() == 64) {
    Ed25519PublicKey key{};
    Ed25519Signature s{};
    std::copy(pk->begin(), pk->end(), key.begin());
    std::copy(sig->begin(), sig->end(), s.begin());
    sig_ok = VerifyEd25519(key, *canonical, s).has_value();
  }
  if (!sig_ok) {
    AuditEvent ev = EventFor(caller, AuditAction::kExchangeRefused, nullptr, &*pr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = "signature_invalid";
    (void)deps.audit.AppendEvent(ev);
    deps.metrics.CountRefusal("signature_invalid");
    return Refuse(Refusal::kSignatureInvalid,
                  "manifest_signature is not a valid Ed25519 signature of the canonical manifest by your registered "
                  "key");
  }
  XGW_TRY(auto past, TransfersInWindow(*pr->protocol, party, ToInstant(caller.now)));
  SendRequest req{party, ToInstant(caller.now), past};
  Violations v = DecideSend(*pr->protocol, pr->status, *manifest, req);
  if (!v.empty()) {
    const bool not_sender = std::any_of(v.begin(), v.end(), [](const Violation& x) {
      return x.code == "sender_not_sending_party";
    });
    return refuse(not_sender ? Refusal::kNotSendingParty : Refusal::kExchangeRefused,
                  "the protocol does not allow this exchange; see 'violations'", v);
  }
  return CreateDecision{std::move(*pr), party, std::move(*canonical), body["manifest_signature"].get<std::string>(),
                        std::move(*manifest)};
}

}  // namespace xgw
