// Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 30 s
// steps, 6 digits, as every authenticator app computes them by default.
// The shared secret is 20 random bytes, shown to the person as RFC 4648
// base32 (no padding) and as an otpauth:// URI for QR codes.
#ifndef XGW_GATEWAY_TOTP_H_
#define XGW_GATEWAY_TOTP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace xgw {

inline constexpr int64_t kTotpStepSeconds = 30;
inline constexpr size_t kTotpSecretBytes = 20;

// The time step of unix time `now`.
inline int64_t TotpStep(int64_t now) { return now / kTotpStepSeconds; }

// The code of step `step` with `digits` digits (6 or 8), zero-padded.
std::string TotpCode(std::span<const uint8_t> secret, int64_t step, int digits = 6);

// The step (now-1, now or now+1) whose 6-digit code `code` is, compared in
// constant time; nullopt if none. A step <= `last_used` is never accepted,
// so a code (time step) once used is refused when replayed.
std::optional<int64_t> VerifyTotp(std::span<const uint8_t> secret, std::string_view code, int64_t now,
                                  int64_t last_used);

// RFC 4648 base32, upper case, no padding.
std::string Base32Upper(std::span<const uint8_t> bytes);

// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
// (issuer and account are percent-encoded).
std::string OtpauthUri(std::string_view issuer, std::string_view account, std::span<const uint8_t> secret);

}  // namespace xgw

#endif  // XGW_GATEWAY_TOTP_H_
