#include "gateway/signing_key.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "crypto/hash.h"
#include "crypto/io.h"

namespace xgw {

Result<std::string> CreateSigningKeyFiles(const std::string& secret_path,
                                          const std::string& public_path) {
  InitCrypto();
  struct stat st{};
  if (::stat(secret_path.c_str(), &st) == 0) {
    return Fail(ErrorCode::kConflict, "signing key already exists: " + secret_path);
  }
  Ed25519SecretKey key = Ed25519SecretKey::Generate();
  SecretBuffer seed = key.Seed();
  std::string seed_b64 = Base64Encode(seed.span()) + "\n";
  {
    XGW_TRY(auto f, AtomicFile::Create(secret_path, 0600));
    auto w = f.Write(AsBytes(seed_b64));
    WipeMemory(seed_b64.data(), seed_b64.size());
    XGW_CHECK(w);
    XGW_CHECK(f.Commit());
  }
  const std::string pub = Base64Encode(key.public_key());
  XGW_TRY(auto f, AtomicFile::Create(public_path, 0644));
  XGW_CHECK(f.Write(AsBytes(pub + "\n")));
  XGW_CHECK(f.Commit());
  return pub;
}

Result<Ed25519SecretKey> LoadGatewaySigningKey(const std::string& secret_path) {
  InitCrypto();
  std::ifstream in(secret_path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kKey, "cannot read signing key " + secret_path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto seed = Base64Decode(text);
  WipeMemory(text.data(), text.size());
  if (!seed) return Fail(ErrorCode::kKey, "signing key file is malformed: " + secret_path);
  auto key = Ed25519SecretKey::FromSeed(*seed);
  WipeMemory(seed->data(), seed->size());
  if (!key) return Fail(ErrorCode::kKey, "signing key file is malformed: " + secret_path);
  return std::move(*key);
}

Result<SecretBuffer> LoadSigningKey(const std::string& secret_path) {
  XGW_TRY(auto key, LoadGatewaySigningKey(secret_path));
  SecretBuffer seed = key.Seed();
  SecretBuffer sk(seed.size() + key.public_key().size());
  std::copy(seed.data(), seed.data() + seed.size(), sk.data());
  std::copy(key.public_key().begin(), key.public_key().end(), sk.data() + seed.size());
  return sk;
}

}  // namespace xgw
