// The embedded blob store: one file per blob, <dir>/<id>.age, pending blobs
// in <dir>/tmp/<id>. Publication is a rename that never replaces
// (renameat2 RENAME_NOREPLACE); durability is the file's fdatasync plus an
// fsync of the directory shared by concurrent publications (DirectorySync).
// Writing uses BlobWriter (page cache with early writeback, or direct I/O
// for large blobs).
#ifndef XGW_GATEWAY_FILE_BLOB_STORE_H_
#define XGW_GATEWAY_FILE_BLOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "gateway/blob_store.h"
#include "gateway/group_commit.h"

namespace xgw {

class FileBlobStore final : public BlobStore {
 public:
  // Creates `dir` and `dir`/tmp (mode 0700) if missing.
  static Result<std::unique_ptr<FileBlobStore>> Open(const std::string& dir);

  Result<std::unique_ptr<PendingBlob>> Create(const std::string& id, uint64_t expected_max) override;
  Result<StoredBlob> Read(const std::string& id) override;
  Result<void> Delete(const std::string& id) override;
  Result<std::vector<std::string>> List() override;
  Result<uint64_t> RemoveOrphans(const std::vector<std::string>& ids) override;
  Result<uint64_t> DiscardAllPending() override;

  std::string BlobPath(const std::string& id) const { return dir_ + "/" + id + ".age"; }
  std::string PendingPath(const std::string& id) const { return tmp_dir_ + "/" + id; }
  DirectorySync& directory_sync() { return dir_sync_; }

 private:
  explicit FileBlobStore(std::string dir);
  std::string dir_, tmp_dir_;
  DirectorySync dir_sync_;
};

// The names in `dir` except "." and "..", in no particular order; the error
// of opening it.
Result<std::vector<std::string>> DirectoryNames(const std::string& dir);

}  // namespace xgw

#endif  // XGW_GATEWAY_FILE_BLOB_STORE_H_
