#include "gateway/http/listener.h"

#include <cstdio>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "gateway/http/session.h"

namespace xgw {

namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(asio::io_context& ioc, ServerEnv& env)
    : ioc_(ioc), env_(env), acceptor_(asio::make_strand(ioc)), backoff_(acceptor_.get_executor()) {}

Result<void> Listener::Open(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kIo, "cannot listen on " + endpoint.address().to_string() + ":" +
                                    std::to_string(endpoint.port()) + ": " + ec.message() +
                                    "; check $.listen");
  }
  return {};
}

tcp::endpoint Listener::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Listener::Start() { Accept(); }

void Listener::Stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void Listener::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_),
                         boost::beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

bool Listener::AddressAtItsLimit(const tcp::socket& socket) const {
  const uint32_t limit = env_.config.Get()->limits.max_connections_per_address;
  if (limit == 0) return false;
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return false;
  return env_.connections.CountFrom(peer.address().to_string()) >= limit;
}

void Listener::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    std::fprintf(stderr, "xgwd: accept failed: %s\n", ec.message().c_str());
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec && self->acceptor_.is_open()) self->Accept();
    });
    return;
  }
  if (env_.stopping) {
    socket.close(ec);
  } else if (static_cast<uint64_t>(env_.metrics.open_connections()) >=
             env_.config.Get()->limits.max_connections) {
    env_.metrics.ConnectionRejected();
    socket.close(ec);
  } else if (AddressAtItsLimit(socket)) {
    // One client holding many connections (idle TLS handshakes, slow bodies)
    // must not use up max_connections for everyone else.
    env_.metrics.ConnectionRejectedForAddress();
    socket.close(ec);
  } else {
    // A response goes out as several small writes (TLS records for the head
    // and the body): with Nagle's algorithm the second one waits for the
    // client's delayed ACK, ~40 ms per request on Linux.
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<Session>(std::move(socket), env_.tls.Get(), env_)->Start();
  }
  Accept();
}

}  // namespace xgw
