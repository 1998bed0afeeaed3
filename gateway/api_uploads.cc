// The uploads resource of the REST API (docs/api.yaml, "exchanges"): creating
// an exchange and sending its content — the two-request form (POST
// /api/v1/exchanges, PUT .../content), the one-request form (POST
// /api/v1/exchanges/upload) and gateway-encrypt (POST
// /api/v1/exchanges/plaintext). The body sinks here stream a request into a
// pending blob or locked memory; what is decided and stored is
// ExchangeService::Impl's (exchange_uploads.cc).
#include <algorithm>
#include <set>

#include "crypto/secret.h"
#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/identity_rules.h"
#include "gateway/ids.h"
#include "gateway/http/problem.h"
#include "gateway/subject_index_upload.h"

namespace xgw {

using nlohmann::json;

namespace {

// Media type of a one-request upload's body (create document, "\n", age file).
constexpr const char* kOneRequestUploadType = "application/vnd.xgw.exchange";

// The answer to a completed upload: 201 for a new exchange (one request),
// 200 for the content of a pending one; both recorded by the service.
Response Completed(const RequestContext& ctx, const ServiceResult<Completion>& done, bool created) {
  if (!done) return ProblemFor(ctx, done.error());
  Response r = JsonResponse(created ? 201 : 200, {{"id", done->id},
                                                  {"state", "available"},
                                                  {"size", done->size},
                                                  {"expires_at", FormatTime(done->expires_at)}});
  r.audited = true;
  return r;
}

// An upload's pending blob, removed unless Complete publishes it.
class TempBlob {
 public:
  explicit TempBlob(std::unique_ptr<PendingBlob> blob) : blob_(std::move(blob)) {}
  PendingBlob& writer() { return *blob_; }

  // The age-header check, then CompleteUpload.
  Response Complete(ExchangeService::Impl& impl, RequestContext& ctx, const ExchangeRow& e,
                    const ProtocolRecord& pr, const Manifest* new_row = nullptr,
                    const SubjectIndexUpload* index = nullptr) {
    const Caller caller = CallerOf(ctx);
    // A new row (one-request upload) does not exist yet: its refusal names
    // the protocol only, as every other refusal of a creation does.
    if (auto age = impl.CheckAgeFile(caller, new_row ? nullptr : &e, pr, *blob_); !age) {
      return ProblemFor(ctx, age.error());
    }
    return Completed(ctx, impl.CompleteUpload(caller, e, pr, *blob_, new_row, index), new_row != nullptr);
  }

 private:
  std::unique_ptr<PendingBlob> blob_;
};

// A streamed subject index that is incomplete, out of order or not the one
// the signed manifest declares (SubjectIndexUpload::Finish).
Response SubjectIndexProblem(const RequestContext& ctx, const Error& error) {
  if (error.code != ErrorCode::kFormat) return ErrorProblem(ctx, error);
  return Problem(400, "subject-index-invalid", "Invalid subject index", error.message + "; nothing was kept",
                 ctx.request_id());
}

// PUT /api/v1/exchanges/{id}/content: the streamed subject index the
// manifest declares (if any), then the age file.
class UploadSink final : public RequestBodySink {
 public:
  UploadSink(ExchangeService::Impl& impl, RequestContext ctx, ExchangeRow e, ProtocolRecord pr,
             uint64_t cap, std::unique_ptr<PendingBlob> blob, SubjectIndexUpload index, std::string index_sha256)
      : impl_(impl), ctx_(std::move(ctx)), e_(std::move(e)), pr_(std::move(pr)), cap_(cap),
        blob_(std::move(blob)), index_(std::move(index)), index_sha256_(std::move(index_sha256)) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    if (index_.bytes_left() != 0) {
      XGW_TRY(size_t took, index_.Take(data));
      data = data.subspan(took);
      if (data.empty()) return {};
    }
    if (blob_.writer().size() + data.size() > cap_) {
      return Fail(ErrorCode::kLimit, "the upload exceeds the size the manifest declares (" +
                                         std::to_string(cap_) + " bytes of ciphertext at most)");
    }
    return blob_.writer().Write(data);
  }
  Response Finish() override {
    // The disk writes the tail while the header is checked and the audit
    // event is committed; CompleteUpload waits for it (fdatasync) after that.
    if (auto w = blob_.writer().Finish(); !w) return ErrorProblem(ctx_, w.error());
    if (auto i = index_.Finish(index_sha256_); !i) return SubjectIndexProblem(ctx_, i.error());
    return blob_.Complete(impl_, ctx_, e_, pr_, nullptr, &index_);
  }

