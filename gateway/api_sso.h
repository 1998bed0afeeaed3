// Single sign-on with an organisation's own OpenID Connect provider
// (gateway/api_sso.cc; issue 17 item 2). Routes:
//
//   GET    /api/v1/auth/sso/{org}/start     public: 302 to the provider (state, nonce, PKCE S256)
//   GET    /api/v1/auth/sso/{org}/callback  public: code exchange, ID token verified, session opened
//   GET    /api/v1/users/{user}/sso         operator; anyone -> self: is a subject registered?
//   PUT    /api/v1/users/{user}/sso         operator: {"subject": ...} the value of the configured claim
//   DELETE /api/v1/users/{user}/sso         operator
//
// A person is matched by the value an operator registered for them (PUT
// .../sso), compared with the claim the organisation's provider is
// configured with ($.sso.providers[].claim: sub, oid, email, ...). The
// gateway keeps only a hash of that value (SsoSubjectHash).
#ifndef XGW_GATEWAY_API_SSO_H_
#define XGW_GATEWAY_API_SSO_H_

#include <string>
#include <string_view>

#include "config/config.h"
#include "crypto/error.h"
#include "gateway/http/router.h"

namespace xgw {

inline constexpr std::string_view kSsoBindingCookie = "__Host-xgw_sso";

// Registers the routes above; reads every provider's client secret now.
Result<void> RegisterSsoRoutes(Router& router, const SsoConfig& sso);

// For xgwd --check-config: every client secret file and CA file can be read
// (the secret is non-empty); errors name the JSON path, never the secret.
Result<void> CheckSsoFiles(const SsoConfig& sso);

// Hex SHA-256 of the organisation and the claim's value, domain-separated.
std::string SsoSubjectHash(const std::string& org_id, std::string_view value);

}  // namespace xgw

#endif  // XGW_GATEWAY_API_SSO_H_
