#include "gateway/http/session.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "gateway/ids.h"
#include "gateway/http/problem.h"
#include "gateway/http/tls.h"

namespace xgw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using beast::error_code;

namespace {

bool IsHttpParseError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct FramingRefusal {
  unsigned status;
  const char* slug;
  const char* title;
  const char* detail;
};

// RFC 9112 §6: xgw decodes only the "chunked" transfer coding, once, as the
// last coding, and never together with Content-Length (a request framed two
// ways is how request smuggling starts). Beast alone would accept
// "gzip, chunked" (passing gzip bytes on as the body) and "chunked, identity".
std::optional<FramingRefusal> CheckFraming(const http::request_parser<http::buffer_body>& parser) {
  const auto& req = parser.get();
  std::vector<std::string> codings;
  bool has_content_length = false;
  for (const auto& f : req) {
    if (f.name() == http::field::content_length) has_content_length = true;
    if (f.name() != http::field::transfer_encoding) continue;
    std::string_view value = f.value();
    while (!value.empty()) {
      const size_t comma = value.find(',');
      codings.push_back(Lower(TrimSpace(value.substr(0, comma))));
      value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    }
  }
  if (codings.empty()) return std::nullopt;
  if (has_content_length) {
    return FramingRefusal{400, "bad-framing", "Ambiguous message framing",
                          "send either Transfer-Encoding: chunked or Content-Length, not both"};
  }
  if (codings.back() != "chunked" ||
      std::count(codings.begin(), codings.end(), "chunked") != 1) {
    return FramingRefusal{400, "bad-framing", "Bad message framing",
                          "a request's Transfer-Encoding must end in chunked, applied once"};
  }
  if (codings.size() != 1) {
    return FramingRefusal{501, "transfer-coding-not-implemented", "Transfer coding not implemented",
                          "the only transfer coding accepted is chunked; send the body as it is"};
  }
  return std::nullopt;
}

Response ContainedProblem(const std::string& request_id) {
  Response r = Problem(500, "internal", "Internal error",
                       "the gateway failed to handle the request; an operator can find the cause "
                       "in the log under this request_id",
                       request_id);
  r.close = true;
  return r;
}

// Logs an escaped exception without its text: a parser's message can quote
// the request's bytes, which may be personal data.
void LogContained(const std::string& request_id) {
  std::fprintf(stderr,
               "xgwd: %s an exception escaped the request; it was answered 500 or its connection "
               "closed, the daemon goes on (a bug: please report it)\n",
               request_id.empty() ? "-" : request_id.c_str());
}

}  // namespace

void ConnectionRegistry::Add(Session* key, std::weak_ptr<Session> session,
                             const std::string& address) {
  std::lock_guard lock(mu_);
  sessions_[key] = Entry{std::move(session), address};
  ++per_address_[address];
}

void ConnectionRegistry::Remove(Session* key) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  auto count = per_address_.find(it->second.address);
  if (count != per_address_.end() && --count->second == 0) per_address_.erase(count);
  sessions_.erase(it);
}

size_t ConnectionRegistry::Count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

size_t ConnectionRegistry::CountFrom(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

void ConnectionRegistry::ForEach(
    const std::function<void(const std::shared_ptr<Session>&)>& f) const {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, entry] : sessions_) {
      if (auto s = entry.session.lock()) live.push_back(std::move(s));
    }
  }
  for (const auto& s : live) f(s);
}

Session::Session(asio::ip::tcp::socket&& socket, std::shared_ptr<asio::ssl::context> tls,
                 ServerEnv& env)
    : tls_(std::move(tls)), stream_(std::move(socket), *tls_), env_(env),
      buffer_(kMaxUnparsedBytes), config_(env.config.Get()) {
  error_code ec;
  const auto peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  if (!ec) address_ = peer.address().to_string();
  env_.metrics.ConnectionOpened();
}

Session::~Session() {
  env_.connections.Remove(this);
  env_.metrics.ConnectionClosed();
}

template <typename Duration>
void Session::Deadline(Duration d) {
  beast::get_lowest_layer(stream_).expires_after(d);
}

template <typename F>
void Session::Guarded(F&& f) noexcept {
  try {
    f();
  } catch (...) {
    Contain();
  }
}

template <typename... Args>
auto Session::Step(void (Session::*step)(Args...)) {
  return [self = shared_from_this(), step](Args... args) {
    self->Guarded([&] { ((*self).*step)(args...); });
  };
}

