#include "policy/timezone.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace xgw {

using std::chrono::days;
using std::chrono::sys_days;

// The POSIX TZ string at the end of a TZif v2+ file, e.g.
// "CET-1CEST,M3.5.0,M10.5.0/3". Only the "Mm.w.d" rule form is supported,
// which is what every European and North American zone uses; other forms make
// the footer unusable and the last transition's offset stays in force.
struct TimeZone::Rule {
  int32_t std_offset = 0;  // seconds east of UTC
  int32_t dst_offset = 0;
  bool has_dst = false;
  struct When {
    unsigned month = 0, week = 0, weekday = 0;
    int32_t time = 7200;  // seconds after local midnight
  } start, end;
};

namespace {

uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
int64_t Be64(const uint8_t* p) {
  return static_cast<int64_t>((uint64_t{Be32(p)} << 32) | uint64_t{Be32(p + 4)});
}

// Parses a POSIX zone name ("CET" or "<+03>") at s[i].
bool SkipZoneName(std::string_view s, size_t& i) {
  if (i < s.size() && s[i] == '<') {
    auto close = s.find('>', i);
    if (close == std::string_view::npos) return false;
    i = close + 1;
    return true;
  }
  size_t start = i;
  while (i < s.size() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
  return i - start >= 3;
}

// Parses [+-]hh[:mm[:ss]] as seconds.
bool ParseHms(std::string_view s, size_t& i, int32_t* out) {
  int sign = 1;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
  int32_t parts[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (i >= s.size() || s[i] != ':') break;
      ++i;
    }
    size_t start = i;
    int32_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (i == start) return false;
    parts[p] = v;
  }
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool ParseWhen(std::string_view s, size_t& i, TimeZone::Rule::When* w) {
  if (i >= s.size() || s[i] != 'M') return false;
  ++i;
  unsigned vals[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 2) vals[p] = vals[p] * 10 + static_cast<unsigned>(s[i++] - '0');
    if (i == start) return false;
  }
  if (vals[0] < 1 || vals[0] > 12 || vals[1] < 1 || vals[1] > 5 || vals[2] > 6) return false;
  w->month = vals[0];
  w->week = vals[1];
  w->weekday = vals[2];
  if (i < s.size() && s[i] == '/') {
    ++i;
    if (!ParseHms(s, i, &w->time)) return false;
  }
  return true;
}

std::shared_ptr<const TimeZone::Rule> ParseFooter(std::string_view s) {
  auto rule = std::make_shared<TimeZone::Rule>();
  size_t i = 0;
  int32_t off = 0;
  if (!SkipZoneName(s, i) || !ParseHms(s, i, &off)) return nullptr;
  rule->std_offset = -off;  // POSIX counts west-positive
  if (i == s.size()) return rule;
  if (!SkipZoneName(s, i)) return nullptr;
  rule->has_dst = true;
  rule->dst_offset = rule->std_offset + 3600;
  if (i < s.size() && s[i] != ',') {
    if (!ParseHms(s, i, &off)) return nullptr;
    rule->dst_offset = -off;
  }
  if (i >= s.size() || s[i] != ',') return nullptr;
  ++i;
  if (!ParseWhen(s, i, &rule->start)) return nullptr;
  if (i >= s.size() || s[i] != ',') return nullptr;
  ++i;
  if (!ParseWhen(s, i, &rule->end) || i != s.size()) return nullptr;
  return rule;
}

// Local seconds (as if UTC) of a rule's moment in `year`.
int64_t RuleLocalSeconds(int year, const TimeZone::Rule::When& w) {
  using namespace std::chrono;
  sys_days first = sys_days{std::chrono::year{year} / month{w.month} / 1};
  unsigned first_wd = weekday{first}.c_encoding();
  unsigned day = 1 + (w.weekday + 7 - first_wd) % 7 + (w.week - 1) * 7;
  unsigned last_day = static_cast<unsigned>(
      year_month_day_last{std::chrono::year{year}, month_day_last{month{w.month}}}.day());
  while (day > last_day) day -= 7;
  sys_days d = first + days{day - 1};
  return d.time_since_epoch().count() * 86400LL + w.time;
}

int32_t FooterOffset(const TimeZone::Rule& r, int64_t t) {
  if (!r.has_dst) return r.std_offset;
  auto d = std::chrono::floor<days>(Instant{std::chrono::seconds{t + r.std_offset}});
  int year = static_cast<int>(std::chrono::year_month_day{d}.year());
  int64_t start = RuleLocalSeconds(year, r.start) - r.std_offset;
  int64_t end = RuleLocalSeconds(year, r.end) - r.dst_offset;
  bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r.dst_offset : r.std_offset;
}

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(std::string_view name,
                                                       const std::string& dir) {
  if (!ValidZoneName(name)) {
    return Fail(ErrorCode::kInvalidArgument, "time zone name is not a valid tz database name");
  }
  std::string path = dir + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kNotFound, "unknown time zone " + std::string(name) +
                                          " (is the tzdata package installed?)");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (buf.str().size() > 1 << 20) return Fail(ErrorCode::kFormat, "time zone file too large");
  return FromTzif(std::string(name), buf.str());
}

