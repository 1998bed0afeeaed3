// Output::Open, behind every `-o PATH` of xgw (contract in cli.h).
//
// Why not always temporary file + rename: rename replaces whatever the path
// names. Run as root, `-o /dev/null` turned /dev/null into a regular file
// that then collected every later writer's output; a FIFO or a symbolic link
// was replaced the same way. So a path is looked at first, and only a
// regular file (or nothing) is written by rename.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "client/cli.h"
#include "crypto/secret.h"

namespace xgw::cli {

IfExists IfExistsFromFlags(const Args& args) {
  return args.Has("force") ? IfExists::kReplace : IfExists::kRefuse;
}

namespace {

constexpr size_t kBuffer = 64 * 1024;

Error RefuseExisting(const std::string& path) {
  return Error{ErrorCode::kConflict, "refusing to overwrite existing file " + path +
                                         ": pass --force to replace it, or choose another -o path"};
}

// Buffered writes to a descriptor it owns. Unlike FileSink, bytes still
// buffered when it dies are wiped, not written: a command that fails hands
// its output nothing more.
class FdSink : public ByteSink {
 public:
  FdSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) { buf_.reserve(kBuffer); }
  FdSink(const FdSink&) = delete;
  FdSink& operator=(const FdSink&) = delete;
  ~FdSink() override {
    WipeMemory(buf_.data(), buf_.size());
    if (fd_ >= 0) ::close(fd_);
  }
  Result<void> Write(std::span<const uint8_t> data) override {
    if (buf_.size() + data.size() > kBuffer) XGW_CHECK(Flush());
    if (data.size() >= kBuffer) return WriteAll(data);
    buf_.insert(buf_.end(), data.begin(), data.end());
    return {};
  }
  Result<void> Flush() override {
    auto r = WriteAll(buf_);
    WipeMemory(buf_.data(), buf_.size());
    buf_.clear();
    return r;
  }

 protected:
  int fd_;
  std::string path_;

 private:
  Result<void> WriteAll(std::span<const uint8_t> data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return tl::unexpected(IoError("write", path_, errno));
      data = data.subspan(static_cast<size_t>(n));
    }
    return {};
  }
  std::vector<uint8_t> buf_;
};

Result<void> RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno == EEXIST) return tl::unexpected(RefuseExisting(to));
  if (errno != EINVAL && errno != ENOSYS) return tl::unexpected(IoError("rename to", to, errno));
  // A file system without RENAME_NOREPLACE: a hard link cannot replace either.
  if (::link(from.c_str(), to.c_str()) == 0) {
    ::unlink(from.c_str());
    return {};
  }
  if (errno == EEXIST) return tl::unexpected(RefuseExisting(to));
  return tl::unexpected(IoError("link to", to, errno));
}

}  // namespace

// A regular file written as a temporary file beside its final path, which
// Commit() fsyncs and renames into place; abandoned, the temporary file is
// removed. Without `replace`, Commit() never replaces a file that appeared at
// the path after Open looked.
class ReplacingFile final : public FdSink {
 public:
  static Result<std::unique_ptr<ReplacingFile>> Create(const std::string& path, unsigned mode,
                                                       bool replace) {
    std::string tmp = path + ".tmp-XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // mode 0600 until fchmod
    if (fd < 0) return tl::unexpected(IoError("create temporary file for", path, errno));
    auto file =
        std::unique_ptr<ReplacingFile>(new ReplacingFile(fd, path, std::move(tmp), replace));
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0)
      return tl::unexpected(IoError("chmod", file->tmp_, errno));
    return file;
  }
  ~ReplacingFile() override {
    if (!committed_) ::unlink(tmp_.c_str());
  }
  Result<void> Commit() {
    XGW_CHECK(Flush());
    if (::fsync(fd_) != 0) return tl::unexpected(IoError("fsync", tmp_, errno));
    if (replace_) {
      // --force replaces a regular file, never what took its place since.
      struct stat st {};
      if (::lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        return Fail(ErrorCode::kConflict,
                    "output " + path_ + " is no longer a regular file: nothing was replaced");
      if (::rename(tmp_.c_str(), path_.c_str()) != 0)
        return tl::unexpected(IoError("rename to", path_, errno));
    } else {
      XGW_CHECK(RenameNoReplace(tmp_, path_));
    }
    committed_ = true;
    std::string dir = std::filesystem::path(path_).parent_path().string();
    return SyncDirectory(dir.empty() ? "." : dir);
  }

 private:
  ReplacingFile(int fd, std::string path, std::string tmp, bool replace)
      : FdSink(fd, std::move(path)), tmp_(std::move(tmp)), replace_(replace) {}
  std::string tmp_;
  bool replace_;
  bool committed_ = false;
};

