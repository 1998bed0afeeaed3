#include "gateway/sessions.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "crypto/secret.h"
#include "gateway/account_crypto.h"
#include "gateway/http/router.h"
#include "gateway/ids.h"

namespace xgw {

OpenedSession::~OpenedSession() {
  WipeMemory(secret.data(), secret.size());
  WipeMemory(csrf_token.data(), csrf_token.size());
}

Result<OpenedSession> OpenSessionForUser(IdentityStore& store, const AccountsConfig& accounts,
                                         const std::string& user_id, SessionClient client, int64_t now,
                                         const SecondFactor& factor, const BeforeCommit& before_commit) {
  const bool cli = client == SessionClient::kCli;
  OpenedSession s;
  s.id = NewId(kSessionPrefix);
  s.user_id = user_id;
  s.client = client;
  s.secret = NewOneTimeSecret(kSessionSecretPrefix);
  s.csrf_token = cli ? std::string() : NewOneTimeSecret("xgwc_");
  const int64_t idle = cli ? accounts.cli_idle_seconds : accounts.browser_idle_seconds;
  s.absolute_expires_at = now + (cli ? accounts.cli_absolute_seconds : accounts.browser_absolute_seconds);
  s.expires_at = std::min(now + idle, s.absolute_expires_at);
  NewSession row{s.id, user_id, SecretHash(s.secret),
                 // A CLI session has no CSRF token: it never rides on a cookie.
                 cli ? SecretHash(NewOneTimeSecret("xgwc_")) : SecretHash(s.csrf_token), cli ? "cli" : "browser",
                 idle, s.absolute_expires_at};
  XGW_CHECK(store.OpenSession(row, factor, now, before_commit));
  return s;
}

Response SessionOpenedResponse(const OpenedSession& s) {
  nlohmann::json j = {{"session_id", s.id},
                      {"user_id", s.user_id},
                      {"client", s.client == SessionClient::kCli ? "cli" : "browser"},
                      {"expires_at", FormatTime(s.expires_at)},
                      {"absolute_expires_at", FormatTime(s.absolute_expires_at)}};
  Response r;
  r.status = 201;
  if (s.client == SessionClient::kCli) {
    j["session_secret"] = s.secret;
  } else {
    j["csrf_token"] = s.csrf_token;
    r.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) + "=" + s.secret +
                                             "; Path=/; Secure; HttpOnly; SameSite=Strict");
  }
  r.body = j.dump();
  if (j.contains("session_secret")) {
    std::string& v = j["session_secret"].get_ref<std::string&>();
    WipeMemory(v.data(), v.size());
  }
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

std::string ClearedSessionCookie() {
  return std::string(kSessionCookie) + "=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict";
}

std::string SessionCookieValue(std::string_view header) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view pair = header.substr(pos, end - pos);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == kSessionCookie) {
      std::string_view v = pair.substr(eq + 1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return std::string(v);
    }
    pos = end + 1;
  }
  return "";
}

}  // namespace xgw
