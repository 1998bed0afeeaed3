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
#include <mutex>
#include <string>

#include "config/config.h"
#include "crypto/error.h"

namespace xgw {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix seconds (UTC).
  virtual int64_t Now() const = 0;
  // Manual clocks only: moves the clock forward by `seconds` (> 0). False if
  // the clock cannot be advanced or (persistent manual clock) its new
  // position could not be saved; the clock is then unchanged.
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
//
// A manual clock opened with Open keeps its position in a state file, so a
// restarted daemon's clock continues where the last one was and never goes
// back. The file holds the configured start it belongs to, the last saved
// position and the clock's lead over the system clock at that moment; on
// Open the clock stands at max(saved position, system time + lead), that is
// it also ran while the daemon was down. A file written for another
// clock.start is ignored: changing clock.start in the config is how an
// operator deliberately sets the clock (also back). The file is replaced
// atomically (temporary file, fsync, rename, directory fsync) at Open and on
// every Advance, before the new time takes effect.
class ManualClock final : public Clock {
 public:
  // Not persisted (tests).
  explicit ManualClock(int64_t start);
  // REQUIRES: the directory of `state_file` exists and is writable.
  static Result<std::unique_ptr<ManualClock>> Open(int64_t configured_start,
                                                   std::string state_file);

  int64_t Now() const override;
  bool Advance(int64_t seconds) override;
  bool manual() const override { return true; }

 private:
  ManualClock(int64_t configured_start, int64_t position, std::string state_file);
  Result<void> Save(int64_t position) const;

  int64_t configured_start_;
  int64_t start_;  // the position at origin_
  std::chrono::steady_clock::time_point origin_;
  std::atomic<int64_t> offset_{0};
  std::string state_file_;  // empty: not persisted
  std::mutex advance_mu_;   // serialises Save + offset_ update
};

// The clock `config` asks for, not persisted (tests and tools).
std::unique_ptr<Clock> MakeClock(const ClockConfig& config);

// The daemon's clock: a manual clock keeps its position in
// <state_dir>/clock.json (see ManualClock); the system clock needs no file.
Result<std::unique_ptr<Clock>> OpenClock(const ClockConfig& config, const std::string& state_dir);

// Where OpenClock keeps a manual clock's position.
std::string ManualClockStatePath(const std::string& state_dir);

}  // namespace xgw

#endif  // XGW_GATEWAY_CLOCK_H_
