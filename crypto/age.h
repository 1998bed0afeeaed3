// age v1 file encryption (C2SP age spec, https://age-encryption.org/v1):
// X25519 and scrypt recipients, STREAM payload in 64 KiB ChaCha20-Poly1305
// chunks, optional ASCII armor. Files are interoperable with the `age` tool.
//
// The API follows age's Go package: a Recipient wraps a fresh file key into
// header stanzas; an Identity unwraps it. Encryptor and Decryptor stream in
// constant memory (one 64 KiB chunk plus small buffers, armor included).
//
// Failure classes (ErrorCode, crypto/error.h), matching the age test vectors:
//   kArmor        ASCII armor is malformed
//   kHeader       header does not parse, or a stanza of a known type is malformed
//   kNoMatch      no identity unwraps any stanza
//   kHmac         header MAC does not verify (header tampered or wrong key)
//   kPayload      a payload chunk fails to authenticate or is malformed
//   kTruncated    the payload ends before its final chunk
//   kTrailingData bytes follow the final chunk
//   kKey          a key string is malformed
// kPayload, kTruncated and kTrailingData are all "payload failure" in the
// vectors. Messages never contain key material or plaintext.
//
// Thread safety: recipients and identities are immutable after construction
// and may be shared; Encryptor and Decryptor are single-threaded.
#ifndef XGW_CRYPTO_AGE_H_
#define XGW_CRYPTO_AGE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/age_format.h"
#include "crypto/error.h"
#include "crypto/io.h"
#include "crypto/secret.h"

namespace xgw::age {

inline constexpr size_t kFileKeySize = 16;
inline constexpr size_t kChunkSize = 64 * 1024;
inline constexpr int kDefaultScryptWorkFactor = 18;  // what `age -p` uses
inline constexpr int kMaxScryptWorkFactor = 22;      // decrypt cap, as in age

class Recipient {
 public:
  virtual ~Recipient() = default;
  // Wraps `file_key` (16 bytes) into one or more stanzas.
  virtual Result<std::vector<Stanza>> Wrap(std::span<const uint8_t> file_key) const = 0;
};

class Identity {
 public:
  virtual ~Identity() = default;
  // Returns the file key if a stanza is addressed to this identity, nullopt
  // if none is (stanzas of unknown type are skipped), or kHeader if a stanza
  // of this identity's type is malformed.
  virtual Result<std::optional<SecretBuffer>> Unwrap(std::span<const Stanza> stanzas) const = 0;
};

class X25519Recipient final : public Recipient {
 public:
  // Parses "age1..." (Bech32, lower case); kKey on any error.
  static Result<X25519Recipient> Parse(std::string_view text);
  explicit X25519Recipient(const std::array<uint8_t, 32>& public_key) : public_key_(public_key) {}
  std::string String() const;  // "age1..."
  const std::array<uint8_t, 32>& PublicKey() const { return public_key_; }
  Result<std::vector<Stanza>> Wrap(std::span<const uint8_t> file_key) const override;

 private:
  std::array<uint8_t, 32> public_key_;
};

class X25519Identity final : public Identity {
 public:
  static X25519Identity Generate();
  // Parses "AGE-SECRET-KEY-1..." (Bech32, upper case); kKey on any error.
  static Result<X25519Identity> Parse(std::string_view text);
  X25519Recipient Recipient() const { return X25519Recipient(public_key_); }
  // "AGE-SECRET-KEY-1..." in secret memory.
  SecretBuffer Encode() const;
  Result<std::optional<SecretBuffer>> Unwrap(std::span<const Stanza> stanzas) const override;

 private:
  explicit X25519Identity(SecretBuffer secret);
  SecretBuffer secret_;
  std::array<uint8_t, 32> public_key_{};
};

// Passphrase recipient. A file encrypted to it may have no other recipient.
class ScryptRecipient final : public Recipient {
 public:
  // `work_factor` is log2(N), 1..30 (checked by Wrap).
  explicit ScryptRecipient(std::string_view passphrase, int work_factor = kDefaultScryptWorkFactor)
      : passphrase_(SecretBuffer::CopyOf(passphrase)), work_factor_(work_factor) {}
  Result<std::vector<Stanza>> Wrap(std::span<const uint8_t> file_key) const override;

 private:
  SecretBuffer passphrase_;
  int work_factor_;
};

class ScryptIdentity final : public Identity {
 public:
  // Files whose work factor exceeds `max_work_factor` fail with kHeader
  // before any scrypt work is done.
  explicit ScryptIdentity(std::string_view passphrase, int max_work_factor = kMaxScryptWorkFactor)
      : passphrase_(SecretBuffer::CopyOf(passphrase)), max_work_factor_(max_work_factor) {}
  Result<std::optional<SecretBuffer>> Unwrap(std::span<const Stanza> stanzas) const override;

 private:
  SecretBuffer passphrase_;
  int max_work_factor_;
};

// Streaming encryption; the Encryptor is itself a ByteSink for plaintext.
class Encryptor final : public ByteSink {
 public:
  // Writes the header to `out` at once. Needs at least one recipient; a
  // ScryptRecipient must be the only one (kInvalidArgument otherwise).
  // `recipients` are used only during Create; `out` must outlive the
  // Encryptor.
  static Result<std::unique_ptr<Encryptor>> Create(std::span<const Recipient* const> recipients,
                                                   ByteSink& out, bool armor);
  ~Encryptor() override;
  Encryptor(const Encryptor&) = delete;
  Encryptor& operator=(const Encryptor&) = delete;
  Result<void> Write(std::span<const uint8_t> data) override;
  // Encrypts the final chunk, ends the armor and flushes `out`. Required: an
  // Encryptor destroyed without Close() leaves a truncated, invalid file.
  Result<void> Close();

 private:
  struct State;
  explicit Encryptor(std::unique_ptr<State> state);
  Result<void> Seal(std::span<const uint8_t> plain, bool last);
  std::unique_ptr<State> s_;
};

enum class ArmorMode { kAuto, kArmored, kBinary };

// Streaming decryption; the Decryptor is itself a ByteSource of plaintext.
class Decryptor final : public ByteSource {
 public:
  // Reads and checks the header: detects armor (kAuto: the first
  // non-whitespace byte is '-'), parses, unwraps the file key with the first
  // identity that matches, verifies the header MAC and reads the nonce.
  // `in` must outlive the Decryptor; `identities` are used only during Open.
  static Result<std::unique_ptr<Decryptor>> Open(ByteSource& in,
                                                 std::span<const Identity* const> identities,
                                                 ArmorMode armor = ArmorMode::kAuto);
  ~Decryptor() override;
  Decryptor(const Decryptor&) = delete;
  Decryptor& operator=(const Decryptor&) = delete;
  // Returns plaintext of chunks that have authenticated, 0 at the verified
  // end of the file. Errors are sticky.
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  struct State;
  explicit Decryptor(std::unique_ptr<State> state);
  Result<size_t> NextChunk(std::span<uint8_t> out);
  std::unique_ptr<State> s_;
};

// Encrypts all of `in` to `out`; returns the plaintext size.
Result<uint64_t> Encrypt(std::span<const Recipient* const> recipients, ByteSource& in,
                         ByteSink& out, bool armor);
// Decrypts all of `in` to `out` (flushed at the end); returns the plaintext
// size. On failure `out` may hold the plaintext of chunks that authenticated:
// callers writing files should write to an AtomicFile and commit on success.
Result<uint64_t> Decrypt(std::span<const Identity* const> identities, ByteSource& in,
                         ByteSink& out);

}  // namespace xgw::age

#endif  // XGW_CRYPTO_AGE_H_
