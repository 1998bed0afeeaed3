// People's sessions: one row per sign-in (sessions table), reached by the
// browser through the __Host-xgw_session cookie and by the CLI as a bearer
// credential. Router::Authenticate turns either into the same Principal an
// API token gives, so every route works with a session unchanged.
//
// Whoever has established who a person is (password + TOTP in
// api_accounts.cc; an organisation's identity provider later) opens the
// session with OpenSessionForUser and answers with SessionOpenedResponse.
#ifndef XGW_GATEWAY_SESSIONS_H_
#define XGW_GATEWAY_SESSIONS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "crypto/error.h"
#include "gateway/http/http_types.h"
#include "gateway/identity_store.h"

namespace xgw {

inline constexpr std::string_view kSessionCookie = "__Host-xgw_session";
inline constexpr std::string_view kSessionSecretPrefix = "xgws_";
inline constexpr std::string_view kSessionPrefix = "ses";  // session ids

enum class SessionClient { kBrowser, kCli };

// A session just opened. `secret` and `csrf_token` exist only here (the
// store keeps their hashes): hand them to the person once, then drop them.
struct OpenedSession {
  std::string id;  // "ses-..."
  std::string user_id;
  SessionClient client = SessionClient::kBrowser;
  std::string secret;      // cookie value / bearer credential
  std::string csrf_token;  // browser: X-CSRF-Token of unsafe requests
  int64_t expires_at = 0;           // idle expiry as of now
  int64_t absolute_expires_at = 0;  // no activity extends past this
  ~OpenedSession();
};

// Opens a session for `user_id`, who has proven who they are. Lifetimes come
// from `accounts` (browser or cli idle / absolute). `factor` (a TOTP step or
// a recovery code's hash) is consumed in the same transaction
// (kUnauthenticated if it was used meanwhile); `before_commit` runs in it
// (the audit record of the sign-in). Does not check that the user is
// enabled: a disabled user's session is refused at its first use anyway.
Result<OpenedSession> OpenSessionForUser(IdentityStore& store, const AccountsConfig& accounts,
                                         const std::string& user_id, SessionClient client, int64_t now,
                                         const SecondFactor& factor = {}, const BeforeCommit& before_commit = {});

// 201: the browser gets the secret in the Set-Cookie header and the CSRF
// token in the body; the CLI gets the secret in the body. No-store.
Response SessionOpenedResponse(const OpenedSession& session);

// Set-Cookie value that removes the session cookie.
std::string ClearedSessionCookie();

// The session cookie's value in a Cookie header, "" if absent.
std::string SessionCookieValue(std::string_view cookie_header);

}  // namespace xgw

#endif  // XGW_GATEWAY_SESSIONS_H_
