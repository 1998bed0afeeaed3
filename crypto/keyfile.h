// age identity and recipient files, compatible with age-keygen and age -i/-R.
//
// An identity file is text: "# created: <RFC 3339>", "# public key: age1...",
// then one "AGE-SECRET-KEY-1..." line, exactly as age-keygen writes it. When
// reading, '#' comment lines and blank lines are ignored and several keys are
// allowed. A passphrase-protected identity file is that text encrypted to an
// scrypt recipient and armored (like `age-keygen | age -p -a`); `age -d -i`
// understands it too. Protection is detected from the age header or armor.
#ifndef XGW_CRYPTO_KEYFILE_H_
#define XGW_CRYPTO_KEYFILE_H_

#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/age.h"
#include "crypto/error.h"
#include "crypto/io.h"
#include "crypto/secret.h"

namespace xgw::age {

// Supplies a passphrase on demand (a terminal prompt, a file ...).
using PassphraseCallback = std::function<Result<SecretBuffer>()>;

// The identity file text for `identity`, created at `created` (local time).
SecretBuffer FormatIdentityFile(const X25519Identity& identity, std::time_t created);

// Writes the identity file to `out` and flushes it; protected with
// ScryptRecipient(passphrase, work_factor) and armored when `passphrase` is
// non-null.
Result<void> WriteIdentity(ByteSink& out, const X25519Identity& identity,
                           const SecretBuffer* passphrase,
                           int work_factor = kDefaultScryptWorkFactor);

// Creates a new identity file at `path` with mode 0600. The file appears
// complete or not at all (temporary file, fsync, hard link, directory fsync);
// an existing file is never replaced (kConflict).
Result<void> WriteIdentityFile(const std::string& path, const X25519Identity& identity,
                               const SecretBuffer* passphrase,
                               int work_factor = kDefaultScryptWorkFactor);

// Parses plain identity file text; kKey names the bad line number, never its
// content. At least one key is required.
Result<std::vector<X25519Identity>> ParseIdentities(std::string_view text);

// Reads a plain or passphrase-protected identity file (at most 1 MiB).
// `passphrase` is called only for a protected file; a wrong passphrase is kKey.
Result<std::vector<X25519Identity>> ReadIdentities(ByteSource& in,
                                                   const PassphraseCallback& passphrase,
                                                   int max_work_factor = kMaxScryptWorkFactor);
Result<std::vector<X25519Identity>> ReadIdentityFile(const std::string& path,
                                                     const PassphraseCallback& passphrase,
                                                     int max_work_factor = kMaxScryptWorkFactor);

// Recipients file (age -R): one "age1..." per line, '#' comments and blank
// lines ignored; at least one recipient.
Result<std::vector<X25519Recipient>> ParseRecipients(std::string_view text);
Result<std::vector<X25519Recipient>> ReadRecipientsFile(const std::string& path);

}  // namespace xgw::age

#endif  // XGW_CRYPTO_KEYFILE_H_
