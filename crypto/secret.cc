#include "crypto/secret.h"

#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

namespace xgw {

void InitCrypto() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

void DisableCoreDumps() {
  struct rlimit none {};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

SecretBuffer::SecretBuffer(size_t size) : size_(size), capacity_(size) {
  InitCrypto();
  // sodium_malloc(0) is valid but we keep data_ non-null for uniformity.
  data_ = static_cast<uint8_t*>(sodium_malloc(size == 0 ? 1 : size));
  if (data_ == nullptr) std::abort();
  sodium_memzero(data_, size == 0 ? 1 : size);
}

SecretBuffer SecretBuffer::CopyOf(std::span<const uint8_t> bytes) {
  SecretBuffer out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data_, bytes.data(), bytes.size());
  return out;
}

SecretBuffer SecretBuffer::CopyOf(std::string_view text) {
  return CopyOf(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

SecretBuffer SecretBuffer::Random(size_t size) {
  SecretBuffer out(size);
  randombytes_buf(out.data_, size);
  return out;
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) sodium_free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretBuffer::~SecretBuffer() {
  if (data_ != nullptr) sodium_free(data_);  // wipes before unmapping
}

void SecretBuffer::Wipe() {
  if (data_ != nullptr) sodium_memzero(data_, capacity_ == 0 ? 1 : capacity_);
}

void SecretBuffer::Truncate(size_t n) {
  if (n < size_) {
    sodium_memzero(data_ + n, size_ - n);
    size_ = n;
  }
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  InitCrypto();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void WipeMemory(void* data, size_t size) {
  if (data != nullptr && size > 0) sodium_memzero(data, size);
}

}  // namespace xgw