 private:
  ExchangeService::Impl& impl_;
  RequestContext ctx_;
  ExchangeRow e_;
  ProtocolRecord pr_;
  uint64_t cap_;
  TempBlob blob_;
  SubjectIndexUpload index_;
  std::string index_sha256_;
};


// Gateway-encrypt mode: the plaintext list is held only in locked, wiped
// memory (SecretBuffer), checked, then encrypted straight into the temp blob.
//
// The buffer grows with the bytes received (doubling, from 64 KiB), never
// with what the request declares: an idle connection that announced 64 MiB
// holds 64 KiB. Every growth is taken from the daemon-wide budget
// (Impl::plaintext_held); beyond it the upload is refused with 503 and
// Retry-After, and what it held is wiped and given back.
class PlaintextSink final : public RequestBodySink {
 public:
  PlaintextSink(ExchangeService::Impl& impl, RequestContext ctx, ProtocolRecord pr, std::string party,
                InputFormat format, size_t limit)
      : impl_(impl), ctx_(std::move(ctx)), pr_(std::move(pr)), party_(std::move(party)), format_(format),
        limit_(limit), budget_(ctx_.config->exchanges.plaintext_memory_budget_bytes) {}
  ~PlaintextSink() override {
    impl_.plaintext_held -= buf_.size();
    impl_.deps.metrics.AddPlaintextHeld(-static_cast<int64_t>(buf_.size()));
  }
  PlaintextSink(const PlaintextSink&) = delete;
  PlaintextSink& operator=(const PlaintextSink&) = delete;

  Result<void> Write(std::span<const uint8_t> data) override {
    if (used_ + data.size() > limit_) {
      return Fail(ErrorCode::kLimit, "the list exceeds the gateway-encrypt size limit (" +
                                         std::to_string(limit_) + " bytes)");
    }
    XGW_CHECK(Reserve(used_ + data.size()));
    std::copy(data.begin(), data.end(), buf_.data() + used_);
    used_ += data.size();
    return {};
  }
  Response Finish() override {
    auto sent = impl_.EncryptAndSend(CallerOf(ctx_), *ctx_.config, pr_, party_, format_,
                                     std::span<const uint8_t>(buf_.data(), used_),
                                     [this] { WipeMemory(buf_.data(), buf_.size()); });
    if (!sent) return ProblemFor(ctx_, sent.error());
    const Completion& done = sent->completion;
    Response r = JsonResponse(201, {{"id", done.id},
                                    {"state", "available"},
                                    {"size", done.size},
                                    {"expires_at", FormatTime(done.expires_at)},
                                    {"manifest", json::parse(sent->manifest_canonical, nullptr, false)},
                                    {"manifest_signature", sent->signature},
                                    {"signer", "gateway"}});
    r.audited = true;
    return r;
  }

 private:
  static constexpr size_t kFirstCapacity = 64 * 1024;

  // Grows the buffer to hold `need` bytes, within limit_ and the budget.
  Result<void> Reserve(size_t need) {
    if (need <= buf_.size()) return {};
    size_t next = std::max(buf_.size(), kFirstCapacity);
    while (next < need) next *= 2;
    next = std::min(next, limit_);
    const uint64_t more = next - buf_.size();
    const uint64_t before = impl_.plaintext_held.fetch_add(more);
    if (before + more > budget_) {
      impl_.plaintext_held -= more;
      return Fail(ErrorCode::kUnavailable,
                  "the gateway is holding as many lists in memory as it may; send the list again "
                  "in a few seconds");
    }
    impl_.deps.metrics.AddPlaintextHeld(static_cast<int64_t>(more));
    SecretBuffer grown(next);
    std::copy(buf_.data(), buf_.data() + used_, grown.data());
    buf_ = std::move(grown);  // the old buffer is wiped as it is freed
    return {};
  }

