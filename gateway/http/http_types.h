// Transport-neutral request and response types shared by the HTTP session
// (Beast) and the router/handlers (no Beast), so handlers can be unit-tested
// without a socket.
#ifndef XGW_GATEWAY_HTTP_TYPES_H_
#define XGW_GATEWAY_HTTP_TYPES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/io.h"

namespace xgw {

// What the session knows once the request head has been read.
struct RequestHead {
  std::string method;         // "GET", "POST", ...
  std::string target;         // raw request-target, e.g. "/api/v1/me?x=1"
  std::string content_type;   // "" if absent
  std::string authorization;  // raw header value; secret: never log
  std::string cookie;         // raw Cookie header; secret: never log
  std::string csrf_token;     // X-CSRF-Token; secret: never log
  std::string origin;         // Origin ("" if absent)
  std::string content_digest; // Content-Digest (RFC 9530; "" if absent)
  std::string host;           // Host ("" if absent)
  std::optional<uint64_t> content_length;
  bool chunked = false;
  std::optional<std::string> client_pin;  // hex SPKI SHA-256 of the TLS client certificate
  std::string request_id;                 // "req-..." assigned by the session
  std::string client_address;             // the peer's IP address as text ("" if unknown)

  bool HasBody() const { return chunked || (content_length && *content_length > 0); }
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;                        // sent when `source` is null
  std::unique_ptr<ByteSource> source;      // streamed response body (downloads)
  std::optional<uint64_t> content_length;  // for `source`; absent = chunked encoding
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;          // close the connection after this response
  std::string refusal_reason;  // problem slug for metrics when status >= 400
  // The handler recorded its own audit event for this request (carrying the
  // request id), so the generic http_request event would only repeat it.
  bool audited = false;
};

// Receives a request body chunk by chunk. Write may be called any number of
// times (never after Finish); Finish is called once after the last byte and
// produces the response. If the connection fails or a limit is hit first,
// the sink is destroyed without Finish and must discard what it received.
//
// Write runs on the connection's network thread and must not block for long;
// Finish runs on the blocking thread pool.
class RequestBodySink : public ByteSink {
 public:
  virtual Response Finish() = 0;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_TYPES_H_
