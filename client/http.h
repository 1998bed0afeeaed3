// The client's HTTPS connection to the gateway (libcurl): bearer token,
// server key pinned (CURLOPT_PINNEDPUBLICKEY) and/or a CA file, problem+json
// errors turned into plain messages, streamed uploads and downloads with an
// optional progress bar on stderr.
#ifndef XGW_CLIENT_HTTP_H_
#define XGW_CLIENT_HTTP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "client/config.h"
#include "crypto/error.h"
#include "crypto/io.h"

namespace xgw::cli {

// xgw warns on stderr (once per command) when the gateway says the
// caller's credential stops working within this many seconds (7 days).
inline constexpr int64_t kCredentialWarnSeconds = 7 * 86400;

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;  // empty for streamed downloads
};

// The connection settings of one command run.
class Gateway {
 public:
  explicit Gateway(ClientConfig config) : config_(std::move(config)) {}

  // A request with an optional JSON body. Any HTTP status is returned;
  // only network/TLS failures are errors ("network: ..." kIo).
  Result<HttpResponse> Call(const std::string& method, const std::string& path,
                            const std::optional<nlohmann::json>& body = std::nullopt);
  // Call() that requires a 2xx JSON answer; other statuses become errors by
  // ProblemToError (kept in last_problem()).
  Result<nlohmann::json> Json(const std::string& method, const std::string& path,
                              const std::optional<nlohmann::json>& body = std::nullopt);
  // GET streamed into `sink` (only on 2xx; an error body is kept instead).
  Result<HttpResponse> Download(const std::string& path, ByteSink& sink, bool progress);
  // PUT/POST streaming `size` bytes of `source`.
  Result<HttpResponse> Upload(const std::string& method, const std::string& path, ByteSource& source,
                              uint64_t size, const std::string& content_type, bool progress);

  // PUT of `data` (one chunk of an upload in parts) with its Content-Digest
  // header value. Any HTTP status is returned (the problem document kept in
  // last_problem()); a transfer that stalls for `stall_seconds` fails like
  // a lost connection ("network: ..." kIo).
  Result<HttpResponse> PutChunk(const std::string& path, std::span<const uint8_t> data,
                                const std::string& content_digest, long stall_seconds);

  // The problem+json document of the last non-2xx answer (null if none).
  const nlohmann::json& last_problem() const { return last_problem_; }
  const ClientConfig& config() const { return config_; }

  // `r` if its status is 2xx; otherwise remembers its problem document and
  // returns it as an error.
  Result<HttpResponse> Succeeded(HttpResponse r);

 private:
  ClientConfig config_;
  nlohmann::json last_problem_;
};

// The status + problem document as an error: 401 kUnauthenticated, 403
// kForbidden, 404 kNotFound, 409 kConflict, 413 kLimit, 422 kPolicy, 400
// kInvalidArgument, anything else kInternal. The message is the problem's
// title and detail (the gateway never puts personal data there).
Error ProblemToError(long status, const nlohmann::json& problem);

// Connects WITHOUT verifying the certificate and returns the pin of the key
// the server presents, for trust on first use. Nothing is sent but the TLS
// handshake and a GET /healthz.
Result<std::string> FetchServerPin(const std::string& gateway_url, const std::string& cacert);

// "12.3 MiB": a byte count for people.
std::string HumanBytes(double bytes);

// Exit code for an error: 3 refused by policy (kPolicy), 4 not authorised
// (kUnauthenticated, kForbidden), 5 network/TLS ("network: ..."), else 1.
int ExitCodeFor(const Error& error);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_HTTP_H_
