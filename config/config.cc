#include "config/config.h"

#include <arpa/inet.h>

#include <ctime>

#include <algorithm>
#include <cctype>

#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

namespace xgw {
namespace {

using nlohmann::json;

tl::unexpected<Error> PathError(const std::string& path, const std::string& what) {
  return Fail(ErrorCode::kFormat, "config " + path + ": " + what);
}

// Every member of `obj` must be one of `allowed`.
Result<void> CheckKeys(const json& obj, const std::string& path,
                       std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) return PathError(path, "expected an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const char* k : allowed) known = known || it.key() == k;
    // The key is configuration, not personal data, but keep it short in case
    // someone pasted something odd.
    if (!known) return PathError(path + "." + it.key().substr(0, 64), "unknown key");
  }
  return {};
}

template <typename T>
Result<void> GetUint(const json& obj, const std::string& path, const char* key, T min, T max,
                     T& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  const std::string p = path + "." + key;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    return PathError(p, "expected a non-negative integer");
  }
  const uint64_t v = it->get<uint64_t>();
  if (v < static_cast<uint64_t>(min) || v > static_cast<uint64_t>(max)) {
    return PathError(p, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  out = static_cast<T>(v);
  return {};
}

Result<void> GetString(const json& obj, const std::string& path, const char* key,
                       std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_string()) return PathError(path + "." + key, "expected a string");
  out = it->get<std::string>();
  return {};
}

Result<void> GetBool(const json& obj, const std::string& path, const char* key, bool& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_boolean()) return PathError(path + "." + key, "expected true or false");
  out = it->get<bool>();
  return {};
}

bool IsAbsolutePath(const std::string& p) {
  return !p.empty() && p[0] == '/' && p.find('\0') == std::string::npos;
}

void DropTrailingSlashes(std::string& p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
}

// A path that may be given relative to the state directory (like the fixed
// paths inside it); "" stays "" (the feature is off).
Result<void> GetStatePath(const json& obj, const std::string& path, const char* key,
                          const std::string& state_dir, std::string& out) {
  XGW_CHECK(GetString(obj, path, key, out));
  if (out.empty()) return {};
  if (out.find('\0') != std::string::npos) {
    return PathError(path + "." + key, "must not contain NUL");
  }
  if (out[0] != '/') out = state_dir + "/" + out;
  DropTrailingSlashes(out);
  return {};
}

}  // namespace

std::optional<int64_t> ParseUtcTime(const std::string& text) {
  // Exactly YYYY-MM-DDTHH:MM:SSZ.
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = std::stoi(text.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(text.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(text.substr(8, 2));
  tm.tm_hour = std::stoi(text.substr(11, 2));
  tm.tm_min = std::stoi(text.substr(14, 2));
  tm.tm_sec = std::stoi(text.substr(17, 2));
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 59) {
    return std::nullopt;
  }
  const std::tm in = tm;
  const time_t t = timegm(&tm);
  if (tm.tm_mday != in.tm_mday || tm.tm_mon != in.tm_mon) return std::nullopt;  // e.g. 31 Feb
  return static_cast<int64_t>(t);
}

std::string FormatUtcTime(int64_t unix_seconds) {
  const time_t tt = static_cast<time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  ListenAddress out;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Fail(ErrorCode::kFormat, "listen address must look like [::1]:8443");
    }
    out.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) {
      return Fail(ErrorCode::kFormat, "listen address: host is not an IPv6 literal");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      return Fail(ErrorCode::kFormat, "listen address must look like 127.0.0.1:8443");
    }
    out.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    in_addr a4{};
    if (inet_pton(AF_INET, out.host.c_str(), &a4) != 1) {
      return Fail(ErrorCode::kFormat,
                  "listen address: host must be an IPv4 literal or a bracketed IPv6 literal");
    }
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Fail(ErrorCode::kFormat, "listen address: port must be a number from 0 to 65535");
  }
  out.port = static_cast<uint16_t>(std::stoul(port));
  return out;
}