void Session::Contain() noexcept {
  env_.metrics.ExceptionContained();
  LogContained(head_.request_id);
  const bool request_read = state_ == State::kBusy || (parser_ && parser_->is_header_done());
  if (request_read && !responding_ && !contained_ && state_ != State::kClosing) {
    contained_ = true;  // a second escape on the way out only closes
    try {
      sink_.reset();
      body_complete_ = false;
      env_.router.RecordTransportRefusal(head_.request_id, 500, "internal", address_);
      return Respond(ContainedProblem(head_.request_id));
    } catch (...) {
      env_.metrics.ExceptionContained();
    }
  }
  Close();
}

void Session::Start() {
  env_.connections.Add(this, weak_from_this(), address_);
  // Synchronous reads (see OnBody) must return would_block rather than wait;
  // asynchronous operations are unaffected.
  error_code ignored;
  beast::get_lowest_layer(stream_).socket().non_blocking(true, ignored);
  // The socket's executor is the connection's strand: run everything there.
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->Guarded([&] {
      if (self->env_.stopping) return self->Close();
      self->Deadline(std::chrono::seconds(self->config_->limits.handshake_timeout_seconds));
      self->stream_.async_handshake(asio::ssl::stream_base::server,
                                    self->Step(&Session::OnHandshake));
    });
  });
}

void Session::StopWhenIdle() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ == State::kIdle || self->state_ == State::kHandshake) self->Close();
    // kBusy: Respond() sees env_.stopping and closes after the response.
  });
}

void Session::OnHandshake(error_code ec) {
  if (ec) {
    env_.metrics.TlsHandshakeFailed();
    return Close();
  }
  if (config_->tls.client_auth != "none") client_pin_ = PeerSpkiPin(stream_.native_handle());
  ReadHeader();
}

void Session::ReadHeader() {
  state_ = State::kIdle;
  config_ = env_.config.Get();  // a reload applies from the next request on
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(config_->limits.max_header_bytes));
  // Checked per route once the head is known (Router::Prepare, then OnPrepared).
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  sink_.reset();
  if (buffer_.size() == 0 && buffer_.capacity() > 4096) buffer_.shrink_to_fit();
  body_complete_ = true;
  responding_ = false;
  body_buffered_ = 0;
  bytes_in_ = bytes_out_ = 0;
  route_ = "unmatched";
  head_ = RequestHead{};
  head_.request_id = NewId(kRequestPrefix);
  Deadline(std::chrono::seconds(config_->limits.header_timeout_seconds));
  http::async_read_header(stream_, buffer_, *parser_, Step(&Session::OnHeader));
}

void Session::OnHeader(error_code ec, size_t) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    body_complete_ = false;
    return RespondTransportError(431, "header-too-large", "Request header fields too large",
                                 "the request line and headers together exceed the limit; "
                                 "send fewer or shorter headers");
  }
  if (ec && IsHttpParseError(ec) && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    body_complete_ = false;
    return RespondTransportError(400, "bad-request", "Bad request",
                                 "the request is not valid HTTP/1.1");
  }
  if (ec) return Close();  // end of stream, timeout (slow client), TLS error, shutdown
  if (auto refusal = CheckFraming(*parser_)) {
    body_complete_ = false;
    return RespondTransportError(refusal->status, refusal->slug, refusal->title, refusal->detail);
  }
  state_ = State::kBusy;
  started_ = std::chrono::steady_clock::now();
  const auto& req = parser_->get();
  head_.method = std::string(req.method_string());
  head_.target = std::string(req.target());
  head_.content_type = std::string(req[http::field::content_type]);
  head_.authorization = std::string(req[http::field::authorization]);
  head_.cookie = std::string(req[http::field::cookie]);
  head_.csrf_token = std::string(req["X-CSRF-Token"]);
  head_.content_digest = std::string(req["Content-Digest"]);
  head_.origin = std::string(req[http::field::origin]);
  head_.host = std::string(req[http::field::host]);
  if (auto len = parser_->content_length()) head_.content_length = *len;
  head_.chunked = parser_->chunked();
  head_.client_pin = client_pin_;
  head_.client_address = address_;
  body_complete_ = !head_.HasBody();
  // Authentication and authorisation touch SQLite: leave the network thread.
  asio::post(env_.blocking, [self = shared_from_this()] {
    auto d = std::make_shared<Dispatch>();
    try {
      *d = self->env_.router.Prepare(self->head_);
    } catch (...) {
      self->env_.metrics.ExceptionContained();
      LogContained(self->head_.request_id);
      d->response = ContainedProblem(self->head_.request_id);
    }
    asio::post(self->stream_.get_executor(), [self, d] {
      self->Guarded([&] { self->OnPrepared(std::move(*d)); });
    });
  });
}

