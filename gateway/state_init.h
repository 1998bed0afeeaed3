// `xgwd init --state DIR`: creates a fresh state directory (mode 0700) with
//   xgwd.db                      SQLite database, migrations applied
//   blobs/                       ciphertext store (empty)
//   tls/server.crt, server.key   self-signed ECDSA P-256 certificate (key 0600),
//                                valid kSelfSignedCertificateDays
//   keys/gateway-ed25519.key/.pub the gateway's Ed25519 signing key (0600)
// a config file, and a first operator (organisation "xgw operators", user
// "operator" with role operator, optionally with client-certificate pins) with
// one API token that is returned once.
//
// All or nothing: if any step fails, everything init created is removed
// again (the state directory is left absent or empty as it was found, and no
// config file), so the same command can simply be run again.
#ifndef XGW_GATEWAY_STATE_INIT_H_
#define XGW_GATEWAY_STATE_INIT_H_

#include <string>
#include <vector>

#include "config/config.h"
#include "crypto/error.h"

namespace xgw {

struct InitOptions {
  std::string state_dir;    // absolute; must not exist or be empty
  std::string config_path;  // default <state_dir>/xgwd.json; must not exist
  std::string listen = "127.0.0.1:8443";
  // The operator token's lifetime: the default of tokens.default_ttl_seconds.
  int64_t token_ttl_seconds = TokensConfig{}.default_ttl_seconds;
  // Client-certificate pins registered on the operators' organisation, so
  // that the state can run with tls.client_auth "require" from the start.
  // Any form NormalisePin accepts; checked before anything is written.
  std::vector<std::string> operator_pins;
};

struct InitResult {
  std::string config_path;
  std::string operator_org_id;
  std::string operator_user_id;
  std::string operator_token;  // secret: print once, never log
  std::string certificate_pin;         // "sha256:<hex>"
  std::string certificate_pin_base64;  // the same pin as "sha256//<base64>"
  std::string signing_public_key;
};

Result<InitResult> InitStateDirectory(const InitOptions& options);

}  // namespace xgw

#endif  // XGW_GATEWAY_STATE_INIT_H_
