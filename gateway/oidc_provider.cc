#include "gateway/oidc_provider.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

namespace xgw::oidc {
namespace {

using nlohmann::json;

// ---- libcurl ----

struct Transfer {
  std::string body;
  std::string cache_control;
  size_t max_bytes = 0;
  bool too_big = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->body.size() + len > t->max_bytes) {
    t->too_big = true;
    return 0;  // aborts the transfer
  }
  t->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  std::string line(data, len);
  static constexpr std::string_view kName = "cache-control:";
  if (line.size() > kName.size()) {
    std::string head = line.substr(0, kName.size());
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (head == kName) {
      std::string v = line.substr(kName.size());
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      t->cache_control = v.substr(0, 256);
    }
  }
  return len;
}

class CurlFetcher final : public HttpFetcher {
 public:
  explicit CurlFetcher(FetchLimits limits) : limits_(std::move(limits)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<HttpReply> Get(const std::string& url) override { return Perform(url, nullptr, "", nullptr); }

  Result<HttpReply> PostForm(const std::string& url, const std::string& form, const std::string& user,
                             const SecretBuffer& password) override {
    return Perform(url, &form, user, &password);
  }

 private:
  Result<HttpReply> Perform(const std::string& url, const std::string* form, const std::string& user,
                            const SecretBuffer* password) {
    if (!IsHttpsUrl(url)) return Fail(ErrorCode::kInvalidArgument, "identity provider: only https URLs are used");
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return Fail(ErrorCode::kInternal, "identity provider: cannot start a transfer");
    Transfer t;
    t.max_bytes = limits_.max_bytes;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!limits_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, limits_.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(limits_.timeout_seconds));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min<int64_t>(limits_.timeout_seconds, 10)));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits_.max_bytes));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "xgwd");
    struct curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    std::string secret;
    if (form) {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, form->c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form->size()));
      // RFC 6749 §2.3.1: both parts form-encoded before Basic.
      const std::string enc_user = FormEncode(user);
      secret = FormEncode(password->view());
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(c, CURLOPT_USERNAME, enc_user.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, secret.c_str());
    }
    const CURLcode rc = curl_easy_perform(c);
    WipeMemory(secret.data(), secret.size());
    if (t.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
      return Fail(ErrorCode::kLimit, "identity provider: answer larger than the limit");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) return Fail(ErrorCode::kUnavailable, "identity provider: timed out");
    if (rc != CURLE_OK) {
      return Fail(ErrorCode::kUnavailable, std::string("identity provider: ") + curl_easy_strerror(rc));
    }
    HttpReply reply;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    reply.body = std::move(t.body);
    reply.cache_control = std::move(t.cache_control);
    return reply;
  }

  FetchLimits limits_;
};

Result<json> JsonOf(const HttpReply& reply, const char* what) {
  if (reply.status != 200) {
    return Fail(ErrorCode::kUnavailable,
                std::string("identity provider: ") + what + " answered HTTP " + std::to_string(reply.status));
  }
  auto doc = ParseStrictJson(reply.body, reply.body.size());
  if (!doc || !doc->is_object()) {
    return Fail(ErrorCode::kFormat, std::string("identity provider: ") + what + " is not a JSON object");
  }
  return std::move(*doc);
}

Result<std::string> HttpsMember(const json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_string() || !IsHttpsUrl(it->get<std::string>())) {
    return Fail(ErrorCode::kFormat, std::string("identity provider: discovery ") + name + " must be an https URL");
  }
  return it->get<std::string>();
}

Checked<json> AsChecked(Result<json> r) {
  if (!r) return Reject("provider", r.error().message);
  return std::move(*r);
}

}  // namespace

std::unique_ptr<HttpFetcher> MakeCurlFetcher(const FetchLimits& limits) {
  return std::make_unique<CurlFetcher>(limits);
}

bool IsHttpsUrl(const std::string& url) {
  if (url.rfind("https://", 0) != 0 || url.size() <= 8 || url.size() > 2048) return false;
  const std::string authority = url.substr(8, url.find_first_of("/?#", 8) - 8);
  if (authority.empty() || authority.find('@') != std::string::npos) return false;
  return std::none_of(url.begin(), url.end(), [](unsigned char ch) { return ch <= 0x20 || ch >= 0x7f || ch == '#'; });
}

std::string FormEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3);
  for (unsigned char ch : value) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

int64_t CacheSeconds(const std::string& cache_control, int64_t min, int64_t max, int64_t fallback) {
  int64_t seconds = fallback;
  std::string lower = cache_control;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.find("no-store") != std::string::npos || lower.find("no-cache") != std::string::npos) {
    seconds = 0;
  } else if (auto at = lower.find("max-age="); at != std::string::npos) {
    int64_t v = 0;
    size_t i = at + 8, digits = 0;
    while (i < lower.size() && std::isdigit(static_cast<unsigned char>(lower[i])) && digits < 12) {
      v = v * 10 + (lower[i] - '0');
      ++i;
      ++digits;
    }
    if (digits > 0) seconds = v;
  }
  return std::clamp(seconds, min, max);
}

Provider::Provider(ProviderSettings settings, SecretBuffer client_secret, std::shared_ptr<HttpFetcher> fetcher)
    : settings_(std::move(settings)), client_secret_(std::move(client_secret)), fetcher_(std::move(fetcher)) {}