  ExchangeService::Impl& impl_;
  RequestContext ctx_;
  ProtocolRecord pr_;
  std::string party_;
  InputFormat format_;
  size_t limit_;
  uint64_t budget_;
  SecretBuffer buf_;
  size_t used_ = 0;
};

// One-request end-to-end upload (POST /api/v1/exchanges/upload). The body is
// the create document of POST /api/v1/exchanges on one line (compact JSON
// never holds a raw newline), "\n", the streamed subject index its manifest
// declares (count x 32 bytes; none in the listed form), then the age file.
// The document is kept in memory (at most limits.max_json_body_bytes), the
// index spools to an unlinked file, the age file streams to a temp blob, and
// everything is decided at the end exactly as the two-request form decides
// it. The exchange row is written only once the upload is
// complete, already available: half the requests, audit commits and database
// transactions of the two-request form, and no pending row ever.
class OneRequestUploadSink final : public RequestBodySink {
 public:
  OneRequestUploadSink(ExchangeService::Impl& impl, RequestContext ctx, std::string id, std::unique_ptr<PendingBlob> blob,
                       uint64_t head_limit)
      : impl_(impl), ctx_(std::move(ctx)), id_(std::move(id)), head_limit_(head_limit),
        cap_(ctx_.config->limits.max_upload_bytes), blob_(std::move(blob)) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    if (!head_done_) {
      const auto nl = std::find(data.begin(), data.end(), uint8_t{'\n'});
      const size_t take = static_cast<size_t>(nl - data.begin());
      if (head_.size() + take > head_limit_) {
        return Fail(ErrorCode::kLimit, "the create document (the body's first line) exceeds " +
                                           std::to_string(head_limit_) + " bytes");
      }
      head_.append(reinterpret_cast<const char*>(data.data()), take);
      if (nl == data.end()) return {};
      head_done_ = true;
      data = data.subspan(take + 1);
      XGW_CHECK(LimitToDeclaredSize());
    }
    if (index_.bytes_left() != 0) {
      XGW_TRY(size_t took, index_.Take(data));
      data = data.subspan(took);
    }
    if (blob_.writer().size() + data.size() > cap_) {
      return Fail(ErrorCode::kLimit, "the age file exceeds the size the manifest declares (" + std::to_string(cap_) +
                                         " bytes of ciphertext at most); nothing was kept");
    }
    return data.empty() ? Result<void>{} : blob_.writer().Write(data);
  }
  Response Finish() override {
    const std::string& rid = ctx_.request_id();
    if (auto w = blob_.writer().Finish(); !w) return ErrorProblem(ctx_, w.error());
    const json& doc = doc_;
    if (!head_done_ || doc.is_discarded()) {
      return Problem(400, "invalid-body", "Invalid upload",
                     "the body must be the create document (protocol_id, version_hash, manifest, "
                     "manifest_signature) as JSON on one line, a newline, then the age file",
                     rid);
    }
    auto d = impl_.DecideCreate(CallerOf(ctx_), doc);
    if (!d) return ProblemFor(ctx_, d.error());
    // A listed index came in the manifest: no block was read.
    const bool streamed = d->manifest.subject_index_streamed;
    if ((streamed ? d->manifest.subject_count : 0) != index_.count()) {
      return SubjectIndexProblem(ctx_, Error{ErrorCode::kFormat, "the subject index read is not the one declared"});
    }
    if (auto i = index_.Finish(streamed ? d->manifest.subject_index_sha256 : std::string(kEmptySubjectIndexSha256));
        !i) {
      return SubjectIndexProblem(ctx_, i.error());
    }
    ExchangeRow e = ExchangeService::Impl::NewExchangeRow(CallerOf(ctx_), d->pr, d->party, d->manifest, d->canonical,
                                                          d->signature, "user:" + ctx_.principal->user_id, "e2e");
    e.id = id_;  // the temp blob is already named after it
    const uint64_t cap = ExchangeService::Impl::CiphertextCap(d->pr, e.byte_size, *ctx_.config);
    if (blob_.writer().size() > cap) {
      return Problem(413, "too-large", "Upload too large",
                     "the age file exceeds the size the manifest declares (" + std::to_string(cap) +
                         " bytes of ciphertext at most); nothing was kept",
                     rid);
    }
    return blob_.Complete(impl_, ctx_, e, d->pr, &d->manifest, &index_);
  }

