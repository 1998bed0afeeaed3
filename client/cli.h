// Shared helpers of the xgw client: flag parsing, user-facing messages, exit
// codes, passphrase input, and input/output files.
#ifndef XGW_CLIENT_CLI_H_
#define XGW_CLIENT_CLI_H_

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/io.h"
#include "crypto/secret.h"

namespace xgw::cli {

// Exit codes of every xgw command (also listed by `xgw --help`).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (bad input, wrong key, I/O ...)
inline constexpr int kExitUsage = 2;    // bad flags or arguments; nothing was done

// One accepted flag: "-x VALUE", "-xVALUE", "--long VALUE", "--long=VALUE",
// or a boolean "-x" / "--long". Either name may be empty.
struct FlagSpec {
  char short_name;
  std::string_view long_name;
  bool takes_value;
};

struct Args {
  // Keyed by long name (or the short letter when there is none), in order of
  // appearance; boolean flags get one empty value per use.
  std::map<std::string, std::vector<std::string>, std::less<>> values;
  std::vector<std::string> positional;

  bool Has(std::string_view name) const { return values.find(name) != values.end(); }
  std::vector<std::string> All(std::string_view name) const;
  std::optional<std::string> Last(std::string_view name) const;
};

// Parses flags and positional arguments ("--" ends flags, "-" is positional).
// kInvalidArgument names the offending flag.
Result<Args> ParseArgs(std::span<char* const> argv, std::span<const FlagSpec> specs);

// Prints "xgw: error: <class>: <message>" and, if any, "xgw: hint: <hint>" to
// stderr. Returns kExitFailure.
int ReportError(const Error& error, std::string_view hint = {});
// Calls run(args) and returns its exit code. An exception escaping it is a
// bug (expected failures are Results): it is reported as an internal error
// and kExitFailure, after the stack has unwound (so a half-written output
// file is discarded and secrets are wiped by their destructors). Its text is
// not printed: a parser's message can quote the input it was reading, which
// may be personal data.
int RunGuarded(int (*run)(std::span<char* const>), std::span<char* const> args);
// Prints a usage error and the command's usage line; returns kExitUsage.
int UsageError(std::string_view message, std::string_view usage);
// Prints "xgw: <message>" to stderr (progress, public keys).
void Notice(std::string_view message);

// Reads a passphrase: the first line of the file named by XGW_PASSPHRASE_FILE
// if set, otherwise from /dev/tty with echo off after printing `prompt`.
Result<SecretBuffer> ReadPassphrase(std::string_view prompt);
// Like ReadPassphrase, but asks twice on a terminal and rejects an empty
// passphrase; for creating protected files.
Result<SecretBuffer> ReadNewPassphrase();

// Standard input for "" or "-", the named file otherwise.
Result<std::unique_ptr<ByteSource>> OpenInput(const std::string& path);

// What Output::Open does when the path names an existing regular file.
enum class IfExists {
  kRefuse,   // fail with kConflict, naming the path and --force
  kReplace,  // replace it atomically: the user passed --force
};
// kReplace when the command line has --force, kRefuse otherwise.
IfExists IfExistsFromFlags(const Args& args);

class ReplacingFile;

// Where every `-o PATH` of xgw writes:
//  - "" or "-": standard output;
//  - an existing non-regular file (character device, FIFO, socket), or a
//    symbolic link to one: opened and written in place, as age does. It is
//    never created, truncated, replaced or chmod-ed;
//  - a path where nothing exists: a file with `mode` that appears only when
//    Commit() succeeds (temporary file beside it, fsync, rename), so a failed
//    command leaves nothing. Should a file appear there in the meantime,
//    Commit() fails (kConflict) instead of replacing it;
//  - an existing regular file, or a symbolic link to one: kConflict with
//    kRefuse; with kReplace it is replaced the same atomic way, through the
//    link (the file it points to is replaced, the link kept);
//  - a symbolic link to nothing: kConflict, whatever `if_exists` says.
// Bytes written to standard output or a non-regular file are delivered as
// they are written, as with any stream: only a file is all-or-nothing.
class Output {
 public:
  static Result<Output> Open(const std::string& path, unsigned mode, IfExists if_exists = IfExists::kRefuse);
  ByteSink& sink() { return *sink_; }
  bool is_terminal() const { return is_terminal_; }
  Result<void> Commit();

 private:
  std::unique_ptr<ByteSink> sink_;
  ReplacingFile* file_ = nullptr;  // sink_ when writing a regular file
  bool is_terminal_ = false;
};

}  // namespace xgw::cli

#endif  // XGW_CLIENT_CLI_H_
