// The gateway's own Ed25519 signing key (audit checkpoints, manifests of
// gateway-encrypted uploads).
//
// File format: one line, standard base64 of the 32-byte seed, mode 0600; the
// public key file holds the base64 of the 32-byte verify key.
// Built on crypto/sign.h (Ed25519SecretKey).
#ifndef XGW_GATEWAY_SIGNING_KEY_H_
#define XGW_GATEWAY_SIGNING_KEY_H_

#include <string>

#include "crypto/error.h"
#include "crypto/secret.h"
#include "crypto/sign.h"

namespace xgw {

// Generates a key pair, writes both files atomically; returns the base64
// verify key. Refuses to overwrite an existing secret key file.
Result<std::string> CreateSigningKeyFiles(const std::string& secret_path,
                                          const std::string& public_path);

// Loads the 64-byte libsodium secret key (seed || public key) from the seed file.
Result<SecretBuffer> LoadSigningKey(const std::string& secret_path);

// Loads the gateway key as an Ed25519SecretKey (audit checkpoints, manifests).
Result<Ed25519SecretKey> LoadGatewaySigningKey(const std::string& secret_path);

}  // namespace xgw

#endif  // XGW_GATEWAY_SIGNING_KEY_H_
