// Configuration of the xgwd daemon: one JSON file, every key optional with a
// documented default (docs/configuration.md). Unknown keys are errors that
// name their JSON path, so a typo never silently falls back to a default.
//
// DumpConfig prints the effective configuration (every key, defaults filled
// in, paths resolved); ParseConfig(DumpConfig(c)) == c for every valid c.
#ifndef XGW_CONFIG_CONFIG_H_
#define XGW_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/error.h"

namespace xgw {

// How the server treats TLS client certificates.
//   "none":     no certificate is requested.
//   "optional": a certificate is requested; if one is sent, its SPKI SHA-256
//               pin must belong to an organisation, and the caller's token to
//               a user of that organisation.
//   "require":  as "optional", but a connection without a certificate fails
//               the handshake.
struct TlsConfig {
  std::string cert_file;  // PEM chain; default <state_dir>/tls/server.crt
  std::string key_file;   // PEM key;   default <state_dir>/tls/server.key
  std::string client_auth = "none";
  bool operator==(const TlsConfig&) const = default;
};

struct LimitsConfig {
  // Request line + headers. At most 65536: Boost.Beast stores one field in
  // 16-bit offsets and throws on a longer one, so a larger head is never parsed.
  uint64_t max_header_bytes = 16 * 1024;
  uint64_t max_json_body_bytes = 1024 * 1024;     // JSON API bodies
  uint64_t max_upload_bytes = 1024ull * 1024 * 1024;  // streamed uploads (exchanges)
  uint32_t handshake_timeout_seconds = 10;
  uint32_t header_timeout_seconds = 10;   // whole request head, and keep-alive idle
  uint32_t body_timeout_seconds = 30;     // silence allowed while a body streams in
  // A body must also average at least this rate over each body_timeout window
  // (0: no minimum), so a client that trickles a byte now and then cannot hold
  // an upload slot for ever.
  uint64_t min_body_bytes_per_second = 1024;
  uint32_t write_timeout_seconds = 30;    // idle time writing one response chunk
  uint32_t max_connections = 512;
  // Open connections from one client address (0: no per-address limit; set
  // that behind a proxy whose address every client shares).
  uint32_t max_connections_per_address = 64;
  // Requests a second, on average, from one client address and by one API
  // token (bursts of twice that); more are answered 429 (0: no limit).
  uint32_t requests_per_second_per_address = 100;
  uint32_t requests_per_second_per_token = 20;
  bool operator==(const LimitsConfig&) const = default;
};

struct TokensConfig {
  int64_t default_ttl_seconds = 30 * 86400;
  int64_t max_ttl_seconds = 365 * 86400;
  bool operator==(const TokensConfig&) const = default;
};

// $.server: how the gateway names itself to browsers.
struct ServerConfig {
  // "https://host[:port]" that browsers use; cookie-authenticated unsafe
  // requests must carry exactly this Origin. "": https://<Host header>.
  std::string public_origin;
  // The web app's directory (index.html, assets/). "": DefaultWebRoot(), the
  // share/xgw/web beside xgwd's bin/. No index.html there: API only.
  std::string web_root;
  bool operator==(const ServerConfig&) const = default;
};

// $.accounts: people's sign-in (password + TOTP) and their sessions.
struct AccountsConfig {
  uint32_t backoff_after_failures = 3;     // from this many consecutive failures on, wait 2^(n-k) s
  uint32_t backoff_max_seconds = 300;      // cap of that wait
  uint32_t lockout_after_failures = 10;    // locked until an operator unlocks
  int64_t invitation_ttl_seconds = 72 * 3600;
  int64_t browser_idle_seconds = 30 * 60;
  int64_t browser_absolute_seconds = 12 * 3600;
  int64_t cli_idle_seconds = 8 * 3600;     // a working day between commands
  int64_t cli_absolute_seconds = 12 * 3600;
  bool operator==(const AccountsConfig&) const = default;
};

// The daemon's clock. "system": wall time. "manual": starts at `start`
// (unix seconds) when the daemon starts, runs in real time, and an operator
// may advance it (POST /api/v1/admin/clock); for tests and demos.
struct ClockConfig {
  std::string mode = "system";
  int64_t start = 0;  // config: RFC 3339 UTC "2024-09-20T07:00:00Z"
  bool operator==(const ClockConfig&) const = default;
};

struct AuditConfig {
  std::string origin = "xgw.local/audit";     // checkpoint origin, fixed at creation
  uint32_t checkpoint_interval_seconds = 300; // 0: only on demand
  bool operator==(const AuditConfig&) const = default;
};

struct ExchangesConfig {
  uint32_t sweep_interval_seconds = 30;       // 1..60
  uint32_t pending_timeout_seconds = 3600;    // unfinished uploads are discarded after this
  uint64_t max_plaintext_bytes = 64ull << 20; // gateway-encrypt mode: buffered in secret memory
  // Gateway-encrypt mode: plaintext held by all uploads at once; an upload
  // that would need more is refused with 503 + Retry-After.
  uint64_t plaintext_memory_budget_bytes = 256ull << 20;
  // How long the keyed subject-index values of a delivered list outlive the
  // list, so that an access request learns to whom data have been disclosed
  // (docs/dpo.md). 0: they go with the list.
  uint32_t subject_index_retention_days = 1826;
  // Gateway-encrypt mode: directory of the sending organisations' subject-index
  // keys, one `<org-id>.key` each; "" = no subject index in that mode. A
  // relative path in the file is resolved against state_dir; here it is
  // always absolute (or empty).
  std::string subject_keys_dir;
  // Ciphertexts of at most this many bytes (as announced when the upload
  // starts) are packed into shared segment files under blobs/segments
  // instead of one file each (gateway/segment_blob_store.h); 0: never.
  // Read at start-up.
  uint64_t packed_blob_max_bytes = 0;
  // Uploads in chunks (PUT .../content/chunks/{n}): the most bytes one chunk
  // may hold. The chunks of one upload together stay within the upload's
  // ciphertext cap (limits.max_upload_bytes, the manifest's size).
  uint64_t upload_chunk_max_bytes = 32ull << 20;
  bool operator==(const ExchangesConfig&) const = default;
};

// $.sso.providers[]: an organisation's own OpenID Connect provider
// (docs/configuration.md, "Single sign-on").
struct SsoProviderConfig {
  std::string org_id;              // "org-...": whose people this provider signs in
  std::string issuer;              // "https://...", exactly the provider's "iss"
  std::string client_id;           // the gateway's client at the provider
  std::string client_secret_file;  // the client secret (one line); relative to state_dir
  std::string claim = "sub";       // ID-token claim compared with the value registered per user
  std::string ca_file;             // PEM trust anchors for the provider ("": the system's)
  std::string scope = "openid";    // sent to /authorize; must include "openid"
  bool operator==(const SsoProviderConfig&) const = default;
};

// $.sso: single sign-on. Read at start-up.
struct SsoConfig {
  std::vector<SsoProviderConfig> providers;
  int64_t login_ttl_seconds = 600;         // a started sign-in must come back within this
  int64_t jwks_cache_min_seconds = 60;     // a JWKS / discovery max-age is honoured within [min, max]
  int64_t jwks_cache_max_seconds = 86400;
  int64_t jwks_refetch_seconds = 60;       // an unknown kid refetches the JWKS at most this often
  uint32_t http_timeout_seconds = 10;      // each request to a provider
  bool operator==(const SsoConfig&) const = default;
};

struct Config {
  std::string state_dir = "/var/lib/xgwd";  // absolute; SQLite DB, blobs, keys
  std::string listen = "127.0.0.1:8443";   // "IP:PORT" or "[IPv6]:PORT"; port 0 = any free
  uint32_t threads = 2;                    // io_context threads (network)
  uint32_t blocking_threads = 16;          // threads for SQLite, fsync and other blocking work
  uint32_t shutdown_grace_seconds = 30;    // in-flight requests get this long on SIGTERM
  bool log_requests = true;                // "log": {"requests": ...}
  TlsConfig tls;
  LimitsConfig limits;
  TokensConfig tokens;
  ServerConfig server;
  AccountsConfig accounts;
  ClockConfig clock;
  AuditConfig audit;
  ExchangesConfig exchanges;
  SsoConfig sso;
  bool operator==(const Config&) const = default;

