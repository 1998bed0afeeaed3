#include "client/http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "client/exchange_crypto.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct Transfer {
  std::string body;           // small bodies, and error bodies of downloads
  ByteSink* sink = nullptr;   // streamed 2xx body
  ByteSource* source = nullptr;
  Error sink_error{ErrorCode::kInternal, ""};
  bool sink_failed = false;
  long status = 0;
  bool progress = false;
  bool progress_shown = false;
  CURL* curl = nullptr;
  std::string credential_expires;     // Xgw-Credential-Expires (RFC 3339)
  std::string credential_expires_in;  // Xgw-Credential-Expires-In (seconds)
};

std::string HeaderValue(const std::string& line, const std::string& lower_name) {
  if (line.size() <= lower_name.size() || line[lower_name.size()] != ':') return "";
  for (size_t i = 0; i < lower_name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != lower_name[i]) return "";
  }
  std::string v = line.substr(lower_name.size() + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(data, size * n);
  if (auto v = HeaderValue(line, "xgw-credential-expires"); !v.empty()) t->credential_expires = v;
  if (auto v = HeaderValue(line, "xgw-credential-expires-in"); !v.empty()) t->credential_expires_in = v;
  return size * n;
}

// Once per command (one process): an API token that stops working within
// kCredentialWarnSeconds is announced on stderr with what to do about it.
// Sessions (xgw login --user) always end within hours and are renewed by
// signing in, so they get no warning.
void WarnIfCredentialExpiresSoon(const ClientConfig& cfg, const Transfer& t) {
  static bool warned = false;
  if (warned || t.credential_expires_in.empty() || cfg.token.rfind("xgwt_", 0) != 0) return;
  int64_t left = 0;
  try {
    left = std::stoll(t.credential_expires_in);
  } catch (const std::exception&) {
    return;
  }
  if (left < 0 || left >= kCredentialWarnSeconds) return;
  warned = true;
  const int64_t days = left / 86400, hours = (left % 86400) / 3600;
  std::fprintf(stderr,
               "xgw: warning: your API token stops working in %lld day(s) %lld hour(s) (at %s); ask an "
               "operator for a new one (xgw token issue) and run xgw login --token-file with it\n",
               static_cast<long long>(days), static_cast<long long>(hours), t.credential_expires.c_str());
}

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->sink != nullptr) {
    if (t->status == 0) curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->status >= 200 && t->status < 300) {
      auto r = t->sink->Write({reinterpret_cast<const uint8_t*>(data), len});
      if (!r) {
        t->sink_error = r.error();
        t->sink_failed = true;
        return 0;
      }
      return len;
    }
  }
  if (t->body.size() + len > (16u << 20)) return 0;  // a JSON answer is never this large
  t->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  auto r = t->source->Read({reinterpret_cast<uint8_t*>(buf), size * n});
  if (!r) {
    t->sink_error = r.error();
    t->sink_failed = true;
    return CURL_READFUNC_ABORT;
  }
  return *r;
}


int OnProgress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->progress) return 0;
  curl_off_t total = ultotal > 0 ? ultotal : dltotal;
  curl_off_t now = ultotal > 0 ? ulnow : dlnow;
  if (total <= 0 && now <= 0) return 0;
  char line[128];
  if (total > 0) {
    int pct = std::clamp(static_cast<int>(static_cast<double>(now) * 100.0 / static_cast<double>(total)), 0, 100);
    int filled = pct / 5;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(20 - filled), ' ');
    std::snprintf(line, sizeof line, "\r[%s] %3d%% %s   ", bar.c_str(), pct,
                  HumanBytes(static_cast<double>(now)).c_str());
  } else {
    std::snprintf(line, sizeof line, "\r%s   ", HumanBytes(static_cast<double>(now)).c_str());
  }
  std::fputs(line, stderr);
  t->progress_shown = true;
  return 0;
}

Error NetworkError(CURLcode code, const char* errbuf, const std::string& url) {
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
  if (code == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
    return Error{ErrorCode::kIo, "network: the gateway's TLS key does not match the pinned key; someone may be "
                                 "intercepting the connection, or the gateway's key was rotated (ask the operator, "
                                 "then run `xgw login` again)"};
  if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE)
    return Error{ErrorCode::kIo, "network: the gateway's certificate could not be verified (" + detail + ")"};
  return Error{ErrorCode::kIo, "network: cannot reach the gateway at " + url + " (" + detail + ")"};
}

