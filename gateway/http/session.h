// One TLS connection: handshake, then HTTP/1.1 requests one after another
// (keep-alive) until the client closes, an error or timeout occurs, or the
// daemon stops. Every step has a deadline (handshake, request head, idle body
// chunk, response chunk), so a slow or silent client cannot hold a
// connection: that is the slowloris defence.
//
// Bodies are never buffered whole: the parser hands body bytes to the
// route's RequestBodySink in chunks of at most 64 KiB, and response bodies
// from a ByteSource go out the same way. Router::Prepare and
// RequestBodySink::Finish (SQLite, disk) run on the blocking thread pool;
// everything else on the connection's strand.
//
// The bytes held unparsed (request head, chunk headers, trailers) never
// exceed kMaxUnparsedBytes, so no field reaches the size at which Beast
// throws. Every step of the connection runs inside a guard: an exception
// escaping one (a bug, or bad_alloc) is answered 500 if no response has begun,
// closes this connection and is counted (xgw_exceptions_contained_total);
// the daemon and its other connections go on.
#ifndef XGW_GATEWAY_HTTP_SESSION_H_
#define XGW_GATEWAY_HTTP_SESSION_H_

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "gateway/http/server_env.h"

namespace xgw {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<boost::asio::ssl::context> tls,
          ServerEnv& env);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the handshake. REQUIRES: the socket's executor is a strand.
  void Start();
  // Called on shutdown: closes the connection now if it is between requests,
  // otherwise lets the current request finish and then closes. Thread-safe.
  void StopWhenIdle();

 private:
  enum class State { kHandshake, kIdle, kBusy, kClosing };
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  static constexpr size_t kMaxUnparsedBytes = 64 * 1024;
  // How long and how much a connection reads after a refusal (LingeringClose).
  static constexpr std::chrono::seconds kLingerTime{2};
  static constexpr uint64_t kLingerBytes = 16 * 1024 * 1024;

  // A completion handler running `step` on this connection inside the guard.
  template <typename... Args>
  auto Step(void (Session::*step)(Args...));
  // Runs `f` inside the guard.
  template <typename F>
  void Guarded(F&& f) noexcept;
  // An exception escaped a step: answer 500 if nothing was sent yet, close.
  void Contain() noexcept;

  void OnHandshake(boost::beast::error_code ec);
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec, size_t bytes);
  void OnPrepared(Dispatch dispatch);
  void OnContinueWritten(boost::beast::error_code ec, size_t bytes);
  void ReadBody();
  void OnBody(boost::beast::error_code ec, size_t bytes);
  // Counts `bytes` received toward the minimum body rate; false once a
  // window of body_timeout_seconds ended below it.
  bool BodyRateKept(size_t bytes);
  void PointBodyBuffer();
  // Hands the buffered body bytes to the sink; false if it refused them (a
  // response is then on its way).
  bool DeliverBody();
  void FinishBody();
  static void SetSecurityHeaders(boost::beast::http::response<boost::beast::http::buffer_body>& res);
  void Respond(Response response);
  void RespondTransportError(unsigned status, const char* slug, const char* title,
                             const char* detail);
  void OnHeaderWritten(boost::beast::error_code ec, size_t bytes);
  void WriteBodyChunk();
  void OnBodyWritten(boost::beast::error_code ec, size_t bytes);
  void OnResponseDone();
  void GracefulClose();
  void LingeringClose();
  void OnLingerRead(boost::beast::error_code ec, size_t bytes);
  void Close();
  template <typename Duration>
  void Deadline(Duration d);

  std::shared_ptr<boost::asio::ssl::context> tls_;  // outlives stream_
  Stream stream_;
  ServerEnv& env_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<const Config> config_;
  State state_ = State::kHandshake;
  std::optional<std::string> client_pin_;
  std::string address_;  // the client's IP address

  // Current request.
  std::optional<boost::beast::http::request_parser<boost::beast::http::buffer_body>> parser_;
  RequestHead head_;
  std::string route_ = "unmatched";
  std::unique_ptr<RequestBodySink> sink_;
  bool body_complete_ = true;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::optional<boost::beast::http::response<boost::beast::http::empty_body>> continue_;
  std::chrono::steady_clock::time_point rate_window_start_;
  uint64_t rate_window_bytes_ = 0;

  // Current response.
  Response response_;
  std::optional<boost::beast::http::response<boost::beast::http::buffer_body>> res_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::buffer_body>> sr_;
  bool string_body_sent_ = false;
  bool keep_alive_ = false;
  bool responding_ = false;  // Respond() was called for the current request
  bool contained_ = false;   // an exception was contained on this connection

  std::array<uint8_t, 64 * 1024> io_buf_{};
  size_t body_buffered_ = 0;  // body bytes in io_buf_ not yet given to the sink
  uint64_t lingered_bytes_ = 0;  // read and discarded by LingeringClose
};

// Runs `ioc` until it stops. An exception thrown inside Asio or Beast below a
// connection's own guard unwinds that connection's pending operation: its
// Session is released and the connection closes. The exception is counted
// (Metrics::ExceptionContained) and the loop goes on for everyone else.
void RunContained(boost::asio::io_context& ioc, Metrics& metrics);

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_SESSION_H_