Result<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(std::string name,
                                                           std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t n = bytes.size();
  auto bad = [&] { return Fail(ErrorCode::kFormat, "time zone " + name + " is not a valid TZif file"); };
  struct Counts { uint64_t isut, isstd, leap, time, type, chars; };
  auto header = [&](size_t at, Counts* c) {
    if (at + 44 > n || bytes.substr(at, 4) != "TZif") return false;
    c->isut = Be32(p + at + 20);
    c->isstd = Be32(p + at + 24);
    c->leap = Be32(p + at + 28);
    c->time = Be32(p + at + 32);
    c->type = Be32(p + at + 36);
    c->chars = Be32(p + at + 40);
    return c->type > 0 && c->type <= 256 && c->time <= 100000;
  };
  Counts c{};
  if (!header(0, &c)) return bad();
  char version = bytes[4];
  size_t at = 44;
  int tsize = 4;
  if (version >= '2') {
    at += c.time * 4 + c.time + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
    if (!header(at, &c)) return bad();
    at += 44;
    tsize = 8;
  }
  size_t body = c.time * tsize + c.time + c.type * 6 + c.chars + c.leap * (tsize + 4) + c.isstd + c.isut;
  if (at + body > n) return bad();
  auto zone = std::shared_ptr<TimeZone>(new TimeZone());
  zone->name_ = std::move(name);
  std::vector<int32_t> type_offsets(c.type);
  const uint8_t* types_at = p + at + c.time * tsize + c.time;
  for (size_t t = 0; t < c.type; ++t) type_offsets[t] = static_cast<int32_t>(Be32(types_at + t * 6));
  zone->initial_offset_ = type_offsets[0];
  for (size_t t = 0; t < c.time; ++t) {
    int64_t when = tsize == 8 ? Be64(p + at + t * 8) : static_cast<int32_t>(Be32(p + at + t * 4));
    uint8_t idx = p[at + c.time * tsize + t];
    if (idx >= c.type) return bad();
    if (!zone->transitions_.empty() && when <= zone->transitions_.back()) return bad();
    zone->transitions_.push_back(when);
    zone->offsets_after_.push_back(type_offsets[idx]);
  }
  if (version >= '2') {
    size_t f = at + body;
    if (f < n && bytes[f] == '\n') {
      auto end = bytes.find('\n', f + 1);
      if (end != std::string_view::npos) zone->footer_ = ParseFooter(bytes.substr(f + 1, end - f - 1));
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(zone));
}

int32_t TimeZone::OffsetAt(Instant t) const {
  int64_t s = t.time_since_epoch().count();
  if (transitions_.empty() || s < transitions_.front()) {
    if (transitions_.empty() && footer_) return FooterOffset(*footer_, s);
    return initial_offset_;
  }
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
  size_t i = static_cast<size_t>(it - transitions_.begin()) - 1;
  if (i + 1 == transitions_.size() && footer_) return FooterOffset(*footer_, s);
  return offsets_after_[i];
}

Instant TimeZone::ToUtc(const LocalDateTime& local) const {
  int64_t l = sys_days{local.date}.time_since_epoch().count() * 86400LL + local.hour * 3600LL +
              local.minute * 60LL + local.second;
  int32_t before = OffsetAt(Instant{std::chrono::seconds{l - 86400}});
  int32_t after = OffsetAt(Instant{std::chrono::seconds{l + 86400}});
  int64_t best = 0;
  bool found = false;
  for (int32_t o : {before, after}) {
    int64_t u = l - o;
    if (OffsetAt(Instant{std::chrono::seconds{u}}) == o && (!found || u < best)) {
      best = u;
      found = true;
    }
  }
  if (!found) best = l - before;  // in a gap: keep the offset from before it
  return Instant{std::chrono::seconds{best}};
}

LocalDateTime TimeZone::ToLocal(Instant t) const {
  Instant l = t + std::chrono::seconds{OffsetAt(t)};
  auto d = std::chrono::floor<days>(l);
  int64_t secs = (l - d).count();
  LocalDateTime out;
  out.date = std::chrono::year_month_day{d};
  out.hour = static_cast<int>(secs / 3600);
  out.minute = static_cast<int>(secs / 60 % 60);
  out.second = static_cast<int>(secs % 60);
  return out;
}

Instant TimeZone::StartOfDay(std::chrono::year_month_day date) const {
  return ToUtc(LocalDateTime{date, 0, 0, 0});
}

Instant TimeZone::EndOfDay(std::chrono::year_month_day date) const {
  return StartOfDay(std::chrono::year_month_day{sys_days{date} + days{1}});
}

bool ParseIsoDate(std::string_view s, std::chrono::year_month_day* out) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  int v[3] = {0, 0, 0};
  size_t pos[3][2] = {{0, 4}, {5, 2}, {8, 2}};
  for (int k = 0; k < 3; ++k) {
    for (size_t i = pos[k][0]; i < pos[k][0] + pos[k][1]; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v[k] = v[k] * 10 + (s[i] - '0');
    }
  }
  std::chrono::year_month_day d{std::chrono::year{v[0]}, std::chrono::month{static_cast<unsigned>(v[1])},
                                std::chrono::day{static_cast<unsigned>(v[2])}};
  if (!d.ok()) return false;
  *out = d;
  return true;
}

std::string FormatUtc(Instant t) {
  auto d = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd{d};
  int64_t secs = (t - d).count();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60));
  return buf;
}

}  // namespace xgw
