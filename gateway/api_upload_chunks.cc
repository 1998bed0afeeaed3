// Uploads in chunks (docs/api.yaml, "exchanges"): the content of a pending
// exchange (POST /api/v1/exchanges) sent as numbered chunks that each land
// durably on their own, so that an upload cut off resumes where it stopped
// — what a browser needs (it cannot stream a request body over HTTP/1.1)
// and what a large list needs on a poor connection.
//
//   PUT  .../content/chunks/{n}   one chunk, with its Content-Digest (RFC 9530)
//   GET  .../content/chunks       what the gateway holds, to resume
//   POST .../content/finalize     the number of chunks and the SHA-256 of all
//
// Finalizing feeds the chunks, in order, to the same body sink as PUT
// .../content (OpenContentSink): the same size limits, subject-index and
// age-header checks, audit events and one commit that makes the exchange
// available. Chunks are ciphertext; each request is recorded in the audit
// log as every request is, the upload by the events of its completion.
#include <algorithm>

#include "crypto/hash.h"
#include "gateway/api_support.h"
#include "gateway/exchange_impl.h"
#include "gateway/http/problem.h"
#include "gateway/identity_rules.h"
#include "gateway/subject_index_upload.h"

namespace xgw {

using nlohmann::json;

namespace {

// Chunk numbers are 0..kMaxChunks-1: with the largest chunks allowed this
// is far beyond any upload limit, and it bounds the records of one upload.
constexpr int64_t kMaxChunks = 100000;
// Chunk numbers a refusal lists, at most.
constexpr size_t kMissingShown = 100;
// Bytes read from a chunk file at a time when finalizing.
constexpr size_t kCopyBuffer = 256 * 1024;

bool IsChunkNumber(const std::string& s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoll(s) < kMaxChunks;
}

// The most content the chunks of the caller's pending end-to-end exchange
// `id` may hold in all, or why it cannot take content now.
Result<uint64_t> PendingUploadBound(ExchangeService::Impl& m, const RequestContext& ctx, const std::string& id) {
  XGW_TRY(auto e, m.LoadExchange(id));
  if (!e || e->sender_user != ctx.principal->user_id) {
    return Fail(ErrorCode::kNotFound, "no such exchange, or it is not yours");
  }
  if (e->state != "pending" || e->mode != "e2e") {
    return Fail(ErrorCode::kConflict, "the exchange is not waiting for its content");
  }
  XGW_TRY(auto pr, m.LoadProtocolVersion(e->protocol_id, e->version_hash));
  if (!pr) return Fail(ErrorCode::kNotFound, "no such protocol");
  XGW_TRY(Manifest declared, ParseManifest(e->manifest.value_or("")));
  // The content is the streamed subject index (if any), then the age file.
  const uint64_t index = declared.subject_index_streamed ? declared.subject_count * SubjectIndexUpload::kValueSize : 0;
  return index + ExchangeService::Impl::CiphertextCap(*pr, e->byte_size, *ctx.config);
}

json ChunkJson(const UploadChunk& c) { return {{"n", c.n}, {"size", c.size}, {"sha256", c.sha256}}; }

// PUT .../content/chunks/{n}: the body goes straight to a temporary file
// while it is hashed; at the end it is checked against its Content-Digest,
// made durable, then recorded.
class ChunkSink final : public RequestBodySink {
 public:
  ChunkSink(ExchangeService::Impl& m, RequestContext ctx, UploadChunk chunk, std::string declared_sha256,
            uint64_t max_bytes, uint64_t max_total, ChunkFiles::Writer file)
      : m_(m), ctx_(std::move(ctx)), chunk_(std::move(chunk)), declared_(std::move(declared_sha256)),
        max_bytes_(max_bytes), max_total_(max_total), file_(std::move(file)) {}

  Result<void> Write(std::span<const uint8_t> data) override {
    if (chunk_.size + data.size() > max_bytes_) {
      return Fail(ErrorCode::kLimit, "a chunk holds at most " + std::to_string(max_bytes_) +
                                         " bytes (exchanges.upload_chunk_max_bytes); nothing was kept");
    }
    hash_.Update(data);
    chunk_.size += data.size();
    return file_.Write(data);
  }