 private:
  // Once the create document is in, the age file may not outgrow what its
  // manifest declares: refused while it streams, as in the two-request form,
  // not after a gigabyte was written. (The protocol's own limit is applied
  // in Finish, where the protocol is read; parsing here costs no I/O.)
  // A streamed subject index is read next: its size is the manifest's
  // count, within the upload limit; its digest is checked in Finish.
  Result<void> LimitToDeclaredSize() {
    doc_ = json::parse(head_, nullptr, false);
    if (!doc_.is_object() || !doc_.contains("manifest") || !doc_["manifest"].is_object()) return {};
    const json& manifest = doc_["manifest"];
    const json& size = manifest.value("byte_size", json());
    if (size.is_number_unsigned()) {
      cap_ = std::min(cap_, ExchangeService::Impl::MaxCiphertext(size.get<uint64_t>()));
    }
    const json& index = manifest.value("subject_index", json());
    const json& count = index.is_object() ? index.value("count", json()) : json();
    if (!count.is_number_unsigned() || count.get<uint64_t>() == 0) return {};
    if (count.get<uint64_t>() > ctx_.config->limits.max_upload_bytes / SubjectIndexUpload::kValueSize) {
      return Fail(ErrorCode::kLimit, "the subject index the manifest declares exceeds the upload limit (" +
                                         std::to_string(ctx_.config->limits.max_upload_bytes) + " bytes)");
    }
    XGW_TRY(index_, SubjectIndexUpload::Open(impl_.spool_dir, count.get<uint64_t>()));
    return {};
  }

  ExchangeService::Impl& impl_;
  RequestContext ctx_;
  std::string id_;
  uint64_t head_limit_;
  uint64_t cap_;      // most age-file bytes accepted so far
  std::string head_;  // the create document as received
  json doc_ = json::value_t::discarded;  // ... parsed, once complete
  bool head_done_ = false;
  TempBlob blob_;
  SubjectIndexUpload index_;  // the streamed subject index, if the manifest declares one
};

// ---- routes ------------------------------------------------------------------

// POST /api/v1/exchanges: the pending exchange of the two-request form.
ServiceResult<Response> CreatePending(ExchangeService::Impl& m, RequestContext& ctx, const json& body) {
  const Caller caller = CallerOf(ctx);
  XGW_TRY(auto d, m.DecideCreate(caller, body));
  AuditEvent ev = m.EventFor(caller, AuditAction::kExchangeCreated, nullptr, &d.pr);
  ev.orgs.push_back(caller.org_id());
  XGW_TRY(std::string id, m.CreateExchange(caller, d.pr, d.party, d.manifest, d.canonical, d.signature,
                                           "user:" + caller.principal->user_id, "e2e", &ev));
  m.deps.metrics.CountExchange("created");
  Response r = JsonResponse(201, {{"id", id}, {"upload_url", "/api/v1/exchanges/" + id + "/content"}, {"state", "pending"}});
  r.audited = true;
  return r;
}

// POST /api/v1/exchanges/upload
Result<std::unique_ptr<RequestBodySink>> OpenOneRequestUpload(ExchangeService::Impl& m, RequestContext& ctx) {
  const std::string ct = ctx.head.content_type.substr(0, ctx.head.content_type.find(';'));
  if (ct != kOneRequestUploadType) {
    return Fail(ErrorCode::kInvalidArgument, std::string("send Content-Type: ") + kOneRequestUploadType +
                                                 " (create document, newline, age file)");
  }
  const std::string id = NewId(kExchangePrefix);
  const uint64_t expected = ctx.head.content_length.value_or(ctx.config->limits.max_upload_bytes);
  XGW_TRY(auto blob, m.blobs->Create(id, expected));
  return std::unique_ptr<RequestBodySink>(
      std::make_unique<OneRequestUploadSink>(m, ctx, id, std::move(blob), ctx.config->limits.max_json_body_bytes));
}

