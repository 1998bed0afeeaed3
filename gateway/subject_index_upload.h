// The streamed subject index of an end-to-end upload: the `count` raw 32-byte
// HMAC values a manifest in the streamed form declares
// (docs/protocol-format.md#subject-index), strictly ascending, sent right
// after the create document (POST /api/v1/exchanges/upload) or at the start
// of the content (PUT /api/v1/exchanges/{id}/content).
//
// The values go to an unlinked temporary file as they arrive, so the
// daemon's memory does not grow with the index; their order is checked and
// their SHA-256 computed on the way. The transaction that makes the exchange
// available reads them back in batches (ForEach).
//
// Thread safety: none; the upload's body sink owns it.
#ifndef XGW_GATEWAY_SUBJECT_INDEX_UPLOAD_H_
#define XGW_GATEWAY_SUBJECT_INDEX_UPLOAD_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/hash.h"

namespace xgw {

class SubjectIndexUpload {
 public:
  static constexpr size_t kValueSize = 32;

  // An index of no values (nothing is expected, ForEach calls nothing).
  SubjectIndexUpload() = default;
  // An index of `count` values, spooled to a file created in `dir` and
  // unlinked at once. kIo if it cannot be created.
  static Result<SubjectIndexUpload> Open(const std::string& dir, uint64_t count);

  SubjectIndexUpload(SubjectIndexUpload&& o) noexcept;
  SubjectIndexUpload& operator=(SubjectIndexUpload&& o) noexcept;
  SubjectIndexUpload(const SubjectIndexUpload&) = delete;
  SubjectIndexUpload& operator=(const SubjectIndexUpload&) = delete;
  ~SubjectIndexUpload();

  uint64_t count() const { return count_; }
  // Bytes of the block still expected.
  uint64_t bytes_left() const { return count_ * kValueSize - received_; }

  // Takes the block's bytes from the front of `data` (at most bytes_left())
  // and returns how many it took. kFormat as soon as a value is not greater
  // than the one before it; kIo if the file cannot be written.
  Result<size_t> Take(std::span<const uint8_t> data);

  // Once the stream ended: kFormat if the block is incomplete or its SHA-256
  // is not `sha256_hex` (the digest the signed manifest declares).
  Result<void> Finish(std::string_view sha256_hex);

  // Calls `batch` with the values in order, a few thousand at a time; stops
  // at the first failure. REQUIRES: Finish succeeded.
  Result<void> ForEach(const std::function<Result<void>(std::span<const Sha256Digest>)>& batch) const;

 private:
  Result<void> Flush();

  int fd_ = -1;
  uint64_t count_ = 0;
  uint64_t received_ = 0;
  Sha256 hash_;
  Sha256Digest last_{};       // the last complete value (order check)
  Sha256Digest partial_{};    // a value split across two writes
  size_t partial_size_ = 0;
  std::vector<uint8_t> out_;  // values waiting to be written
  bool finished_ = false;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_SUBJECT_INDEX_UPLOAD_H_
