#include "crypto/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "crypto/secret.h"

namespace xgw {

namespace {
constexpr size_t kCopyBuffer = 64 * 1024;
constexpr size_t kSinkBuffer = 64 * 1024;
}  // namespace

Error IoError(std::string_view what, std::string_view path, int err) {
  std::string msg(what);
  if (!path.empty()) {
    msg += " ";
    msg += path;
  }
  msg += ": ";
  msg += std::strerror(err);
  return Error{ErrorCode::kIo, std::move(msg)};
}

Result<size_t> ReadFull(ByteSource& source, std::span<uint8_t> buf) {
  size_t got = 0;
  while (got < buf.size()) {
    XGW_TRY(size_t n, source.Read(buf.subspan(got)));
    if (n == 0) break;
    got += n;
  }
  return got;
}

Result<uint64_t> Copy(ByteSource& source, ByteSink& sink) {
  std::vector<uint8_t> buf(kCopyBuffer);
  uint64_t total = 0;
  for (;;) {
    XGW_TRY(size_t n, source.Read(buf));
    if (n == 0) break;
    XGW_CHECK(sink.Write(std::span<const uint8_t>(buf.data(), n)));
    total += n;
  }
  return total;
}

Result<size_t> MemorySource::Read(std::span<uint8_t> buf) {
  size_t n = std::min(buf.size(), data_.size() - pos_);
  if (n > 0) std::memcpy(buf.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Result<size_t> ConcatSource::Read(std::span<uint8_t> buf) {
  if (!first_done_) {
    XGW_TRY(size_t n, first_.Read(buf));
    if (n > 0 || buf.empty()) return n;
    first_done_ = true;
  }
  return second_.Read(buf);
}

Result<void> StringSink::Write(std::span<const uint8_t> data) {
  out_.append(reinterpret_cast<const char*>(data.data()), data.size());
  return {};
}

Result<FileSource> FileSource::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(IoError("open", path, errno));
  return FileSource(fd, true);
}

FileSource::FileSource(FileSource&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), owned_(std::exchange(other.owned_, false)) {}

FileSource::~FileSource() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

Result<size_t> FileSource::Read(std::span<uint8_t> buf) {
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return tl::unexpected(IoError("read", "", errno));
  }
}

FileSink::FileSink(FileSink&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      owned_(std::exchange(other.owned_, false)),
      buf_(std::move(other.buf_)) {}

FileSink::~FileSink() {
  // Best effort: callers that care call Flush() and check the result.
  if (fd_ >= 0 && !buf_.empty()) (void)WriteRaw(buf_);
  WipeMemory(buf_.data(), buf_.size());
  if (owned_ && fd_ >= 0) ::close(fd_);
}

Result<void> FileSink::WriteRaw(std::span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(IoError("write", "", errno));
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return {};
}

Result<void> FileSink::Write(std::span<const uint8_t> data) {
  if (data.size() >= kSinkBuffer) {
    XGW_CHECK(Flush());
    return WriteRaw(data);
  }
  if (buf_.size() + data.size() > kSinkBuffer) XGW_CHECK(Flush());
  if (buf_.capacity() < kSinkBuffer) buf_.reserve(kSinkBuffer);
  buf_.insert(buf_.end(), data.begin(), data.end());
  return {};
}

Result<void> FileSink::Flush() {
  if (buf_.empty()) return {};
  auto r = WriteRaw(buf_);
  WipeMemory(buf_.data(), buf_.size());
  buf_.clear();
  return r;
}

Result<AtomicFile> AtomicFile::Create(const std::string& path, unsigned mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return tl::unexpected(IoError("create temporary file for", path, errno));
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return tl::unexpected(IoError("chmod", tmp, err));
  }
  return AtomicFile(path, tmp, fd);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_(std::move(other.tmp_)),
      sink_(std::move(other.sink_)),
      committed_(std::exchange(other.committed_, true)) {}

AtomicFile::~AtomicFile() {
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Result<void> AtomicFile::Write(std::span<const uint8_t> data) { return sink_.Write(data); }

Result<void> AtomicFile::Commit() {
  XGW_CHECK(sink_.Flush());
  if (::fsync(sink_.fd_) != 0) return tl::unexpected(IoError("fsync", tmp_, errno));
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    return tl::unexpected(IoError("rename to", path_, errno));
  committed_ = true;
  std::string dir = std::filesystem::path(path_).parent_path().string();
  return SyncDirectory(dir.empty() ? "." : dir);
}

Result<void> SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(IoError("open directory", dir, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return tl::unexpected(IoError("fsync directory", dir, err));
  return {};
}

}  // namespace xgw