// POST /api/v1/exchanges/plaintext?protocol_id=...&format=csv|xlsx
Result<std::unique_ptr<RequestBodySink>> OpenPlaintextUpload(ExchangeService::Impl& m, RequestContext& ctx) {
  auto q = ParseQuery(ctx.head.target);
  if (!q || !q->count("protocol_id") || !IsProtocolId(q->at("protocol_id"))) {
    return Fail(ErrorCode::kInvalidArgument, "query parameter protocol_id is required");
  }
  const std::string fmt = q->count("format") ? q->at("format") : "csv";
  if (fmt != "csv" && fmt != "xlsx") {
    return Fail(ErrorCode::kInvalidArgument, "format must be csv or xlsx");
  }
  const std::string ct = ctx.head.content_type.substr(0, ctx.head.content_type.find(';'));
  static const std::set<std::string> kTypes = {"text/csv", "application/octet-stream",
                                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"};
  if (!kTypes.count(ct)) {
    return Fail(ErrorCode::kInvalidArgument,
                "send the list as text/csv, application/octet-stream or the xlsx media type");
  }
  XGW_TRY(auto pr, m.LoadProtocol(q->at("protocol_id")));
  const std::string party = pr ? ExchangeService::Impl::PartyOf(*pr, ctx.principal->org_id) : "";
  if (!pr || party.empty()) {
    return Fail(ErrorCode::kNotFound, "no such protocol, or it is not visible to you");
  }
  const uint64_t limit = ctx.config->exchanges.max_plaintext_bytes;
  if (ctx.head.content_length && *ctx.head.content_length > limit) {
    return Fail(ErrorCode::kLimit, "the list exceeds the gateway-encrypt size limit");
  }
  return std::unique_ptr<RequestBodySink>(std::make_unique<PlaintextSink>(
      m, ctx, std::move(*pr), party, fmt == "csv" ? InputFormat::kCsv : InputFormat::kXlsx,
      static_cast<size_t>(limit)));
}

}  // namespace

Result<std::unique_ptr<RequestBodySink>> OpenContentSink(ExchangeService::Impl& m, RequestContext& ctx,
                                                         const std::string& exchange_id,
                                                         std::string_view content_type) {
  const std::string_view ct = content_type.substr(0, content_type.find(';'));
  XGW_TRY(auto e, m.LoadExchange(exchange_id));
  if (!e || e->sender_user != ctx.principal->user_id) {
    return Fail(ErrorCode::kNotFound, "no such exchange, or it is not yours");
  }
  // A manifest in the streamed form: its subject index opens the body.
  Manifest declared;
  if (e->manifest && e->mode == "e2e") {
    XGW_TRY(declared, ParseManifest(*e->manifest));
  }
  const uint64_t streamed = declared.subject_index_streamed ? declared.subject_count : 0;
  if (streamed != 0 && ct != kIndexedContentType) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("the manifest declares a streamed subject index: send Content-Type: ") +
                    std::string(kIndexedContentType) + " (the index, then the age file)");
  }
  if (streamed == 0 && ct != "application/octet-stream" && ct != kIndexedContentType) {
    return Fail(ErrorCode::kInvalidArgument, "send the age file with Content-Type: application/octet-stream");
  }
  if (e->state != "pending" || e->mode != "e2e") {
    return Fail(ErrorCode::kConflict, "the exchange is not waiting for its content");
  }
  XGW_TRY(auto pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
  if (!pr) return Fail(ErrorCode::kNotFound, "no such protocol");
  const uint64_t cap = ExchangeService::Impl::CiphertextCap(*pr, e->byte_size, *ctx.config);
  XGW_TRY(auto index, SubjectIndexUpload::Open(m.spool_dir, streamed));
  XGW_TRY(auto blob, m.blobs->Create(e->id, cap));
  return std::unique_ptr<RequestBodySink>(std::make_unique<UploadSink>(
      m, ctx, std::move(*e), std::move(*pr), cap, std::move(blob), std::move(index),
      streamed != 0 ? declared.subject_index_sha256 : std::string(kEmptySubjectIndexSha256)));
}

void RegisterUploadRoutes(Router& router, ExchangeService::Impl& m) {
  const Grant sender{std::string(kRoleSender), Scope::kAny};
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges",
              .grants = {sender},
              .body = BodyKind::kJson,
              .handler = [&m](RequestContext& ctx, const json& body) { return Answer(ctx, CreatePending(m, ctx, body)); }});
  router.Add({.method = "PUT",
              .pattern = "/api/v1/exchanges/{exchange}/content",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) {
                return OpenContentSink(m, ctx, ctx.params.at("exchange"), ctx.head.content_type);
              }});
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/upload",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) { return OpenOneRequestUpload(m, ctx); }});
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/plaintext",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) { return OpenPlaintextUpload(m, ctx); }});
}

}  // namespace xgw
