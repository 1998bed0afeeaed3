// xgw login / whoami / register-key: configure the client once, check who
// the gateway thinks I am, and publish my public keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "client/commands.h"
#include "client/exchange_crypto.h"
#include "client/key_custody.h"
#include "client/session.h"
#include "crypto/hash.h"
#include "crypto/keyfile.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kLoginUsage =
    "xgw login --gateway URL [--token-file FILE] [--pin sha256//... | --cacert FILE | --trust]\n"
    "                 [--identity FILE] [--subject-key FILE] [--config FILE]\n"
    "       xgw login --gateway URL --user NAME [--password-file FILE] [--totp-file FILE | --recovery-code-file FILE]\n"
    "       xgw login --gateway URL --sso ORG   (single sign-on through your organisation's identity provider)";
constexpr std::string_view kLoginHelp =
    "Stores the gateway address, your token and how to recognise the gateway in the client\n"
    "configuration (mode 0600). The token is read from --token-file (\"-\" for standard input)\n"
    "or asked for on the terminal. Without --pin or --cacert the gateway's key fingerprint is\n"
    "shown and you are asked to confirm it (compare it with the one your operator gave you);\n"
    "--trust accepts it without asking (only for tests). Run again to change any setting.\n"
    "With --user, signs you in as a person instead: your password and the code of your\n"
    "authenticator app (or one recovery code) are asked on the terminal, or read from the files\n"
    "given (for automation), and the session the gateway opens is stored instead of a token.\n"
    "It ends after a while without use; `xgw logout` ends it at once.\n"
    "With --sso ORG (your organisation's id), signs you in through your organisation's own identity\n"
    "provider: xgw prints an address to open in a browser (on any device), you sign in there, and\n"
    "xgw receives the session once you have (it waits up to 10 minutes).";

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

// --gateway, --pin, --cacert, --trust into `cfg`: the gateway and how to
// recognise it. An exit code if that failed, nullopt if `cfg` is ready.
std::optional<int> ConfigureGateway(const Args& a, ClientConfig& cfg, std::string_view usage) {
  if (auto g = a.Last("gateway")) {
    if (!g->starts_with("https://")) return UsageError("--gateway must start with https://", usage);
    if (*g != cfg.gateway_url) {
      cfg.pin.clear();  // a new gateway is trusted anew
      cfg.cacert.clear();
    }
    cfg.gateway_url = *g;
    while (!cfg.gateway_url.empty() && cfg.gateway_url.back() == '/') cfg.gateway_url.pop_back();
  }
  if (cfg.gateway_url.empty()) return UsageError("--gateway URL is required the first time", usage);
  if (a.Has("pin") && a.Has("trust")) return UsageError("--pin and --trust cannot be combined", usage);
  if (auto c = a.Last("cacert")) cfg.cacert = AbsolutePath(*c);
  if (auto p = a.Last("pin")) {
    auto pin = NormalisePin(*p);
    if (!pin)
      return UsageError("--pin must look like sha256//<base64 of 32 bytes> or sha256:<64 hex digits>, "
                        "as shown by the operator", usage);
    cfg.pin = *pin;
  }
  if (cfg.pin.empty() && cfg.cacert.empty()) {
    auto pin = FetchServerPin(cfg.gateway_url, "");
    if (!pin) return Report(pin.error());
    Notice("The gateway at " + cfg.gateway_url + " presents the key\n  " + *pin);
    if (!a.Has("trust") &&
        !Confirm("Is this the fingerprint your operator gave you? Type yes to trust it: "))
      return Report(Error{ErrorCode::kForbidden, "the gateway's key was not confirmed; nothing was saved"},
                    "compare the fingerprint with the one from your operator, or pass it with --pin");
    cfg.pin = *pin;
  }
  return std::nullopt;
}

