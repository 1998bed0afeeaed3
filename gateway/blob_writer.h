// Writes an upload's bytes, in order from offset 0, to an open temp file.
//
// Two ways, chosen by the size the upload may reach:
//   - small uploads: write(2) into the page cache; every kWritebackStep bytes
//     the kernel is told to start writing them out (sync_file_range) and the
//     stretch before that is dropped from the cache (the gateway never reads
//     a ciphertext again before a download), so that the final fdatasync
//     finds little left to do;
//   - large uploads (>= kDirectThreshold, 2 MiB): direct I/O (O_DIRECT) from aligned
//     buffers on a writer thread of their own. Measured on this project's
//     machines, buffered writeback of a 1 GiB file reached ~500 MB/s while
//     direct 1 MiB writes reached ~1 GB/s, and the copy into the page cache
//     plus the kernel's writeback work competed with TLS decryption for the
//     same two cores. The network thread only copies into a buffer; the
//     writer thread waits for the disk. A file system without O_DIRECT
//     (tmpfs) makes the writer fall back to the buffered way.
//
// Nothing here makes the file durable: the caller fdatasyncs it (after
// Finish) when it is ready to wait for the disk.
//
// Thread safety: one thread calls Write/Finish; the writer thread is internal.
#ifndef XGW_GATEWAY_BLOB_WRITER_H_
#define XGW_GATEWAY_BLOB_WRITER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "crypto/error.h"

namespace xgw {

class BlobWriter {
 public:
  static constexpr uint64_t kDirectThreshold = 2u << 20;
  static constexpr uint64_t kWritebackStep = 8u << 20;

  // fd: open for writing at offset 0, empty; not owned (the caller closes
  // it after Finish). path names the file in errors. expected_max: the most
  // bytes the upload may hold (decides the way).
  BlobWriter(int fd, std::string path, uint64_t expected_max);
  ~BlobWriter();  // as Abandon()
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Appends data. Fails with the first write error (also one the writer
  // thread met earlier); after a failure the file's content is undefined.
  Result<void> Write(std::span<const uint8_t> data);
  // Every byte is in the file (on disk or in the page cache, writeback
  // started) and the descriptor is back in buffered mode, so the caller may
  // read the file through it and fdatasync it.
  Result<void> Finish();

  // Stops the writer thread; bytes not yet written are lost. Call before the
  // descriptor is closed when the upload is given up.
  void Abandon();

  uint64_t size() const { return size_; }
  bool direct() const;  // for tests: direct I/O is (still) in use

 private:
  class Direct;
  Result<void> WriteBuffered(std::span<const uint8_t> data);
  void StartWriteback(bool all);

  int fd_;
  std::string path_;
  uint64_t size_ = 0;
  uint64_t written_back_ = 0;  // buffered: bytes handed to sync_file_range
  uint64_t dropped_ = 0;       // buffered: bytes advised out of the page cache
  std::unique_ptr<Direct> direct_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_BLOB_WRITER_H_
