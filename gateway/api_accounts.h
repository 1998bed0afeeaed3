// People's accounts under /api/v1 (gateway/api_accounts.cc):
//
//   POST   /api/v1/auth/enrolment            public: invitation code + password -> TOTP secret
//   POST   /api/v1/auth/enrolment/confirm    public: invitation code + TOTP code -> recovery codes
//   POST   /api/v1/auth/sessions             public: sign in (name, password, TOTP or recovery code)
//   DELETE /api/v1/auth/sessions/current     the caller's session: sign out
//   POST   /api/v1/auth/recovery-codes       the caller (a session): ten new recovery codes
//   GET    /api/v1/users/{user}/account      operator; anyone -> self
//   POST   /api/v1/users/{user}/invitations  operator: one-time enrolment code
//   POST   /api/v1/users/{user}/mfa-reset    operator
//   POST   /api/v1/users/{user}/unlock       operator
//   POST   /api/v1/users/{user}/disable      operator: ends every session and API token
//   POST   /api/v1/users/{user}/enable       operator
#ifndef XGW_GATEWAY_API_ACCOUNTS_H_
#define XGW_GATEWAY_API_ACCOUNTS_H_

#include <string>

#include "crypto/error.h"
#include "gateway/http/router.h"

namespace xgw {

// Registers the routes above. `key_path` is the accounts key file (TOTP
// secrets at rest, Config::AccountsKeyPath), created if it does not exist.
Result<void> RegisterAccountRoutes(Router& router, const std::string& key_path);

}  // namespace xgw

#endif  // XGW_GATEWAY_API_ACCOUNTS_H_
