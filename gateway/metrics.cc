#include "gateway/metrics.h"

#include <sstream>

namespace xgw {
namespace {

// Label values come from route templates and fixed slugs, but escape anyway.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Header(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

void Metrics::CountRequest(const std::string& route, const std::string& method, unsigned status) {
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
}

void Metrics::CountRefusal(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++refusals_[reason];
}

void Metrics::CountExchange(const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++exchanges_[outcome];
}

void Metrics::CountDeletion(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++deletions_[reason];
}

std::string Metrics::RenderPrometheus() const {
  std::ostringstream o;
  std::lock_guard lock(mu_);
  Header(o, "xgw_http_requests_total", "counter", "HTTP requests by route template, method and status.");
  for (const auto& [k, v] : requests_) {
    o << "xgw_http_requests_total{route=\"" << Escape(std::get<0>(k)) << "\",method=\""
      << Escape(std::get<1>(k)) << "\",status=\"" << std::get<2>(k) << "\"} " << v << '\n';
  }
  Header(o, "xgw_refusals_total", "counter", "Requests refused, by problem type.");
  for (const auto& [k, v] : refusals_) o << "xgw_refusals_total{reason=\"" << Escape(k) << "\"} " << v << '\n';
  Header(o, "xgw_http_request_bytes_total", "counter", "Request body bytes received.");
  o << "xgw_http_request_bytes_total " << bytes_in_.load() << '\n';
  Header(o, "xgw_http_response_bytes_total", "counter", "Response body bytes sent.");
  o << "xgw_http_response_bytes_total " << bytes_out_.load() << '\n';
  Header(o, "xgw_connections_open", "gauge", "TLS connections currently open.");
  o << "xgw_connections_open " << connections_.load() << '\n';
  Header(o, "xgw_connections_total", "counter", "TCP connections accepted.");
  o << "xgw_connections_total " << connections_total_.load() << '\n';
  Header(o, "xgw_connections_rejected_total", "counter", "Connections closed at once because max_connections was reached.");
  o << "xgw_connections_rejected_total " << connections_rejected_.load() << '\n';
  Header(o, "xgw_connections_rejected_per_address_total", "counter", "Connections closed at once because their client address already held max_connections_per_address.");
  o << "xgw_connections_rejected_per_address_total " << connections_rejected_address_.load() << '\n';
  Header(o, "xgw_exceptions_contained_total", "counter", "Exceptions that escaped the handling of one connection; that connection was answered 500 or closed, the daemon went on. Each is a bug: report it.");
  o << "xgw_exceptions_contained_total " << exceptions_contained_.load() << '\n';
  Header(o, "xgw_tls_handshake_failures_total", "counter", "TLS handshakes that failed (protocol, cipher, timeout).");
  o << "xgw_tls_handshake_failures_total " << tls_failures_.load() << '\n';
  Header(o, "xgw_exchanges_total", "counter", "Exchange events by outcome (created, uploaded, downloaded, acknowledged, refused).");
  if (exchanges_.empty()) o << "xgw_exchanges_total{outcome=\"accepted\"} 0\n";
  for (const auto& [k, v] : exchanges_) o << "xgw_exchanges_total{outcome=\"" << Escape(k) << "\"} " << v << '\n';
  Header(o, "xgw_deletions_total", "counter", "Blob deletions by reason (expiry, revoked, protocol_terminated, pending_timeout, orphan).");
  if (deletions_.empty()) o << "xgw_deletions_total{reason=\"expiry\"} 0\n";
  for (const auto& [k, v] : deletions_) o << "xgw_deletions_total{reason=\"" << Escape(k) << "\"} " << v << '\n';
  Header(o, "xgw_sweeper_lag_seconds", "gauge", "Age of the oldest expired, undeleted exchange after the last sweep.");
  o << "xgw_sweeper_lag_seconds " << sweeper_lag_.load() << '\n';
  Header(o, "xgw_exchanges_live", "gauge", "Exchanges available or acknowledged (ciphertext stored).");
  o << "xgw_exchanges_live " << exchanges_live_.load() << '\n';
  Header(o, "xgw_plaintext_held_bytes", "gauge", "Secret memory held by gateway-encrypt uploads in progress (bounded by exchanges.plaintext_memory_budget_bytes).");
  o << "xgw_plaintext_held_bytes " << plaintext_held_.load() << '\n';
  Header(o, "xgw_tls_certificate_expiry_seconds", "gauge", "notAfter (unix seconds) of the TLS certificate being served; absent when unknown.");
  if (tls_cert_expiry_.load() > 0) o << "xgw_tls_certificate_expiry_seconds " << tls_cert_expiry_.load() << '\n';
  return o.str();
}

}  // namespace xgw
