// Byte streams used by every module, so that large payloads flow through
// fixed-size buffers instead of sitting in memory.
//
// A ByteSource yields bytes until end of stream; a ByteSink accepts them.
// Neither is thread-safe.
#ifndef XGW_CRYPTO_IO_H_
#define XGW_CRYPTO_IO_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

namespace xgw {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to buf.size() bytes. Returns 0 only at end of stream; may return
  // fewer bytes than asked before the end.
  virtual Result<size_t> Read(std::span<uint8_t> buf) = 0;
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Writes all of `data` or fails.
  virtual Result<void> Write(std::span<const uint8_t> data) = 0;
  // Flushes buffered bytes (and for files, fsyncs when asked at open).
  virtual Result<void> Flush() { return {}; }
};

// Reads until buf is full or the stream ends; returns the count read.
Result<size_t> ReadFull(ByteSource& source, std::span<uint8_t> buf);

// Copies a whole source into a sink with a fixed 64 KiB buffer.
Result<uint64_t> Copy(ByteSource& source, ByteSink& sink);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsText(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Source over memory the caller keeps alive.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> data) : data_(data) {}
  explicit MemorySource(std::string_view data) : data_(AsBytes(data)) {}
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Source reading `first` to its end, then `second` (both kept alive by the
// caller): a header in memory followed by a file, say.
class ConcatSource final : public ByteSource {
 public:
  ConcatSource(ByteSource& first, ByteSource& second) : first_(first), second_(second) {}
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  ByteSource& first_;
  ByteSource& second_;
  bool first_done_ = false;
};

// Sink that appends to a std::string (for small outputs and tests only).
class StringSink final : public ByteSink {
 public:
  Result<void> Write(std::span<const uint8_t> data) override;
  const std::string& str() const { return out_; }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

// Source reading a file descriptor; owns it when opened by path.
class FileSource final : public ByteSource {
 public:
  static Result<FileSource> Open(const std::string& path);
  // Wraps an fd the caller keeps open (stdin).
  static FileSource Borrow(int fd) { return FileSource(fd, false); }
  FileSource(FileSource&& other) noexcept;
  FileSource& operator=(FileSource&&) = delete;
  ~FileSource() override;
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  FileSource(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
};

// Buffered sink writing a file descriptor.
class FileSink final : public ByteSink {
 public:
  static FileSink Borrow(int fd) { return FileSink(fd, false); }
  FileSink(FileSink&& other) noexcept;
  FileSink& operator=(FileSink&&) = delete;
  ~FileSink() override;
  Result<void> Write(std::span<const uint8_t> data) override;
  Result<void> Flush() override;

 private:
  friend class AtomicFile;
  FileSink(int fd, bool owned) : fd_(fd), owned_(owned) {}
  Result<void> WriteRaw(std::span<const uint8_t> data);
  int fd_;
  bool owned_;
  std::vector<uint8_t> buf_;
};

// A file that appears at its final path only once complete and durable:
// written to a temporary file in the same directory, fsynced, renamed over
// the target, and the directory fsynced. Abandoning it (destruction without
// Commit) removes the temporary file. Nothing partial is ever visible.
class AtomicFile final : public ByteSink {
 public:
  // `mode` is the permission of the final file (e.g. 0600 for key files).
  static Result<AtomicFile> Create(const std::string& path, unsigned mode);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile() override;
  Result<void> Write(std::span<const uint8_t> data) override;
  // Flush, fsync, rename, fsync directory.
  Result<void> Commit();

 private:
  AtomicFile(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), sink_(fd, true) {}
  std::string path_;
  std::string tmp_;
  FileSink sink_;
  bool committed_ = false;
};

// fsyncs a directory so that a rename or unlink inside it is durable.
Result<void> SyncDirectory(const std::string& dir);

// "open /x/y: No such file or directory" style message from errno.
Error IoError(std::string_view what, std::string_view path, int err);

}  // namespace xgw

#endif  // XGW_CRYPTO_IO_H_
