// xgw keygen: age-keygen compatible key generation and `-y` conversion.
#include <sys/stat.h>
#include <unistd.h>

#include "client/cli.h"
#include "client/commands.h"
#include "crypto/keyfile.h"

namespace xgw::cli {

namespace {
constexpr std::string_view kUsage =
    "xgw keygen [-o OUTPUT] [--passphrase]\n"
    "       xgw keygen -y [-o OUTPUT [--force]] [INPUT]";

constexpr FlagSpec kFlags[] = {
    {'o', "output", true},
    {'y', "", false},
    {0, "passphrase", false},
    {0, "force", false},
    {'h', "help", false},
};

age::PassphraseCallback IdentityFilePassphrase(const std::string& what) {
  return [what]() { return ReadPassphrase("Enter passphrase for identity file " + what + ": "); };
}

int ConvertToRecipients(const Args& args) {
  if (args.positional.size() > 1) return UsageError("too many arguments", kUsage);
  std::string input = args.positional.empty() ? "-" : args.positional[0];
  auto in = OpenInput(input);
  if (!in) return ReportError(in.error(), "check the identity file path");
  auto ids = age::ReadIdentities(**in, IdentityFilePassphrase(input == "-" ? "(stdin)" : input));
  if (!ids) return ReportError(ids.error(), "the input must be an identity file made by xgw keygen or age-keygen");
  std::string text;
  for (const auto& id : *ids) text += id.Recipient().String() + "\n";
  auto out = Output::Open(args.Last("output").value_or(""), 0644, IfExistsFromFlags(args));
  if (!out) return ReportError(out.error());
  if (auto r = out->sink().Write(AsBytes(text)); !r) return ReportError(r.error());
  if (auto r = out->Commit(); !r) return ReportError(r.error());
  return kExitOk;
}
}  // namespace

int RunKeygen(std::span<char* const> argv) {
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help")) {
    Notice(std::string("usage: ") + std::string(kUsage));
    return kExitOk;
  }
  if (args->Has("y")) {
    if (args->Has("passphrase")) return UsageError("-y and --passphrase cannot be combined", kUsage);
    return ConvertToRecipients(*args);
  }
  if (!args->positional.empty()) return UsageError("unexpected argument", kUsage);
  // As age-keygen: a key file is never overwritten, not even on request.
  if (args->Has("force")) return UsageError("--force applies only to -y: an existing key file is never replaced", kUsage);

  std::string path = args->Last("output").value_or("");
  if (path == "-") path.clear();
  struct stat st {};
  if (!path.empty() && ::lstat(path.c_str(), &st) == 0)
    return ReportError(Error{ErrorCode::kConflict, "refusing to overwrite existing file " + path},
                       "choose another -o path or remove the old key first");

  std::optional<SecretBuffer> passphrase;
  if (args->Has("passphrase")) {
    auto p = ReadNewPassphrase();
    if (!p) return ReportError(p.error(), "set XGW_PASSPHRASE_FILE to a file holding the passphrase when no terminal is available");
    passphrase = std::move(*p);
  }
  const SecretBuffer* pass = passphrase ? &*passphrase : nullptr;
  age::X25519Identity id = age::X25519Identity::Generate();
  std::string public_key = id.Recipient().String();

  if (!path.empty()) {
    if (auto r = age::WriteIdentityFile(path, id, pass); !r)
      return ReportError(r.error(), r.error().code == ErrorCode::kConflict
                                        ? "choose another -o path or remove the old key first"
                                        : "");
    Notice("Public key: " + public_key);
    return kExitOk;
  }
  FileSink out = FileSink::Borrow(1);
  if (auto r = age::WriteIdentity(out, id, pass); !r) return ReportError(r.error());
  // As age-keygen: the public key goes to stderr unless stdout is a terminal
  // (where the file itself already shows it).
  if (::isatty(1) != 1) Notice("Public key: " + public_key);
  return kExitOk;
}

}  // namespace xgw::cli