namespace {

// $.tls: defaults under state_dir, paths absolute, client_auth one of three.
Result<void> ParseTls(const json& doc, Config& c) {
  c.tls.cert_file = c.state_dir + "/tls/server.crt";
  c.tls.key_file = c.state_dir + "/tls/server.key";
  if (auto it = doc.find("tls"); it != doc.end()) {
    const std::string p = "$.tls";
    XGW_CHECK(CheckKeys(*it, p, {"cert_file", "key_file", "client_auth"}));
    XGW_CHECK(GetString(*it, p, "cert_file", c.tls.cert_file));
    XGW_CHECK(GetString(*it, p, "key_file", c.tls.key_file));
    XGW_CHECK(GetString(*it, p, "client_auth", c.tls.client_auth));
  }
  if (!IsAbsolutePath(c.tls.cert_file)) return PathError("$.tls.cert_file", "must be an absolute path");
  if (!IsAbsolutePath(c.tls.key_file)) return PathError("$.tls.key_file", "must be an absolute path");
  if (c.tls.client_auth != "none" && c.tls.client_auth != "optional" &&
      c.tls.client_auth != "require") {
    return PathError("$.tls.client_auth", "must be \"none\", \"optional\" or \"require\"");
  }
  return {};
}

// $.limits: every bound has a range.
Result<void> ParseLimits(const json& doc, Config& c) {
  if (auto it = doc.find("limits"); it != doc.end()) {
    const std::string p = "$.limits";
    auto& l = c.limits;
    XGW_CHECK(CheckKeys(*it, p,
                        {"max_header_bytes", "max_json_body_bytes", "max_upload_bytes",
                         "handshake_timeout_seconds", "header_timeout_seconds",
                         "body_timeout_seconds", "min_body_bytes_per_second",
                         "write_timeout_seconds", "max_connections",
                         "max_connections_per_address", "requests_per_second_per_address",
                         "requests_per_second_per_token"}));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_header_bytes", 1024, 64 * 1024, l.max_header_bytes));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_json_body_bytes", 1024, 64ull << 20,
                                l.max_json_body_bytes));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_upload_bytes", 1024, 1ull << 40, l.max_upload_bytes));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "handshake_timeout_seconds", 1, 3600,
                                l.handshake_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "header_timeout_seconds", 1, 3600,
                                l.header_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "body_timeout_seconds", 1, 3600, l.body_timeout_seconds));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "min_body_bytes_per_second", 0, 1ull << 30,
                                l.min_body_bytes_per_second));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "write_timeout_seconds", 1, 3600, l.write_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "max_connections", 1, 100000, l.max_connections));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "max_connections_per_address", 0, 100000,
                                l.max_connections_per_address));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "requests_per_second_per_address", 0, 1000000,
                                l.requests_per_second_per_address));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "requests_per_second_per_token", 0, 1000000,
                                l.requests_per_second_per_token));
  }
  return {};
}

// $.tokens: lifetimes of issued tokens.
Result<void> ParseTokens(const json& doc, Config& c) {
  if (auto it = doc.find("tokens"); it != doc.end()) {
    const std::string p = "$.tokens";
    XGW_CHECK(CheckKeys(*it, p, {"default_ttl_seconds", "max_ttl_seconds"}));
    const int64_t ten_years = 10ll * 366 * 86400;
    XGW_CHECK(GetUint<int64_t>(*it, p, "default_ttl_seconds", 1, ten_years,
                               c.tokens.default_ttl_seconds));
    XGW_CHECK(GetUint<int64_t>(*it, p, "max_ttl_seconds", 1, ten_years, c.tokens.max_ttl_seconds));
  }
  if (c.tokens.default_ttl_seconds > c.tokens.max_ttl_seconds) {
    return PathError("$.tokens.default_ttl_seconds", "must not exceed max_ttl_seconds");
  }
  return {};
}