// Settings of every transfer to a gateway: HTTPS only, TLS 1.2 or newer,
// timeouts, no redirects, the answer collected in `t`.
void ConfigureTransport(CURL* c, const std::string& url, Transfer& t, char* errbuf) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
}

// ConfigureTransport plus how the configuration trusts the gateway.
Result<void> Configure(CURL* c, const ClientConfig& cfg, const std::string& url, Transfer& t, char* errbuf) {
  ConfigureTransport(c, url, t, errbuf);
  if (!cfg.cacert.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, cfg.cacert.c_str());
  } else if (!cfg.pin.empty()) {
    // Pinned key instead of a CA: the pin alone decides whom we talk to
    // (libcurl checks it whether or not the chain is verified).
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    return Fail(ErrorCode::kInvalidArgument, "no way to trust the gateway: the configuration has neither a pin nor a CA file");
  }
  if (!cfg.pin.empty()) curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, cfg.pin.c_str());
  return {};
}

std::string BaseUrl(const ClientConfig& cfg) {
  std::string u = cfg.gateway_url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

struct Request {
  std::string method;
  std::string path;
  std::string body;
  bool has_body = false;
  std::string content_type = "application/json";
  ByteSink* sink = nullptr;
  ByteSource* source = nullptr;
  uint64_t source_size = 0;
  bool progress = false;
  std::vector<std::string> headers;  // added as they are
  long stall_seconds = 0;            // > 0: fail a transfer slower than 1 byte/s for this long
};

Result<HttpResponse> Perform(const ClientConfig& cfg, const Request& req) {
  GlobalInit();
  CurlPtr c(curl_easy_init());
  if (!c) return Fail(ErrorCode::kInternal, "libcurl could not be initialised");
  char errbuf[CURL_ERROR_SIZE] = {0};
  Transfer t;
  t.curl = c.get();
  t.sink = req.sink;
  t.source = req.source;
  t.progress = req.progress && ::isatty(2) == 1;
  std::string url = BaseUrl(cfg) + req.path;
  XGW_CHECK(Configure(c.get(), cfg, url, t, errbuf));
  SlistPtr headers;
  auto add = [&](const std::string& h) { headers.reset(curl_slist_append(headers.release(), h.c_str())); };
  std::string auth = "Authorization: Bearer " + cfg.token;
  if (!cfg.token.empty()) add(auth);
  WipeMemory(auth.data(), auth.size());
  add("Accept: application/json, application/problem+json, */*");
  for (const auto& h : req.headers) add(h);
  if (req.stall_seconds > 0) {
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, req.stall_seconds);
  }
  if (req.source != nullptr) {
    add("Content-Type: " + req.content_type);
    curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c.get(), CURLOPT_READDATA, &t);
    curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.source_size));
    add("Expect:");
    curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method == "GET") {
    curl_easy_setopt(c.get(), CURLOPT_HTTPGET, 1L);
  } else {
    if (req.has_body) add("Content-Type: " + req.content_type);
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &t);
  if (t.progress) {
    curl_easy_setopt(c.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFODATA, &t);
  }
  CURLcode rc = curl_easy_perform(c.get());
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, nullptr);
  if (t.progress_shown) std::fputs("\n", stderr);
  if (t.sink_failed) return tl::unexpected(t.sink_error);
  if (rc != CURLE_OK) return tl::unexpected(NetworkError(rc, errbuf, BaseUrl(cfg)));
  HttpResponse out;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &out.status);
  char* ct = nullptr;
  curl_easy_getinfo(c.get(), CURLINFO_CONTENT_TYPE, &ct);
  if (ct != nullptr) out.content_type = ct;
  out.body = std::move(t.body);
  WarnIfCredentialExpiresSoon(cfg, t);
  return out;
}

}  // namespace

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) {
    b /= 1024;
    ++u;
  }
  char out[32];
  std::snprintf(out, sizeof out, "%.1f %s", b, units[u]);
  return out;
}

Error ProblemToError(long status, const json& problem) {
  std::string title, detail;
  if (problem.is_object()) {
    if (auto it = problem.find("title"); it != problem.end() && it->is_string()) title = it->get<std::string>();
    if (auto it = problem.find("detail"); it != problem.end() && it->is_string()) detail = it->get<std::string>();
  }
  std::string msg = "the gateway answered " + std::to_string(status);
  if (!title.empty()) msg += " (" + title + ")";
  if (!detail.empty()) msg += ": " + detail;
  ErrorCode code = ErrorCode::kInternal;
  switch (status) {
    case 400: code = ErrorCode::kInvalidArgument; break;
    case 401: code = ErrorCode::kUnauthenticated; break;
    case 403: code = ErrorCode::kForbidden; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kConflict; break;
    case 413: code = ErrorCode::kLimit; break;
    case 422: code = ErrorCode::kPolicy; break;
    default: break;
  }
  // A refusal that lists protocol violations is a policy refusal, whatever the status.
  if (problem.is_object() && problem.contains("violations") && status == 403) code = ErrorCode::kPolicy;
  return Error{code, msg};
}

