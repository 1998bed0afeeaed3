#include "gateway/account_crypto.h"

#include <sodium.h>
#include <sys/stat.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>

#include "crypto/hash.h"
#include "crypto/io.h"
#include "gateway/ids.h"

namespace xgw {
namespace {

// Bounds the Argon2id computations that run at once (see the header).
class HashSlots {
 public:
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return used_ < kConcurrentHashes; });
    ++used_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      --used_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t used_ = 0;
};

HashSlots& Slots() {
  static HashSlots slots;
  return slots;
}

struct SlotGuard {
  SlotGuard() { Slots().Acquire(); }
  ~SlotGuard() { Slots().Release(); }
};

const std::string& DummyHash() {
  static const std::string hash = [] {
    auto h = HashPassword("xgw dummy password for unknown sign-in names");
    return h ? *h : std::string();
  }();
  return hash;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password) {
  InitCrypto();
  char out[crypto_pwhash_STRBYTES];
  SlotGuard slot;
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Fail(ErrorCode::kInternal, "password hashing ran out of memory");
  }
  return std::string(out);
}

bool VerifyPassword(const std::string& hash, std::string_view password) {
  InitCrypto();
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  SlotGuard slot;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void VerifyDummyPassword(std::string_view password) { (void)VerifyPassword(DummyHash(), password); }

void PrepareDummyPassword() { (void)DummyHash(); }

Result<SecretBuffer> LoadOrCreateAccountsKey(const std::string& path) {
  InitCrypto();
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    SecretBuffer key = SecretBuffer::Random(crypto_secretbox_KEYBYTES);
    std::string b64 = Base64Encode(key.span()) + "\n";
    XGW_TRY(auto f, AtomicFile::Create(path, 0600));
    auto w = f.Write(AsBytes(b64));
    WipeMemory(b64.data(), b64.size());
    XGW_CHECK(w);
    XGW_CHECK(f.Commit());
    return key;
  }
  if ((st.st_mode & 077) != 0) {
    return Fail(ErrorCode::kKey, "the accounts key file must not be readable by group or others (chmod 600): " + path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kKey, "cannot read the accounts key file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto raw = Base64Decode(text);
  WipeMemory(text.data(), text.size());
  if (!raw || raw->size() != crypto_secretbox_KEYBYTES) {
    if (raw) WipeMemory(raw->data(), raw->size());
    return Fail(ErrorCode::kKey, "the accounts key file is malformed (base64 of 32 bytes): " + path);
  }
  SecretBuffer key = SecretBuffer::CopyOf(std::span<const uint8_t>(raw->data(), raw->size()));
  WipeMemory(raw->data(), raw->size());
  return key;
}

std::string SealSecret(const SecretBuffer& key, std::span<const uint8_t> plaintext) {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(p, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES, plaintext.data(), plaintext.size(), p, key.data());
  return out;
}

Result<SecretBuffer> OpenSealed(const SecretBuffer& key, std::string_view sealed) {
  if (sealed.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return Fail(ErrorCode::kKey, "a stored TOTP secret is malformed");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  SecretBuffer out(sealed.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(out.data(), p + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, p, key.data()) != 0) {
    return Fail(ErrorCode::kKey, "a stored TOTP secret does not open with the accounts key");
  }
  return out;
}

std::string NewOneTimeSecret(std::string_view prefix) {
  InitCrypto();
  SecretBuffer raw = SecretBuffer::Random(32);
  return std::string(prefix) + Base32Lower(raw.data(), raw.size());
}

bool IsOneTimeSecretShape(std::string_view prefix, std::string_view secret) {
  if (secret.size() != prefix.size() + 52 || secret.substr(0, prefix.size()) != prefix) return false;
  for (char c : secret.substr(prefix.size())) {
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

std::string SecretHash(std::string_view secret) { return HexEncode(Sha256::Hash(secret)); }

std::vector<std::string> NewRecoveryCodes() {
  InitCrypto();
  std::vector<std::string> out;
  for (int i = 0; i < 10; ++i) {
    SecretBuffer raw = SecretBuffer::Random(13);
    std::string s = Base32Lower(raw.data(), raw.size()).substr(0, 20);
    out.push_back(s.substr(0, 5) + "-" + s.substr(5, 5) + "-" + s.substr(10, 5) + "-" + s.substr(15, 5));
    WipeMemory(s.data(), s.size());
  }
  return out;
}

std::string NormaliseRecoveryCode(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace xgw
