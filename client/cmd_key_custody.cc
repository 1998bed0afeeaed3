// xgw key backup / restore / history, and the rotation `xgw register-key
// --rotate` runs. The gateway keeps a person's identity file only wrapped
// with their passphrase (an age scrypt file, exactly what `xgw keygen
// --passphrase` writes); the passphrase is asked here and never sent.
#include "client/key_custody.h"

#include "client/commands.h"
#include "client/session.h"
#include "crypto/keyfile.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

// As the gateway's limit: a few keys' armored file is far below it.
constexpr size_t kMaxBackupFile = 64 * 1024;

constexpr std::string_view kUsage =
    "xgw key backup [--identity FILE]\n"
    "       xgw key restore -o FILE [--force]\n"
    "       xgw key history [--user ID] [--json]";
constexpr std::string_view kHelp =
    "backup   stores your identity file on the gateway, as it is: wrapped with your passphrase,\n"
    "         which never leaves this machine (a file without a passphrase is refused).\n"
    "restore  fetches that file (on a new computer, say), checks that your passphrase opens it\n"
    "         and writes it to FILE (mode 0600), still protected by the passphrase.\n"
    "history  the public keys you (or --user) registered, with their fingerprints and dates.";

std::string IdentityPath(const Args& args, const ClientConfig& config) {
  return args.Last("identity").value_or(config.identity_file);
}

// The identity file's bytes, if it is passphrase-wrapped; else why not.
Result<std::string> ReadWrappedIdentityFile(const std::string& path) {
  if (path.empty()) return Fail(ErrorCode::kKey, "no identity file: pass --identity FILE");
  XGW_TRY(auto in, OpenInput(path));
  std::string text(kMaxBackupFile + 1, '\0');
  XGW_TRY(size_t n, ReadFull(*in, std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size())));
  if (n > kMaxBackupFile) return Fail(ErrorCode::kLimit, "the identity file is larger than 64 KiB");
  text.resize(n);
  XGW_CHECK(age::CheckPassphraseWrapped(text).map_error([](Error e) {
    e.message += "; create a protected one with `xgw keygen --passphrase`";
    return e;
  }));
  return text;
}

Result<json> StoreBackup(Gateway& gw, const ClientConfig& config, const std::string& path) {
  XGW_TRY(auto file, ReadWrappedIdentityFile(path));
  return gw.Json("PUT", "/api/v1/users/" + UrlEncode(config.user_id) + "/key-backup", json{{"file", file}});
}

int Backup(const Args& args, Gateway& gw) {
  auto r = StoreBackup(gw, gw.config(), IdentityPath(args, gw.config()));
  if (!r) return Report(r.error());
  Notice("your identity file is kept on the gateway, wrapped with your passphrase (" + Str(*r, "updated_at") + ")");
  return kExitOk;
}

int Restore(const Args& args, Gateway& gw) {
  auto path = args.Last("output");
  if (!path || *path == "-") return UsageError("restore needs -o FILE", kUsage);
  // Opened first, as `xgw receive` does: a path that would be refused costs no fetch.
  auto out = Output::Open(*path, 0600, IfExistsFromFlags(args));
  if (!out) return Report(out.error());
  auto r = gw.Json("GET", "/api/v1/users/" + UrlEncode(gw.config().user_id) + "/key-backup");
  if (!r) return Report(r.error());
  const std::string file = Str(*r, "file");
  if (auto ok = age::CheckPassphraseWrapped(file); !ok) return Report(ok.error());
  // Opened with the passphrase before anything is written: a backup that
  // does not open (wrong passphrase, damaged) is not worth a file.
  MemorySource src(file);
  auto keys = age::ReadIdentities(src, [] { return ReadPassphrase("Enter the passphrase of your key backup: "); });
  if (!keys) return Report(keys.error(), "the passphrase is the one you chose when you created the identity file");
  if (auto w = out->sink().Write(AsBytes(file)); !w) return Report(w.error());
  if (auto c = out->Commit(); !c) return Report(c.error());
  Notice("restored " + std::to_string(keys->size()) + " key(s) to " + *path + " (current key " +
         age::KeyFingerprint((*keys)[0].Recipient().String()) + "); use it with --identity " + *path +
         " or `xgw register-key --identity " + *path + "`");
  return kExitOk;
}

int History(const Args& args, Gateway& gw) {
  const std::string user = args.Last("user").value_or(gw.config().user_id);
  auto r = gw.Json("GET", "/api/v1/users/" + UrlEncode(user) + "/keys/history");
  if (!r) return Report(r.error());
  const json items = Items(*r);
  if (PrintedAsJsonOrNone(args, items, "No keys registered.")) return kExitOk;
  std::string text;
  for (const auto& k : items) {
    const std::string until = k.value("until", json()).is_string() ? LocalTime(Str(k, "until")) : "now (current)";
    text += Str(k, "fingerprint") + "  from " + LocalTime(Str(k, "from")) + "  until " + until + "\n";
  }
  Print(text);
  return kExitOk;
}

}  // namespace

Result<age::X25519Identity> RotateIdentityFile(const Args& args, const ClientConfig& config) {
  const std::string path = IdentityPath(args, config);
  std::optional<SecretBuffer> passphrase;
  XGW_TRY(auto keys, LoadIdentities(args, config, &passphrase));
  std::vector<age::X25519Identity> rotated;
  rotated.push_back(age::X25519Identity::Generate());
  for (auto& k : keys) rotated.push_back(std::move(k));
  XGW_CHECK(age::ReplaceIdentityFile(path, rotated, passphrase ? &*passphrase : nullptr));
  Notice("added a new key to " + path + "; its " + std::to_string(rotated.size() - 1) +
         " earlier key(s) stay in it to open lists sent before");
  return std::move(rotated[0]);
}

int RenewKeyBackup(Gateway& gw, const Args& args, const ClientConfig& config) {
  auto me = gw.Json("GET", "/api/v1/me");
  if (!me) return Report(me.error());
  if (!me->value("key_backup", json()).is_object()) {
    Notice("no key backup on the gateway; `xgw key backup` keeps one, wrapped with your passphrase");
    return kExitOk;
  }
  auto r = StoreBackup(gw, config, IdentityPath(args, config));
  if (!r) return Report(r.error(), "your new key is registered, but the backup on the gateway still holds the old file");
  Notice("renewed your key backup on the gateway");
  return kExitOk;
}

int RunKey(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "identity", true}, {'o', "output", true}, {0, "force", false}, {0, "user", true},
      kConfigFlag, kJsonFlag, kHelpFlag,
  };
  const CommandSpec spec{kFlags, kUsage, kHelp, 1, "give one of: backup, restore, history"};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    const std::string& sub = args.positional[0];
    if (sub == "backup") return Backup(args, gw);
    if (sub == "restore") return Restore(args, gw);
    if (sub == "history") return History(args, gw);
    return UsageError("unknown subcommand; give one of: backup, restore, history", kUsage);
  });
}

}  // namespace xgw::cli
