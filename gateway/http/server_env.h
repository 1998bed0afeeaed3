// Shared state of the network layer: what every connection needs from the
// daemon (router, config snapshot, metrics, the blocking thread pool), the
// set of open connections (for graceful shutdown), and the current TLS
// context (swapped on SIGHUP; open connections keep the one they started with).
#ifndef XGW_GATEWAY_HTTP_SERVER_ENV_H_
#define XGW_GATEWAY_HTTP_SERVER_ENV_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "gateway/config_holder.h"
#include "gateway/metrics.h"
#include "gateway/http/router.h"

namespace xgw {

class Session;

// Open connections, so shutdown can tell idle ones to close and wait for the
// busy ones, and the listener can limit connections per client address.
// Thread-safe.
class ConnectionRegistry {
 public:
  // `address` is the client's IP address as text.
  void Add(Session* key, std::weak_ptr<Session> session, const std::string& address);
  void Remove(Session* key);
  size_t Count() const;
  size_t CountFrom(const std::string& address) const;
  // Calls `f` for every live session (outside the lock).
  void ForEach(const std::function<void(const std::shared_ptr<Session>&)>& f) const;

 private:
  struct Entry {
    std::weak_ptr<Session> session;
    std::string address;
  };
  mutable std::mutex mu_;
  std::map<Session*, Entry> sessions_;
  std::map<std::string, size_t> per_address_;
};

class TlsHolder {
 public:
  explicit TlsHolder(std::shared_ptr<boost::asio::ssl::context> ctx) : ctx_(std::move(ctx)) {}
  std::shared_ptr<boost::asio::ssl::context> Get() const {
    std::lock_guard lock(mu_);
    return ctx_;
  }
  void Set(std::shared_ptr<boost::asio::ssl::context> ctx) {
    std::lock_guard lock(mu_);
    ctx_ = std::move(ctx);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

struct ServerEnv {
  Router& router;
  ConfigHolder& config;
  Metrics& metrics;
  boost::asio::thread_pool& blocking;  // SQLite and other blocking work
  ConnectionRegistry& connections;
  TlsHolder& tls;
  std::atomic<bool> stopping{false};   // set on SIGTERM: finish in-flight, then close
};

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_SERVER_ENV_H_
