#include "client/session.h"

#include <cstdio>
#include <ctime>

#include "crypto/keyfile.h"
#include "crypto/subject_key.h"
#include "policy/protocol.h"
#include "policy/timezone.h"

namespace xgw::cli {

int Report(const Error& error, std::string_view hint) {
  std::string h(hint);
  if (h.empty()) {
    switch (error.code) {
      case ErrorCode::kUnauthenticated:
        h = "the gateway refused your token: it may have expired or been revoked; ask your operator for a new "
            "token and run `xgw login` again";
        break;
      case ErrorCode::kForbidden:
        h = "your account is not allowed to do this; ask your organisation's operator for the needed role";
        break;
      case ErrorCode::kNotFound:
        h = "check the id (copy it from `xgw inbox`, `xgw protocols` or the listing command)";
        break;
      case ErrorCode::kIo:
        if (error.message.starts_with("network:"))
          h = "check the gateway address and your network connection; `xgw whoami` tests the connection";
        break;
      default: break;
    }
  }
  std::string msg = "xgw: error: " + ToString(error) + "\n";
  if (!h.empty()) msg += "xgw: hint: " + h + "\n";
  std::fputs(msg.c_str(), stderr);
  return ExitCodeFor(error);
}

Result<ClientConfig> LoadClientConfig(const Args& args) {
  std::string path = ConfigPath(args.Last("config").value_or(""));
  auto c = LoadConfig(path);
  if (!c && c.error().code == ErrorCode::kNotFound)
    return Fail(ErrorCode::kNotFound, "not logged in: no configuration at " + path +
                                          " (run `xgw login --gateway URL` first, or pass --config FILE)");
  if (c) UseOrganisationTimeZone(c->time_zone);
  return c;
}

Result<std::vector<age::X25519Identity>> LoadIdentities(const Args& args, const ClientConfig& config,
                                                        std::optional<SecretBuffer>* passphrase_out) {
  std::string path = args.Last("identity").value_or(config.identity_file);
  if (path.empty())
    return Fail(ErrorCode::kKey, "no identity file: pass --identity FILE or run `xgw register-key --new-identity FILE`");
  return age::ReadIdentityFile(path, [path, passphrase_out]() -> Result<SecretBuffer> {
    XGW_TRY(auto p, ReadPassphrase("Enter passphrase for identity file " + path + ": "));
    if (passphrase_out != nullptr) *passphrase_out = SecretBuffer::CopyOf(p.view());
    return p;
  });
}

Result<age::X25519Identity> LoadIdentity(const Args& args, const ClientConfig& config) {
  XGW_TRY(auto ids, LoadIdentities(args, config));
  return std::move(ids[0]);
}

Result<std::optional<SecretBuffer>> LoadSubjectKey(const Args& args, const ClientConfig& config) {
  std::string path = args.Last("subject-key").value_or(config.subject_key_file);
  if (path.empty()) return std::optional<SecretBuffer>();
  XGW_TRY(SecretBuffer key, ReadSubjectKeyFile(path));
  return std::optional<SecretBuffer>(std::move(key));
}

nlohmann::json Items(const nlohmann::json& answer) {
  if (answer.is_array()) return answer;
  if (answer.is_object()) {
    for (const char* k : {"items", "exchanges", "events", "protocols", "recipients"})
      if (auto it = answer.find(k); it != answer.end() && it->is_array()) return *it;
  }
  return nlohmann::json::array();
}

bool PrintedAsJsonOrNone(const Args& args, const nlohmann::json& items, std::string_view none) {
  if (args.Has("json")) {
    Print(items.dump(2) + "\n");
    return true;
  }
  if (!items.empty()) return false;
  Print(std::string(none) + "\n");
  return true;
}

namespace {

std::string& OrganisationTimeZone() {
  static std::string name;
  return name;
}

// The zone people read times in, loaded once per process; null if it cannot be.
const TimeZone* ReadersTimeZone() {
  static const std::shared_ptr<const TimeZone> zone = [] {
    const char* env = std::getenv("XGW_TIME_ZONE");
    const std::string name = env != nullptr && *env != '\0'           ? std::string(env)
                             : !OrganisationTimeZone().empty() ? OrganisationTimeZone()
                                                               : std::string("Europe/Brussels");
    auto z = TimeZone::Load(name);
    if (!z) z = TimeZone::Load("Europe/Brussels");  // a zone this machine lacks
    return z ? *z : nullptr;
  }();
  return zone.get();
}

}  // namespace

void UseOrganisationTimeZone(const std::string& name) { OrganisationTimeZone() = name; }

std::string LocalTime(std::string_view utc) {
  const TimeZone* zone = ReadersTimeZone();
  std::tm tm{};
  const std::string text(utc);
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (zone == nullptr || end == nullptr) return text;
  // Fractions of a second (audit times) are dropped; only "Z" is UTC.
  while (*end == '.' || (*end >= '0' && *end <= '9')) ++end;
  if (std::string_view(end) != "Z") return text;
  const Instant t{std::chrono::seconds(::timegm(&tm))};
  const LocalDateTime local = zone->ToLocal(t);
  const int32_t offset = zone->OffsetAt(t);
  const int32_t minutes = (offset < 0 ? -offset : offset) / 60;
  char out[40];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u %02d:%02d %c%02d:%02d", static_cast<int>(local.date.year()),
                static_cast<unsigned>(local.date.month()), static_cast<unsigned>(local.date.day()), local.hour,
                local.minute, offset < 0 ? '-' : '+', minutes / 60, minutes % 60);
  return out;
}

std::string Str(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

void Print(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

std::string UrlEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

int RunGatewayCommand(std::span<char* const> argv, const CommandSpec& spec,
                      const std::function<int(const Args& args, Gateway& gw)>& body) {
  auto args = ParseArgs(argv, spec.flags);
  if (!args) return UsageError(args.error().message, spec.usage);
  if (args->Has("help")) return ShowHelp(spec.usage, spec.help);
  if (args->positional.size() != spec.positional) return UsageError(spec.positional_error, spec.usage);
  auto cfg = LoadClientConfig(*args);
  if (!cfg) return Report(cfg.error());
  Gateway gw(std::move(*cfg));
  return body(*args, gw);
}

int ShowHelp(std::string_view usage, std::string_view details) {
  std::string text = "usage: " + std::string(usage) + "\n";
  if (!details.empty()) text += "\n" + std::string(details) + "\n";
  Print(text);
  return kExitOk;
}

std::optional<int64_t> ParseDurationSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text[0] == 'P') {
    auto d = ParseDuration(text);
    if (!d) return std::nullopt;
    return d->count();
  }
  int64_t n = 0;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (n > 1'000'000'000) return std::nullopt;
    n = n * 10 + (text[i] - '0');
    ++i;
  }
  if (i == 0 || i + 1 < text.size()) return std::nullopt;
  char unit = i < text.size() ? text[i] : 's';
  switch (unit) {
    case 's': return n;
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
    case 'w': return n * 604800;
    default: return std::nullopt;
  }
}

}  // namespace xgw::cli
