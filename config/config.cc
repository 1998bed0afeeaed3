#include "config/config.h"

#include <arpa/inet.h>

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

}  // namespace

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

Result<Config> ParseConfig(const json& doc) {
  Config c;
  const std::string root = "$";
  XGW_CHECK(CheckKeys(doc, root,
                      {"state_dir", "listen", "threads", "blocking_threads",
                       "shutdown_grace_seconds", "tls", "limits", "tokens", "log"}));
  XGW_CHECK(GetString(doc, root, "state_dir", c.state_dir));
  if (!IsAbsolutePath(c.state_dir)) return PathError("$.state_dir", "must be an absolute path");
  while (c.state_dir.size() > 1 && c.state_dir.back() == '/') c.state_dir.pop_back();
  XGW_CHECK(GetString(doc, root, "listen", c.listen));
  if (auto la = ParseListenAddress(c.listen); !la) return PathError("$.listen", la.error().message);
  XGW_CHECK(GetUint<uint32_t>(doc, root, "threads", 1, 64, c.threads));
  XGW_CHECK(GetUint<uint32_t>(doc, root, "blocking_threads", 1, 64, c.blocking_threads));
  XGW_CHECK(GetUint<uint32_t>(doc, root, "shutdown_grace_seconds", 0, 3600,
                              c.shutdown_grace_seconds));

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

  if (auto it = doc.find("limits"); it != doc.end()) {
    const std::string p = "$.limits";
    auto& l = c.limits;
    XGW_CHECK(CheckKeys(*it, p,
                        {"max_header_bytes", "max_json_body_bytes", "max_upload_bytes",
                         "handshake_timeout_seconds", "header_timeout_seconds",
                         "body_timeout_seconds", "write_timeout_seconds", "max_connections"}));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_header_bytes", 1024, 1024 * 1024, l.max_header_bytes));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_json_body_bytes", 1024, 64ull << 20,
                                l.max_json_body_bytes));
    XGW_CHECK(GetUint<uint64_t>(*it, p, "max_upload_bytes", 1024, 1ull << 40, l.max_upload_bytes));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "handshake_timeout_seconds", 1, 3600,
                                l.handshake_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "header_timeout_seconds", 1, 3600,
                                l.header_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "body_timeout_seconds", 1, 3600, l.body_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "write_timeout_seconds", 1, 3600, l.write_timeout_seconds));
    XGW_CHECK(GetUint<uint32_t>(*it, p, "max_connections", 1, 100000, l.max_connections));
  }
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
  if (auto it = doc.find("log"); it != doc.end()) {
    XGW_CHECK(CheckKeys(*it, "$.log", {"requests"}));
    XGW_CHECK(GetBool(*it, "$.log", "requests", c.log_requests));
  }
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
        {"write_timeout_seconds", c.limits.write_timeout_seconds},
        {"max_connections", c.limits.max_connections}}},
      {"tokens",
       {{"default_ttl_seconds", c.tokens.default_ttl_seconds},
        {"max_ttl_seconds", c.tokens.max_ttl_seconds}}},
      {"log", {{"requests", c.log_requests}}},
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
  return out;
}

}  // namespace xgw
