#include "gateway/subject_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/io.h"
#include "crypto/subject_key.h"
#include "gateway/ids.h"

namespace xgw {
namespace {

constexpr const char* kDirKey = "exchanges.subject_keys_dir";

// Closes the descriptor it holds when it goes out of scope.
struct ScopedFd {
  explicit ScopedFd(int f) : fd(f) {}
  ~ScopedFd() {
    if (fd >= 0) ::close(fd);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int fd;
};

// What is wrong with the key directory, or "" if nothing. The owner matters
// as much as the mode: whoever owns the directory can put a key of their
// choosing in it.
std::string DirectoryProblem(const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  if (st.st_uid != ::geteuid()) {
    return "must be owned by the user xgwd runs as (uid " + std::to_string(::geteuid()) + ")";
  }
  if ((st.st_mode & 077) != 0) return "must not be accessible to group or others (chmod 0700)";
  return "";
}

std::string FileProblem(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if ((st.st_mode & 077) != 0) return "is readable or writable by group or others (chmod 0600)";
  return "";
}

}  // namespace

Result<void> CheckSubjectKeysDir(const std::string& dir) {
  if (dir.empty()) return {};
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return Fail(
        ErrorCode::kIo,
        std::string(kDirKey) + " " + dir + ": " + std::strerror(err) +
            (err == ENOENT ? " (create it with mode 0700, owned by the user xgwd runs as)" : ""));
  }
  if (std::string what = DirectoryProblem(st); !what.empty()) {
    return Fail(ErrorCode::kKey, std::string(kDirKey) + " " + dir + " " + what);
  }
  return {};
}

Result<std::optional<SecretBuffer>> ReadOrgSubjectKey(const std::string& dir,
                                                      const std::string& org_id) {
  if (dir.empty()) return std::optional<SecretBuffer>();
  // Org ids are generated (ids.h), but this one becomes a file name.
  if (!IsValidId(kOrgPrefix, org_id))
    return Fail(ErrorCode::kInvalidArgument, "not an organisation id");
  ScopedFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat st{};
  if (d.fd < 0 || ::fstat(d.fd, &st) != 0) {
    return Fail(ErrorCode::kIo,
                std::string(kDirKey) + " cannot be opened: " + std::strerror(errno));
  }
  if (std::string what = DirectoryProblem(st); !what.empty()) {
    return Fail(ErrorCode::kKey, std::string(kDirKey) + " " + what);
  }
  const std::string where = org_id + ".key in " + kDirKey;
  // O_NONBLOCK: a FIFO put there by mistake must not hang the upload.
  ScopedFd f(::openat(d.fd, (org_id + ".key").c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (f.fd < 0) {
    if (errno == ENOENT) return std::optional<SecretBuffer>();
    return Fail(ErrorCode::kIo, where + " cannot be opened: " + std::strerror(errno));
  }
  if (::fstat(f.fd, &st) != 0) return Fail(ErrorCode::kIo, where + ": " + std::strerror(errno));
  if (std::string what = FileProblem(st); !what.empty())
    return Fail(ErrorCode::kKey, where + " " + what);
  FileSource in = FileSource::Borrow(f.fd);
  auto key = ReadSubjectKey(in);
  if (!key) return Fail(key.error().code, where + " " + key.error().message);
  return std::optional<SecretBuffer>(std::move(*key));
}

}  // namespace xgw
