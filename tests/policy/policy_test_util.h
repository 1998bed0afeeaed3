// Helpers shared by the policy tests. Every person here is invented.
#ifndef XGW_TESTS_POLICY_POLICY_TEST_UTIL_H_
#define XGW_TESTS_POLICY_POLICY_TEST_UTIL_H_

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "policy/protocol.h"
#include "policy/timezone.h"

namespace xgw::test {

// A national number with valid check digits for YYMMDD + serial.
inline std::string MakeNrn(const std::string& yymmdd, int serial, bool born_2000 = false) {
  char base[16];
  std::snprintf(base, sizeof base, "%s%03d", yymmdd.c_str(), serial);
  unsigned long long n = std::stoull(base);
  unsigned long long check = 97 - ((born_2000 ? 2000000000ULL + n : n) % 97);
  char out[32];  // g++ 12 -Wformat-truncation cannot bound `check`: leave it room
  std::snprintf(out, sizeof out, "%s%02llu", base, check);
  return out;
}

inline std::string ExamplePath(const std::string& name) {
  return std::string(XGW_SOURCE_DIR) + "/config/examples/" + name;
}

inline Protocol LoadExample(const std::string& name) {
  auto p = LoadProtocolFile(ExamplePath(name));
  if (!p) throw std::runtime_error(p.error().message);
  return std::move(*p);
}

inline Protocol Cir() { return LoadExample("cir-thuispunt-ocmw-2024_VB_00591.json"); }

// The JSON document of config/examples/`name`, to change before parsing.
inline nlohmann::json ExampleJson(const std::string& name) {
  std::ifstream in(ExamplePath(name));
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

inline nlohmann::json CirJson() { return ExampleJson("cir-thuispunt-ocmw-2024_VB_00591.json"); }

// A problem at `path` whose reason contains `reason_part`.
inline bool HasProblem(const ProtocolProblems& problems, const std::string& path,
                       const std::string& reason_part) {
  for (const auto& p : problems) {
    if (p.path == path && p.reason.find(reason_part) != std::string::npos) return true;
  }
  return false;
}

// Local wall time in a zone as an instant.
inline Instant At(const TimeZone& zone, int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return zone.ToUtc(LocalDateTime{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}, hh, mm, ss});
}

inline Instant Utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return Instant{std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}}} +
         std::chrono::hours{hh} + std::chrono::minutes{mm} + std::chrono::seconds{ss};
}

}  // namespace xgw::test

#endif  // XGW_TESTS_POLICY_POLICY_TEST_UTIL_H_
