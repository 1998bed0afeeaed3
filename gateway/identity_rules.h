// Shape checks for identity data. They answer yes/no only; callers name the
// field in their error and never echo the value.
#ifndef XGW_GATEWAY_IDENTITY_RULES_H_
#define XGW_GATEWAY_IDENTITY_RULES_H_

#include <optional>
#include <string>
#include <string_view>

namespace xgw {

inline constexpr std::string_view kRoleSender = "sender";
inline constexpr std::string_view kRoleDpo = "dpo";
inline constexpr std::string_view kRoleOperator = "operator";

// Role names: 1-64 chars of [a-z0-9_.-], starting with a letter. "sender",
// "dpo" and "operator" are built in; any other name is a recipient role that
// protocols refer to (e.g. "social_worker").
bool IsValidRoleName(std::string_view role);

// An age X25519 recipient: "age1" + 58 Bech32 data characters, lower case.
// TODO(crypto): replace with a full Bech32 decode when crypto/bech32 lands.
bool IsAgeRecipientShape(std::string_view recipient);

// Standard base64 of exactly 32 bytes.
bool IsEd25519VerifyKey(std::string_view base64);

// Human text fields (names, DPO contact): 1..max bytes of valid UTF-8 without
// control characters.
bool IsCleanText(std::string_view text, size_t max_bytes);

// KBO (10 digits, mod-97 check; "BE", dots and spaces allowed on input) or
// KvK (8 digits). Returns the digits only, or nullopt.
std::optional<std::string> NormaliseEnterpriseNumber(std::string_view text);

// A client-certificate pin: the SHA-256 of the certificate's
// SubjectPublicKeyInfo, written "sha256:" + 64 hex digits (any case) or, as
// curl's --pinnedpubkey and `xgw login --pin` spell it, "sha256//" + its
// padded standard base64 (44 characters). Returns the 64 lower-case hex
// digits (the stored form and the pin's id), or nullopt.
std::optional<std::string> NormalisePin(std::string_view text);

// A pin as a path segment: its id (64 hex digits, any case) or the URL-safe
// base64 of the digest without padding (43 characters). Returns the 64
// lower-case hex digits, or nullopt.
std::optional<std::string> NormalisePinId(std::string_view text);

// The "sha256//<base64>" spelling of a pin given as 64 lower-case hex digits.
// REQUIRES: hex is a valid pin id.
std::string PinBase64Form(std::string_view hex);

}  // namespace xgw

#endif  // XGW_GATEWAY_IDENTITY_RULES_H_
