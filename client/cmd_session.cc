// xgw login / whoami / register-key: configure the client once, check who
// the gateway thinks I am, and publish my public keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/commands.h"
#include "client/exchange_crypto.h"
#include "client/session.h"
#include "crypto/hash.h"
#include "crypto/keyfile.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kLoginUsage =
    "xgw login --gateway URL [--token-file FILE] [--pin sha256//... | --cacert FILE | --trust]\n"
    "                 [--identity FILE] [--subject-key FILE] [--config FILE]";
constexpr std::string_view kLoginHelp =
    "Stores the gateway address, your token and how to recognise the gateway in the client\n"
    "configuration (mode 0600). The token is read from --token-file (\"-\" for standard input)\n"
    "or asked for on the terminal. Without --pin or --cacert the gateway's key fingerprint is\n"
    "shown and you are asked to confirm it (compare it with the one your operator gave you);\n"
    "--trust accepts it without asking (only for tests). Run again to change any setting.";

// Asks a yes/no question on the terminal.
bool Confirm(const std::string& question) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  (void)!::write(fd, question.data(), question.size());
  char buf[16] = {0};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 && (buf[0] == 'y' || buf[0] == 'Y');
}

Result<std::string> ReadToken(const Args& args) {
  if (auto f = args.Last("token-file")) {
    auto in = OpenInput(*f);
    if (!in) return tl::unexpected(in.error());
    SecretBuffer buf(4096);
    XGW_TRY(size_t n, ReadFull(**in, buf.span()));
    std::string_view t = AsText(buf.span().first(n));
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
    if (t.empty()) return Fail(ErrorCode::kInvalidArgument, "the token file is empty");
    return std::string(t);
  }
  int fd = ::open("/dev/tty", O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return Fail(ErrorCode::kInvalidArgument, "no terminal to ask for the token; pass --token-file FILE");
  ::close(fd);
  // The passphrase prompt reads without echo, which suits a token too; it
  // must not come from XGW_PASSPHRASE_FILE, so read the terminal directly.
  const char* saved = std::getenv("XGW_PASSPHRASE_FILE");
  std::string saved_value = saved != nullptr ? saved : "";
  ::unsetenv("XGW_PASSPHRASE_FILE");
  auto r = ReadPassphrase("Token (from your operator): ");
  if (!saved_value.empty()) ::setenv("XGW_PASSPHRASE_FILE", saved_value.c_str(), 1);
  if (!r) return tl::unexpected(r.error());
  return std::string(r->view());
}

std::string AbsolutePath(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  char buf[4096];
  if (::getcwd(buf, sizeof buf) == nullptr) return p;
  return std::string(buf) + "/" + p;
}

}  // namespace

int RunLogin(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "gateway", true},     {0, "token-file", true}, {0, "pin", true},        {0, "cacert", true},
      {0, "trust", false},      {0, "identity", true},   {0, "subject-key", true}, {0, "subject-key-id", true},
      kConfigFlag, kHelpFlag,
  };
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kLoginUsage);
  if (args->Has("help")) return ShowHelp(kLoginUsage, kLoginHelp);
  if (!args->positional.empty()) return UsageError("unexpected argument", kLoginUsage);
  std::string path = ConfigPath(args->Last("config").value_or(""));
  ClientConfig cfg;
  if (auto old = LoadConfig(path)) cfg = *old;
  else if (old.error().code != ErrorCode::kNotFound) return Report(old.error());
  if (auto g = args->Last("gateway")) {
    if (!g->starts_with("https://")) return UsageError("--gateway must start with https://", kLoginUsage);
    if (*g != cfg.gateway_url) {
      cfg.pin.clear();  // a new gateway is trusted anew
      cfg.cacert.clear();
    }
    cfg.gateway_url = *g;
    while (!cfg.gateway_url.empty() && cfg.gateway_url.back() == '/') cfg.gateway_url.pop_back();
  }
  if (cfg.gateway_url.empty()) return UsageError("--gateway URL is required the first time", kLoginUsage);
  if (args->Has("pin") && args->Has("trust")) return UsageError("--pin and --trust cannot be combined", kLoginUsage);
  if (auto c = args->Last("cacert")) cfg.cacert = AbsolutePath(*c);
  if (auto p = args->Last("pin")) {
    auto pin = NormalisePin(*p);
    if (!pin)
      return UsageError("--pin must look like sha256//<base64 of 32 bytes> or sha256:<64 hex digits>, "
                        "as shown by the operator", kLoginUsage);
    cfg.pin = *pin;
  }
  if (cfg.pin.empty() && cfg.cacert.empty()) {
    auto pin = FetchServerPin(cfg.gateway_url, "");
    if (!pin) return Report(pin.error());
    Notice("The gateway at " + cfg.gateway_url + " presents the key\n  " + *pin);
    if (!args->Has("trust") &&
        !Confirm("Is this the fingerprint your operator gave you? Type yes to trust it: "))
      return Report(Error{ErrorCode::kForbidden, "the gateway's key was not confirmed; nothing was saved"},
                    "compare the fingerprint with the one from your operator, or pass it with --pin");
    cfg.pin = *pin;
  }
  if (auto i = args->Last("identity")) cfg.identity_file = AbsolutePath(*i);
  if (auto s = args->Last("subject-key")) cfg.subject_key_file = AbsolutePath(*s);
  if (auto s = args->Last("subject-key-id")) cfg.subject_key_id = *s;
  if (args->Has("token-file") || cfg.token.empty()) {
    auto t = ReadToken(*args);
    if (!t) return Report(t.error());
    cfg.token = std::move(*t);
  }
  Gateway gw(cfg);
  auto me = gw.Json("GET", "/api/v1/me");
  if (!me) return Report(me.error());
  cfg.user_id = Str(*me, "id");
  if (me->contains("organisation")) cfg.organisation_id = Str((*me)["organisation"], "id");
  if (auto r = SaveConfig(path, cfg); !r) return Report(r.error());
  Notice("logged in as " + cfg.user_id + " (organisation " + cfg.organisation_id + "); settings saved in " + path);
  return kExitOk;
}

