#include "policy/canonical_json.h"

namespace xgw {

namespace {

// Returns the JSON path of the first floating-point number, or "" if none.
std::string FindFloat(const nlohmann::json& value, const std::string& path) {
  if (value.is_number_float()) return path.empty() ? "$" : path;
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      auto found = FindFloat(item, path + "." + key);
      if (!found.empty()) return found;
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      auto found = FindFloat(value[i], path + "[" + std::to_string(i) + "]");
      if (!found.empty()) return found;
    }
  }
  return "";
}

}  // namespace

Result<std::string> CanonicalJson(const nlohmann::json& value) {
  auto float_at = FindFloat(value, "");
  if (!float_at.empty()) {
    return Fail(ErrorCode::kFormat, "floating-point number at " + float_at +
                                        " has no canonical form; use an integer or a string");
  }
  try {
    // nlohmann::json keeps object members in a std::map (sorted by key bytes),
    // prints no whitespace with indent -1, leaves non-ASCII as UTF-8
    // (ensure_ascii=false) and escapes control characters as JCS does.
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::type_error&) {
    return Fail(ErrorCode::kFormat, "string is not valid UTF-8");
  }
}

Result<Sha256Digest> CanonicalJsonHash(const nlohmann::json& value) {
  XGW_TRY(auto text, CanonicalJson(value));
  return Sha256::Hash(text);
}

}  // namespace xgw
