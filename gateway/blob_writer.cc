#include "gateway/blob_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/io.h"

namespace xgw {

namespace {

// Switches O_DIRECT on or off for fd; false if the file system refuses.
bool SetDirect(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  const int want = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
  return want == flags || ::fcntl(fd, F_SETFL, want) == 0;
}

// Writes all of data at offset; errno on failure, 0 on success.
int PwriteAll(int fd, const uint8_t* data, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

// Large uploads: the calling thread fills aligned kChunk buffers; a writer
// thread writes full ones with direct I/O. kBuffers bounds the memory (4 MiB
// per upload) and makes the caller wait when the disk falls behind, as the
// kernel's dirty-page throttling would with buffered writes.
class BlobWriter::Direct {
 public:
  static constexpr size_t kChunk = 1u << 20;  // a multiple of any block size
  static constexpr size_t kAlign = 4096;
  static constexpr int kBuffers = 4;

  static std::unique_ptr<Direct> Start(int fd) {
    if (!SetDirect(fd, true)) return nullptr;
    auto d = std::unique_ptr<Direct>(new Direct(fd));
    for (int i = 0; i < kBuffers; ++i) {
      void* p = std::aligned_alloc(kAlign, kChunk);
      if (p == nullptr) {
        (void)SetDirect(fd, false);
        return nullptr;
      }
      d->buffers_.push_back({static_cast<uint8_t*>(p), 0, 0});
    }
    for (auto& b : d->buffers_) d->free_.push_back(&b);
    d->thread_ = std::thread([p = d.get()] { p->WriterLoop(); });
    return d;
  }

  ~Direct() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      abandon_ = true;  // an upload given up: what is queued need not be written
    }
    full_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& b : buffers_) std::free(b.data);
  }

  Result<void> Write(std::span<const uint8_t> data, const std::string& path) {
    while (!data.empty()) {
      if (fill_ == nullptr) {
        std::unique_lock lk(mu_);
        free_cv_.wait(lk, [&] { return !free_.empty() || error_ != 0; });
        if (error_ != 0) return tl::unexpected(IoError("write", path, error_));
        fill_ = free_.back();
        free_.pop_back();
        fill_->used = 0;
        fill_->offset = next_offset_;
      }
      const size_t n = std::min(data.size(), kChunk - fill_->used);
      std::memcpy(fill_->data + fill_->used, data.data(), n);
      fill_->used += n;
      next_offset_ += n;
      data = data.subspan(n);
      if (fill_->used == kChunk) {
        {
          std::lock_guard lk(mu_);
          full_.push_back(fill_);
        }
        fill_ = nullptr;
        full_cv_.notify_one();
      }
    }
    return {};
  }

  // Waits until every queued buffer is written, stops the writer thread,
  // turns direct I/O off and writes the last, partly filled buffer through
  // the page cache (its length need not be a multiple of the block size).
  Result<void> Finish(const std::string& path) {
    {
      std::unique_lock lk(mu_);
      free_cv_.wait(lk, [&] { return full_.empty(); });
      stop_ = true;
    }
    full_cv_.notify_all();
    thread_.join();
    if (error_ != 0) return tl::unexpected(IoError("write", path, error_));
    if (!SetDirect(fd_, false)) return tl::unexpected(IoError("fcntl", path, errno));
    direct_ = false;
    if (fill_ != nullptr && fill_->used > 0) {
      if (int err = PwriteAll(fd_, fill_->data, fill_->used, fill_->offset); err != 0) {
        return tl::unexpected(IoError("write", path, err));
      }
      (void)::sync_file_range(fd_, static_cast<off_t>(fill_->offset), static_cast<off_t>(fill_->used),
                              SYNC_FILE_RANGE_WRITE);
    }
    return {};
  }

  bool direct() const { return direct_; }

 private:
  struct Buffer {
    uint8_t* data;
    size_t used;
    uint64_t offset;
  };

  explicit Direct(int fd) : fd_(fd) {}

  void WriterLoop() {
    for (;;) {
      Buffer* b = nullptr;
      {
        std::unique_lock lk(mu_);
        full_cv_.wait(lk, [&] { return stop_ || !full_.empty(); });
        if (full_.empty() || abandon_) return;
        b = full_.front();
      }
      const int err = error_ != 0 ? 0 : WriteChunk(*b);
      {
        std::lock_guard lk(mu_);
        full_.pop_front();
        free_.push_back(b);
        if (err != 0 && error_ == 0) error_ = err;
      }
      free_cv_.notify_all();
    }
  }

  // A file system may accept O_DIRECT at open and still refuse a write
  // (EINVAL: an alignment it needs that we do not meet): the rest of the
  // file then goes through the page cache.
  int WriteChunk(const Buffer& b) {
    int err = PwriteAll(fd_, b.data, b.used, b.offset);
    if (err == EINVAL && direct_) {
      direct_ = false;
      if (!SetDirect(fd_, false)) return errno;
      err = PwriteAll(fd_, b.data, b.used, b.offset);
    }
    return err;
  }

  const int fd_;
  std::vector<Buffer> buffers_;
  Buffer* fill_ = nullptr;   // caller's thread only
  uint64_t next_offset_ = 0;  // caller's thread only
  std::atomic<bool> direct_{true};
  std::mutex mu_;
  std::condition_variable full_cv_;  // the writer waits for work
  std::condition_variable free_cv_;  // the caller waits for a free buffer / a drained queue
  std::deque<Buffer*> full_;         // written in order; front = being written
  std::vector<Buffer*> free_;
  int error_ = 0;  // first errno of the writer thread
  bool stop_ = false;
  bool abandon_ = false;
  std::thread thread_;
};

BlobWriter::BlobWriter(int fd, std::string path, uint64_t expected_max) : fd_(fd), path_(std::move(path)) {
  if (expected_max >= kDirectThreshold) direct_ = Direct::Start(fd_);
}

BlobWriter::~BlobWriter() = default;

void BlobWriter::Abandon() { direct_.reset(); }

bool BlobWriter::direct() const { return direct_ && direct_->direct(); }

Result<void> BlobWriter::Write(std::span<const uint8_t> data) {
  if (!direct_) return WriteBuffered(data);
  XGW_CHECK(direct_->Write(data, path_));
  size_ += data.size();
  return {};
}

Result<void> BlobWriter::Finish() {
  if (direct_) {
    auto r = direct_->Finish(path_);
    direct_.reset();
    return r;
  }
  StartWriteback(true);
  return {};
}

Result<void> BlobWriter::WriteBuffered(std::span<const uint8_t> data) {
  if (int err = PwriteAll(fd_, data.data(), data.size(), size_); err != 0) {
    return tl::unexpected(IoError("write", path_, err));
  }
  size_ += data.size();
  StartWriteback(false);
  return {};
}

// Hands every written stretch of kWritebackStep bytes to the disk at once
// (asynchronous, never waits) instead of leaving a GiB of dirty pages for
// the final fdatasync; drops the stretch before it from the page cache.
void BlobWriter::StartWriteback(bool all) {
  if (!all && size_ - written_back_ < kWritebackStep) return;
  if (size_ == written_back_) return;
  (void)::sync_file_range(fd_, static_cast<off_t>(written_back_), static_cast<off_t>(size_ - written_back_),
                          SYNC_FILE_RANGE_WRITE);
  if (dropped_ < written_back_) {
    (void)::posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(written_back_ - dropped_),
                          POSIX_FADV_DONTNEED);
    dropped_ = written_back_;
  }
  written_back_ = size_;
}

}  // namespace xgw
