// ISO 8601 durations of the protocol format (declared in policy/protocol.h),
// apart from the loader so that protocol.cc stays one reader's worth.
#include <algorithm>
#include <string>
#include <vector>

#include "policy/protocol.h"

namespace xgw {

namespace {

// ISO 8601 duration designators in order; calendar units only when allowed.
std::optional<CalendarDuration> ParseIsoDuration(std::string_view s, bool calendar) {
  if (s.size() < 3 || s.size() > 32 || s[0] != 'P') return std::nullopt;
  int64_t total = 0, months = 0;
  bool time = false, any = false;
  int64_t num = 0;
  bool have_num = false;
  std::string_view order = calendar ? "YMWD" : "WD";  // remaining allowed designators in the date part
  for (size_t i = 1; i < s.size(); ++i) {
    char ch = s[i];
    if (ch >= '0' && ch <= '9') {
      num = num * 10 + (ch - '0');
      if (num > 1000000) return std::nullopt;
      have_num = true;
      continue;
    }
    if (ch == 'T' && !time && !have_num) {
      time = true;
      order = "HM";
      continue;
    }
    auto at = order.find(ch);
    if (!have_num || at == std::string_view::npos) return std::nullopt;
    order.remove_prefix(at + 1);
    if (!time && (ch == 'Y' || ch == 'M')) {
      months += ch == 'Y' ? num * 12 : num;
      if (months > 12000) return std::nullopt;
    } else {
      int64_t unit = ch == 'W' ? 604800 : ch == 'D' ? 86400 : ch == 'H' ? 3600 : 60;
      total += num * unit;
    }
    num = 0;
    have_num = false;
    any = true;
  }
  if (have_num || !any || (total <= 0 && months <= 0)) return std::nullopt;
  return CalendarDuration{static_cast<int32_t>(months), std::chrono::seconds{total}, std::string(s)};
}

std::string Plural(int64_t n, std::string_view unit) {
  return std::to_string(n) + " " + std::string(unit) + (n == 1 ? "" : "s");
}

}  // namespace

std::optional<std::chrono::seconds> ParseDuration(std::string_view s) {
  auto d = ParseIsoDuration(s, false);
  if (!d) return std::nullopt;
  return d->exact;
}

std::optional<CalendarDuration> ParseCalendarDuration(std::string_view s) { return ParseIsoDuration(s, true); }

Date AddMonths(const Date& date, int32_t months) {
  using namespace std::chrono;
  year_month ym = year_month{date.year(), date.month()} + std::chrono::months{months};
  const day last = year_month_day_last{ym.year(), month_day_last{ym.month()}}.day();
  return year_month_day{ym.year(), ym.month(), std::min(date.day(), last)};
}

Instant CalendarDuration::AddTo(Instant from, const TimeZone& zone) const {
  if (months == 0) return from + exact;  // exactly the old behaviour of P30D, PT12H
  LocalDateTime local = zone.ToLocal(from);
  local.date = AddMonths(local.date, months);
  return zone.ToUtc(local) + exact;
}

std::string DescribeDuration(const CalendarDuration& d) {
  std::vector<std::string> parts;
  if (d.months / 12 != 0) parts.push_back(Plural(d.months / 12, "year"));
  if (d.months % 12 != 0) parts.push_back(Plural(d.months % 12, "month"));
  int64_t s = d.exact.count();
  if (s / 86400 != 0) parts.push_back(Plural(s / 86400, "day"));
  if (s % 86400 / 3600 != 0) parts.push_back(Plural(s % 86400 / 3600, "hour"));
  if (s % 3600 / 60 != 0) parts.push_back(Plural(s % 3600 / 60, "minute"));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
  }
  return out;
}

}  // namespace xgw
