#include "client/chunked_upload.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/cli.h"
#include "client/session.h"
#include "crypto/hash.h"

namespace xgw::cli {

using nlohmann::json;

Result<void> UploadContent::Read(uint64_t offset, std::span<uint8_t> out) const {
  if (offset < head_.size()) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(head_.size() - offset, out.size()));
    std::copy_n(head_.begin() + static_cast<ptrdiff_t>(offset), take, out.begin());
    out = out.subspan(take);
    offset += take;
  }
  uint64_t at = offset - head_.size();
  while (!out.empty()) {
    const ssize_t got = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return tl::unexpected(IoError("read", "the encrypted list", errno));
    if (got == 0) return Fail(ErrorCode::kIo, "the encrypted list is shorter than expected");
    out = out.subspan(static_cast<size_t>(got));
    at += static_cast<uint64_t>(got);
  }
  return {};
}

namespace {

struct HeldChunk {
  uint64_t size = 0;
  std::string sha256;
};

// One upload in chunks: the chunk size, what the gateway holds, progress.
class ChunkedUpload {
 public:
  ChunkedUpload(Gateway& gw, const std::string& id, const UploadContent& content, const ChunkedUploadOptions& o)
      : gw_(gw), base_("/api/v1/exchanges/" + UrlEncode(id) + "/content"), content_(content), o_(o),
        show_bar_(o.progress && ::isatty(2) == 1), started_(std::chrono::steady_clock::now()) {}

  Result<HttpResponse> Run() {
    XGW_CHECK(AskWhatIsHeld());
    const uint64_t size = content_.size();
    count_ = std::max<uint64_t>(1, (size + chunk_ - 1) / chunk_);
    std::vector<uint8_t> buf(static_cast<size_t>(std::min(chunk_, size)));
    Sha256 whole;
    for (uint64_t n = 0; n < count_; ++n) {
      const std::span<uint8_t> data = ChunkBuffer(buf, n);
      XGW_CHECK(content_.Read(n * chunk_, data));
      whole.Update(data);
      XGW_CHECK(SendChunk(n, data));
      sent_ += data.size();
      ShowProgress();
    }
    if (bar_shown_) std::fputs("\n", stderr);
    return FinalizeUpload(HexEncode(whole.Finish()), buf);
  }

 private:
  std::span<uint8_t> ChunkBuffer(std::vector<uint8_t>& buf, uint64_t n) const {
    return std::span<uint8_t>(buf.data(), static_cast<size_t>(std::min(chunk_, content_.size() - n * chunk_)));
  }

  // GET .../chunks: which chunks the gateway holds, and how large one may be.
  Result<void> AskWhatIsHeld() {
    XGW_TRY(json answer, Retrying([&] { return gw_.Json("GET", base_ + "/chunks"); }));
    held_.clear();
    if (answer.contains("chunks") && answer["chunks"].is_array()) {
      for (const auto& c : answer["chunks"]) {
        if (!c.is_object() || !c.value("n", json()).is_number_unsigned()) continue;
        held_[c["n"].get<uint64_t>()] = HeldChunk{c.value("size", uint64_t{0}), Str(c, "sha256")};
      }
    }
    const json& max = answer.value("chunk_max_bytes", json());
    chunk_ = o_.chunk_bytes;
    if (max.is_number_unsigned() && max.get<uint64_t>() > 0) chunk_ = std::min(chunk_, max.get<uint64_t>());
    return {};
  }

  // Chunk `n`, unless the gateway holds it already with these bytes.
  Result<void> SendChunk(uint64_t n, std::span<const uint8_t> data) {
    const Sha256Digest digest = Sha256::Hash(data);
    const std::string hex = HexEncode(digest);
    if (auto h = held_.find(n); h != held_.end() && h->second.size == data.size() && h->second.sha256 == hex) {
      return {};
    }
    const std::string header = "sha-256=:" + Base64Encode(digest) + ":";
    const std::string path = base_ + "/chunks/" + std::to_string(n);
    for (int attempt = 1;; ++attempt) {
      auto r = gw_.PutChunk(path, data, header, o_.stall_seconds);
      if (r && r->status < 300) return {};
      // The gateway's own trouble (5xx) may pass; a refusal (4xx) will not.
      const bool transient = !r || r->status >= 500;
      if (!transient) return tl::unexpected(ProblemToError(r->status, gw_.last_problem()));
      if (attempt >= o_.attempts) return tl::unexpected(r ? ProblemToError(r->status, gw_.last_problem()) : r.error());
      Wait(attempt, n);
      // The connection came back: the chunk may have landed before it broke.
      XGW_CHECK(AskWhatIsHeld());
      if (auto h = held_.find(n); h != held_.end() && h->second.size == data.size() && h->second.sha256 == hex) {
        return {};
      }
    }
  }

