// What every gateway command shares: the common flags (--config, --json),
// loading the configuration, plain-language error reports with a hint and
// the documented exit codes, identity and subject-key loading, output.
#ifndef XGW_CLIENT_SESSION_H_
#define XGW_CLIENT_SESSION_H_

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/cli.h"
#include "client/config.h"
#include "client/http.h"
#include "crypto/age.h"
#include "crypto/secret.h"

namespace xgw::cli {

// Exit codes beyond cli.h's 0/1/2 (docs/cli.md).
inline constexpr int kExitPolicy = 3;        // refused by policy; nothing was sent / written
inline constexpr int kExitNotAuthorised = 4;  // token refused, or role not allowed
inline constexpr int kExitNetwork = 5;       // cannot reach the gateway, TLS or pin failure
inline constexpr int kExitRejected = 6;      // a received list failed verification; nothing written

// Flags accepted by every gateway command.
inline constexpr FlagSpec kConfigFlag{0, "config", true};
inline constexpr FlagSpec kJsonFlag{0, "json", false};
inline constexpr FlagSpec kHelpFlag{'h', "help", false};

// Prints the error and a hint (the given one, or a default for its class)
// and returns ExitCodeFor(error).
int Report(const Error& error, std::string_view hint = {});

// Loads the configuration named by --config / XGW_CONFIG / the default.
Result<ClientConfig> LoadClientConfig(const Args& args);

// The user's age identity (prompting for its passphrase): --identity, else
// the configured identity_file.
// The keys of the identity file (--identity or the configured one): the
// first is the current key (signing, and the one registered with the
// gateway); the others are earlier keys a rotation kept, so that lists sent
// before it still open. `passphrase_out`, if given, receives the passphrase
// of a protected file (to write it again after a rotation).
Result<std::vector<age::X25519Identity>> LoadIdentities(const Args& args, const ClientConfig& config,
                                                        std::optional<SecretBuffer>* passphrase_out = nullptr);
// The current key (the first of LoadIdentities).
Result<age::X25519Identity> LoadIdentity(const Args& args, const ClientConfig& config);

// The organisation's subject-index key: --subject-key, else the configured
// file (crypto/subject_key.h: 32 raw bytes or 64 hex digits). nullopt when
// neither is set.
Result<std::optional<SecretBuffer>> LoadSubjectKey(const Args& args, const ClientConfig& config);

// The list inside a JSON answer: the array itself, or its "items" member.
nlohmann::json Items(const nlohmann::json& answer);
// The common start of a listing: with --json, prints the items as JSON; with
// no items, prints `none` (one line). True when that said everything.
bool PrintedAsJsonOrNone(const Args& args, const nlohmann::json& items, std::string_view none);
// A string member or "" (never throws).
std::string Str(const nlohmann::json& j, std::string_view key);
// A time the gateway gave (RFC 3339 UTC, "2024-09-20T07:00:00Z") as people
// read it: "2024-09-20 09:00 +02:00" in the time zone of XGW_TIME_ZONE, else
// the organisation's (saved by `xgw login`; see UseOrganisationTimeZone),
// else Europe/Brussels (summer and winter time from the system's zone
// files). Anything else is returned as it is; "" stays "".
std::string LocalTime(std::string_view utc);
// The organisation's time zone for LocalTime (LoadClientConfig calls it
// with the configuration's); "" leaves the default. Before the first LocalTime.
void UseOrganisationTimeZone(const std::string& name);
// Writes text to stdout.
void Print(std::string_view text);
// Escapes a path segment / query value for URLs.
std::string UrlEncode(std::string_view s);
// Shows `usage` (and `details`) on stdout for --help; returns 0.
int ShowHelp(std::string_view usage, std::string_view details = {});

// How a gateway command with a fixed number of positional arguments starts.
struct CommandSpec {
  std::span<const FlagSpec> flags;
  std::string_view usage;
  std::string_view help;      // shown under the usage for --help
  size_t positional = 0;      // exactly this many positional arguments ...
  std::string_view positional_error = "unexpected argument";  // ... or this usage error
};
// Parses the flags, answers --help, checks the positional arguments, loads
// the configuration and runs `body` with the arguments and a client of the
// configured gateway; returns body's exit code. Anything but a command to
// run stops before `body` with its exit code (the usage error or the problem
// reported, the help shown).
int RunGatewayCommand(std::span<char* const> argv, const CommandSpec& spec,
                      const std::function<int(const Args& args, Gateway& gw)>& body);

// Parses "90s", "15m", "12h", "30d", "2w" or an ISO 8601 duration (P30D,
// PT12H); nullopt otherwise.
std::optional<int64_t> ParseDurationSeconds(std::string_view text);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_SESSION_H_