// A secret the person types: the first line of `file_flag`'s file if given,
// else asked on the terminal without echo (never from XGW_PASSPHRASE_FILE,
// which is for key files).
Result<SecretBuffer> ReadSecretInput(const Args& args, const char* file_flag, std::string_view prompt) {
  if (auto f = args.Last(file_flag)) {
    auto in = OpenInput(*f);
    if (!in) return tl::unexpected(in.error());
    SecretBuffer buf(2048);
    XGW_TRY(size_t n, ReadFull(**in, buf.span()));
    std::string_view t = AsText(buf.span().first(n));
    t = t.substr(0, t.find('\n'));
    while (!t.empty() && t.back() == '\r') t.remove_suffix(1);
    if (t.empty()) return Fail(ErrorCode::kInvalidArgument, std::string("--") + file_flag + ": the file is empty");
    return SecretBuffer::CopyOf(t);
  }
  const char* saved = std::getenv("XGW_PASSPHRASE_FILE");
  std::string saved_value = saved != nullptr ? saved : "";
  ::unsetenv("XGW_PASSPHRASE_FILE");
  auto r = ReadPassphrase(prompt);
  if (!saved_value.empty()) ::setenv("XGW_PASSPHRASE_FILE", saved_value.c_str(), 1);
  return r;
}

// The JSON body field `key` = the secret (the body is wiped by the caller).
void PutSecret(json& body, const char* key, const SecretBuffer& s) { body[key] = std::string(s.view()); }

// Wipes the string values of a JSON object that carried secrets.
void WipeJson(json& body) {
  for (auto& [k, v] : body.items()) {
    if (v.is_string()) {
      auto& str = v.get_ref<std::string&>();
      WipeMemory(str.data(), str.size());
    }
  }
}

// xgw login --user: password + TOTP (or a recovery code) for a CLI session.
Result<std::string> SignIn(const Args& args, Gateway& gw, const std::string& user) {
  XGW_TRY(auto password, ReadSecretInput(args, "password-file", "Password: "));
  json body = {{"name", user}, {"client", "cli"}};
  PutSecret(body, "password", password);
  if (args.Has("recovery-code-file")) {
    XGW_TRY(auto code, ReadSecretInput(args, "recovery-code-file", "Recovery code: "));
    PutSecret(body, "recovery_code", code);
  } else {
    XGW_TRY(auto code, ReadSecretInput(args, "totp-file", "Code from your authenticator app: "));
    PutSecret(body, "totp_code", code);
  }
  auto answer = gw.Json("POST", "/api/v1/auth/sessions", body);
  WipeJson(body);
  if (!answer) return tl::unexpected(answer.error());
  std::string secret = Str(*answer, "session_secret");
  WipeJson(*answer);
  if (secret.empty()) return Fail(ErrorCode::kFormat, "the gateway's answer has no session");
  return secret;
}

// xgw login --sso ORG: the device-code flow through the gateway. The
// gateway answers a device code (kept here, never shown) and an address
// with a user code; the person signs in there in a browser; we poll.
Result<std::string> SsoSignIn(Gateway& gw, const std::string& org) {
  const std::string base = "/api/v1/auth/sso/" + UrlEncode(org) + "/device";
  XGW_TRY(auto start, gw.Json("POST", base));
  std::string device_code = Str(start, "device_code");
  if (auto it = start.find("device_code"); it != start.end() && it->is_string()) {
    auto& v = it->get_ref<std::string&>();
    WipeMemory(v.data(), v.size());
  }
  if (device_code.empty()) return Fail(ErrorCode::kFormat, "the gateway's answer has no device code");
  int64_t interval = std::clamp<int64_t>(start.value("interval", 2), 1, 30);
  const int64_t expires_in = std::clamp<int64_t>(start.value("expires_in", 600), 10, 3600);
  Notice("Open this address in a browser and sign in with your organisation's account:\n  " +
         Str(start, "verification_uri") + "\n(code " + Str(start, "user_code") + "; waiting up to " +
         std::to_string(expires_in / 60) + " minutes)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(expires_in);
  json body = {{"device_code", device_code}};
  WipeMemory(device_code.data(), device_code.size());
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(interval));
    auto answer = gw.Json("POST", base + "/token", body);
    if (!answer) {
      WipeJson(body);
      return tl::unexpected(answer.error());
    }
    if (answer->contains("session_secret")) {
      WipeJson(body);
      std::string secret = Str(*answer, "session_secret");
      WipeJson(*answer);
      return secret;
    }
    interval = std::clamp<int64_t>(answer->value("interval", interval), 1, 30);
  }
  WipeJson(body);
  return Fail(ErrorCode::kUnauthenticated, "the sign-in was not completed in time");
}

}  // namespace

