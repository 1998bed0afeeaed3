#include "client/cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

namespace xgw::cli {

namespace {
constexpr size_t kMaxPassphrase = 1024;

void WriteStderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// Reads one line (without its end) from fd into secret memory.
Result<SecretBuffer> ReadLineFd(int fd) {
  SecretBuffer buf(kMaxPassphrase);
  size_t len = 0;
  for (;;) {
    uint8_t c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(IoError("read passphrase", "", errno));
    if (n == 0 || c == '\n') break;
    if (len == buf.size()) return Fail(ErrorCode::kInvalidArgument, "passphrase is longer than 1024 bytes");
    buf.data()[len++] = c;
  }
  if (len > 0 && buf.data()[len - 1] == '\r') --len;
  buf.Truncate(len);
  return buf;
}

Result<SecretBuffer> PassphraseFromFile(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(IoError("open XGW_PASSPHRASE_FILE", path, errno));
  auto r = ReadLineFd(fd);
  ::close(fd);
  return r;
}

Result<SecretBuffer> PassphraseFromTty(std::string_view prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return Fail(ErrorCode::kInvalidArgument,
                "no terminal to read a passphrase from (set XGW_PASSPHRASE_FILE for automation)");
  // Echo goes off before the prompt appears, so whatever answers the prompt
  // (a person or a script on a pty) can never be echoed or flushed.
  struct termios old {};
  bool restore = ::tcgetattr(fd, &old) == 0;
  if (restore) {
    struct termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSANOW, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  auto r = ReadLineFd(fd);
  if (restore) ::tcsetattr(fd, TCSAFLUSH, &old);
  ::close(fd);
  return r;
}
}  // namespace

std::vector<std::string> Args::All(std::string_view name) const {
  auto it = values.find(name);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> Args::Last(std::string_view name) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

Result<Args> ParseArgs(std::span<char* const> argv, std::span<const FlagSpec> specs) {
  Args out;
  auto key_of = [](const FlagSpec& f) {
    return f.long_name.empty() ? std::string(1, f.short_name) : std::string(f.long_name);
  };
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    if (flags_done || a == "-" || a.size() < 2 || a[0] != '-') {
      out.positional.emplace_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (a.starts_with("--")) {
      std::string_view name = a.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string_view::npos) {
        inline_value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      for (const auto& f : specs)
        if (!f.long_name.empty() && f.long_name == name) spec = &f;
    } else {
      for (const auto& f : specs)
        if (f.short_name != 0 && f.short_name == a[1]) spec = &f;
      if (spec != nullptr && a.size() > 2) {
        if (!spec->takes_value) spec = nullptr;  // no combined boolean flags
        else inline_value = std::string(a.substr(2));
      }
    }
    if (spec == nullptr) return Fail(ErrorCode::kInvalidArgument, "unknown flag " + std::string(a));
    std::string value;
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= argv.size())
          return Fail(ErrorCode::kInvalidArgument, "flag " + std::string(a) + " needs a value");
        value = argv[++i];
      }
    } else if (inline_value) {
      return Fail(ErrorCode::kInvalidArgument, "flag " + std::string(a.substr(0, a.find('='))) + " takes no value");
    }
    out.values[key_of(*spec)].push_back(std::move(value));
  }
  return out;
}

int ReportError(const Error& error, std::string_view hint) {
  std::string msg = "xgw: error: " + ToString(error) + "\n";
  if (!hint.empty()) msg += "xgw: hint: " + std::string(hint) + "\n";
  WriteStderr(msg);
  return kExitFailure;
}

int RunGuarded(int (*run)(std::span<char* const>), std::span<char* const> args) {
  const char* what_kind = nullptr;
  try {
    return run(args);
  } catch (const std::bad_alloc&) {
    what_kind = "out of memory";
  } catch (const std::exception&) {
    what_kind = "an unexpected exception";
  } catch (...) {
    what_kind = "an unexpected non-standard exception";
  }
  return ReportError(Error{ErrorCode::kInternal, std::string("xgw stopped on ") + what_kind +
                                                     " before the command finished"},
                     "this is a bug in xgw: report the command you ran (never the data); "
                     "an output file it was writing was not created");
}

int UsageError(std::string_view message, std::string_view usage) {
  std::string msg = "xgw: error: " + std::string(message) + "\nusage: " + std::string(usage) + "\n";
  WriteStderr(msg);
  return kExitUsage;
}

void Notice(std::string_view message) {
  WriteStderr(std::string(message) + "\n");
}

Result<SecretBuffer> ReadPassphrase(std::string_view prompt) {
  if (const char* path = std::getenv("XGW_PASSPHRASE_FILE"); path != nullptr && *path != '\0')
    return PassphraseFromFile(path);
  return PassphraseFromTty(prompt);
}

Result<SecretBuffer> ReadNewPassphrase() {
  const char* path = std::getenv("XGW_PASSPHRASE_FILE");
  bool from_file = path != nullptr && *path != '\0';
  XGW_TRY(SecretBuffer first, ReadPassphrase("Enter passphrase: "));
  if (first.empty()) return Fail(ErrorCode::kInvalidArgument, "the passphrase must not be empty");
  if (!from_file) {
    XGW_TRY(SecretBuffer second, ReadPassphrase("Confirm passphrase: "));
    if (!ConstantTimeEqual(first.span(), second.span()))
      return Fail(ErrorCode::kInvalidArgument, "the passphrases do not match");
  }
  return first;
}

Result<std::unique_ptr<ByteSource>> OpenInput(const std::string& path) {
  if (path.empty() || path == "-") return std::unique_ptr<ByteSource>(new FileSource(FileSource::Borrow(0)));
  XGW_TRY(FileSource f, FileSource::Open(path));
  return std::unique_ptr<ByteSource>(new FileSource(std::move(f)));
}

}  // namespace xgw::cli