  // POST .../finalize. An answer lost to the network is asked again; if the
  // exchange became available meanwhile, that is the answer. Chunks the
  // gateway says it lacks (dropped as damaged) are sent once more.
  Result<HttpResponse> FinalizeUpload(const std::string& sha256, std::vector<uint8_t>& buf) {
    const json body = {{"chunks", count_}, {"sha256", sha256}};
    bool resent = false;
    for (int attempt = 1;; ++attempt) {
      auto r = gw_.Call("POST", base_ + "/finalize", body);
      if (r && r->status < 300) return r;
      if (r && r->status == 409) {
        json problem = json::parse(r->body, nullptr, false);
        const std::string type = problem.is_object() ? Str(problem, "type") : "";
        if (type.ends_with(":chunks-missing") && !resent && problem.value("missing", json()).is_array()) {
          resent = true;
          for (const auto& m : problem["missing"]) {
            if (!m.is_number_unsigned() || m.get<uint64_t>() >= count_) continue;
            const uint64_t n = m.get<uint64_t>();
            const std::span<uint8_t> data = ChunkBuffer(buf, n);
            XGW_CHECK(content_.Read(n * chunk_, data));
            held_.erase(n);
            XGW_CHECK(SendChunk(n, data));
          }
          continue;
        }
        if (attempt > 1) {
          // Completed by an earlier finalize whose answer was lost?
          auto e = gw_.Call("GET", base_.substr(0, base_.size() - std::string("/content").size()));
          if (e && e->status == 200) {
            json row = json::parse(e->body, nullptr, false);
            if (row.is_object() && Str(row, "state") == "available") return *e;
          }
        }
      }
      const bool transient = !r || r->status >= 500;
      if (!transient || attempt >= o_.attempts) {
        if (!r) return tl::unexpected(r.error());
        return gw_.Succeeded(std::move(*r));  // the error, its problem kept for the caller
      }
      Wait(attempt, count_);
    }
  }

  // `call` again after a network failure or a 5xx, with back-off.
  template <typename F>
  auto Retrying(F call) -> decltype(call()) {
    for (int attempt = 1;; ++attempt) {
      auto r = call();
      if (r || attempt >= o_.attempts || r.error().code != ErrorCode::kIo) return r;
      Wait(attempt, sent_ / std::max<uint64_t>(chunk_, 1));
    }
  }

  void Wait(int attempt, uint64_t at_chunk) {
    const int seconds = std::min(o_.max_backoff_seconds, 1 << std::min(attempt - 1, 10));
    if (bar_shown_) std::fputs("\n", stderr);
    bar_shown_ = false;
    Notice("xgw: the connection to the gateway was lost at chunk " + std::to_string(at_chunk + 1) + " of " +
           std::to_string(std::max<uint64_t>(count_, 1)) + " (" + HumanBytes(static_cast<double>(sent_)) +
           " sent); trying again in " + std::to_string(seconds) + " s");
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  }

  // "[#########           ] 45% 460.0 MiB of 1.0 GiB, 85.2 MiB/s, 7 s left"
  void ShowProgress() {
    if (!show_bar_) return;
    const double total = static_cast<double>(content_.size());
    const double done = static_cast<double>(sent_);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const int pct = total > 0 ? std::clamp(static_cast<int>(done * 100.0 / total), 0, 100) : 100;
    std::string bar(static_cast<size_t>(pct / 5), '#');
    bar.append(static_cast<size_t>(20 - pct / 5), ' ');
    char line[160];
    std::snprintf(line, sizeof line, "\r[%s] %3d%% %s of %s, %s/s, %.0f s left   ", bar.c_str(), pct,
                  HumanBytes(done).c_str(), HumanBytes(total).c_str(), HumanBytes(rate).c_str(),
                  rate > 0 ? (total - done) / rate : 0.0);
    std::fputs(line, stderr);
    bar_shown_ = true;
  }

  Gateway& gw_;
  const std::string base_;  // /api/v1/exchanges/{id}/content
  const UploadContent& content_;
  const ChunkedUploadOptions o_;
  const bool show_bar_;
  const std::chrono::steady_clock::time_point started_;
  uint64_t chunk_ = 0;
  uint64_t count_ = 0;
  uint64_t sent_ = 0;
  bool bar_shown_ = false;
  std::map<uint64_t, HeldChunk> held_;
};

}  // namespace

Result<HttpResponse> UploadInChunks(Gateway& gw, const std::string& exchange_id, const UploadContent& content,
                                    const ChunkedUploadOptions& options) {
  ChunkedUpload upload(gw, exchange_id, content, options);
  return upload.Run();
}

}  // namespace xgw::cli