Result<Discovery> Provider::GetDiscovery(int64_t now) {
  std::lock_guard lock(mu_);
  return DiscoveryLocked(now);
}

Result<Discovery> Provider::DiscoveryLocked(int64_t now) {
  if (discovery_ && now < discovery_expires_at_) return *discovery_;
  std::string url = settings_.issuer;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/.well-known/openid-configuration";
  XGW_TRY(auto reply, fetcher_->Get(url));
  XGW_TRY(auto doc, JsonOf(reply, "discovery document"));
  auto iss = doc.find("issuer");
  if (iss == doc.end() || !iss->is_string() || iss->get<std::string>() != settings_.issuer) {
    return Fail(ErrorCode::kFormat, "identity provider: discovery issuer differs from the configured issuer");
  }
  Discovery d;
  d.issuer = settings_.issuer;
  XGW_TRY(d.authorization_endpoint, HttpsMember(doc, "authorization_endpoint"));
  XGW_TRY(d.token_endpoint, HttpsMember(doc, "token_endpoint"));
  XGW_TRY(d.jwks_uri, HttpsMember(doc, "jwks_uri"));
  discovery_ = d;
  discovery_expires_at_ = now + CacheSeconds(reply.cache_control, settings_.cache_min_seconds,
                                             settings_.cache_max_seconds, settings_.cache_default_seconds);
  return d;
}

Result<void> Provider::FetchKeysLocked(int64_t now) {
  XGW_TRY(auto d, DiscoveryLocked(now));
  keys_fetched_at_ = now;  // a failed fetch also counts against the refetch interval
  XGW_TRY(auto reply, fetcher_->Get(d.jwks_uri));
  XGW_TRY(auto doc, JsonOf(reply, "jwks"));
  XGW_TRY(auto keys, ParseJwks(doc));
  keys_ = std::move(keys);  // a key that left the set is gone now
  keys_loaded_ = true;
  keys_expire_at_ = now + CacheSeconds(reply.cache_control, settings_.cache_min_seconds,
                                       settings_.cache_max_seconds, settings_.cache_default_seconds);
  return {};
}

Checked<json> Provider::VerifyIdToken(std::string_view token, const std::string& nonce, int64_t now) {
  auto jws = ParseCompactJws(token);
  if (!jws) return tl::unexpected(jws.error());
  const std::string want_kty = jws->alg == "RS256" ? "RSA" : "EC";
  std::optional<Jwk> key;
  {
    std::lock_guard lock(mu_);
    if (!keys_loaded_ || now >= keys_expire_at_) {
      if (auto fetched = FetchKeysLocked(now); !fetched) {
        // Fail closed: stale keys are not used once their time is up.
        keys_.clear();
        keys_loaded_ = false;
        return Reject("provider", fetched.error().message);
      }
    }
    const auto find = [&]() -> std::optional<Jwk> {
      std::optional<Jwk> found;
      int candidates = 0;
      for (const auto& k : keys_) {
        if (k.kty() != want_kty) continue;
        if (!jws->kid.empty() ? k.kid() == jws->kid : true) {
          ++candidates;
          found = k;
        }
      }
      // Without a kid, only an unambiguous key will do.
      if (jws->kid.empty() && candidates != 1) return std::nullopt;
      return found;
    };
    key = find();
    if (!key && now - keys_fetched_at_ >= settings_.unknown_kid_refetch_seconds) {
      if (auto fetched = FetchKeysLocked(now); !fetched) return Reject("provider", fetched.error().message);
      key = find();
    }
  }
  if (!key) return Reject("unknown_key", "id token: signed with a key the provider does not publish");
  if (auto ok = VerifySignature(*jws, *key); !ok) return tl::unexpected(ok.error());
  IdTokenExpectations expect;
  expect.issuer = settings_.issuer;
  expect.client_id = settings_.client_id;
  expect.nonce = nonce;
  expect.now = now;
  expect.leeway_seconds = settings_.leeway_seconds;
  if (auto ok = CheckIdTokenClaims(jws->claims, expect); !ok) return tl::unexpected(ok.error());
  return std::move(jws->claims);
}

Checked<std::string> Provider::ExchangeCode(const std::string& code, const std::string& verifier,
                                            const std::string& redirect_uri, int64_t now) {
  Result<Discovery> d = [&] {
    std::lock_guard lock(mu_);
    return DiscoveryLocked(now);
  }();
  if (!d) return Reject("provider", d.error().message);
  const std::string form = "grant_type=authorization_code&code=" + FormEncode(code) +
                           "&redirect_uri=" + FormEncode(redirect_uri) + "&code_verifier=" + FormEncode(verifier) +
                           "&client_id=" + FormEncode(settings_.client_id);
  auto reply = fetcher_->PostForm(d->token_endpoint, form, settings_.client_id, client_secret_);
  if (!reply) return Reject("provider", reply.error().message);
  if (reply->status == 400 || reply->status == 401) {
    return Reject("code", "identity provider: the token endpoint refused the code or the client");
  }
  auto doc = AsChecked(JsonOf(*reply, "token endpoint"));
  if (!doc) return tl::unexpected(doc.error());
  auto id_token = doc->find("id_token");
  if (id_token == doc->end() || !id_token->is_string()) {
    return Reject("provider", "identity provider: the token answer has no id_token");
  }
  return id_token->get<std::string>();
}

}  // namespace xgw::oidc