  Response Finish() override {
    const std::string& rid = ctx_.request_id();
    if (chunk_.size == 0) return Problem(400, "invalid-body", "Empty chunk", "a chunk holds at least one byte", rid);
    chunk_.sha256 = HexEncode(hash_.Finish());
    if (chunk_.sha256 != declared_) {
      return Problem(400, "content-digest-mismatch", "Chunk damaged in transit",
                     "the chunk's bytes do not match its Content-Digest; nothing was kept: send the chunk again", rid);
    }
    if (auto c = file_.Commit(); !c) return ErrorProblem(ctx_, c.error());
    chunk_.file = file_.name();
    auto held = m_.store->RecordChunk(chunk_, max_total_);
    if (!held || *held) m_.chunks->Remove(chunk_.exchange_id, chunk_.file);
    if (!held) {
      if (held.error().code == ErrorCode::kConflict) {
        return Problem(409, "wrong-state", "Upload not expected",
                       "the exchange is not waiting for its content (completed or discarded); nothing was kept", rid);
      }
      return ErrorProblem(ctx_, held.error());
    }
    if (!*held) return JsonResponse(201, ChunkJson(chunk_));
    // The chunk was held already: the same bytes again (a retry whose first
    // answer was lost) succeed; other bytes never replace it.
    if ((*held)->sha256 == chunk_.sha256 && (*held)->size == chunk_.size) {
      json body = ChunkJson(**held);
      body["stored"] = "already";
      return JsonResponse(200, body);
    }
    return Problem(409, "chunk-conflict", "Chunk held already",
                   "the gateway holds chunk " + std::to_string(chunk_.n) +
                       " of this upload with other bytes; a chunk is never replaced. GET .../content/chunks says "
                       "what is held",
                   rid);
  }

