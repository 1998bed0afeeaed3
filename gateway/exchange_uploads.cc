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
Response SubjectKeyProblem(const RequestContext& ctx, const Error& error) {
  std::fprintf(stderr, "xgwd: %s subject-index key unusable (exchanges.subject_keys_dir is %s): %s\n",
               ctx.request_id().c_str(), ctx.config->exchanges.subject_keys_dir.c_str(), error.message.c_str());
  return Problem(500, "subject-key-unusable", "Subject-index key unusable",
                 "the gateway cannot use your organisation's subject-index key: " + error.message +
                     ". Nothing was stored; ask the gateway operator to fix the key file",
                 ctx.request_id());
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

std::optional<Response> ExchangeService::Impl::RefuseIfNotAge(RequestContext& ctx, const ExchangeRow* e,
                                                              const ProtocolRecord& pr, PendingBlob& blob) {
  auto src = blob.ReadBack();
  if (!src) return ErrorProblem(ctx, src.error());
  age::BufferedReader reader(**src);
  auto header = age::ParseHeader(reader);
  size_t x25519 = 0;
  if (header) {
    for (const auto& st : header->stanzas) x25519 += st.type == "X25519" ? 1 : 0;
  }
  if (header && x25519 > 0) return std::nullopt;
  AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = "age_invalid";
  (void)deps.audit.AppendEvent(ev);
  deps.metrics.CountRefusal("age-invalid");
  return Problem(400, "age-invalid", "Not an age file",
                 header ? "the upload has no X25519 recipient stanza; encrypt it to the "
                          "protocol's recipients (GET /api/v1/protocols/{id}/recipients)"
                        : "the upload is not an age v1 file (binary, not armored); nothing was kept",
                 ctx.request_id());
}

ExchangeRow ExchangeService::Impl::NewExchangeRow(const RequestContext& ctx, const ProtocolRecord& pr,
                                                  const std::string& party, const Manifest& manifest,
                                                  const std::string& canonical, const std::string& signature,
                                                  const std::string& signer, const std::string& mode) {
  ExchangeRow e;
  e.id = NewId(kExchangePrefix);
  e.protocol_id = pr.protocol->id;
  e.version_hash = pr.protocol->version_hash;
  e.sender_org = ctx.principal->org_id;
  e.sender_user = ctx.principal->user_id;
  e.sender_party = party;
  e.mode = mode;
  e.state = "pending";
  e.manifest = canonical;
  e.manifest_signature = signature;
  e.signer = signer;
  e.rows = static_cast<int64_t>(manifest.row_count);
  e.byte_size = static_cast<int64_t>(manifest.byte_size);
  e.created_at = ctx.now;
  return e;
}

// Long: the completion is one sequence of durable steps, each with its own
// clean-up on failure, and reads best top to bottom in one place.
Response ExchangeService::Impl::CompleteUpload(RequestContext& ctx, const ExchangeRow& e, const ProtocolRecord& pr,
                                               PendingBlob& blob, const Manifest* new_row,
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
      return ErrorProblem(ctx, past.error());
    }
    if (Violations v = FrequencyViolations(*pr.protocol, {e.sender_party, ToInstant(now), *past}); !v.empty()) {
      blob.Discard();
      return RefuseCompletion(ctx, e, pr, v, now);
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
  const int64_t expires = *pub.row.expires_at;
  std::vector<AuditEvent> events;
  if (new_row) events.push_back(EventFor(ctx, AuditAction::kExchangeCreated, &e, &pr));
  events.push_back(EventFor(ctx, AuditAction::kExchangeUploaded, &e, &pr));
  for (auto& ev : events) ev.time_ms = now * 1000;
  // The blob is published first: without a row that says "available" it
  // is an orphan, which the sweeper leaves alone while it is being
  // published and removes after a crash. Then the blob becomes durable
  // (BlobStore) while the audit events are committed (the log's own group
  // commit). The row is written only once both did.
  const auto give_up = [&](Response r) {
    blob.Discard();
    return r;
  };
  const auto not_pending = [&] {
    return Problem(409, "wrong-state", "Upload not expected",
                   "the exchange is no longer pending (discarded or already uploaded)", ctx.request_id());
  };
  const std::optional<Claim> claim = TryClaim(e.id);
  if (!claim) {
    return give_up(Problem(409, "wrong-state", "Upload not expected",
                           "the exchange is being completed by another upload or discarded; "
                           "read its state (GET /api/v1/exchanges/{id})",
                           ctx.request_id()));
  }
  // Never over another blob: an earlier upload of the same exchange that
  // completed (or is completing) keeps its own; kConflict also when the
  // sweeper discarded the exchange (and its pending blob) meanwhile.
  if (auto published = blob.Publish(); !published) {
    return give_up(published.error().code == ErrorCode::kConflict ? not_pending() : ErrorProblem(ctx, published.error()));
  }
  auto ticket = deps.audit.QueueEvents(std::move(events));
  const Result<void> durable = blob.AwaitDurable();
  const bool audited = ticket && deps.audit.Wait(**ticket).has_value();
  if (!audited || !durable) {
    blob.Unpublish();
    if (!audited) return AuditUnavailableProblem(ctx.request_id());
    return ErrorProblem(ctx, durable.error());
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
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, &e, &pr);
    ev.time_ms = now * 1000;
    ev.outcome = outcome;
    ev.reason = reason;
    (void)deps.audit.AppendEvent(ev);  // a failure is reported by the sink
  };
  auto still_pending = store->Publish(pub, decide);
  if (!still_pending) {
    blob.Unpublish();
    if (!late.empty()) return RefuseCompletion(ctx, e, pr, late, now);
    unpublished(AuditOutcome::kFailed, "storage_error");
    return ErrorProblem(ctx, still_pending.error());
  }
  if (!*still_pending) {
    blob.Unpublish();
    unpublished(AuditOutcome::kRefused, "wrong_state");
    return not_pending();
  }
  // Tests only: the daemon dies between the commit and the answer.
  if (FaultPointActive("kill-after-publish")) ::_exit(137);
  if (new_row) deps.metrics.CountExchange("created");
  deps.metrics.CountExchange("uploaded");
  deps.metrics.SetExchangesLive(static_cast<int64_t>(++live));
  Response r = JsonResponse(new_row ? 201 : 200,
                            {{"id", e.id}, {"state", "available"}, {"size", size}, {"expires_at", FormatTime(expires)}});
  r.audited = true;
  return r;
}

