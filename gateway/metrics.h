// Process-wide counters, rendered in the Prometheus text exposition format
// for GET /metrics. Labels are route templates, methods, statuses and
// refusal reasons: never ids, tokens or personal data.
//
// Thread safety: all methods may be called concurrently.
#ifndef XGW_GATEWAY_METRICS_H_
#define XGW_GATEWAY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace xgw {

class Metrics {
 public:
  void CountRequest(const std::string& route, const std::string& method, unsigned status);
  void CountRefusal(const std::string& reason);
  void AddBytesIn(uint64_t n) { bytes_in_ += n; }
  void AddBytesOut(uint64_t n) { bytes_out_ += n; }
  void ConnectionOpened() { ++connections_; ++connections_total_; }
  void ConnectionClosed() { --connections_; }
  void ConnectionRejected() { ++connections_rejected_; }
  void ConnectionRejectedForAddress() { ++connections_rejected_address_; }
  // An exception escaped the handling of one connection and was contained
  // (that connection was answered 500 or closed; the daemon went on).
  void ExceptionContained() { ++exceptions_contained_; }
  uint64_t exceptions_contained() const { return exceptions_contained_; }
  void TlsHandshakeFailed() { ++tls_failures_; }
  int64_t open_connections() const { return connections_; }

  // Exchange work (docs/operations.md): outcomes, deletions by reason,
  // sweeper lag and the number of live exchanges.
  void CountExchange(const std::string& outcome);
  void CountDeletion(const std::string& reason);
  void SetSweeperLagSeconds(int64_t lag) { sweeper_lag_ = lag; }
  void SetExchangesLive(int64_t n) { exchanges_live_ = n; }
  // Secret memory held by gateway-encrypt uploads (grows and shrinks by delta).
  void AddPlaintextHeld(int64_t delta) { plaintext_held_ += delta; }
  // notAfter (unix seconds) of the TLS certificate being served; 0 = unknown.
  void SetTlsCertificateExpiry(int64_t not_after) { tls_cert_expiry_ = not_after; }

  std::string RenderPrometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, unsigned>, uint64_t> requests_;
  std::map<std::string, uint64_t> refusals_;
  std::map<std::string, uint64_t> exchanges_;
  std::map<std::string, uint64_t> deletions_;
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<uint64_t> connections_total_{0};
  std::atomic<uint64_t> connections_rejected_{0};
  std::atomic<uint64_t> connections_rejected_address_{0};
  std::atomic<uint64_t> exceptions_contained_{0};
  std::atomic<uint64_t> tls_failures_{0};
  std::atomic<int64_t> tls_cert_expiry_{0};
  std::atomic<int64_t> sweeper_lag_{0};
  std::atomic<int64_t> exchanges_live_{0};
  std::atomic<int64_t> plaintext_held_{0};
};

}  // namespace xgw

#endif  // XGW_GATEWAY_METRICS_H_
