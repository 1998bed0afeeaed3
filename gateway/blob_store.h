// Where ciphertexts live: the storage seam for exchange payloads.
//
// A blob is written as a PendingBlob (streamed, invisible), then published
// under its exchange id: durable and visible atomically, never over an
// existing blob. Publication comes in halves (Publish, then AwaitDurable) so
// that the caller commits the upload's audit events while the store waits
// for its disk. Reads are streamed; deletion is durable.
//
// FileBlobStore (gateway/file_blob_store.h) is the embedded default: one
// file per blob in <state>/blobs. docs/architecture.md says how the same
// operations map onto a PostgreSQL large object or an S3-compatible store.
#ifndef XGW_GATEWAY_BLOB_STORE_H_
#define XGW_GATEWAY_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "crypto/error.h"
#include "crypto/io.h"

namespace xgw {

// A blob being written. Destroying one that was not published removes what
// was written; a published one stays (BlobStore::Delete removes it).
class PendingBlob : public ByteSink {
 public:
  // Write (ByteSink) appends bytes in order.
  // Every byte is handed to the store; it may still be writing them out.
  virtual Result<void> Finish() = 0;
  virtual uint64_t size() const = 0;
  // The bytes written so far, from the first (to check the age header
  // before publication). Valid until the next call on this blob.
  virtual Result<std::unique_ptr<ByteSource>> ReadBack() = 0;
  // The blob takes its id: visible to BlobStore::Read from now on.
  // kConflict if the id has a blob already, or the pending blob was
  // discarded meanwhile (BlobStore::Delete, DiscardAllPending).
  virtual Result<void> Publish() = 0;
  // After Publish: returns once data and name are durable.
  virtual Result<void> AwaitDurable() = 0;
  // After Publish, when what had to follow failed: the blob is removed.
  virtual void Unpublish() = 0;
  // Before Publish: gives up at once, removing what was written.
  virtual void Discard() = 0;
};

struct StoredBlob {
  std::unique_ptr<ByteSource> source;
  uint64_t size = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // A new pending blob for `id`; `expected_max` is the most bytes it may
  // hold (the store may choose how to write by it). kConflict if a pending
  // blob of `id` exists (an upload in progress).
  virtual Result<std::unique_ptr<PendingBlob>> Create(const std::string& id, uint64_t expected_max) = 0;
  // The published blob of `id`, streamed.
  virtual Result<StoredBlob> Read(const std::string& id) = 0;
  // Durably removes the published blob of `id` and any pending one; absent
  // is not an error.
  virtual Result<void> Delete(const std::string& id) = 0;
  // Ids of the published blobs, for the sweeper's orphan pass.
  virtual Result<std::vector<std::string>> List() = 0;
  // Removes the published blobs of `ids` (not their pending ones); returns
  // how many were removed.
  virtual Result<uint64_t> RemoveOrphans(const std::vector<std::string>& ids) = 0;
  // Removes every pending blob: only at start-up, when none can be written.
  virtual Result<uint64_t> DiscardAllPending() = 0;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_BLOB_STORE_H_