// $.server and $.accounts: people's sign-in and sessions.
Result<void> ParseAccounts(const json& doc, Config& c) {
  if (auto it = doc.find("server"); it != doc.end()) {
    XGW_CHECK(CheckKeys(*it, "$.server", {"public_origin", "web_root"}));
    XGW_CHECK(GetString(*it, "$.server", "public_origin", c.server.public_origin));
    XGW_CHECK(GetString(*it, "$.server", "web_root", c.server.web_root));
    if (!c.server.web_root.empty() && c.server.web_root[0] != '/') {
      return PathError("$.server.web_root", "must be an absolute path");
    }
    const std::string& o = c.server.public_origin;
    if (!o.empty() && (o.rfind("https://", 0) != 0 || o.size() <= 8 || o.back() == '/' ||
                       o.find_first_of("/?#", 8) != std::string::npos)) {
      return PathError("$.server.public_origin", "must be \"https://host[:port]\" with no path");
    }
  }
  if (auto it = doc.find("accounts"); it != doc.end()) {
    const std::string p = "$.accounts";
    auto& a = c.accounts;
    XGW_CHECK(CheckKeys(*it, p, {"backoff_after_failures", "backoff_max_seconds", "lockout_after_failures",
                                 "invitation_ttl_seconds", "browser_idle_seconds", "browser_absolute_seconds",
                                 "cli_idle_seconds", "cli_absolute_seconds"}));
    const int64_t year = 366ll * 86400;
    XGW_CHECK(GetUint<uint32_t>(*it, p, "backoff_after_failures", 1, 100, a.backoff_after_failures));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "backoff_max_seconds", 1, 86400, a.backoff_max_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "lockout_after_failures", 1, 1000, a.lockout_after_failures));
    XGW_CHECK(GetUint<int64_t>(*it, p, "invitation_ttl_seconds", 60, 30 * 86400, a.invitation_ttl_seconds));
    XGW_CHECK(GetUint<int64_t>(*it, p, "browser_idle_seconds", 60, year, a.browser_idle_seconds));
    XGW_CHECK(GetUint<int64_t>(*it, p, "browser_absolute_seconds", 60, year, a.browser_absolute_seconds));
    XGW_CHECK(GetUint<int64_t>(*it, p, "cli_idle_seconds", 60, year, a.cli_idle_seconds));
    XGW_CHECK(GetUint<int64_t>(*it, p, "cli_absolute_seconds", 60, year, a.cli_absolute_seconds));
  }
  return {};
}

// $.clock: the system clock, or a manual one from a start time.
Result<void> ParseClock(const json& doc, Config& c) {
  if (auto it = doc.find("clock"); it != doc.end()) {
    XGW_CHECK(CheckKeys(*it, "$.clock", {"mode", "start"}));
    XGW_CHECK(GetString(*it, "$.clock", "mode", c.clock.mode));
    if (c.clock.mode != "system" && c.clock.mode != "manual") {
      return PathError("$.clock.mode", "must be \"system\" or \"manual\"");
    }
    std::string start;
    XGW_CHECK(GetString(*it, "$.clock", "start", start));
    if (!start.empty()) {
      auto t = ParseUtcTime(start);
      if (!t) return PathError("$.clock.start", "must be an RFC 3339 UTC time like 2024-09-20T07:00:00Z");
      c.clock.start = *t;
    }
    if (c.clock.mode == "manual" && start.empty()) {
      return PathError("$.clock.start", "is required when mode is \"manual\"");
    }
  }
  return {};
}

// $.audit: the log's origin and checkpoint interval.
Result<void> ParseAudit(const json& doc, Config& c) {
  if (auto it = doc.find("audit"); it != doc.end()) {
    XGW_CHECK(CheckKeys(*it, "$.audit", {"origin", "checkpoint_interval_seconds"}));
    XGW_CHECK(GetString(*it, "$.audit", "origin", c.audit.origin));
    if (c.audit.origin.empty() || c.audit.origin.find_first_of(" \n\t+") != std::string::npos) {
      return PathError("$.audit.origin", "must be a non-empty name without spaces or '+'");
    }
    XGW_CHECK(GetUint<uint32_t>(*it, "$.audit", "checkpoint_interval_seconds", 0, 86400,
                                c.audit.checkpoint_interval_seconds));
  }
  return {};
}

