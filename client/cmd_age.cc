// xgw encrypt / xgw decrypt: age-compatible file encryption.
#include <sys/stat.h>

#include "client/cli.h"
#include "client/commands.h"
#include "crypto/age.h"
#include "crypto/keyfile.h"

namespace xgw::cli {

namespace {

constexpr std::string_view kEncryptUsage =
    "xgw encrypt (-r RECIPIENT | -R PATH)... [-a] [-o OUTPUT [--force]] [INPUT]\n"
    "       xgw encrypt -p [-a] [-o OUTPUT [--force]] [INPUT]";
constexpr std::string_view kDecryptUsage = "xgw decrypt [-i PATH]... [-o OUTPUT [--force]] [INPUT]";

constexpr FlagSpec kEncryptFlags[] = {
    {'r', "recipient", true}, {'R', "recipients-file", true}, {'p', "passphrase", false},
    {'a', "armor", false},    {'o', "output", true},          {0, "force", false},
    {'h', "help", false},
};
constexpr FlagSpec kDecryptFlags[] = {
    {'i', "identity", true}, {'o', "output", true},  {0, "force", false},
    {'d', "decrypt", false}, {'h', "help", false},
};

std::string_view DecryptHint(ErrorCode code) {
  switch (code) {
    case ErrorCode::kArmor: return "the armored (text) file is damaged; check that it was copied completely";
    case ErrorCode::kHeader: return "the input is not an age file, or its header is damaged";
    case ErrorCode::kNoMatch:
      return "none of the identities can decrypt this file: check -i, or omit -i for a passphrase-encrypted file";
    case ErrorCode::kHmac: return "the file header was modified after encryption; do not trust this file";
    case ErrorCode::kPayload: return "the file is damaged or was modified; no output file was kept";
    case ErrorCode::kTruncated: return "the file is incomplete; fetch it again";
    case ErrorCode::kTrailingData: return "unexpected data follows the encrypted file; it may have been modified";
    case ErrorCode::kKey: return "check the identity file and its passphrase";
    default: return "";
  }
}

// Asks for the passphrase only when the file has an scrypt stanza, as age does
// when no identity is given.
class PromptingScryptIdentity final : public age::Identity {
 public:
  Result<std::optional<SecretBuffer>> Unwrap(std::span<const age::Stanza> stanzas) const override {
    bool has_scrypt = false;
    for (const auto& s : stanzas) has_scrypt = has_scrypt || s.type == "scrypt";
    if (!has_scrypt) return std::optional<SecretBuffer>();
    XGW_TRY(SecretBuffer pass, ReadPassphrase("Enter passphrase: "));
    age::ScryptIdentity id(pass.view());
    return id.Unwrap(stanzas);
  }
};

unsigned DefaultFileMode() {
  mode_t mask = ::umask(0);
  ::umask(mask);
  return 0666u & ~static_cast<unsigned>(mask);
}

}  // namespace

int RunEncrypt(std::span<char* const> argv) {
  auto args = ParseArgs(argv, kEncryptFlags);
  if (!args) return UsageError(args.error().message, kEncryptUsage);
  if (args->Has("help")) {
    Notice(std::string("usage: ") + std::string(kEncryptUsage));
    return kExitOk;
  }
  if (args->positional.size() > 1) return UsageError("only one input file is allowed", kEncryptUsage);
  bool passphrase = args->Has("passphrase");
  bool armor = args->Has("armor");
  auto r_args = args->All("recipient");
  auto rfiles = args->All("recipients-file");
  if (passphrase && (!r_args.empty() || !rfiles.empty()))
    return UsageError("-p/--passphrase cannot be combined with -r or -R", kEncryptUsage);
  if (!passphrase && r_args.empty() && rfiles.empty())
    return UsageError("missing recipients: give -r, -R or -p", kEncryptUsage);

  std::vector<std::unique_ptr<age::Recipient>> recipients;
  for (size_t i = 0; i < r_args.size(); ++i) {
    // The argument is not echoed: a secret key passed by mistake must not reach logs.
    auto r = age::X25519Recipient::Parse(r_args[i]);
    if (!r)
      return ReportError(Error{ErrorCode::kKey, "malformed recipient in -r argument " + std::to_string(i + 1)},
                         "recipients look like age1... (see xgw keygen -y)");
    recipients.push_back(std::make_unique<age::X25519Recipient>(*r));
  }
  for (const auto& path : rfiles) {
    auto rs = age::ReadRecipientsFile(path);
    if (!rs) return ReportError(rs.error(), "a recipients file has one age1... key per line");
    for (auto& r : *rs) recipients.push_back(std::make_unique<age::X25519Recipient>(r));
  }

  std::string out_path = args->Last("output").value_or("");
  auto out = Output::Open(out_path, DefaultFileMode(), IfExistsFromFlags(*args));
  if (!out) return ReportError(out.error());
  if (!armor && out->is_terminal())
    return ReportError(Error{ErrorCode::kInvalidArgument, "refusing to write binary ciphertext to a terminal"},
                       "use -a/--armor for text output, or -o FILE");
  if (passphrase) {
    auto p = ReadNewPassphrase();
    if (!p) return ReportError(p.error(), "set XGW_PASSPHRASE_FILE to a file holding the passphrase when no terminal is available");
    recipients.push_back(std::make_unique<age::ScryptRecipient>(p->view()));
  }
  std::vector<const age::Recipient*> ptrs;
  for (const auto& r : recipients) ptrs.push_back(r.get());

  auto in = OpenInput(args->positional.empty() ? "" : args->positional[0]);
  if (!in) return ReportError(in.error(), "check the input file path");
  if (auto r = age::Encrypt(ptrs, **in, out->sink(), armor); !r) return ReportError(r.error());
  if (auto r = out->Commit(); !r) return ReportError(r.error());
  return kExitOk;
}

int RunDecrypt(std::span<char* const> argv) {
  auto args = ParseArgs(argv, kDecryptFlags);
  if (!args) return UsageError(args.error().message, kDecryptUsage);
  if (args->Has("help")) {
    Notice(std::string("usage: ") + std::string(kDecryptUsage));
    return kExitOk;
  }
  if (args->positional.size() > 1) return UsageError("only one input file is allowed", kDecryptUsage);

  std::vector<std::unique_ptr<age::Identity>> identities;
  for (const auto& path : args->All("identity")) {
    auto ids = age::ReadIdentityFile(path, [&path]() {
      return ReadPassphrase("Enter passphrase for identity file " + path + ": ");
    });
    if (!ids) return ReportError(ids.error(), DecryptHint(ErrorCode::kKey));
    for (auto& id : *ids) identities.push_back(std::make_unique<age::X25519Identity>(std::move(id)));
  }
  if (identities.empty()) identities.push_back(std::make_unique<PromptingScryptIdentity>());
  std::vector<const age::Identity*> ptrs;
  for (const auto& id : identities) ptrs.push_back(id.get());

  auto in = OpenInput(args->positional.empty() ? "" : args->positional[0]);
  if (!in) return ReportError(in.error(), "check the input file path");
  // Plaintext files get mode 0600; with -o FILE nothing appears unless the
  // whole file authenticated (Output commits by rename only on success).
  auto out = Output::Open(args->Last("output").value_or(""), 0600, IfExistsFromFlags(*args));
  if (!out) return ReportError(out.error());
  if (auto r = age::Decrypt(ptrs, **in, out->sink()); !r) return ReportError(r.error(), DecryptHint(r.error().code));
  if (auto r = out->Commit(); !r) return ReportError(r.error());
  return kExitOk;
}

}  // namespace xgw::cli
