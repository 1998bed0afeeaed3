#include "audit/leaf_hash.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

namespace xgw::audit_internal {

namespace {

// A failure here is a broken library or no memory: like crypto/hash.cc,
// fail hard rather than return a wrong hash.
void Require(int ok) {
  if (ok != 1) std::abort();
}

const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (m == nullptr) std::abort();
    return m;
  }();
  return md;
}

struct ThreadContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadContext() { EVP_MD_CTX_free(ctx); }
};

MerkleHash Digest(uint8_t prefix, const void* a, size_t a_len, const void* b, size_t b_len) {
  thread_local ThreadContext t;
  if (t.ctx == nullptr) std::abort();
  Require(EVP_DigestInit_ex2(t.ctx, Sha256Md(), nullptr));
  Require(EVP_DigestUpdate(t.ctx, &prefix, 1));
  Require(EVP_DigestUpdate(t.ctx, a, a_len));
  if (b_len) Require(EVP_DigestUpdate(t.ctx, b, b_len));
  MerkleHash out{};
  unsigned int len = 0;
  Require(EVP_DigestFinal_ex(t.ctx, out.data(), &len));
  return out;
}

}  // namespace

MerkleHash LeafHash(std::string_view bytes) { return Digest(0x00, bytes.data(), bytes.size(), nullptr, 0); }

MerkleHash NodeHash(const MerkleHash& left, const MerkleHash& right) {
  uint8_t buf[64];
  std::copy(left.begin(), left.end(), buf);
  std::copy(right.begin(), right.end(), buf + 32);
  return Digest(0x01, buf, sizeof buf, nullptr, 0);
}

}  // namespace xgw::audit_internal
