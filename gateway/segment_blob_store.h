// Small ciphertexts packed into shared, pre-filled segment files; larger
// ones (and every one when packing is off) in a FileBlobStore beside them.
//
// Why: a file per 50 KiB upload costs the disk an inode, a rename, a
// directory fsync and an fdatasync that must also write the file's new
// extents. A packed blob is one pwrite into a segment whose blocks were
// written (with zeros) and synced before it was used, so making it durable
// is an fdatasync of data only, shared by every upload that wrote into the
// segment meanwhile (DirectorySync's ticket scheme, on the segment file).
//
// Layout, under <dir>/segments/: NNNNNNNNNNNNNNNN.seg (16 hex digits,
// increasing), each of a fixed size, pre-filled with zeros on a thread of
// the store's own before it is used (as .tmp, then fdatasync, rename and
// directory fsync). A record starts on a 4 KiB boundary: a 128-byte header
// (magic, checksum, data length, exchange id), then the ciphertext; the
// next record starts on the next 4 KiB boundary. The store's index (id ->
// segment, offset, length) lives in memory and is rebuilt at Open from the
// headers.
//
// Deletion punches the record's blocks out of the segment
// (fallocate(PUNCH_HOLE); where the file system cannot, they are
// overwritten with zeros) and fsyncs the segment: the ciphertext and its
// header are gone from the file, as an unlinked file's blocks are gone. A
// segment that holds no record any more (and is not being written) is
// unlinked. Open punches every range that is not a complete record (a
// crashed write, a pre-filled tail); records whose exchange is not live are
// the sweeper's orphans (List / RemoveOrphans) as with files.
//
// A download that is streaming a blob when it is deleted fails (its source
// reports the deletion) instead of reading the punched range as zeros.
//
// Pending packed blobs are held in memory (at most max_packed_bytes each)
// until Publish writes them with a single pwrite.
//
// Thread safety: every method may be called from any thread.
#ifndef XGW_GATEWAY_SEGMENT_BLOB_STORE_H_
#define XGW_GATEWAY_SEGMENT_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "gateway/blob_store.h"
#include "gateway/file_blob_store.h"

namespace xgw {

struct SegmentBlobOptions {
  // Blobs whose Create announces at most this many bytes are packed; 0: none
  // (existing segments are still read, deleted and swept).
  uint64_t max_packed_bytes = 256u << 10;
  // Size of each segment file; 0: max(32 MiB, 8 x max_packed_bytes).
  uint64_t segment_bytes = 0;
};

class SegmentBlobStore final : public BlobStore {
 public:
  // Opens (creating if missing) `dir`, `dir`/tmp and `dir`/segments, reads
  // the segments' headers and punches what is not a complete record.
  static Result<std::unique_ptr<SegmentBlobStore>> Open(const std::string& dir, SegmentBlobOptions options);
  ~SegmentBlobStore() override;

  Result<std::unique_ptr<PendingBlob>> Create(const std::string& id, uint64_t expected_max) override;
  Result<StoredBlob> Read(const std::string& id) override;
  Result<void> Delete(const std::string& id) override;
  Result<std::vector<std::string>> List() override;
  Result<uint64_t> RemoveOrphans(const std::vector<std::string>& ids) override;
  Result<uint64_t> DiscardAllPending() override;

  struct Stats {
    uint64_t packed = 0;          // records in the index
    uint64_t segments = 0;        // segment files open (active and spare included)
    uint64_t punched_at_open = 0; // ranges Open punched (not complete records)
  };
  Stats stats() const;

  class State;  // internal

 private:
  explicit SegmentBlobStore(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// The gateway's blob store for `dir`: a SegmentBlobStore when
// `packed_max_bytes` > 0 or `dir`/segments exists (segments written before
// packing was turned off stay readable and deletable), else FileBlobStore.
Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& dir, uint64_t packed_max_bytes);

}  // namespace xgw

#endif  // XGW_GATEWAY_SEGMENT_BLOB_STORE_H_
