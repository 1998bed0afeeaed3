// Bech32 (BIP 173, the original checksum constant, not Bech32m) as used by age
// for recipients ("age1...") and identities ("AGE-SECRET-KEY-1...").
//
// Unlike BIP 173, no 90-character length limit is applied (age does not apply
// one either). Decoding accepts all-lower-case or all-upper-case strings and
// rejects mixed case.
#ifndef XGW_CRYPTO_BECH32_H_
#define XGW_CRYPTO_BECH32_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/secret.h"

namespace xgw {

// Encodes 8-bit `data` under the human-readable part `hrp` (lower-case ASCII
// 33..126). The result is lower-case text in a SecretBuffer, because identity
// strings are secrets; callers may upper-case it in place.
SecretBuffer Bech32Encode(std::string_view hrp, std::span<const uint8_t> data);

struct Bech32Decoded {
  std::string hrp;    // as written (upper or lower case)
  SecretBuffer data;  // 8-bit bytes
};

// nullopt on mixed case, a bad character, a bad checksum, a misplaced
// separator or non-zero padding bits.
std::optional<Bech32Decoded> Bech32Decode(std::string_view text);

}  // namespace xgw

#endif  // XGW_CRYPTO_BECH32_H_
