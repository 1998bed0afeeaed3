// `xgw send` for large lists: the content of a pending exchange (its
// streamed subject index, then the age file already encrypted on this
// computer) sent in chunks (PUT /api/v1/exchanges/{id}/content/chunks/{n}),
// each with its SHA-256, then finalized. A lost connection costs at most
// the chunk in flight: xgw waits (back-off), asks the gateway which chunks
// it holds, and goes on from there. Only the current chunk is in memory.
#ifndef XGW_CLIENT_CHUNKED_UPLOAD_H_
#define XGW_CLIENT_CHUNKED_UPLOAD_H_

#include <cstdint>
#include <span>
#include <string>

#include "client/http.h"
#include "crypto/error.h"

namespace xgw::cli {

// What is uploaded: `head` (in memory), then the file open as `fd` (of
// `file_size` bytes), read at any offset so that a chunk can be read again.
class UploadContent {
 public:
  UploadContent(std::span<const uint8_t> head, int fd, uint64_t file_size)
      : head_(head), fd_(fd), file_size_(file_size) {}
  uint64_t size() const { return head_.size() + file_size_; }
  // Fills `out` with the bytes from `offset` on (out.size() <= size() - offset).
  Result<void> Read(uint64_t offset, std::span<uint8_t> out) const;

 private:
  std::span<const uint8_t> head_;
  int fd_;
  uint64_t file_size_;
};

struct ChunkedUploadOptions {
  uint64_t chunk_bytes = 8u << 20;  // at most; the gateway's chunk_max_bytes may lower it
  int attempts = 8;                 // tries per request before giving up on the network
  int max_backoff_seconds = 30;     // waits between tries: 1, 2, 4, ... this at most
  long stall_seconds = 60;          // a chunk transfer this long without progress is retried
  bool progress = true;             // a progress bar on stderr (only when it is a terminal)
};

// Uploads `content` to the pending exchange `exchange_id` and finalizes it;
// returns the gateway's answer to the finalize (the exchange, available).
// The problem of a refusal is in gw.last_problem().
Result<HttpResponse> UploadInChunks(Gateway& gw, const std::string& exchange_id, const UploadContent& content,
                                    const ChunkedUploadOptions& options = {});

}  // namespace xgw::cli

#endif  // XGW_CLIENT_CHUNKED_UPLOAD_H_
