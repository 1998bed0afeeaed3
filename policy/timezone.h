// Time zones from the system's TZif files (/usr/share/zoneinfo, Debian package
// `tzdata`), because g++ 12's libstdc++ has no std::chrono tzdb.
//
// Instants are std::chrono::sys_seconds (UTC, Unix epoch, no leap seconds).
// A TimeZone is immutable after loading and safe to share between threads.
#ifndef XGW_POLICY_TIMEZONE_H_
#define XGW_POLICY_TIMEZONE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

namespace xgw {

using Instant = std::chrono::sys_seconds;

// A civil date-time without zone.
struct LocalDateTime {
  std::chrono::year_month_day date;
  int hour = 0, minute = 0, second = 0;
};

class TimeZone {
 public:
  // Loads `name` (e.g. "Europe/Brussels") from `dir`. Refuses names that are
  // not plain relative zone paths ("..", leading "/"), so a protocol cannot
  // make the daemon read arbitrary files. kNotFound if the zone does not exist,
  // kFormat if the file is not TZif.
  static Result<std::shared_ptr<const TimeZone>> Load(
      std::string_view name, const std::string& dir = "/usr/share/zoneinfo");
  // Parses TZif bytes (for tests).
  static Result<std::shared_ptr<const TimeZone>> FromTzif(std::string name,
                                                         std::string_view bytes);

  const std::string& name() const { return name_; }

  // UTC offset in seconds in force at `t`.
  int32_t OffsetAt(Instant t) const;

  // The instant a wall-clock time happens in this zone. Wall times that occur
  // twice (autumn fall-back) map to the earlier instant; wall times that do not
  // exist (spring-forward gap) map using the offset before the gap, i.e. to an
  // instant just after the gap, as a clock that was not changed would show.
  Instant ToUtc(const LocalDateTime& local) const;

  // The civil date-time at instant t.
  LocalDateTime ToLocal(Instant t) const;

  // The first instant of the day after `date`: "until 27/09/2024" ends here.
  Instant EndOfDay(std::chrono::year_month_day date) const;
  // The first instant of `date`.
  Instant StartOfDay(std::chrono::year_month_day date) const;

  struct Rule;  // POSIX TZ footer rule for instants past the last transition

 private:
  TimeZone() = default;
  std::string name_;
  std::vector<int64_t> transitions_;      // UTC seconds, ascending
  std::vector<int32_t> offsets_after_;    // offset in force from transitions_[i]
  int32_t initial_offset_ = 0;
  std::shared_ptr<const Rule> footer_;    // may be null
};

// Parses "YYYY-MM-DD" strictly (valid calendar date). nullopt-like: ok()==false.
bool ParseIsoDate(std::string_view text, std::chrono::year_month_day* out);

// ISO-8601 "YYYY-MM-DDTHH:MM:SSZ" of an instant (UTC), for messages and JSON.
std::string FormatUtc(Instant t);

}  // namespace xgw

#endif  // XGW_POLICY_TIMEZONE_H_
