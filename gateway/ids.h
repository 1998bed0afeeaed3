// Random identifiers and bearer-token secrets.
//
// Ids are "<prefix>-" + 26 lower-case base32 characters (128 random bits from
// libsodium): unguessable, never sequential, safe in URLs and file names.
// Token secrets are "xgwt_" + 52 base32 characters (256 random bits); only
// their SHA-256 is ever stored.
#ifndef XGW_GATEWAY_IDS_H_
#define XGW_GATEWAY_IDS_H_

#include <string>
#include <string_view>

namespace xgw {

inline constexpr std::string_view kOrgPrefix = "org";
inline constexpr std::string_view kUserPrefix = "usr";
inline constexpr std::string_view kTokenPrefix = "tok";
inline constexpr std::string_view kRequestPrefix = "req";

// New random id with the given prefix ("org" → "org-3k...").
std::string NewId(std::string_view prefix);

// True if `id` has exactly the shape NewId(prefix) produces. Anything else
// (path tricks, NUL, upper case, wrong length) is false.
bool IsValidId(std::string_view prefix, std::string_view id);

// New bearer-token secret ("xgwt_...").
std::string NewTokenSecret();
// True if `secret` has the shape NewTokenSecret produces.
bool IsTokenSecretShape(std::string_view secret);
// Lower-case hex SHA-256 of the secret: the only form that is stored.
std::string TokenHash(std::string_view secret);

// Lower-case RFC 4648 base32 without padding.
std::string Base32Lower(const unsigned char* data, size_t size);

}  // namespace xgw

#endif  // XGW_GATEWAY_IDS_H_