int RunLogin(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "gateway", true},     {0, "token-file", true}, {0, "pin", true},        {0, "cacert", true},
      {0, "trust", false},      {0, "identity", true},   {0, "subject-key", true}, {0, "subject-key-id", true},
      {0, "user", true},        {0, "password-file", true}, {0, "totp-file", true}, {0, "recovery-code-file", true},
      {0, "sso", true},
      kConfigFlag, kHelpFlag,
  };
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kLoginUsage);
  if (args->Has("user") && args->Has("token-file"))
    return UsageError("--user (sign in as a person) and --token-file cannot be combined", kLoginUsage);
  if (args->Has("sso") && (args->Has("user") || args->Has("token-file")))
    return UsageError("--sso cannot be combined with --user or --token-file", kLoginUsage);
  if (args->Has("help")) return ShowHelp(kLoginUsage, kLoginHelp);
  if (!args->positional.empty()) return UsageError("unexpected argument", kLoginUsage);
  std::string path = ConfigPath(args->Last("config").value_or(""));
  ClientConfig cfg;
  if (auto old = LoadConfig(path)) cfg = *old;
  else if (old.error().code != ErrorCode::kNotFound) return Report(old.error());
  if (auto failed = ConfigureGateway(*args, cfg, kLoginUsage)) return *failed;
  if (auto i = args->Last("identity")) cfg.identity_file = AbsolutePath(*i);
  if (auto s = args->Last("subject-key")) cfg.subject_key_file = AbsolutePath(*s);
  if (auto s = args->Last("subject-key-id")) cfg.subject_key_id = *s;
  if (auto org = args->Last("sso")) {
    ClientConfig anonymous = cfg;
    anonymous.token.clear();
    Gateway public_gw(anonymous);
    auto secret = SsoSignIn(public_gw, *org);
    if (!secret) return Report(secret.error(), "run xgw login --sso again; if it keeps failing, ask an operator");
    cfg.token = std::move(*secret);
  } else if (auto user = args->Last("user")) {
    ClientConfig anonymous = cfg;
    anonymous.token.clear();
    Gateway public_gw(anonymous);
    auto secret = SignIn(*args, public_gw, *user);
    if (!secret) return Report(secret.error(), "check the name, password and code; after several failures wait a while, or ask an operator");
    cfg.token = std::move(*secret);
  } else if (args->Has("token-file") || cfg.token.empty()) {
    auto t = ReadToken(*args);
    if (!t) return Report(t.error());
    cfg.token = std::move(*t);
  }
  Gateway gw(cfg);
  auto me = gw.Json("GET", "/api/v1/me");
  if (!me) return Report(me.error());
  cfg.user_id = Str(*me, "id");
  if (me->contains("organisation")) {
    cfg.organisation_id = Str((*me)["organisation"], "id");
    cfg.time_zone = Str((*me)["organisation"], "time_zone");
  }
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
    json keys = me->value("keys", json());
    std::string key_line = keys.is_object() ? Str(keys, "fingerprint") : "none registered (run `xgw register-key`)";
    std::string backup = me->value("key_backup", json()).is_object()
                             ? "kept on the gateway, wrapped with your passphrase"
                             : "none on the gateway";
    Print("user:         " + Str(*me, "display_name") + " (" + Str(*me, "id") + ")\norganisation: " + Str(org, "name") +
          " (" + Str(org, "id") + ")\nroles:        " + roles + "\nkey:          " + key_line +
          "\nkey backup:   " + backup + "\ngateway:      " + gw.config().gateway_url + "\n");
    return kExitOk;
  });
}

