// The xgw client configuration: which gateway, how to trust it, who I am.
//
// One JSON file per user, mode 0600 (it holds the bearer token), found by
// ConfigPath(): --config FILE, else $XGW_CONFIG, else
// $XDG_CONFIG_HOME/xgw/config.json, else ~/.config/xgw/config.json. Several
// users can work side by side on one machine by pointing each at its own file.
// Client state (the last verified audit checkpoint, the pinned audit verifier
// key) lives in "<config file>.state.json" next to it, also 0600.
#ifndef XGW_CLIENT_CONFIG_H_
#define XGW_CLIENT_CONFIG_H_

#include <optional>
#include <string>

#include "crypto/error.h"

namespace xgw::cli {

struct ClientConfig {
  std::string gateway_url;       // "https://host:port", no trailing slash
  std::string token;             // bearer token "xgwt_..."; never printed
  std::string pin;               // "sha256//<base64 SPKI hash>" (CURLOPT_PINNEDPUBLICKEY); may be empty with cacert
  std::string cacert;            // PEM CA file; may be empty with pin
  std::string identity_file;     // age identity (X25519; Ed25519 signing key derived from it)
  std::string subject_key_file;  // the organisation's 32-byte subject-index key (raw or hex)
  std::string subject_key_id;    // label written into manifests; default "org"
  std::string user_id;           // filled by login from GET /api/v1/me
  std::string organisation_id;
  std::string time_zone;         // the organisation's (GET /api/v1/me at login); times are shown in it

  bool operator==(const ClientConfig&) const = default;
};

// The config file to use; `flag` is the --config value (empty: none).
std::string ConfigPath(const std::string& flag);

// kNotFound if the file does not exist (hint: run `xgw login`), kFormat if
// malformed, kForbidden if group/other may read it (it holds a token).
Result<ClientConfig> LoadConfig(const std::string& path);
// Writes atomically with mode 0600, creating the directory (0700) if needed.
Result<void> SaveConfig(const std::string& path, const ClientConfig& config);

// Small JSON state next to the config ("<path>.state.json").
struct ClientState {
  std::string audit_verifier_key;  // pinned at first `audit verify`
  std::string audit_checkpoint;    // last signed checkpoint note verified
};
Result<ClientState> LoadState(const std::string& config_path);  // empty state if absent
Result<void> SaveState(const std::string& config_path, const ClientState& state);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_CONFIG_H_