void Session::OnPrepared(Dispatch d) {
  route_ = d.route;
  if (d.response) return Respond(std::move(*d.response));
  sink_ = std::move(d.sink);
  parser_->body_limit(d.body_limit);
  rate_window_start_ = std::chrono::steady_clock::now();
  rate_window_bytes_ = 0;
  if (Lower(parser_->get()[http::field::expect]) == "100-continue" && !parser_->is_done()) {
    continue_.emplace(http::status::continue_, 11);
    Deadline(std::chrono::seconds(config_->limits.write_timeout_seconds));
    return http::async_write(stream_, *continue_, Step(&Session::OnContinueWritten));
  }
  ReadBody();
}

void Session::OnContinueWritten(error_code ec, size_t) {
  if (ec) return Close();
  ReadBody();
}

void Session::ReadBody() {
  if (parser_->is_done()) return FinishBody();
  // Beast reads at most the read buffer's free capacity per call; after a
  // request head that is about 1 KiB, so a 16 KiB TLS record would take ~16
  // reads through the TLS engine. Room for whole records while a body streams
  // in; ReadHeader gives the memory back for idle keep-alive connections.
  static constexpr size_t kBodyReadBuffer = 32 * 1024;
  if (buffer_.capacity() < kBodyReadBuffer) buffer_.reserve(kBodyReadBuffer);
  PointBodyBuffer();
  // An idle timeout: each read that brings bytes re-arms it (OnBody reads
  // again through here), so only silence ends an upload; BodyRateKept ends one
  // that trickles.
  Deadline(std::chrono::seconds(config_->limits.body_timeout_seconds));
  http::async_read_some(stream_, buffer_, *parser_, Step(&Session::OnBody));
}

bool Session::BodyRateKept(size_t bytes) {
  const uint64_t min_rate = config_->limits.min_body_bytes_per_second;
  if (min_rate == 0) return true;
  rate_window_bytes_ += bytes;
  const auto window = std::chrono::seconds(config_->limits.body_timeout_seconds);
  const auto now = std::chrono::steady_clock::now();
  if (now - rate_window_start_ < window) return true;
  const bool kept = rate_window_bytes_ >= min_rate * config_->limits.body_timeout_seconds;
  rate_window_start_ = now;
  rate_window_bytes_ = 0;
  return kept;
}

void Session::PointBodyBuffer() {
  parser_->get().body().data = io_buf_.data() + body_buffered_;
  parser_->get().body().size = io_buf_.size() - body_buffered_;
}

// One asynchronous read per TLS record (16 KiB at most) costs a trip through
// the reactor, a timer re-arm and several executor hand-offs, more than the
// record's decryption: after each completion, the records already waiting in
// the socket are read synchronously (the socket is non-blocking, so a read
// that would wait ends the loop) and handed to the sink 64 KiB at a time.
void Session::OnBody(error_code ec, size_t bytes) {
  static constexpr int kMaxSyncReads = 64;  // then yield to other connections
  for (int sync_reads = 0;; ++sync_reads) {
    const bool drained = ec == asio::error::would_block;
    if (ec == http::error::need_buffer || drained) ec = {};
    if (ec == http::error::body_limit) {
      sink_.reset();
      return RespondTransportError(413, "too-large", "Request body too large",
                                   "the request body exceeds the limit for this endpoint");
    }
    if (ec == http::error::buffer_overflow) {
      // Chunk extensions or trailer fields beyond kMaxUnparsedBytes.
      sink_.reset();
      return RespondTransportError(431, "header-too-large", "Request header fields too large",
                                   "the chunked body's extensions or trailer fields exceed the "
                                   "limit; send no trailer fields");
    }
    if (ec && IsHttpParseError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      sink_.reset();
      return RespondTransportError(400, "bad-request", "Bad request",
                                   "the chunked framing of the request body is not valid");
    }
    if (ec) {
      sink_.reset();  // discards whatever the sink received
      return Close();
    }
    if (!BodyRateKept(bytes)) {
      sink_.reset();
      return RespondTransportError(
          408, "body-too-slow", "Request body too slow",
          "the request body arrived more slowly than limits.min_body_bytes_per_second allows; "
          "send it again over a faster connection");
    }
    body_buffered_ = io_buf_.size() - parser_->get().body().size;
    if ((body_buffered_ == io_buf_.size() || parser_->is_done()) && !DeliverBody()) return;
    if (parser_->is_done()) return FinishBody();
    if (drained || sync_reads == kMaxSyncReads) return ReadBody();
    PointBodyBuffer();
    bytes = http::read_some(stream_, buffer_, *parser_, ec);
  }
}

