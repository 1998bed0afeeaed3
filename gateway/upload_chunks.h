// Where the chunks of an upload in parts wait for its completion: one
// directory per exchange under <state>/chunks, one file per chunk, each
// durable (fsync, rename, directory fsync) before the chunk is recorded in
// the metadata store (MetadataStore::RecordChunk). The record names the
// file, so two concurrent sends of the same chunk never write over each
// other: the one recorded first wins, the other removes its file.
//
// Chunks are ciphertext (the sender encrypted the list before splitting
// it); they become the exchange's blob only when the upload is finalized
// (api_upload_chunks.cc), through the same checks as a one-request upload.
#ifndef XGW_GATEWAY_UPLOAD_CHUNKS_H_
#define XGW_GATEWAY_UPLOAD_CHUNKS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/io.h"
#include "gateway/blob_writer.h"

namespace xgw {

// The SHA-256 (lower-case hex) a Content-Digest header (RFC 9530) gives for
// a body: `sha-256=:<base64 of 32 bytes>:`, possibly among other
// algorithms' members. kInvalidArgument, naming the rule, if the header is
// missing, malformed, or has no sha-256 member.
Result<std::string> ContentDigestSha256(std::string_view header);

class ChunkFiles {
 public:
  // Creates `dir` (0700) if needed.
  static Result<std::unique_ptr<ChunkFiles>> Open(std::string dir);

  // A chunk being written: its bytes go straight to a temporary file in the
  // exchange's directory (through BlobWriter: direct I/O for large chunks,
  // so the disk writes while the network reads); Commit makes it durable
  // (fdatasync, rename, directory fsync) under `name()`. Destroyed without
  // Commit, it removes its file.
  class Writer {
   public:
    Writer(Writer&& other) noexcept;
    Writer& operator=(Writer&&) = delete;
    ~Writer();
    Result<void> Write(std::span<const uint8_t> data) { return writer_->Write(data); }
    Result<void> Commit();
    const std::string& name() const { return name_; }

   private:
    friend class ChunkFiles;
    Writer(std::string dir, std::string name, std::string tmp, int fd, uint64_t max_bytes);
    std::string dir_, name_, tmp_;
    int fd_ = -1;
    std::unique_ptr<BlobWriter> writer_;
    bool committed_ = false;
  };

  // A new file for chunk `n` of `exchange_id` (a fresh name each time), of
  // at most `max_bytes`.
  Result<Writer> Create(const std::string& exchange_id, int64_t n, uint64_t max_bytes);
  Result<FileSource> Read(const std::string& exchange_id, const std::string& name) const;
  // Removes one chunk file; absent is not an error.
  void Remove(const std::string& exchange_id, const std::string& name);
  // Removes the exchange's directory and every file in it, durably.
  Result<void> RemoveAll(const std::string& exchange_id);
  // The exchanges that have a directory, and the files in one.
  Result<std::vector<std::string>> Exchanges() const;
  Result<std::vector<std::string>> Files(const std::string& exchange_id) const;

 private:
  explicit ChunkFiles(std::string dir) : dir_(std::move(dir)) {}
  std::string DirOf(const std::string& exchange_id) const { return dir_ + "/" + exchange_id; }
  std::string dir_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_UPLOAD_CHUNKS_H_
