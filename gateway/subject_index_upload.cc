#include "gateway/subject_index_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "crypto/io.h"

namespace xgw {

namespace {
constexpr size_t kBatchValues = 2048;  // 64 KiB: one write, one read
}  // namespace

Result<SubjectIndexUpload> SubjectIndexUpload::Open(const std::string& dir, uint64_t count) {
  SubjectIndexUpload index;
  index.count_ = count;
  if (count == 0) return index;
  std::string path = dir + "/subject-index-XXXXXX";
  index.fd_ = ::mkostemp(path.data(), O_CLOEXEC);  // mode 0600
  if (index.fd_ < 0) return tl::unexpected(IoError("create", path, errno));
  // Nothing names it: it goes when the descriptor closes, crash or not.
  ::unlink(path.c_str());
  index.out_.reserve(kBatchValues * kValueSize);
  return index;
}

SubjectIndexUpload::SubjectIndexUpload(SubjectIndexUpload&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), count_(std::exchange(o.count_, 0)), received_(std::exchange(o.received_, 0)),
      hash_(std::move(o.hash_)), last_(o.last_), partial_(o.partial_), partial_size_(o.partial_size_),
      out_(std::move(o.out_)), finished_(o.finished_) {}

SubjectIndexUpload& SubjectIndexUpload::operator=(SubjectIndexUpload&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    count_ = std::exchange(o.count_, 0);
    received_ = std::exchange(o.received_, 0);
    hash_ = std::move(o.hash_);
    last_ = o.last_;
    partial_ = o.partial_;
    partial_size_ = o.partial_size_;
    out_ = std::move(o.out_);
    finished_ = o.finished_;
  }
  return *this;
}

SubjectIndexUpload::~SubjectIndexUpload() {
  if (fd_ >= 0) ::close(fd_);
}

Result<size_t> SubjectIndexUpload::Take(std::span<const uint8_t> data) {
  const size_t take = static_cast<size_t>(std::min<uint64_t>(data.size(), bytes_left()));
  size_t pos = 0;
  while (pos < take) {
    const size_t n = std::min(kValueSize - partial_size_, take - pos);
    std::memcpy(partial_.data() + partial_size_, data.data() + pos, n);
    partial_size_ += n;
    pos += n;
    if (partial_size_ < kValueSize) break;
    partial_size_ = 0;
    // Sorted and unique, as the manifest's hash alone would not show: the
    // index of one exchange holds each person once.
    if (received_ + pos > kValueSize && std::memcmp(partial_.data(), last_.data(), kValueSize) <= 0) {
      return Fail(ErrorCode::kFormat, "the subject index is not sorted and unique (value " +
                                          std::to_string((received_ + pos) / kValueSize) + ")");
    }
    last_ = partial_;
    hash_.Update(partial_);
    out_.insert(out_.end(), partial_.begin(), partial_.end());
    if (out_.size() >= kBatchValues * kValueSize) XGW_CHECK(Flush());
  }
  received_ += take;
  return take;
}

Result<void> SubjectIndexUpload::Flush() {
  size_t done = 0;
  while (done < out_.size()) {
    const ssize_t n = ::write(fd_, out_.data() + done, out_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return tl::unexpected(IoError("write", "the subject-index spool", n < 0 ? errno : EIO));
    done += static_cast<size_t>(n);
  }
  out_.clear();
  return {};
}

Result<void> SubjectIndexUpload::Finish(std::string_view sha256_hex) {
  if (bytes_left() != 0) {
    return Fail(ErrorCode::kFormat, "the body ended inside the subject index (" + std::to_string(bytes_left()) +
                                        " of its " + std::to_string(count_ * kValueSize) + " bytes missing)");
  }
  if (count_ != 0) XGW_CHECK(Flush());
  if (HexEncode(hash_.Finish()) != sha256_hex) {
    return Fail(ErrorCode::kFormat, "the subject index does not match the SHA-256 the signed manifest declares");
  }
  finished_ = true;
  return {};
}

Result<void> SubjectIndexUpload::ForEach(
    const std::function<Result<void>(std::span<const Sha256Digest>)>& batch) const {
  if (!finished_) return Fail(ErrorCode::kInternal, "the subject index was not checked");
  std::vector<Sha256Digest> values(kBatchValues);
  uint64_t offset = 0;
  for (uint64_t left = count_; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kBatchValues));
    auto* bytes = reinterpret_cast<uint8_t*>(values.data());
    size_t got = 0;
    while (got < n * kValueSize) {
      const ssize_t r = ::pread(fd_, bytes + got, n * kValueSize - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return tl::unexpected(IoError("read", "the subject-index spool", r < 0 ? errno : EIO));
      got += static_cast<size_t>(r);
    }
    XGW_CHECK(batch(std::span<const Sha256Digest>(values.data(), n)));
    offset += n * kValueSize;
    left -= n;
  }
  return {};
}

}  // namespace xgw
