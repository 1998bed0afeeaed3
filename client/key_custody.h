// Key custody on the person's side: the identity file's rotation and the
// passphrase-wrapped backup kept on the gateway (client/cmd_key_custody.cc).
#ifndef XGW_CLIENT_KEY_CUSTODY_H_
#define XGW_CLIENT_KEY_CUSTODY_H_

#include "client/cli.h"
#include "client/config.h"
#include "client/http.h"
#include "crypto/age.h"

namespace xgw::cli {

// Puts a new key at the top of the identity file (--identity or the
// configured one), keeping the earlier keys below it, and writes the file
// again atomically, protected by the same passphrase. Returns the new key.
Result<age::X25519Identity> RotateIdentityFile(const Args& args, const ClientConfig& config);

// After a rotation: stores the rewritten identity file as the key backup if
// the gateway keeps one for the person; an exit code.
int RenewKeyBackup(Gateway& gw, const Args& args, const ClientConfig& config);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_KEY_CUSTODY_H_