int RunRegisterKey(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "identity", true}, {0, "new-identity", true}, {0, "no-passphrase", false}, {0, "rotate", false},
      kConfigFlag, kHelpFlag,
  };
  constexpr std::string_view kUsage =
      "xgw register-key [--identity FILE] [--rotate]\n"
      "       xgw register-key --new-identity FILE [--no-passphrase]";
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help"))
    return ShowHelp(kUsage,
                    "Sends your public keys to the gateway: the age recipient others encrypt lists to, and\n"
                    "the signature key derived from the same identity. --new-identity creates the identity\n"
                    "file first, protected by a passphrase (asked twice) unless --no-passphrase.\n"
                    "--rotate puts a new key at the top of your identity file (the earlier keys stay in it,\n"
                    "so lists sent to them still open), registers it, and renews your key backup on the\n"
                    "gateway if you keep one. Lists sent from then on are encrypted to the new key only.");
  if (!args->positional.empty()) return UsageError("unexpected argument", kUsage);
  if (args->Has("rotate") && args->Has("new-identity"))
    return UsageError("--rotate changes an existing identity file; it cannot be combined with --new-identity", kUsage);
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
  } else if (args->Has("rotate")) {
    auto rotated = RotateIdentityFile(*args, *cfg);
    if (!rotated) return Report(rotated.error());
    identity = std::move(*rotated);
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
         "\n  fingerprint:    " + age::KeyFingerprint(identity->Recipient().String()) +
         "\n  signature key:  " + Base64Encode(signing->public_key()));
  if (args->Has("rotate")) return RenewKeyBackup(gw, *args, *cfg);
  return kExitOk;
}

}  // namespace xgw::cli

namespace xgw::cli {

int RunEnrol(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "gateway", true}, {0, "code", true},      {0, "code-file", true}, {0, "password-file", true},
      {0, "totp-file", true}, {0, "pin", true},     {0, "cacert", true},    {0, "trust", false},
      kConfigFlag,          kHelpFlag,
  };
  constexpr std::string_view kUsage =
      "xgw enrol --gateway URL (--code CODE | --code-file FILE) [--password-file FILE] [--totp-file FILE]\n"
      "          [--pin sha256//... | --cacert FILE | --trust] [--config FILE]";
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help"))
    return ShowHelp(kUsage,
                    "Sets up your sign-in with the invitation code an operator gave you: choose a password\n"
                    "(asked twice, at least 12 characters), add the secret shown to your authenticator app\n"
                    "(or scan the otpauth:// link), then type the app's current code. The ten recovery\n"
                    "codes printed at the end are shown once: keep them somewhere safe; each signs you in\n"
                    "once without the app. Then sign in with `xgw login --user NAME`.");
  if (!args->positional.empty()) return UsageError("unexpected argument", kUsage);
  if (args->Has("code") == args->Has("code-file")) return UsageError("give --code or --code-file", kUsage);
  std::string path = ConfigPath(args->Last("config").value_or(""));
  ClientConfig cfg;
  if (auto old = LoadConfig(path)) cfg = *old;
  else if (old.error().code != ErrorCode::kNotFound) return Report(old.error());
  if (auto failed = ConfigureGateway(*args, cfg, kUsage)) return *failed;
  cfg.token.clear();
  Gateway gw(cfg);

  SecretBuffer code;
  if (auto c = args->Last("code")) {
    code = SecretBuffer::CopyOf(std::string_view(*c));
  } else {
    auto c2 = ReadSecretInput(*args, "code-file", "");
    if (!c2) return Report(c2.error());
    code = std::move(*c2);
  }
  auto password = ReadSecretInput(*args, "password-file", "Choose a password (at least 12 characters): ");
  if (!password) return Report(password.error());
  if (!args->Has("password-file")) {
    auto again = ReadSecretInput(*args, "password-file", "The same password again: ");
    if (!again) return Report(again.error());
    if (!ConstantTimeEqual(password->span(), again->span()))
      return Report(Error{ErrorCode::kInvalidArgument, "the two passwords differ"}, "run xgw enrol again");
  }
  json body;
  PutSecret(body, "code", code);
  PutSecret(body, "password", *password);
  auto enrol = gw.Json("POST", "/api/v1/auth/enrolment", body);
  WipeJson(body);
  if (!enrol) return Report(enrol.error(), "ask your operator for a new invitation if the code expired");
  Print("Add this account to your authenticator app (scan or paste the link, or type the secret):\n  " +
        Str(*enrol, "otpauth_uri") + "\n  secret: " + Str(*enrol, "totp_secret") + "\n");
  std::fflush(stdout);
  WipeJson(*enrol);
  auto totp = ReadSecretInput(*args, "totp-file", "Code now shown by the app: ");
  if (!totp) return Report(totp.error());
  json confirm;
  PutSecret(confirm, "code", code);
  PutSecret(confirm, "totp_code", *totp);
  auto done = gw.Json("POST", "/api/v1/auth/enrolment/confirm", confirm);
  WipeJson(confirm);
  if (!done) return Report(done.error(), "type the code the app shows now (it changes every 30 seconds)");
  std::string codes;
  for (const auto& c : (*done)["recovery_codes"]) codes += "  " + c.get<std::string>() + "\n";
  Print("Enrolled as " + Str(*done, "signin_name") + ". Recovery codes (each works once; shown only now):\n" + codes);
  WipeMemory(codes.data(), codes.size());
  WipeJson(*done);
  Notice("sign in with: xgw login --gateway " + cfg.gateway_url + " --user " + Str(*done, "signin_name"));
  return kExitOk;
}

