// The cryptography of people's sign-in, apart from TOTP (gateway/totp.h):
// password hashing, the key that encrypts TOTP secrets at rest, and the
// random one-time secrets (invitation codes, recovery codes, sessions).
//
// Passwords: Argon2id through libsodium's crypto_pwhash_str with
// OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (2 passes over 64 MiB;
// measured on the 2-core build machine under load: 71 ms to hash, 65 ms to
// verify, against 538 / 441 ms for MODERATE). The gateway hashes on its
// blocking pool for any number of concurrent sign-ins; MODERATE (256 MiB
// each, half a second of a core) would let 16 concurrent attempts claim
// 4 GiB and make sign-in an easy way to exhaust the pool. The second factor
// (TOTP), back-off and lockout carry the guessing resistance online; the
// hash's cost matters for a stolen database, where 64 MiB per guess still
// defeats GPU farms. At most kConcurrentHashes hashes run at once (the rest
// wait), which bounds the memory sign-in can claim to 256 MiB.
#ifndef XGW_GATEWAY_ACCOUNT_CRYPTO_H_
#define XGW_GATEWAY_ACCOUNT_CRYPTO_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/secret.h"

namespace xgw {

inline constexpr size_t kConcurrentHashes = 4;
inline constexpr size_t kMinPasswordBytes = 12;
inline constexpr size_t kMaxPasswordBytes = 1024;

// "$argon2id$..." (kInternal only if memory runs out).
Result<std::string> HashPassword(std::string_view password);
// True if `password` matches `hash`; false for a malformed hash.
bool VerifyPassword(const std::string& hash, std::string_view password);
// Spends the time and memory of one VerifyPassword against a fixed dummy
// hash, for sign-ins with an unknown name (timing must not tell).
void VerifyDummyPassword(std::string_view password);
// Computes the dummy hash now (at start-up) rather than on the first
// unknown name, whose answer would otherwise take one hash longer.
void PrepareDummyPassword();

// The 32-byte key of crypto_secretbox at `path` (mode 0600); created with
// fresh random bytes if the file does not exist. kKey if it is malformed.
Result<SecretBuffer> LoadOrCreateAccountsKey(const std::string& path);
// nonce || crypto_secretbox_easy(plaintext).
std::string SealSecret(const SecretBuffer& key, std::span<const uint8_t> plaintext);
// The plaintext of SealSecret's output; kKey if it does not open with `key`.
Result<SecretBuffer> OpenSealed(const SecretBuffer& key, std::string_view sealed);

// A random one-time secret: `prefix` + 52 lower-case base32 characters (256 bits).
std::string NewOneTimeSecret(std::string_view prefix);
bool IsOneTimeSecretShape(std::string_view prefix, std::string_view secret);
// Hex SHA-256, how every one-time secret is stored.
std::string SecretHash(std::string_view secret);

// Recovery codes: 10 of "xxxxx-xxxxx-xxxxx-xxxxx" (20 base32 characters, 100 bits).
std::vector<std::string> NewRecoveryCodes();
// The code as stored and compared: lower case, without '-' and spaces.
std::string NormaliseRecoveryCode(std::string_view code);

}  // namespace xgw

#endif  // XGW_GATEWAY_ACCOUNT_CRYPTO_H_
