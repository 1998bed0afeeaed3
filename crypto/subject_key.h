// The subject-index key file: an organisation's 32-byte HMAC-SHA-256 key for
// the manifest's subject index (docs/protocol-format.md#manifest), stored as
// 32 raw bytes or as 64 hex digits with an optional line ending (e.g.
// `head -c 32 /dev/urandom | xxd -p -c 64`).
//
// The one parser of that format: the client reads `--subject-key FILE` with
// it, xgwd reads `exchanges.subject_keys_dir/<org-id>.key` with it.
#ifndef XGW_CRYPTO_SUBJECT_KEY_H_
#define XGW_CRYPTO_SUBJECT_KEY_H_

#include <cstddef>
#include <string>

#include "crypto/error.h"
#include "crypto/io.h"
#include "crypto/secret.h"

namespace xgw {

inline constexpr size_t kSubjectKeyBytes = 32;

// Reads a key file's content from `in` into secret memory. Reads at most a
// few hundred bytes: anything longer is malformed. Fails with kKey "must hold
// 32 bytes or 64 hex digits" for any other content (the message never holds
// the content), or with the source's I/O error.
Result<SecretBuffer> ReadSubjectKey(ByteSource& in);

// Opens `path` and reads it with ReadSubjectKey; every error names the path.
Result<SecretBuffer> ReadSubjectKeyFile(const std::string& path);

}  // namespace xgw

#endif  // XGW_CRYPTO_SUBJECT_KEY_H_