int RunLogout(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {kConfigFlag, kHelpFlag};
  constexpr std::string_view kUsage = "xgw logout [--config FILE]";
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help"))
    return ShowHelp(kUsage, "Ends your session at the gateway and removes it (or a token) from the configuration.");
  std::string path = ConfigPath(args->Last("config").value_or(""));
  auto cfg = LoadConfig(path);
  if (!cfg) return Report(cfg.error());
  if (cfg->token.rfind("xgws_", 0) == 0) {
    Gateway gw(*cfg);
    auto ended = gw.Call("DELETE", "/api/v1/auth/sessions/current");
    if (!ended) return Report(ended.error());
    // 401: the session had ended already; either way it is gone.
    if (ended->status != 200 && ended->status != 401)
      return Report(Error{ErrorCode::kInternal, "the gateway did not end the session (HTTP " +
                                                    std::to_string(ended->status) + ")"});
  }
  WipeMemory(cfg->token.data(), cfg->token.size());
  cfg->token.clear();
  if (auto r = SaveConfig(path, *cfg); !r) return Report(r.error());
  Notice("signed out; settings kept in " + path);
  return kExitOk;
}

}  // namespace xgw::cli

namespace xgw::cli {

// xgw password: the person's own password, changed after proving it (and a
// code) again; every other session of theirs ends.
int RunPassword(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {{0, "password-file", true},      {0, "new-password-file", true},
                                        {0, "totp-file", true},          {0, "recovery-code-file", true},
                                        kConfigFlag,                     kHelpFlag};
  const CommandSpec spec{kFlags,
                         "xgw password [--password-file FILE] [--new-password-file FILE]\n"
                         "             [--totp-file FILE | --recovery-code-file FILE]",
                         "Changes your password (signed in with `xgw login --user`). Asks for your current\n"
                         "password, the new one (twice) and a code of your authenticator app; your other\n"
                         "sessions end."};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    auto current = ReadSecretInput(args, "password-file", "Current password: ");
    if (!current) return Report(current.error());
    auto next = ReadSecretInput(args, "new-password-file", "New password (12 characters or more): ");
    if (!next) return Report(next.error());
    if (!args.Has("new-password-file")) {
      auto again = ReadSecretInput(args, "new-password-file", "New password again: ");
      if (!again) return Report(again.error());
      if (again->view() != next->view())
        return Report(Error{ErrorCode::kInvalidArgument, "the two new passwords differ; nothing was changed"});
    }
    json body;
    PutSecret(body, "current_password", *current);
    PutSecret(body, "new_password", *next);
    const bool recovery = args.Has("recovery-code-file");
    auto code = ReadSecretInput(args, recovery ? "recovery-code-file" : "totp-file",
                                recovery ? "Recovery code: " : "Code from your authenticator app: ");
    if (!code) {
      WipeJson(body);
      return Report(code.error());
    }
    PutSecret(body, recovery ? "recovery_code" : "totp_code", *code);
    auto answer = gw.Json("POST", "/api/v1/auth/password", body);
    WipeJson(body);
    if (!answer) return Report(answer.error(), "check your current password and the code; after several failures wait a while");
    Notice("xgw: your password was changed; your other sessions have ended");
    return kExitOk;
  });
}

}  // namespace xgw::cli