Response ExchangeService::Impl::RefuseCompletion(RequestContext& ctx, const ExchangeRow& e, const ProtocolRecord& pr,
                                                 const Violations& v, int64_t now) {
  AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, &e, &pr);
  ev.outcome = AuditOutcome::kRefused;
  ev.reason = ReasonForViolation(v.front().code);
  if (!deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
  deps.metrics.CountExchange("refused");
  // Nothing of it may stay: the exchange can never become available.
  if (auto d = DeleteExchangeData(e.id, "discarded", ev.reason, now); !d) return ErrorProblem(ctx, d.error());
  Response r = WithExtra(Problem(422, "policy-violation", "Exchange refused",
                                 "the protocol no longer allows this transfer: another transfer under it "
                                 "completed first, or it was suspended, terminated or expired meanwhile; "
                                 "see 'violations'. Nothing was kept",
                                 ctx.request_id()),
                         {{"violations", ViolationsJson(v)}});
  r.audited = true;
  return r;
}

// Long: the gateway-encrypt path is one decision (read, check, recipients,
// sign, encrypt, complete) whose refusals are each audited where they occur.
Response ExchangeService::Impl::EncryptAndSend(RequestContext& ctx, const ProtocolRecord& pr,
                                               const std::string& party, InputFormat format,
                                               std::span<const uint8_t> data, const std::function<void()>& wipe) {
  const std::string& rid = ctx.request_id();
  MemorySource src(data);
  Result<std::unique_ptr<ListReader>> reader = format == InputFormat::kCsv ? OpenCsvReader(src) : OpenXlsxBuffer(data);
  auto refuse = [&](const Violations& v, const std::string& detail) {
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, nullptr, &pr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = v.empty() ? "validation_failed" : ReasonForViolation(v.front().code);
    (void)deps.audit.AppendEvent(ev);
    for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
    deps.metrics.CountExchange("refused");
    return WithExtra(Problem(422, "policy-violation", "Exchange refused", detail, rid),
                     {{"violations", ViolationsJson(v)}});
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
  auto past = TransfersInWindow(*pr.protocol, party, ToInstant(ctx.now));
  if (!past) return ErrorProblem(ctx, past.error());
  SendRequest req{party, ToInstant(ctx.now), *past};
  // The sending organisation's subject-index key, if the operator placed one,
  // exists in (locked) memory only while the list is checked.
  auto key = ReadOrgSubjectKey(ctx.config->exchanges.subject_keys_dir, ctx.principal->org_id);
  if (!key) return SubjectKeyProblem(ctx, key.error());
  CheckListOptions options;
  if (*key) {
    options.subject_key = (*key)->span();
    options.subject_key_id = ctx.principal->org_id;
  }
  auto check = CheckListForSend(*pr.protocol, pr.status, **reader, req, options);
  key->reset();  // sodium_free wipes it
  if (!check) return ErrorProblem(ctx, check.error());
  if (!check->ok()) {
    return refuse(check->violations, "the list does not satisfy the protocol; see 'violations' "
                                     "(row, column and rule; values are never shown)");
  }
  // Recipients: every user allowed to receive who registered a key.
  std::vector<age::X25519Recipient> recipients;
  for (const auto& [p, org] : pr.party_org) {
    if (!pr.protocol->IsReceiver(p)) continue;
    auto users = deps.identities.ListUsers(org);
    if (!users) return ErrorProblem(ctx, users.error());
    for (const auto& u : *users) {
      if (!u.keys || !MayReceive(*pr.protocol, UserRef{p, u.id, u.roles}).empty()) continue;
      if (auto r = age::X25519Recipient::Parse(u.keys->age_recipient)) recipients.push_back(*r);
    }
  }
  if (recipients.empty()) {
    return refuse({Violation{"recipient_key_missing", "no allowed recipient has registered a key", 0, ""}},
                  "no user allowed to receive under this protocol has registered an age key");
  }
  auto canonical = ManifestToCanonicalJson(check->manifest);
  if (!canonical) return ErrorProblem(ctx, canonical.error());
  const std::string sig = Base64Encode(deps.gateway_key->Sign(*canonical));
  std::string id;
  AuditEvent created = EventFor(ctx, AuditAction::kExchangeCreated, nullptr, &pr);
  created.orgs.push_back(ctx.principal->org_id);
  auto made = CreateExchange(ctx, pr, party, check->manifest, *canonical, sig, "gateway", "gateway", &created, &id);
  if (!made) return ErrorProblem(ctx, made.error());
  if (made->status != 201) return std::move(*made);  // the audit log refused the creation
  auto encrypt_and_complete = [&]() -> Response {
    auto blob = blobs->Create(id, MaxCiphertext(data.size()));
    if (!blob) return ErrorProblem(ctx, blob.error());
    std::vector<const age::Recipient*> rs;
    for (const auto& r : recipients) rs.push_back(&r);
    MemorySource plain(data);
    auto enc = age::Encrypt(rs, plain, **blob, false);
    Result<void> written = enc ? (*blob)->Finish() : Result<void>(tl::unexpected(enc.error()));
    if (!written) return ErrorProblem(ctx, written.error());
    wipe();  // the plaintext is no longer needed: wiped before the slow part
    auto e = LoadExchange(id);
    if (!e || !*e) return ErrorProblem(ctx, Error{ErrorCode::kInternal, "exchange vanished"});
    Response r = CompleteUpload(ctx, **e, pr, **blob);
    if (r.status == 200) {
      json body = json::parse(r.body, nullptr, false);
      body["manifest"] = json::parse(*canonical, nullptr, false);
      body["manifest_signature"] = sig;
      body["signer"] = "gateway";
      r = JsonResponse(201, body);
      r.audited = true;
    }
    return r;
  };
  Response r = encrypt_and_complete();
  // The sender never learns the id of an exchange that failed here: a row
  // left pending would only wait for the sweeper. Discard it now.
  if (r.status != 201) {
    if (auto e = LoadExchange(id); e && *e && (*e)->state == "pending") {
      (void)DeleteExchangeData(id, "discarded", "upload_failed", ctx.now);
    }
  }
  return r;
}

Result<Response> ExchangeService::Impl::CreateExchange(RequestContext& ctx, const ProtocolRecord& pr,
                                                       const std::string& party, const Manifest& manifest,
                                                       const std::string& manifest_canonical,
                                                       const std::string& signature_b64, const std::string& signer,
                                                       const std::string& mode, const AuditEvent* audit_first,
                                                       std::string* new_id) {
  const ExchangeRow e = NewExchangeRow(ctx, pr, party, manifest, manifest_canonical, signature_b64, signer, mode);
  const std::string& id = e.id;
  if (audit_first) {
    AuditEvent ev = *audit_first;
    ev.exchange_id = id;
    if (!deps.audit.AppendEvent(ev)) return AuditUnavailableProblem(ctx.request_id());
  }
  XGW_CHECK(store->InsertPending(e, manifest.subject_index.raw()));
  *new_id = id;
  Response r = JsonResponse(201, {{"id", id}, {"upload_url", "/api/v1/exchanges/" + id + "/content"}, {"state", "pending"}});
  r.audited = audit_first != nullptr;
  return r;
}

// Long: the checks of a create document in the order the contract
// (docs/api.yaml) promises, each refusal audited where the policy decided.
Result<ExchangeService::Impl::CreateDecision> ExchangeService::Impl::DecideCreate(RequestContext& ctx,
                                                                                const json& body) {
  const std::string& rid = ctx.request_id();
  CreateDecision d;
  auto refused = [&d](Response r) {
    d.refusal = std::move(r);
    return std::move(d);
  };
  for (const char* k : {"protocol_id", "version_hash", "manifest_signature"}) {
    if (!body.is_object() || !body.contains(k) || !body[k].is_string()) {
      return refused(Problem(400, "invalid-field", "Invalid request", std::string(k) + ": required string", rid));
    }
  }
  if (!body.contains("manifest") || !body["manifest"].is_object() || body.size() != 4) {
    return refused(Problem(400, "invalid-field", "Invalid request",
                           "send exactly protocol_id, version_hash, manifest (object) and manifest_signature",
                           rid));
  }
  const std::string pid = body["protocol_id"].get<std::string>();
  if (!IsProtocolId(pid)) {
    return refused(Problem(400, "invalid-field", "Invalid request", "protocol_id is malformed", rid));
  }
  XGW_TRY(auto pr, LoadProtocol(pid));
  const std::string party = pr ? PartyOf(*pr, ctx.principal->org_id) : "";
  // A refusal the policy (or the manifest) decided: audited.
  auto refuse = [&](unsigned status, const std::string& slug, const std::string& detail,
                    const Violations& v) {
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, nullptr, pr ? &*pr : nullptr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = v.empty() ? "manifest_invalid" : ReasonForViolation(v.front().code);
    (void)deps.audit.AppendEvent(ev);
    for (const auto& x : v) deps.metrics.CountRefusal("policy:" + x.code);
    deps.metrics.CountExchange("refused");
    return refused(WithExtra(Problem(status, slug, "Exchange refused", detail, rid),
                             {{"violations", ViolationsJson(v)}}));
  };
  if (!pr || party.empty()) {
    return refuse(pr ? 403 : 404, pr ? "not-a-party" : "protocol-not-found",
                  pr ? "your organisation is not a party of this protocol"
                     : "no such protocol, or it is not visible to you",
                  {});
  }
  if (body["version_hash"].get<std::string>() != pr->protocol->version_hash) {
    return refuse(422, "policy-violation", "version_hash is not the protocol's current version",
                  {Violation{"protocol_mismatch", "the version hash differs from the protocol's", 0, ""}});
  }
  // Manifest: canonical bytes are what was signed.
  auto canonical = CanonicalJson(body["manifest"]);
  if (!canonical) return refuse(400, "manifest-invalid", "the manifest is not canonicalisable JSON", {});
  auto manifest = ParseManifest(*canonical);
  if (!manifest) return refuse(400, "manifest-invalid", manifest.error().message, {});
  XGW_TRY(auto user, deps.identities.GetUser(ctx.principal->user_id));
  if (!user.keys) return refuse(422, "key-missing", "register your ed25519_verify_key first", {});
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
    AuditEvent ev = EventFor(ctx, AuditAction::kExchangeRefused, nullptr, &*pr);
    ev.outcome = AuditOutcome::kRefused;
    ev.reason = "signature_invalid";
    (void)deps.audit.AppendEvent(ev);
    deps.metrics.CountRefusal("signature_invalid");
    return refused(Problem(400, "signature-invalid", "Signature invalid",
                           "manifest_signature is not a valid Ed25519 signature of the canonical "
                           "manifest by your registered key",
                           rid));
  }
  XGW_TRY(auto past, TransfersInWindow(*pr->protocol, party, ToInstant(ctx.now)));
  SendRequest req{party, ToInstant(ctx.now), past};
  Violations v = DecideSend(*pr->protocol, pr->status, *manifest, req);
  if (!v.empty()) {
    const bool not_sender = std::any_of(v.begin(), v.end(), [](const Violation& x) {
      return x.code == "sender_not_sending_party";
    });
    return refuse(not_sender ? 403 : 422, "policy-violation",
                  "the protocol does not allow this exchange; see 'violations'", v);
  }
  d.pr = std::move(*pr);
  d.party = party;
  d.canonical = std::move(*canonical);
  d.signature = body["manifest_signature"].get<std::string>();
  d.manifest = std::move(*manifest);
  return d;
}

}  // namespace xgw