bool Session::DeliverBody() {
  const size_t got = body_buffered_;
  body_buffered_ = 0;
  if (got == 0) return true;
  bytes_in_ += got;
  env_.metrics.AddBytesIn(got);
  if (auto w = sink_->Write(std::span<const uint8_t>(io_buf_.data(), got)); !w) {
    sink_.reset();
    Response r = ProblemFromError(w.error(), head_.request_id);
    r.close = true;
    body_complete_ = parser_->is_done();
    Respond(std::move(r));
    return false;
  }
  return true;
}

void Session::FinishBody() {
  body_complete_ = true;
  asio::post(env_.blocking, [self = shared_from_this()] {
    auto r = std::make_shared<Response>();
    try {
      *r = self->sink_->Finish();
    } catch (...) {
      self->env_.metrics.ExceptionContained();
      LogContained(self->head_.request_id);
      *r = ContainedProblem(self->head_.request_id);
    }
    asio::post(self->stream_.get_executor(), [self, r] {
      self->Guarded([&] {
        self->sink_.reset();
        self->Respond(std::move(*r));
      });
    });
  });
}

void Session::RespondTransportError(unsigned status, const char* slug, const char* title,
                                    const char* detail) {
  state_ = State::kBusy;
  started_ = std::chrono::steady_clock::now();
  env_.router.RecordTransportRefusal(head_.request_id, status, slug, address_);
  Response r = Problem(status, slug, title, detail, head_.request_id);
  r.close = true;
  Respond(std::move(r));
}

// On every answer, API or page alike: the web app is served from this origin
// and may run nothing from anywhere else (no inline script or style, no eval,
// no framing); nothing is cached unless the handler says so; HTTPS only.
void Session::SetSecurityHeaders(http::response<http::buffer_body>& res) {
  res.set("X-Content-Type-Options", "nosniff");
  res.set(http::field::cache_control, "no-store");
  res.set("Content-Security-Policy",
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; worker-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
          "form-action 'self'; frame-ancestors 'none'");
  res.set("Strict-Transport-Security", "max-age=63072000");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
  res.set("Cross-Origin-Resource-Policy", "same-origin");
  res.set("X-Frame-Options", "DENY");
}

void Session::Respond(Response r) {
  responding_ = true;
  response_ = std::move(r);
  string_body_sent_ = false;
  const bool client_keep_alive = parser_ && parser_->is_header_done() && parser_->get().keep_alive();
  keep_alive_ = client_keep_alive && !response_.close && body_complete_ && !env_.stopping;
  res_.emplace();
  res_->result(response_.status);
  res_->version(11);
  res_->set(http::field::server, "xgwd");
  res_->set(http::field::content_type, response_.content_type);
  res_->set("X-Request-Id", head_.request_id);
  SetSecurityHeaders(*res_);
  for (const auto& [k, v] : response_.headers) {
    // Set-Cookie is the one header that may come more than once (RFC 6265).
    if (k == "Set-Cookie") {
      res_->insert(k, v);
    } else {
      res_->set(k, v);  // a handler's Cache-Control replaces no-store (the web app's files)
    }
  }
  if (response_.source) {
    if (response_.content_length) {
      res_->content_length(*response_.content_length);
    } else {
      res_->chunked(true);
    }
  } else {
    res_->content_length(response_.body.size());
  }
  res_->keep_alive(keep_alive_);
  sr_.emplace(*res_);
  Deadline(std::chrono::seconds(config_->limits.write_timeout_seconds));
  http::async_write_header(stream_, *sr_, Step(&Session::OnHeaderWritten));
}