Result<HttpResponse> Gateway::Call(const std::string& method, const std::string& path,
                                   const std::optional<json>& body) {
  Request req;
  req.method = method;
  req.path = path;
  if (body) {
    req.body = body->dump();
    req.has_body = true;
  }
  return Perform(config_, req);
}

Result<HttpResponse> Gateway::Succeeded(HttpResponse r) {
  if (r.status >= 200 && r.status < 300) return r;
  json j = json::parse(r.body, nullptr, false);
  last_problem_ = j.is_discarded() ? json() : j;
  return tl::unexpected(ProblemToError(r.status, last_problem_));
}

Result<json> Gateway::Json(const std::string& method, const std::string& path, const std::optional<json>& body) {
  XGW_TRY(HttpResponse called, Call(method, path, body));
  XGW_TRY(HttpResponse r, Succeeded(std::move(called)));
  json j = json::parse(r.body, nullptr, false);
  if (r.body.empty()) return json::object();
  if (j.is_discarded()) return Fail(ErrorCode::kFormat, "the gateway's answer to " + path + " is not JSON");
  return j;
}

Result<HttpResponse> Gateway::Download(const std::string& path, ByteSink& sink, bool progress) {
  Request req;
  req.method = "GET";
  req.path = path;
  req.sink = &sink;
  req.progress = progress;
  XGW_TRY(HttpResponse r, Perform(config_, req));
  return Succeeded(std::move(r));
}

Result<HttpResponse> Gateway::Upload(const std::string& method, const std::string& path, ByteSource& source,
                                     uint64_t size, const std::string& content_type, bool progress) {
  Request req;
  req.method = method;
  req.path = path;
  req.source = &source;
  req.source_size = size;
  req.content_type = content_type;
  req.progress = progress;
  XGW_TRY(HttpResponse r, Perform(config_, req));
  return Succeeded(std::move(r));
}

Result<HttpResponse> Gateway::PutChunk(const std::string& path, std::span<const uint8_t> data,
                                       const std::string& content_digest, long stall_seconds) {
  MemorySource source(data);
  Request req;
  req.method = "PUT";
  req.path = path;
  req.source = &source;
  req.source_size = data.size();
  req.content_type = "application/octet-stream";
  req.headers.push_back("Content-Digest: " + content_digest);
  req.stall_seconds = stall_seconds;
  XGW_TRY(HttpResponse r, Perform(config_, req));
  if (r.status >= 300) {
    json j = json::parse(r.body, nullptr, false);
    last_problem_ = j.is_discarded() ? json() : j;
  }
  return r;
}

Result<std::string> FetchServerPin(const std::string& gateway_url, const std::string& cacert) {
  GlobalInit();
  CurlPtr c(curl_easy_init());
  if (!c) return Fail(ErrorCode::kInternal, "libcurl could not be initialised");
  char errbuf[CURL_ERROR_SIZE] = {0};
  Transfer t;
  t.curl = c.get();
  std::string base = gateway_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + "/healthz";
  ConfigureTransport(c.get(), url, t, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_CERTINFO, 1L);
  // Trust on first use: without a CA file the certificate is read, not
  // verified; the caller shows its pin for the user to compare.
  if (!cacert.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_CAINFO, cacert.c_str());
  } else {
    curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) return tl::unexpected(NetworkError(rc, errbuf, base));
  curl_certinfo* info = nullptr;
  curl_easy_getinfo(c.get(), CURLINFO_CERTINFO, &info);
  if (info == nullptr || info->num_of_certs < 1)
    return Fail(ErrorCode::kIo, "network: the gateway presented no certificate");
  for (curl_slist* s = info->certinfo[0]; s != nullptr; s = s->next) {
    std::string_view line = s->data;
    if (line.starts_with("Cert:")) return PinOfPemCertificate(line.substr(5));
  }
  return Fail(ErrorCode::kIo, "network: the gateway's certificate could not be read");
}

int ExitCodeFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kPolicy: return 3;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kForbidden: return 4;
    case ErrorCode::kIo: return error.message.starts_with("network:") ? 5 : 1;
    default: return 1;
  }
}

}  // namespace xgw::cli