// $.exchanges: sweeper, pending uploads, plaintext budget, subject index.
Result<void> ParseExchanges(const json& doc, Config& c) {
  if (auto it = doc.find("exchanges"); it != doc.end()) {
    const std::string p = "$.exchanges";
    XGW_CHECK(CheckKeys(*it, p, {"sweep_interval_seconds", "pending_timeout_seconds",
                                 "max_plaintext_bytes", "plaintext_memory_budget_bytes",
                                 "subject_index_retention_days", "subject_keys_dir", "packed_blob_max_bytes",
                                 "upload_chunk_max_bytes"}));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "sweep_interval_seconds", 1, 60,
                                c.exchanges.sweep_interval_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "pending_timeout_seconds", 60, 7 * 86400,
                                c.exchanges.pending_timeout_seconds));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_plaintext_bytes", 1024, 1ull << 30,
                                c.exchanges.max_plaintext_bytes));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "plaintext_memory_budget_bytes", 1ull << 20, 1ull << 40,
                                c.exchanges.plaintext_memory_budget_bytes));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "subject_index_retention_days", 0, 36600,
                                c.exchanges.subject_index_retention_days));
    XGW_CHECK(GetStatePath(*it, p, "subject_keys_dir", c.state_dir, c.exchanges.subject_keys_dir));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "packed_blob_max_bytes", 0, 16ull << 20,
                                c.exchanges.packed_blob_max_bytes));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "upload_chunk_max_bytes", 64ull << 10, 256ull << 20,
                                c.exchanges.upload_chunk_max_bytes));
  }
  return {};
}

// $.sso: single sign-on providers, one per organisation.
Result<void> ParseSso(const json& doc, Config& c) {
  auto it = doc.find("sso");
  if (it == doc.end()) return {};
  const std::string p = "$.sso";
  XGW_CHECK(CheckKeys(*it, p, {"providers", "login_ttl_seconds", "jwks_cache_min_seconds",
                               "jwks_cache_max_seconds", "jwks_refetch_seconds", "http_timeout_seconds"}));
  auto& s = c.sso;
  XGW_CHECK(GetUint<int64_t>(*it, p, "login_ttl_seconds", 60, 3600, s.login_ttl_seconds));
  XGW_CHECK(GetUint<int64_t>(*it, p, "jwks_cache_min_seconds", 1, 86400, s.jwks_cache_min_seconds));
  XGW_CHECK(GetUint<int64_t>(*it, p, "jwks_cache_max_seconds", 1, 7 * 86400, s.jwks_cache_max_seconds));
  XGW_CHECK(GetUint<int64_t>(*it, p, "jwks_refetch_seconds", 1, 3600, s.jwks_refetch_seconds));
  XGW_CHECK(GetUint<uint32_t>(*it, p, "http_timeout_seconds", 1, 60, s.http_timeout_seconds));
  if (s.jwks_cache_min_seconds > s.jwks_cache_max_seconds) {
    return PathError(p + ".jwks_cache_min_seconds", "must not exceed jwks_cache_max_seconds");
  }
  auto list = it->find("providers");
  if (list == it->end()) return {};
  if (!list->is_array()) return PathError(p + ".providers", "expected an array");
  if (list->size() > 1000) return PathError(p + ".providers", "at most 1000 providers");
  const auto is_name = [](const std::string& v, size_t max, std::string_view extra) {
    return !v.empty() && v.size() <= max && std::all_of(v.begin(), v.end(), [&](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || extra.find(ch) != std::string_view::npos;
    });
  };
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string q = p + ".providers[" + std::to_string(i) + "]";
    const json& e = (*list)[i];
    XGW_CHECK(CheckKeys(e, q, {"org", "issuer", "client_id", "client_secret_file", "claim", "ca_file", "scope"}));
    SsoProviderConfig pc;
    XGW_CHECK(GetString(e, q, "org", pc.org_id));
    XGW_CHECK(GetString(e, q, "issuer", pc.issuer));
    XGW_CHECK(GetString(e, q, "client_id", pc.client_id));
    XGW_CHECK(GetStatePath(e, q, "client_secret_file", c.state_dir, pc.client_secret_file));
    XGW_CHECK(GetString(e, q, "claim", pc.claim));
    XGW_CHECK(GetStatePath(e, q, "ca_file", c.state_dir, pc.ca_file));
    XGW_CHECK(GetString(e, q, "scope", pc.scope));
    if (pc.org_id.rfind("org-", 0) != 0 || !is_name(pc.org_id, 64, "-_")) {
      return PathError(q + ".org", "must be an organisation id (org-...)");
    }
    const std::string& iss = pc.issuer;
    if (iss.rfind("https://", 0) != 0 || iss.size() <= 8 || iss.size() > 512 ||
        iss.find_first_of("?#@ \t\n", 8) != std::string::npos) {
      return PathError(q + ".issuer", "must be an https URL without query, fragment or user info");
    }
    if (!is_name(pc.client_id, 256, "-_.:~@/")) {
      return PathError(q + ".client_id", "required: 1-256 letters, digits and -_.:~@/");
    }
    if (pc.client_secret_file.empty()) return PathError(q + ".client_secret_file", "required");
    if (!is_name(pc.claim, 64, "_-.:")) return PathError(q + ".claim", "a claim name such as sub, email or oid");
    bool has_openid = false;
    for (size_t at = 0; at <= pc.scope.size();) {
      const size_t end = std::min(pc.scope.find(' ', at), pc.scope.size());
      has_openid = has_openid || pc.scope.substr(at, end - at) == "openid";
      at = end + 1;
    }
    if (!has_openid || !is_name(pc.scope, 512, " _-.:/")) {
      return PathError(q + ".scope", "space-separated scopes that include openid");
    }
    for (const auto& other : s.providers) {
      if (other.org_id == pc.org_id) return PathError(q + ".org", "names an organisation that has a provider already");
    }
    s.providers.push_back(std::move(pc));
  }
  return {};
}

}  // namespace