  // Fixed locations inside state_dir.
  std::string DatabasePath() const { return state_dir + "/xgwd.db"; }
  std::string BlobDir() const { return state_dir + "/blobs"; }
  std::string AuditDbPath() const { return state_dir + "/audit.db"; }
  std::string SigningKeyPath() const { return state_dir + "/keys/gateway-ed25519.key"; }
  std::string SigningPublicKeyPath() const { return state_dir + "/keys/gateway-ed25519.pub"; }
  // 32 random bytes (mode 0600): the key that encrypts TOTP secrets at rest.
  std::string AccountsKeyPath() const { return state_dir + "/keys/accounts-secretbox.key"; }
};

struct ListenAddress {
  std::string host;  // IP literal without brackets
  uint16_t port = 0;
};

// "2024-09-20T07:00:00Z" <-> unix seconds (UTC only; nullopt if malformed).
std::optional<int64_t> ParseUtcTime(const std::string& text);
std::string FormatUtcTime(int64_t unix_seconds);

// Parses "127.0.0.1:8443" / "[::1]:0". Host must be an IP literal.
Result<ListenAddress> ParseListenAddress(const std::string& text);

// Validates and fills defaults; errors are kFormat and name the JSON path
// ("config $.limits.max_header_bytes: ...").
Result<Config> ParseConfig(const nlohmann::json& doc);
Result<Config> ParseConfigText(const std::string& text);
Result<Config> LoadConfigFile(const std::string& path);

// The effective configuration with every key present.
nlohmann::json DumpConfig(const Config& config);

// The keys a SIGHUP can change in a running daemon (TLS files, limits, token
// TTLs, log settings). Returns the JSON paths of keys that differ
// between `running` and `fresh` but need a restart (listen, threads, ...).
std::string KeysNeedingRestart(const Config& running, const Config& fresh);

}  // namespace xgw

#endif  // XGW_CONFIG_CONFIG_H_
