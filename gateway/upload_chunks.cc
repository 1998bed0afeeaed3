#include "gateway/upload_chunks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "crypto/hash.h"
#include "gateway/file_blob_store.h"
#include "gateway/ids.h"

namespace xgw {

namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::string> ContentDigestSha256(std::string_view header) {
  const auto invalid = [](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(why) + ": send the chunk's SHA-256 as Content-Digest: sha-256=:<base64>: (RFC 9530)");
  };
  if (TrimSpace(header).empty()) return invalid("Content-Digest is required");
  // A dictionary (RFC 8941): key=:byte sequence:, members separated by
  // commas (base64 never contains one).
  std::optional<std::string> found;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    const std::string_view member = TrimSpace(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const size_t eq = member.find('=');
    if (eq == std::string_view::npos || eq == 0) return invalid("Content-Digest is malformed");
    const std::string_view key = member.substr(0, eq);
    const std::string_view value = member.substr(eq + 1);
    if (value.size() < 2 || value.front() != ':' || value.back() != ':') {
      return invalid("Content-Digest is malformed (a digest is a byte sequence between colons)");
    }
    if (key != "sha-256") continue;
    if (found) return invalid("Content-Digest names sha-256 twice");
    const auto raw = Base64Decode(value.substr(1, value.size() - 2));
    if (!raw || raw->size() != 32) return invalid("Content-Digest's sha-256 is not 32 bytes in base64");
    found = HexEncode(*raw);
  }
  if (!found) return invalid("Content-Digest has no sha-256 member");
  return *found;
}

Result<std::unique_ptr<ChunkFiles>> ChunkFiles::Open(std::string dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return tl::unexpected(IoError("mkdir", dir, errno));
  return std::unique_ptr<ChunkFiles>(new ChunkFiles(std::move(dir)));
}

ChunkFiles::Writer::Writer(std::string dir, std::string name, std::string tmp, int fd, uint64_t max_bytes)
    : dir_(std::move(dir)), name_(std::move(name)), tmp_(std::move(tmp)), fd_(fd),
      writer_(std::make_unique<BlobWriter>(fd_, tmp_, max_bytes)) {}

ChunkFiles::Writer::Writer(Writer&& other) noexcept
    : dir_(std::move(other.dir_)), name_(std::move(other.name_)), tmp_(std::move(other.tmp_)),
      fd_(std::exchange(other.fd_, -1)), writer_(std::move(other.writer_)),
      committed_(std::exchange(other.committed_, true)) {}

ChunkFiles::Writer::~Writer() {
  if (writer_) writer_->Abandon();  // its thread must not write to a closed descriptor
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Result<void> ChunkFiles::Writer::Commit() {
  XGW_CHECK(writer_->Finish());
  if (::fdatasync(fd_) != 0) return tl::unexpected(IoError("fdatasync", tmp_, errno));
  const std::string path = dir_ + "/" + name_;
  if (::rename(tmp_.c_str(), path.c_str()) != 0) return tl::unexpected(IoError("rename to", path, errno));
  committed_ = true;
  return SyncDirectory(dir_);
}

Result<ChunkFiles::Writer> ChunkFiles::Create(const std::string& exchange_id, int64_t n, uint64_t max_bytes) {
  const std::string dir = DirOf(exchange_id);
  if (::mkdir(dir.c_str(), 0700) == 0) {
    XGW_CHECK(SyncDirectory(dir_));  // the new directory's entry survives a crash
  } else if (errno != EEXIST) {
    return tl::unexpected(IoError("mkdir", dir, errno));
  }
  // A fresh name per attempt: "<n>-<random id>", written as "<name>.tmp".
  std::string name = std::to_string(n) + "-" + NewId("chk");
  std::string tmp = dir + "/" + name + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return tl::unexpected(IoError("open", tmp, errno));
  return Writer(dir, std::move(name), std::move(tmp), fd, max_bytes);
}

Result<FileSource> ChunkFiles::Read(const std::string& exchange_id, const std::string& name) const {
  return FileSource::Open(DirOf(exchange_id) + "/" + name);
}

void ChunkFiles::Remove(const std::string& exchange_id, const std::string& name) {
  ::unlink((DirOf(exchange_id) + "/" + name).c_str());
}

Result<void> ChunkFiles::RemoveAll(const std::string& exchange_id) {
  const std::string dir = DirOf(exchange_id);
  auto names = DirectoryNames(dir);
  if (!names) return {};  // no directory: nothing to remove
  for (const auto& name : *names) {
    if (::unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT) {
      return tl::unexpected(IoError("unlink", dir + "/" + name, errno));
    }
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return tl::unexpected(IoError("rmdir", dir, errno));
  return SyncDirectory(dir_);
}

Result<std::vector<std::string>> ChunkFiles::Exchanges() const { return DirectoryNames(dir_); }

Result<std::vector<std::string>> ChunkFiles::Files(const std::string& exchange_id) const {
  return DirectoryNames(DirOf(exchange_id));
}

}  // namespace xgw
