// Secret memory: keys, file keys, passphrases and plaintext buffers.
//
// SecretBuffer owns a fixed-size region from sodium_malloc (guard pages,
// canary, mlock where permitted) that is wiped by sodium_free on release. It is
// move-only so a secret exists in exactly one place, and it has no printing
// operators. Comparisons must use ConstantTimeEqual.
//
// Thread safety: a SecretBuffer is not synchronised; share it read-only or not
// at all.
#ifndef XGW_CRYPTO_SECRET_H_
#define XGW_CRYPTO_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace xgw {

// Initialises libsodium. Safe to call many times and from many threads; every
// public crypto entry point calls it. Aborts if libsodium cannot initialise
// (no usable randomness), because continuing would be unsafe.
void InitCrypto();

// Sets RLIMIT_CORE to 0 and marks the process non-dumpable so that secrets in
// memory never reach a core file. Programs call this first thing in main().
void DisableCoreDumps();

class SecretBuffer {
 public:
  SecretBuffer() = default;
  // Allocates `size` zeroed bytes. Aborts on allocation failure.
  explicit SecretBuffer(size_t size);
  // Copies `bytes` into a new secret buffer.
  static SecretBuffer CopyOf(std::span<const uint8_t> bytes);
  static SecretBuffer CopyOf(std::string_view text);
  // `size` bytes from the system CSPRNG.
  static SecretBuffer Random(size_t size);

  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  ~SecretBuffer();

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<uint8_t> span() { return {data_, size_}; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  // The bytes viewed as text (passphrases); the view dies with the buffer.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  // Wipes the contents, keeping the allocation.
  void Wipe();
  // Shrinks the logical size (the allocation stays); used after reading a
  // passphrase of unknown length into a fixed buffer. REQUIRES: n <= size().
  void Truncate(size_t n);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Constant-time equality of two byte strings (false if sizes differ; the size
// itself is not secret).
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Wipes ordinary memory (e.g. a std::string that held a token).
void WipeMemory(void* data, size_t size);

}  // namespace xgw

#endif  // XGW_CRYPTO_SECRET_H_
