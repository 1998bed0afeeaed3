// Accepts TCP connections and starts a Session for each, on its own strand.
// Over limits.max_connections, new connections are closed at once.
#ifndef XGW_GATEWAY_HTTP_LISTENER_H_
#define XGW_GATEWAY_HTTP_LISTENER_H_

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "crypto/error.h"
#include "gateway/http/server_env.h"

namespace xgw {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(boost::asio::io_context& ioc, ServerEnv& env);

  // Binds and listens; port 0 picks a free port (see port()).
  Result<void> Open(const boost::asio::ip::tcp::endpoint& endpoint);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void Start();
  // Stops accepting (thread-safe); open connections are not touched.
  void Stop();

 private:
  void Accept();
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  // The client's address already holds limits.max_connections_per_address.
  bool AddressAtItsLimit(const boost::asio::ip::tcp::socket& socket) const;

  boost::asio::io_context& ioc_;
  ServerEnv& env_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;  // after accept errors (e.g. EMFILE): no busy loop
};

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_LISTENER_H_