int RunWhoami(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {kConfigFlag, kJsonFlag, kHelpFlag};
  const CommandSpec spec{kFlags, "xgw whoami [--json]",
                         "Shows who the gateway thinks you are (tests the connection)."};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    auto me = gw.Json("GET", "/api/v1/me");
    if (!me) return Report(me.error());
    if (args.Has("json")) {
      Print(me->dump(2) + "\n");
      return kExitOk;
    }
    std::string roles;
    if (me->contains("roles") && (*me)["roles"].is_array())
      for (const auto& r : (*me)["roles"]) roles += (roles.empty() ? "" : ", ") + r.get<std::string>();
    json org = me->value("organisation", json::object());
    Print("user:         " + Str(*me, "id") + "\norganisation: " + Str(org, "name") + " (" + Str(org, "id") +
          ")\nroles:        " + roles + "\ngateway:      " + gw.config().gateway_url + "\n");
    return kExitOk;
  });
}

int RunRegisterKey(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "identity", true}, {0, "new-identity", true}, {0, "no-passphrase", false}, kConfigFlag, kHelpFlag,
  };
  constexpr std::string_view kUsage =
      "xgw register-key [--identity FILE]\n"
      "       xgw register-key --new-identity FILE [--no-passphrase]";
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help"))
    return ShowHelp(kUsage,
                    "Sends your public keys to the gateway: the age recipient others encrypt lists to, and\n"
                    "the signature key derived from the same identity. --new-identity creates the identity\n"
                    "file first, protected by a passphrase (asked twice) unless --no-passphrase.");
  if (!args->positional.empty()) return UsageError("unexpected argument", kUsage);
  if (args->Has("identity") && args->Has("new-identity"))
    return UsageError("--identity and --new-identity cannot be combined", kUsage);
  std::string config_path = ConfigPath(args->Last("config").value_or(""));
  auto cfg = LoadClientConfig(*args);
  if (!cfg) return Report(cfg.error());
  if (cfg->user_id.empty()) return Report(Error{ErrorCode::kInvalidArgument, "the configuration has no user id"}, "run `xgw login` again");

  std::optional<age::X25519Identity> identity;
  if (auto path = args->Last("new-identity")) {
    std::optional<SecretBuffer> pass;
    if (!args->Has("no-passphrase")) {
      auto p = ReadNewPassphrase();
      if (!p) return Report(p.error(), "set XGW_PASSPHRASE_FILE for automation");
      pass = std::move(*p);
    }
    age::X25519Identity id = age::X25519Identity::Generate();
    if (auto r = age::WriteIdentityFile(*path, id, pass ? &*pass : nullptr); !r)
      return Report(r.error(), "choose another file; an existing identity is never overwritten");
    cfg->identity_file = AbsolutePath(*path);
    if (auto r = SaveConfig(config_path, *cfg); !r) return Report(r.error());
    Notice("created identity file " + *path + (pass ? " (protected by your passphrase)" : " (NOT protected)"));
    identity = std::move(id);
  } else {
    auto id = LoadIdentity(*args, *cfg);
    if (!id) return Report(id.error());
    identity = std::move(*id);
    if (auto i = args->Last("identity")) {
      cfg->identity_file = AbsolutePath(*i);
      if (auto r = SaveConfig(config_path, *cfg); !r) return Report(r.error());
    }
  }
  auto signing = DeriveSigningKey(*identity);
  if (!signing) return Report(signing.error());
  json body = {{"age_recipient", identity->Recipient().String()},
               {"ed25519_verify_key", Base64Encode(signing->public_key())}};
  Gateway gw(*cfg);
  auto r = gw.Json("PUT", "/api/v1/users/" + UrlEncode(cfg->user_id) + "/keys", body);
  if (!r) return Report(r.error());
  Notice("registered your public keys:\n  age recipient:  " + identity->Recipient().String() +
         "\n  signature key:  " + Base64Encode(signing->public_key()));
  return kExitOk;
}

}  // namespace xgw::cli
