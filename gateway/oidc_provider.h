// One organisation's OpenID Connect provider as the gateway sees it: its
// discovery document, its signing keys (JWKS, cached), ID-token verification
// with gateway/oidc_jose.h, and the authorization-code exchange at its token
// endpoint. Network access goes through an HttpFetcher (libcurl, https only,
// CA file, size and time limits) so that tests can inject one. No HTTP
// routing here (gateway/api_sso.cc has the routes).
//
// Thread safety: a Provider may be used from several threads; fetches happen
// under its lock, so one slow provider delays only its own sign-ins.
#ifndef XGW_GATEWAY_OIDC_PROVIDER_H_
#define XGW_GATEWAY_OIDC_PROVIDER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/error.h"
#include "crypto/secret.h"
#include "gateway/oidc_jose.h"

namespace xgw::oidc {

struct HttpReply {
  long status = 0;
  std::string body;
  std::string cache_control;  // the Cache-Control header, "" if none
};

class HttpFetcher {
 public:
  virtual ~HttpFetcher() = default;
  virtual Result<HttpReply> Get(const std::string& url) = 0;
  // POST of an application/x-www-form-urlencoded `form`, authenticated with
  // HTTP Basic (client_secret_basic, RFC 6749 §2.3.1).
  virtual Result<HttpReply> PostForm(const std::string& url, const std::string& form, const std::string& user,
                                     const SecretBuffer& password) = 0;
};

struct FetchLimits {
  std::string ca_file;           // "" = the system's trust store
  int64_t timeout_seconds = 10;  // whole request
  size_t max_bytes = 256 * 1024; // response body
};
// libcurl: https only (also for redirects, which are not followed), peer and
// host verified, a body over max_bytes aborts the transfer.
std::unique_ptr<HttpFetcher> MakeCurlFetcher(const FetchLimits& limits);

struct ProviderSettings {
  std::string issuer;     // "https://..." exactly as the provider spells it
  std::string client_id;
  int64_t cache_min_seconds = 60;       // a Cache-Control max-age is honoured within these bounds
  int64_t cache_max_seconds = 86400;
  int64_t cache_default_seconds = 300;  // no max-age given
  int64_t unknown_kid_refetch_seconds = 60;  // an unknown kid refetches the JWKS at most this often
  int64_t leeway_seconds = kDefaultLeewaySeconds;
};

struct Discovery {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
};

// "https://host..." with no fragment, no user info and no whitespace.
bool IsHttpsUrl(const std::string& url);
// RFC 3986 percent-encoding of everything but unreserved characters.
std::string FormEncode(std::string_view value);
// max-age of a Cache-Control header clamped to [min, max]; `fallback` if none.
int64_t CacheSeconds(const std::string& cache_control, int64_t min, int64_t max, int64_t fallback);

class Provider {
 public:
  Provider(ProviderSettings settings, SecretBuffer client_secret, std::shared_ptr<HttpFetcher> fetcher);

  const ProviderSettings& settings() const { return settings_; }

  // The discovery document (cached); its issuer must equal the configured
  // one and its endpoints must be https.
  Result<Discovery> GetDiscovery(int64_t now);

  // The verified claims of a compact ID token, or why it is refused.
  Checked<nlohmann::json> VerifyIdToken(std::string_view token, const std::string& nonce, int64_t now);

  // Exchanges an authorization code (with its PKCE verifier) at the token
  // endpoint and returns the ID token it answers with (not yet verified).
  Checked<std::string> ExchangeCode(const std::string& code, const std::string& verifier,
                                    const std::string& redirect_uri, int64_t now);

 private:
  Result<Discovery> DiscoveryLocked(int64_t now);
  Result<void> FetchKeysLocked(int64_t now);

  ProviderSettings settings_;
  SecretBuffer client_secret_;
  std::shared_ptr<HttpFetcher> fetcher_;
  std::mutex mu_;
  std::optional<Discovery> discovery_;
  int64_t discovery_expires_at_ = 0;
  std::vector<Jwk> keys_;
  bool keys_loaded_ = false;
  int64_t keys_fetched_at_ = 0;
  int64_t keys_expire_at_ = 0;
};

}  // namespace xgw::oidc

#endif  // XGW_GATEWAY_OIDC_PROVIDER_H_