Result<Config> ParseConfig(const json& doc) {
  Config c;
  const std::string root = "$";
  XGW_CHECK(CheckKeys(doc, root,
                      {"state_dir", "listen", "threads", "blocking_threads",
                       "shutdown_grace_seconds", "tls", "limits", "tokens", "log",
                       "server", "accounts", "clock", "audit", "exchanges", "sso"}));
  XGW_CHECK(GetString(doc, root, "state_dir", c.state_dir));
  if (!IsAbsolutePath(c.state_dir)) return PathError("$.state_dir", "must be an absolute path");
  DropTrailingSlashes(c.state_dir);
  XGW_CHECK(GetString(doc, root, "listen", c.listen));
  if (auto la = ParseListenAddress(c.listen); !la) return PathError("$.listen", la.error().message);
  XGW_CHECK(GetUint<uint32_t>(doc, root, "threads", 1, 64, c.threads));
  XGW_CHECK(GetUint<uint32_t>(doc, root, "blocking_threads", 1, 64, c.blocking_threads));
  XGW_CHECK(GetUint<uint32_t>(doc, root, "shutdown_grace_seconds", 0, 3600,
                              c.shutdown_grace_seconds));

  XGW_CHECK(ParseTls(doc, c));
  XGW_CHECK(ParseLimits(doc, c));
  XGW_CHECK(ParseTokens(doc, c));
  XGW_CHECK(ParseAccounts(doc, c));
  if (auto it = doc.find("log"); it != doc.end()) {
    XGW_CHECK(CheckKeys(*it, "$.log", {"requests"}));
    XGW_CHECK(GetBool(*it, "$.log", "requests", c.log_requests));
  }
  XGW_CHECK(ParseClock(doc, c));
  XGW_CHECK(ParseAudit(doc, c));
  XGW_CHECK(ParseExchanges(doc, c));
  XGW_CHECK(ParseSso(doc, c));
  return c;
}

Result<Config> ParseConfigText(const std::string& text) {
  // Exceptions stop here: a parse error becomes a kFormat error with its offset.
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return Fail(ErrorCode::kFormat, "config is not valid JSON (byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {
    return Fail(ErrorCode::kFormat, "config is not valid JSON");
  }
  return ParseConfig(doc);
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIo, "cannot read config file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto c = ParseConfigText(ss.str());
  if (!c) return Fail(c.error().code, path + ": " + c.error().message);
  return c;
}

namespace {
json SsoJson(const SsoConfig& s) {
  json providers = json::array();
  for (const auto& p : s.providers) {
    providers.push_back({{"org", p.org_id}, {"issuer", p.issuer}, {"client_id", p.client_id},
                         {"client_secret_file", p.client_secret_file}, {"claim", p.claim},
                         {"ca_file", p.ca_file}, {"scope", p.scope}});
  }
  return {{"providers", providers},
          {"login_ttl_seconds", s.login_ttl_seconds},
          {"jwks_cache_min_seconds", s.jwks_cache_min_seconds},
          {"jwks_cache_max_seconds", s.jwks_cache_max_seconds},
          {"jwks_refetch_seconds", s.jwks_refetch_seconds},
          {"http_timeout_seconds", s.http_timeout_seconds}};
}
}  // namespace

