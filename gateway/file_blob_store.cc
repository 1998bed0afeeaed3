#include "gateway/file_blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "gateway/blob_writer.h"

namespace xgw {

Result<std::vector<std::string>> DirectoryNames(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return tl::unexpected(IoError("opendir", dir, errno));
  std::vector<std::string> names;
  while (dirent* ent = ::readdir(d)) {
    const std::string name = ent->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

namespace {

class PendingFile final : public PendingBlob {
 public:
  PendingFile(FileBlobStore& store, std::string id, int fd, uint64_t expected_max)
      : store_(store), id_(std::move(id)), fd_(fd), pending_path_(store.PendingPath(id_)),
        writer_(fd_, pending_path_, expected_max) {}
  ~PendingFile() override {
    writer_.Abandon();  // its thread must not write to a closed descriptor
    CloseFd();
    if (state_ == State::kWriting) ::unlink(pending_path_.c_str());
  }

  Result<void> Write(std::span<const uint8_t> data) override { return writer_.Write(data); }
  Result<void> Finish() override { return writer_.Finish(); }
  uint64_t size() const override { return writer_.size(); }

  Result<std::unique_ptr<ByteSource>> ReadBack() override {
    if (::lseek(fd_, 0, SEEK_SET) != 0) return tl::unexpected(IoError("lseek", pending_path_, errno));
    return std::unique_ptr<ByteSource>(std::make_unique<FileSource>(FileSource::Borrow(fd_)));
  }

  Result<void> Publish() override {
    const std::string final_path = store_.BlobPath(id_);
    // Never over another blob: an earlier upload of the same exchange that
    // completed (or is completing) keeps its own.
    if (::renameat2(AT_FDCWD, pending_path_.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) != 0) {
      const int err = errno;
      // EEXIST: published already; ENOENT: the pending blob was discarded
      // (the sweeper removed its exchange) while it was written.
      if (err == EEXIST || err == ENOENT) return Fail(ErrorCode::kConflict, "the blob cannot be published");
      return tl::unexpected(IoError("rename", pending_path_, err));
    }
    state_ = State::kPublished;
    renamed_ = store_.directory_sync().Changed();
    return {};
  }

  Result<void> AwaitDurable() override {
    // The data (the caller started its writeback) and the directory entry
    // (one fsync shared with concurrent publications) reach the disk.
    const int sync_errno = ::fdatasync(fd_) == 0 ? 0 : errno;
    CloseFd();
    const Result<void> entry_synced = store_.directory_sync().SyncedPast(renamed_);
    if (sync_errno != 0) return tl::unexpected(IoError("fdatasync", store_.BlobPath(id_), sync_errno));
    return entry_synced;
  }

  void Unpublish() override {
    if (state_ == State::kPublished) ::unlink(store_.BlobPath(id_).c_str());
    state_ = State::kGone;
  }

  void Discard() override {
    writer_.Abandon();
    CloseFd();
    if (state_ == State::kWriting) ::unlink(pending_path_.c_str());
    state_ = State::kGone;
  }

 private:
  enum class State { kWriting, kPublished, kGone };
  void CloseFd() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

  FileBlobStore& store_;
  std::string id_;
  int fd_;
  std::string pending_path_;
  BlobWriter writer_;
  State state_ = State::kWriting;
  DirectorySync::Ticket renamed_ = 0;
};

}  // namespace

FileBlobStore::FileBlobStore(std::string dir)
    : dir_(std::move(dir)), tmp_dir_(dir_ + "/tmp"), dir_sync_(DirectorySync::For(dir_)) {}

Result<std::unique_ptr<FileBlobStore>> FileBlobStore::Open(const std::string& dir) {
  std::unique_ptr<FileBlobStore> store(new FileBlobStore(dir));
  for (const std::string& d : {store->dir_, store->tmp_dir_}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return tl::unexpected(IoError("mkdir", d, errno));
  }
  return store;
}

Result<std::unique_ptr<PendingBlob>> FileBlobStore::Create(const std::string& id, uint64_t expected_max) {
  const std::string path = PendingPath(id);
  // Read-write: the header is checked through the same descriptor.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Fail(ErrorCode::kConflict, "an upload of this exchange is in progress");
    return tl::unexpected(IoError("open", path, errno));
  }
  return std::unique_ptr<PendingBlob>(std::make_unique<PendingFile>(*this, id, fd, expected_max));
}

Result<StoredBlob> FileBlobStore::Read(const std::string& id) {
  const std::string path = BlobPath(id);
  XGW_TRY(auto src, FileSource::Open(path));
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return tl::unexpected(IoError("stat", path, errno));
  return StoredBlob{std::make_unique<FileSource>(std::move(src)), static_cast<uint64_t>(st.st_size)};
}

Result<void> FileBlobStore::Delete(const std::string& id) {
  const std::string path = BlobPath(id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return tl::unexpected(IoError("unlink", path, errno));
  ::unlink(PendingPath(id).c_str());
  return SyncDirectory(dir_);
}

Result<std::vector<std::string>> FileBlobStore::List() {
  XGW_TRY(auto names, DirectoryNames(dir_));
  static constexpr std::string_view kSuffix = ".age";
  std::vector<std::string> ids;
  for (auto& name : names) {
    if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) continue;
    name.resize(name.size() - kSuffix.size());
    ids.push_back(std::move(name));
  }
  return ids;
}

Result<uint64_t> FileBlobStore::RemoveOrphans(const std::vector<std::string>& ids) {
  uint64_t removed = 0;
  for (const auto& id : ids) removed += ::unlink(BlobPath(id).c_str()) == 0 ? 1 : 0;
  // Best effort: an orphan that comes back after a crash is removed again.
  if (removed > 0) (void)SyncDirectory(dir_);
  return removed;
}

Result<uint64_t> FileBlobStore::DiscardAllPending() {
  XGW_TRY(auto names, DirectoryNames(tmp_dir_));
  uint64_t removed = 0;
  for (const auto& name : names) removed += ::unlink((tmp_dir_ + "/" + name).c_str()) == 0 ? 1 : 0;
  if (removed > 0) (void)SyncDirectory(tmp_dir_);  // as above
  return removed;
}

}  // namespace xgw
