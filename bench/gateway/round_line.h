// Shared by the bench/gateway tools (upload_bench.cc, durable_floor.cc): the
// one key=value line that run.sh parses after a timed round, so that both
// report uploads/s and latency percentiles the same way.
#ifndef XGW_BENCH_GATEWAY_ROUND_LINE_H_
#define XGW_BENCH_GATEWAY_ROUND_LINE_H_

#include <algorithm>
#include <cstdio>
#include <vector>

namespace xgw::bench {

inline double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

// Prints "uploads=N errors=E seconds=S rps=R p50_ms=A p99_ms=B" for the
// latencies (ms) each thread measured during `elapsed` seconds.
inline void PrintRoundLine(const std::vector<std::vector<double>>& per_thread_ms, long errors, double elapsed) {
  std::vector<double> all;
  for (const auto& v : per_thread_ms) all.insert(all.end(), v.begin(), v.end());
  const double p50 = Percentile(all, 0.50);
  const double p99 = Percentile(all, 0.99);
  std::printf("uploads=%zu errors=%ld seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f\n", all.size(), errors, elapsed,
              static_cast<double>(all.size()) / elapsed, p50, p99);
}

}  // namespace xgw::bench

#endif  // XGW_BENCH_GATEWAY_ROUND_LINE_H_
