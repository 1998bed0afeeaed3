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
#include <span>
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

// Writes an identity file holding several keys: the first is the current
// one (lists are encrypted to it from now on, the signing key derives from
// it); the others are earlier keys kept to open lists sent before the
// rotation. Protected and armored as WriteIdentity when `passphrase` is set.
Result<void> WriteIdentities(ByteSink& out, std::span<const X25519Identity> identities,
                             const SecretBuffer* passphrase, int work_factor = kDefaultScryptWorkFactor);
// Replaces the identity file at `path` (mode 0600) with `identities`, atomically:
// the old file stays whole until the new one is durable (AtomicFile).
Result<void> ReplaceIdentityFile(const std::string& path, std::span<const X25519Identity> identities,
                                 const SecretBuffer* passphrase, int work_factor = kDefaultScryptWorkFactor);

// Checks, without decrypting anything, that `file` is what `xgw keygen
// --passphrase` writes: an armored age v1 file whose one and only recipient
// stanza is scrypt. So a key can be kept by someone who must not be able to
// use it (the gateway's key backup): a plain identity, an X25519-wrapped one
// or anything else fails with kInvalidArgument, naming the rule, never the
// content.
Result<void> CheckPassphraseWrapped(std::string_view file);

// What people compare to be sure a public key is the right one (by phone,
// say): SHA-256 of the age recipient string, its first 16 bytes as eight
// groups of four lower-case hex digits ("3f2a 09c1 ...").
std::string KeyFingerprint(std::string_view age_recipient);

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