 private:
  ExchangeService::Impl& m_;
  RequestContext ctx_;
  UploadChunk chunk_;
  std::string declared_;
  uint64_t max_bytes_;
  uint64_t max_total_;
  ChunkFiles::Writer file_;
  Sha256 hash_;
};

Result<std::unique_ptr<RequestBodySink>> OpenChunkUpload(ExchangeService::Impl& m, RequestContext& ctx) {
  const std::string ct = ctx.head.content_type.substr(0, ctx.head.content_type.find(';'));
  if (ct != "application/octet-stream") {
    return Fail(ErrorCode::kInvalidArgument, "send a chunk with Content-Type: application/octet-stream");
  }
  XGW_TRY(std::string declared, ContentDigestSha256(ctx.head.content_digest));
  const uint64_t max_bytes = ctx.config->exchanges.upload_chunk_max_bytes;
  if (ctx.head.content_length && *ctx.head.content_length > max_bytes) {
    return Fail(ErrorCode::kLimit, "a chunk holds at most " + std::to_string(max_bytes) +
                                       " bytes (exchanges.upload_chunk_max_bytes)");
  }
  const std::string& id = ctx.params.at("exchange");
  XGW_TRY(const uint64_t max_total, PendingUploadBound(m, ctx, id));
  const int64_t n = std::stoll(ctx.params.at("chunk"));
  XGW_TRY(auto file, m.chunks->Create(id, n, max_bytes));
  UploadChunk chunk;
  chunk.exchange_id = id;
  chunk.n = n;
  chunk.received_at = ctx.now;
  return std::unique_ptr<RequestBodySink>(
      std::make_unique<ChunkSink>(m, ctx, std::move(chunk), std::move(declared), max_bytes, max_total, std::move(file)));
}

// GET .../content/chunks
Result<Response> ListChunks(ExchangeService::Impl& m, RequestContext& ctx) {
  const std::string& id = ctx.params.at("exchange");
  XGW_TRY(auto e, m.LoadExchange(id));
  if (!e || e->sender_user != ctx.principal->user_id) {
    return Fail(ErrorCode::kNotFound, "no such exchange, or it is not yours");
  }
  json chunks = json::array();
  uint64_t bytes = 0;
  if (e->state == "pending") {
    XGW_TRY(auto held, m.store->ListChunks(id));
    for (const auto& c : held) {
      chunks.push_back(ChunkJson(c));
      bytes += c.size;
    }
  }
  return JsonResponse(200, {{"id", id},
                            {"state", e->state},
                            {"chunks", chunks},
                            {"bytes", bytes},
                            {"chunk_max_bytes", ctx.config->exchanges.upload_chunk_max_bytes}});
}

// The finalize document: {"chunks": N, "sha256": "<64 hex>"}.
Result<std::pair<int64_t, std::string>> ParseFinalize(const json& body) {
  const auto invalid = [] {
    return Fail(ErrorCode::kInvalidArgument,
                "send exactly {\"chunks\": <number of chunks, 1 or more>, \"sha256\": <lower-case hex SHA-256 of "
                "the whole content>}");
  };
  if (!body.is_object() || body.size() != 2 || !body.contains("chunks") || !body.contains("sha256")) return invalid();
  const json& n = body["chunks"];
  const json& sha = body["sha256"];
  if (!n.is_number_unsigned() || n.get<uint64_t>() == 0 || n.get<uint64_t>() > kMaxChunks) return invalid();
  if (!sha.is_string() || sha.get<std::string>().size() != 64) return invalid();
  const std::string hex = sha.get<std::string>();
  if (!std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    return invalid();
  }
  return std::make_pair(static_cast<int64_t>(n.get<uint64_t>()), hex);
}

Response ChunksMissing(const RequestContext& ctx, const std::vector<int64_t>& missing, size_t held) {
  json shown = json::array();
  for (size_t i = 0; i < missing.size() && i < kMissingShown; ++i) shown.push_back(missing[i]);
  return WithExtra(Problem(409, "chunks-missing", "Chunks missing",
                           "the gateway does not hold every chunk of the upload; send those named in 'missing' "
                           "(at most " + std::to_string(kMissingShown) + " are named), then finalize again",
                           ctx.request_id()),
                   {{"missing", shown}, {"held", held}});
}

// POST .../content/finalize. Long: the chunks are checked, streamed into
// the upload sink with the whole content's hash, and cleaned up, in order.
Result<Response> Finalize(ExchangeService::Impl& m, RequestContext& ctx, const json& body) {
  XGW_TRY(auto wanted, ParseFinalize(body));
  const auto& [count, sha256] = wanted;
  const std::string& id = ctx.params.at("exchange");
  // The sink of PUT .../content checks the caller, the exchange's state and
  // its protocol, as for one upload (a refusal below discards its blob).
  XGW_TRY(auto sink, OpenContentSink(m, ctx, id, kIndexedContentType));
  XGW_TRY(auto held, m.store->ListChunks(id));
  std::vector<int64_t> missing;
  for (int64_t n = 0, i = 0; n < count; ++n) {
    while (i < static_cast<int64_t>(held.size()) && held[i].n < n) ++i;
    if (i >= static_cast<int64_t>(held.size()) || held[i].n != n) missing.push_back(n);
  }
  if (!missing.empty()) return ChunksMissing(ctx, missing, held.size());
  held.resize(static_cast<size_t>(count));  // chunks past `count` are not part of it
  // One pass over the chunks: each is streamed into the sink while the
  // whole content is hashed. Every chunk was checked against its digest when
  // it arrived; the whole content's hash, compared before anything is made
  // visible, also catches a chunk damaged on the gateway's disk since.
  Sha256 whole;
  std::vector<uint8_t> buf(kCopyBuffer);
  for (const UploadChunk& c : held) {
    uint64_t size = 0;
    auto src = m.chunks->Read(id, c.file);
    for (bool more = src.has_value(); more;) {
      XGW_TRY(size_t got, src->Read(buf));
      more = got > 0;
      const std::span<const uint8_t> data(buf.data(), got);
      whole.Update(data);
      size += got;
      XGW_CHECK(sink->Write(data));
    }
    // A chunk file lost or cut short on the gateway's disk: dropped, so that
    // the sender sends it again.
    if (!src || size != c.size) {
      std::fprintf(stderr, "xgwd: %s chunk %lld of exchange %s is missing or short on disk; dropped\n",
                   ctx.request_id().c_str(), static_cast<long long>(c.n), id.c_str());
      XGW_CHECK(m.store->DeleteChunks(id, c.n));
      m.chunks->Remove(id, c.file);
      return ChunksMissing(ctx, {c.n}, held.size() - 1);
    }
  }
  if (HexEncode(whole.Finish()) != sha256) {
    // The chunks are not the content the sender means to send (chunks of an
    // earlier attempt, say, or one damaged on disk): none can be trusted.
    XGW_CHECK(m.store->DeleteChunks(id));
    XGW_CHECK(m.chunks->RemoveAll(id));
    return Problem(409, "chunks-mismatch", "Chunks do not make up the content",
                   "the chunks held do not add up to content with the sha256 given; they were dropped: send every "
                   "chunk again, then finalize",
                   ctx.request_id());
  }
  Response done = sink->Finish();
  // Available, or the content refused (not an age file, a subject index
  // not the one declared, a protocol that no longer allows it): the chunks
  // are no longer needed, and a refused content cannot be mended chunk by
  // chunk. After a failure of the gateway (5xx) they stay for another
  // finalize. What a crash leaves here is removed by the sweeper
  // (RemoveOrphanChunks).
  if (done.status < 500) {
    if (auto d = m.store->DeleteChunks(id); d) (void)m.chunks->RemoveAll(id);
  }
  return done;
}

}  // namespace

void RegisterUploadChunkRoutes(Router& router, ExchangeService::Impl& m) {
  router.AddParameterRule("chunk", IsChunkNumber, "a chunk number: 0 to 99999, no leading zeros");
  const Grant sender{std::string(kRoleSender), Scope::kAny};
  router.Add({.method = "PUT",
              .pattern = "/api/v1/exchanges/{exchange}/content/chunks/{chunk}",
              .grants = {sender},
              .body = BodyKind::kStream,
              .open_stream = [&m](RequestContext& ctx) { return OpenChunkUpload(m, ctx); }});
  router.Add({.method = "GET",
              .pattern = "/api/v1/exchanges/{exchange}/content/chunks",
              .grants = {sender},
              .handler = [&m](RequestContext& ctx, const json&) { return Handle(ctx, [&] { return ListChunks(m, ctx); }); }});
  router.Add({.method = "POST",
              .pattern = "/api/v1/exchanges/{exchange}/content/finalize",
              .grants = {sender},
              .body = BodyKind::kJson,
              .handler = [&m](RequestContext& ctx, const json& body) {
                return Handle(ctx, [&] { return Finalize(m, ctx, body); });
              }});
}

}  // namespace xgw