json DumpConfig(const Config& c) {
  return json{
      {"state_dir", c.state_dir},
      {"listen", c.listen},
      {"threads", c.threads},
      {"blocking_threads", c.blocking_threads},
      {"shutdown_grace_seconds", c.shutdown_grace_seconds},
      {"tls",
       {{"cert_file", c.tls.cert_file},
        {"key_file", c.tls.key_file},
        {"client_auth", c.tls.client_auth}}},
      {"limits",
       {{"max_header_bytes", c.limits.max_header_bytes},
        {"max_json_body_bytes", c.limits.max_json_body_bytes},
        {"max_upload_bytes", c.limits.max_upload_bytes},
        {"handshake_timeout_seconds", c.limits.handshake_timeout_seconds},
        {"header_timeout_seconds", c.limits.header_timeout_seconds},
        {"body_timeout_seconds", c.limits.body_timeout_seconds},
        {"min_body_bytes_per_second", c.limits.min_body_bytes_per_second},
        {"write_timeout_seconds", c.limits.write_timeout_seconds},
        {"max_connections", c.limits.max_connections},
        {"max_connections_per_address", c.limits.max_connections_per_address},
        {"requests_per_second_per_address", c.limits.requests_per_second_per_address},
        {"requests_per_second_per_token", c.limits.requests_per_second_per_token}}},
      {"tokens",
       {{"default_ttl_seconds", c.tokens.default_ttl_seconds},
        {"max_ttl_seconds", c.tokens.max_ttl_seconds}}},
      {"server", {{"public_origin", c.server.public_origin}, {"web_root", c.server.web_root}}},
      {"accounts",
       {{"backoff_after_failures", c.accounts.backoff_after_failures},
        {"backoff_max_seconds", c.accounts.backoff_max_seconds},
        {"lockout_after_failures", c.accounts.lockout_after_failures},
        {"invitation_ttl_seconds", c.accounts.invitation_ttl_seconds},
        {"browser_idle_seconds", c.accounts.browser_idle_seconds},
        {"browser_absolute_seconds", c.accounts.browser_absolute_seconds},
        {"cli_idle_seconds", c.accounts.cli_idle_seconds},
        {"cli_absolute_seconds", c.accounts.cli_absolute_seconds}}},
      {"log", {{"requests", c.log_requests}}},
      {"clock", {{"mode", c.clock.mode}, {"start", c.clock.mode == "manual" ? FormatUtcTime(c.clock.start) : ""}}},
      {"audit", {{"origin", c.audit.origin},
                 {"checkpoint_interval_seconds", c.audit.checkpoint_interval_seconds}}},
      {"exchanges", {{"sweep_interval_seconds", c.exchanges.sweep_interval_seconds},
                     {"pending_timeout_seconds", c.exchanges.pending_timeout_seconds},
                     {"max_plaintext_bytes", c.exchanges.max_plaintext_bytes},
                     {"plaintext_memory_budget_bytes", c.exchanges.plaintext_memory_budget_bytes},
                     {"subject_index_retention_days", c.exchanges.subject_index_retention_days},
                     {"subject_keys_dir", c.exchanges.subject_keys_dir},
                     {"packed_blob_max_bytes", c.exchanges.packed_blob_max_bytes},
                     {"upload_chunk_max_bytes", c.exchanges.upload_chunk_max_bytes}}},
      {"sso", SsoJson(c.sso)},
  };
}

std::string KeysNeedingRestart(const Config& running, const Config& fresh) {
  std::string out;
  auto add = [&out](const char* k) {
    if (!out.empty()) out += ", ";
    out += k;
  };
  if (running.state_dir != fresh.state_dir) add("$.state_dir");
  if (running.listen != fresh.listen) add("$.listen");
  if (running.threads != fresh.threads) add("$.threads");
  if (running.blocking_threads != fresh.blocking_threads) add("$.blocking_threads");
  if (running.clock != fresh.clock) add("$.clock");
  if (running.audit != fresh.audit) add("$.audit");
  if (running.sso != fresh.sso) add("$.sso");
  if (running.server.web_root != fresh.server.web_root) add("$.server.web_root");
  if (running.exchanges.packed_blob_max_bytes != fresh.exchanges.packed_blob_max_bytes) {
    add("$.exchanges.packed_blob_max_bytes");
  }
  return out;
}

}  // namespace xgw
