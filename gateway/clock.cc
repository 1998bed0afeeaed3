#include "gateway/clock.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <optional>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "crypto/io.h"

namespace xgw {
namespace {

int64_t WallNow() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

int64_t SystemClock::Now() const { return WallNow(); }

ManualClock::ManualClock(int64_t start) : ManualClock(start, start, std::string()) {}

ManualClock::ManualClock(int64_t configured_start, int64_t position, std::string state_file)
    : configured_start_(configured_start),
      start_(position),
      origin_(std::chrono::steady_clock::now()),
      state_file_(std::move(state_file)) {}

Result<std::unique_ptr<ManualClock>> ManualClock::Open(int64_t configured_start,
                                                       std::string state_file) {
  int64_t position = configured_start;
  struct stat st{};
  if (::stat(state_file.c_str(), &st) == 0) {
    std::ifstream in(state_file, std::ios::binary);
    if (!in) return Fail(ErrorCode::kIo, "cannot read manual clock state " + state_file);
    std::ostringstream text;
    text << in.rdbuf();
    const auto doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    const auto int_at = [&doc](const char* key) -> std::optional<int64_t> {
      if (!doc.is_object()) return std::nullopt;
      auto it = doc.find(key);
      if (it == doc.end() || !it->is_number_integer()) return std::nullopt;
      return it->get<int64_t>();
    };
    const auto start = int_at("clock_start");
    const auto saved = int_at("position");
    const auto lead = int_at("lead_seconds");
    if (!start || !saved || !lead) {
      return Fail(ErrorCode::kCorrupt,
                  "manual clock state " + state_file +
                      " is damaged; delete it to start the clock again at clock.start");
    }
    // Another clock.start: the operator set the clock on purpose.
    if (*start == configured_start) position = std::max(*saved, WallNow() + *lead);
  } else if (errno != ENOENT) {
    return tl::unexpected<Error>(IoError("stat", state_file, errno));
  }
  std::unique_ptr<ManualClock> clock(new ManualClock(configured_start, position, std::move(state_file)));
  XGW_CHECK(clock->Save(position));
  return clock;
}

Result<void> ManualClock::Save(int64_t position) const {
  if (state_file_.empty()) return {};
  const std::string text = nlohmann::json{{"clock_start", configured_start_},
                                          {"position", position},
                                          {"position_utc", FormatUtcTime(position)},
                                          {"lead_seconds", position - WallNow()}}
                               .dump(2) +
                           "\n";
  XGW_TRY(auto f, AtomicFile::Create(state_file_, 0600));
  XGW_CHECK(f.Write(AsBytes(text)));
  return f.Commit();
}

int64_t ManualClock::Now() const {
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - origin_);
  return start_ + static_cast<int64_t>(elapsed.count()) + offset_.load();
}

bool ManualClock::Advance(int64_t seconds) {
  if (seconds <= 0) return false;
  std::lock_guard lock(advance_mu_);
  if (auto saved = Save(Now() + seconds); !saved) {
    std::fprintf(stderr, "xgwd: the manual clock was not advanced: %s\n",
                 ToString(saved.error()).c_str());
    return false;
  }
  offset_ += seconds;
  return true;
}

std::unique_ptr<Clock> MakeClock(const ClockConfig& config) {
  if (config.mode == "manual") return std::make_unique<ManualClock>(config.start);
  return std::make_unique<SystemClock>();
}

std::string ManualClockStatePath(const std::string& state_dir) { return state_dir + "/clock.json"; }

Result<std::unique_ptr<Clock>> OpenClock(const ClockConfig& config, const std::string& state_dir) {
  if (config.mode != "manual") return std::unique_ptr<Clock>(std::make_unique<SystemClock>());
  XGW_TRY(auto clock, ManualClock::Open(config.start, ManualClockStatePath(state_dir)));
  return std::unique_ptr<Clock>(std::move(clock));
}

}  // namespace xgw
