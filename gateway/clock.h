// The daemon's only source of time. Every policy decision, token check and
// the retention sweeper read it, so a test or demo can run a protocol's whole
// life (validity, retention dates) on a manual clock without touching the
// system clock.
//
// Thread safety: Now and Advance may be called concurrently.
#ifndef XGW_GATEWAY_CLOCK_H_
#define XGW_GATEWAY_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "config/config.h"

namespace xgw {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix seconds (UTC).
  virtual int64_t Now() const = 0;
  // Manual clocks only: moves the clock forward by `seconds` (> 0).
  virtual bool Advance(int64_t seconds) = 0;
  virtual bool manual() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t Now() const override;
  bool Advance(int64_t) override { return false; }
  bool manual() const override { return false; }
};

// Starts at `start` when constructed and runs at real speed from there, plus
// every Advance.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start);
  int64_t Now() const override;
  bool Advance(int64_t seconds) override;
  bool manual() const override { return true; }

 private:
  int64_t start_;
  std::chrono::steady_clock::time_point origin_;
  std::atomic<int64_t> offset_{0};
};

std::unique_ptr<Clock> MakeClock(const ClockConfig& config);

}  // namespace xgw

#endif  // XGW_GATEWAY_CLOCK_H_
