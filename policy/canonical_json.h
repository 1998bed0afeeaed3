// Canonical JSON serialisation in the style of RFC 8785 (JCS), used wherever
// bytes must be hashed or signed: protocol version ids, manifests, audit events.
//
// Rules: object members sorted by key (byte order of the UTF-8 keys, which
// equals JCS's UTF-16 order for every key without characters above U+FFFF),
// no insignificant whitespace, strings as UTF-8 with only the escapes JCS
// requires, integers in plain decimal. Floating-point numbers are refused:
// none of xgw's signed documents needs them, and their canonical form is where
// implementations disagree.
#ifndef XGW_POLICY_CANONICAL_JSON_H_
#define XGW_POLICY_CANONICAL_JSON_H_

#include <string>

#include <nlohmann/json.hpp>

#include "crypto/error.h"
#include "crypto/hash.h"

namespace xgw {

// Fails with kFormat if the value holds a floating-point number or invalid UTF-8.
Result<std::string> CanonicalJson(const nlohmann::json& value);

// SHA-256 of CanonicalJson(value).
Result<Sha256Digest> CanonicalJsonHash(const nlohmann::json& value);

}  // namespace xgw

#endif  // XGW_POLICY_CANONICAL_JSON_H_