void Session::OnHeaderWritten(error_code ec, size_t) {
  if (ec) return Close();
  WriteBodyChunk();
}

void Session::WriteBodyChunk() {
  auto& body = res_->body();
  if (!response_.source) {
    body.data = string_body_sent_ || response_.body.empty() ? nullptr : response_.body.data();
    body.size = string_body_sent_ ? 0 : response_.body.size();
    body.more = false;
    if (!string_body_sent_) bytes_out_ += response_.body.size();
    string_body_sent_ = true;
  } else {
    // Reading a blob from disk is short enough to do on the strand.
    auto n = response_.source->Read(std::span<uint8_t>(io_buf_.data(), io_buf_.size()));
    if (!n) {
      // Headers are out; the only honest signal left is an incomplete body.
      std::fprintf(stderr, "xgwd: %s response source failed: %s\n", head_.request_id.c_str(),
                   ToString(n.error()).c_str());
      return Close();
    }
    body.data = *n ? io_buf_.data() : nullptr;
    body.size = *n;
    body.more = *n > 0;
    bytes_out_ += *n;
  }
  Deadline(std::chrono::seconds(config_->limits.write_timeout_seconds));
  http::async_write(stream_, *sr_, Step(&Session::OnBodyWritten));
}

void Session::OnBodyWritten(error_code ec, size_t) {
  if (ec == http::error::need_buffer) ec = {};
  if (ec) return Close();
  if (!sr_->is_done()) return WriteBodyChunk();
  OnResponseDone();
}

void Session::OnResponseDone() {
  env_.metrics.AddBytesOut(bytes_out_);
  env_.metrics.CountRequest(route_, head_.method.empty() ? "-" : head_.method, response_.status);
  if (response_.status >= 400 && !response_.refusal_reason.empty()) {
    env_.metrics.CountRefusal(response_.refusal_reason);
  }
  if (config_->log_requests) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started_)
                        .count();
    // Route template, never the raw target: ids and query strings stay out of logs.
    std::fprintf(stderr, "xgwd: %s %s %s %u in=%llu out=%llu %lldms\n", head_.request_id.c_str(),
                 head_.method.empty() ? "-" : head_.method.c_str(), route_.c_str(),
                 response_.status, static_cast<unsigned long long>(bytes_in_),
                 static_cast<unsigned long long>(bytes_out_), static_cast<long long>(ms));
  }
  response_ = Response{};
  sr_.reset();
  res_.reset();
  if (keep_alive_ && !env_.stopping) return ReadHeader();
  if (!body_complete_ && !env_.stopping) return LingeringClose();
  GracefulClose();
}

// Answered before the request body was read in full (a refusal): closing now
// would make the kernel answer the unread bytes with a reset, and a reset can
// destroy the answer before the client reads it, or fail the client's send
// before it reads at all. So, as RFC 9112 section 9.6 asks: half-close (the
// client sees the end of the answer at once), then read and discard what the
// client still sends until it closes, within kLingerTime and kLingerBytes.
// No TLS close_notify: the answer carries its length, and reading the rest
// would end a TLS shutdown in error anyway.
void Session::LingeringClose() {
  state_ = State::kClosing;
  auto& tcp = beast::get_lowest_layer(stream_);
  error_code ec;
  tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  lingered_bytes_ = 0;
  Deadline(kLingerTime);
  tcp.async_read_some(asio::buffer(io_buf_), Step(&Session::OnLingerRead));
}

void Session::OnLingerRead(error_code ec, size_t bytes) {
  lingered_bytes_ += bytes;
  if (ec || lingered_bytes_ >= kLingerBytes) return Close();
  beast::get_lowest_layer(stream_).async_read_some(asio::buffer(io_buf_),
                                                   Step(&Session::OnLingerRead));
}

void Session::GracefulClose() {
  state_ = State::kClosing;
  Deadline(std::chrono::seconds(2));
  stream_.async_shutdown([self = shared_from_this()](error_code) { self->Close(); });
}

void Session::Close() {
  state_ = State::kClosing;
  error_code ignored;
  auto& sock = beast::get_lowest_layer(stream_).socket();
  sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
}

void RunContained(asio::io_context& ioc, Metrics& metrics) {
  while (true) {
    try {
      ioc.run();
      return;
    } catch (...) {
      metrics.ExceptionContained();
      LogContained("");
    }
  }
}

}  // namespace xgw