namespace {

// An existing non-regular file, written where it is: no O_CREAT (it exists),
// no O_TRUNC (meaningless for a device or FIFO), no chmod. A FIFO without a
// reader blocks here until one comes, as with age or a shell redirection.
Result<std::unique_ptr<ByteSink>> OpenInPlace(const std::string& path, bool* is_terminal) {
  int fd = ::open(path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(IoError("open output", path, errno));
  auto sink = std::make_unique<FdSink>(fd, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return tl::unexpected(IoError("inspect output", path, errno));
  // Swapped for a regular file since we looked: writing it in place would
  // leave it half-overwritten.
  if (S_ISREG(st.st_mode))
    return Fail(ErrorCode::kConflict,
                "output " + path + " changed while it was being opened: run the command again");
  *is_terminal = ::isatty(fd) == 1;
  return std::unique_ptr<ByteSink>(std::move(sink));
}

}  // namespace

Result<Output> Output::Open(const std::string& path, unsigned mode, IfExists if_exists) {
  Output out;
  if (path.empty() || path == "-") {
    out.sink_ = std::make_unique<FileSink>(FileSink::Borrow(1));
    out.is_terminal_ = ::isatty(1) == 1;
    return out;
  }
  std::string target = path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return tl::unexpected(IoError("inspect output", path, errno));
    XGW_TRY(auto file, ReplacingFile::Create(path, mode, false));
    out.file_ = file.get();
    out.sink_ = std::move(file);
    return out;
  }
  if (S_ISLNK(st.st_mode)) {
    // A symbolic link is followed, never replaced by a regular file. To a
    // device or FIFO (/dev/stdout, /dev/fd/3) it is written through, as age
    // does. To a regular file it is an existing file: refused without
    // --force, and with it the file it points to is replaced atomically in
    // its own directory, the link kept (a link the user made, such as
    // latest.csv -> lists/2024.csv, keeps meaning what it meant). A link to
    // nothing is refused even with --force: creating a file wherever a link
    // points is how a link planted in a shared directory redirects a write.
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT)
        return Fail(ErrorCode::kConflict,
                    "output " + path +
                        " is a symbolic link to a file that does not exist: refusing to create a "
                        "file through it; give the target path itself");
      return tl::unexpected(IoError("follow symbolic link", path, errno));
    }
    if (S_ISREG(st.st_mode)) {
      char resolved[PATH_MAX];
      if (::realpath(path.c_str(), resolved) == nullptr)
        return tl::unexpected(IoError("resolve symbolic link", path, errno));
      target = resolved;
    }
  }
  if (!S_ISREG(st.st_mode)) {
    XGW_TRY(out.sink_, OpenInPlace(path, &out.is_terminal_));
    return out;
  }
  if (if_exists == IfExists::kRefuse) return tl::unexpected(RefuseExisting(path));
  XGW_TRY(auto file, ReplacingFile::Create(target, mode, true));
  out.file_ = file.get();
  out.sink_ = std::move(file);
  return out;
}

Result<void> Output::Commit() {
  if (file_ != nullptr) return file_->Commit();
  return sink_->Flush();
}

}  // namespace xgw::cli
