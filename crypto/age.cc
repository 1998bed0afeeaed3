#include "crypto/age.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "crypto/armor.h"
#include "crypto/bech32.h"
#include "crypto/hash.h"

namespace xgw::age {

namespace {

constexpr size_t kTagSize = 16;
constexpr size_t kCipherChunk = kChunkSize + kTagSize;
constexpr size_t kNonceSize = 16;
constexpr std::string_view kX25519Label = "age-encryption.org/v1/X25519";
constexpr std::string_view kScryptLabel = "age-encryption.org/v1/scrypt";
constexpr std::string_view kRecipientHrp = "age";
constexpr std::string_view kIdentityHrp = "age-secret-key-";
constexpr uint8_t kZeroNonce[12] = {};

// One ChaCha20-Poly1305 context per stream: the key schedule is set once and
// only the IV changes per chunk.
struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  CipherCtx() = default;
  CipherCtx(const CipherCtx&) = delete;
  CipherCtx& operator=(const CipherCtx&) = delete;
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

// STREAM nonce: 11-byte big-endian chunk counter, then the last-chunk flag.
void SetNonce(uint8_t nonce[12], uint64_t counter, bool last) {
  std::memset(nonce, 0, 12);
  for (int i = 0; i < 8; ++i) nonce[10 - i] = static_cast<uint8_t>(counter >> (8 * i));
  nonce[11] = last ? 1 : 0;
}

// Seals a 16-byte file key under `key` with the all-zero nonce (stanza body).
std::vector<uint8_t> SealFileKey(std::span<const uint8_t> key, std::span<const uint8_t> file_key) {
  std::vector<uint8_t> body(kFileKeySize + kTagSize);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(body.data(), &len, file_key.data(), file_key.size(),
                                            nullptr, 0, nullptr, kZeroNonce, key.data());
  return body;
}

// nullopt if the tag does not verify (not our stanza). REQUIRES: body is 32 bytes.
std::optional<SecretBuffer> OpenFileKey(std::span<const uint8_t> key, std::span<const uint8_t> body) {
  SecretBuffer file_key(kFileKeySize);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(file_key.data(), nullptr, nullptr, body.data(),
                                                body.size(), nullptr, 0, kZeroNonce,
                                                key.data()) != 0)
    return std::nullopt;
  return file_key;
}

Result<SecretBuffer> ScryptKey(const SecretBuffer& passphrase, std::span<const uint8_t> salt,
                               int work_factor) {
  std::vector<uint8_t> full_salt(kScryptLabel.begin(), kScryptLabel.end());
  full_salt.insert(full_salt.end(), salt.begin(), salt.end());
  SecretBuffer key(32);
  if (crypto_pwhash_scryptsalsa208sha256_ll(passphrase.data(), passphrase.size(), full_salt.data(),
                                            full_salt.size(), uint64_t{1} << work_factor, 8, 1,
                                            key.data(), key.size()) != 0)
    return Fail(ErrorCode::kInternal, "scrypt failed (out of memory?)");
  return key;
}

// "^[1-9][0-9]*$" capped, as age requires; -1 if malformed, 1000 if huge.
int ParseWorkFactor(std::string_view s) {
  if (s.empty() || s[0] < '1' || s[0] > '9') return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = std::min(1000, v * 10 + (c - '0'));
  }
  return v;
}

bool HasScryptStanza(std::span<const Stanza> stanzas) {
  return std::any_of(stanzas.begin(), stanzas.end(),
                     [](const Stanza& s) { return s.type == "scrypt"; });
}

}  // namespace

// ---- X25519 ----

Result<X25519Recipient> X25519Recipient::Parse(std::string_view text) {
  auto d = Bech32Decode(text);
  if (!d) return Fail(ErrorCode::kKey, "malformed recipient: not a valid age1... bech32 string");
  if (d->hrp != kRecipientHrp) return Fail(ErrorCode::kKey, "malformed recipient: expected an age1... key");
  if (d->data.size() != 32) return Fail(ErrorCode::kKey, "malformed recipient: wrong key length");
  std::array<uint8_t, 32> pk;
  std::memcpy(pk.data(), d->data.data(), 32);
  return X25519Recipient(pk);
}

std::string X25519Recipient::String() const {
  SecretBuffer s = Bech32Encode(kRecipientHrp, public_key_);
  return std::string(s.view());
}

Result<std::vector<Stanza>> X25519Recipient::Wrap(std::span<const uint8_t> file_key) const {
  SecretBuffer ephemeral = SecretBuffer::Random(32);
  std::array<uint8_t, 32> share;
  crypto_scalarmult_base(share.data(), ephemeral.data());
  SecretBuffer shared(32);
  if (crypto_scalarmult(shared.data(), ephemeral.data(), public_key_.data()) != 0)
    return Fail(ErrorCode::kKey, "recipient public key is a low-order point");
  std::array<uint8_t, 64> salt;
  std::memcpy(salt.data(), share.data(), 32);
  std::memcpy(salt.data() + 32, public_key_.data(), 32);
  SecretBuffer wrap_key = HkdfSha256(shared.span(), salt, kX25519Label, 32);
  Stanza s{"X25519", {RawBase64Encode(share)}, SealFileKey(wrap_key.span(), file_key)};
  std::vector<Stanza> out;
  out.push_back(std::move(s));
  return out;
}

X25519Identity::X25519Identity(SecretBuffer secret) : secret_(std::move(secret)) {
  crypto_scalarmult_base(public_key_.data(), secret_.data());
}

X25519Identity X25519Identity::Generate() {
  InitCrypto();
  return X25519Identity(SecretBuffer::Random(32));
}

Result<X25519Identity> X25519Identity::Parse(std::string_view text) {
  InitCrypto();
  auto d = Bech32Decode(text);
  if (!d) return Fail(ErrorCode::kKey, "malformed secret key: not a valid bech32 string");
  if (d->hrp != "AGE-SECRET-KEY-")
    return Fail(ErrorCode::kKey, "malformed secret key: expected an AGE-SECRET-KEY-1... string");
  if (d->data.size() != 32) return Fail(ErrorCode::kKey, "malformed secret key: wrong key length");
  return X25519Identity(std::move(d->data));
}

SecretBuffer X25519Identity::Encode() const {
  SecretBuffer s = Bech32Encode(kIdentityHrp, secret_.span());
  for (size_t i = 0; i < s.size(); ++i) {
    uint8_t& c = s.data()[i];
    if (c >= 'a' && c <= 'z') c = static_cast<uint8_t>(c - 'a' + 'A');
  }
  return s;
}

Result<std::optional<SecretBuffer>> X25519Identity::Unwrap(std::span<const Stanza> stanzas) const {
  for (const Stanza& s : stanzas) {
    if (s.type != "X25519") continue;
    if (s.args.size() != 1) return Fail(ErrorCode::kHeader, "malformed X25519 stanza: wrong argument count");
    auto share = RawBase64Decode(s.args[0]);
    if (!share || share->size() != 32)
      return Fail(ErrorCode::kHeader, "malformed X25519 stanza: bad ephemeral share");
    SecretBuffer shared(32);
    if (crypto_scalarmult(shared.data(), secret_.data(), share->data()) != 0)
      return Fail(ErrorCode::kHeader, "malformed X25519 stanza: low-order ephemeral share");
    std::array<uint8_t, 64> salt;
    std::memcpy(salt.data(), share->data(), 32);
    std::memcpy(salt.data() + 32, public_key_.data(), 32);
    SecretBuffer wrap_key = HkdfSha256(shared.span(), salt, kX25519Label, 32);
    if (s.body.size() != kFileKeySize + kTagSize)
      return Fail(ErrorCode::kHeader, "malformed X25519 stanza: wrong file key size");
    auto file_key = OpenFileKey(wrap_key.span(), s.body);
    if (file_key) return std::optional<SecretBuffer>(std::move(*file_key));
  }
  return std::optional<SecretBuffer>();
}

// ---- scrypt ----

Result<std::vector<Stanza>> ScryptRecipient::Wrap(std::span<const uint8_t> file_key) const {
  if (work_factor_ < 1 || work_factor_ > 30)
    return Fail(ErrorCode::kInvalidArgument, "scrypt work factor must be between 1 and 30");
  std::array<uint8_t, 16> salt;
  randombytes_buf(salt.data(), salt.size());
  XGW_TRY(SecretBuffer key, ScryptKey(passphrase_, salt, work_factor_));
  Stanza s{"scrypt", {RawBase64Encode(salt), std::to_string(work_factor_)},
           SealFileKey(key.span(), file_key)};
  std::vector<Stanza> out;
  out.push_back(std::move(s));
  return out;
}

Result<std::optional<SecretBuffer>> ScryptIdentity::Unwrap(std::span<const Stanza> stanzas) const {
  if (HasScryptStanza(stanzas) && stanzas.size() != 1)
    return Fail(ErrorCode::kHeader, "an scrypt stanza must be the only stanza");
  for (const Stanza& s : stanzas) {
    if (s.type != "scrypt") continue;
    if (s.args.size() != 2) return Fail(ErrorCode::kHeader, "malformed scrypt stanza: wrong argument count");
    auto salt = RawBase64Decode(s.args[0]);
    if (!salt || salt->size() != 16) return Fail(ErrorCode::kHeader, "malformed scrypt stanza: bad salt");
    int wf = ParseWorkFactor(s.args[1]);
    if (wf < 1) return Fail(ErrorCode::kHeader, "malformed scrypt stanza: bad work factor");
    if (wf > max_work_factor_)
      return Fail(ErrorCode::kHeader, "scrypt work factor " + std::to_string(wf) +
                                          " exceeds the limit of " + std::to_string(max_work_factor_));
    if (s.body.size() != kFileKeySize + kTagSize)
      return Fail(ErrorCode::kHeader, "malformed scrypt stanza: wrong file key size");
    XGW_TRY(SecretBuffer key, ScryptKey(passphrase_, *salt, wf));
    auto file_key = OpenFileKey(key.span(), s.body);
    if (file_key) return std::optional<SecretBuffer>(std::move(*file_key));
  }
  return std::optional<SecretBuffer>();
}

// ---- Encryptor ----

struct Encryptor::State {
  ByteSink* out = nullptr;
  std::unique_ptr<ArmorWriter> armor;
  ByteSink* sink = nullptr;  // armor or out
  CipherCtx cipher;
  SecretBuffer plain{kChunkSize};
  size_t buffered = 0;
  std::vector<uint8_t> sealed = std::vector<uint8_t>(kCipherChunk);
  uint64_t counter = 0;
  bool closed = false;
  bool failed = false;
};

Encryptor::Encryptor(std::unique_ptr<State> state) : s_(std::move(state)) {}
Encryptor::~Encryptor() = default;

Result<std::unique_ptr<Encryptor>> Encryptor::Create(std::span<const Recipient* const> recipients,
                                                     ByteSink& out, bool armor) {
  InitCrypto();
  if (recipients.empty()) return Fail(ErrorCode::kInvalidArgument, "no recipients given");
  SecretBuffer file_key = SecretBuffer::Random(kFileKeySize);
  std::vector<Stanza> stanzas;
  for (const Recipient* r : recipients) {
    XGW_TRY(std::vector<Stanza> st, r->Wrap(file_key.span()));
    for (Stanza& s : st) stanzas.push_back(std::move(s));
  }
  if (HasScryptStanza(stanzas) && stanzas.size() != 1)
    return Fail(ErrorCode::kInvalidArgument, "a passphrase recipient cannot be combined with other recipients");

  std::string header = EncodeHeaderWithoutMac(stanzas);
  SecretBuffer mac_key = HkdfSha256(file_key.span(), {}, "header", 32);
  Sha256Digest mac = HmacSha256::Mac(mac_key.span(), AsBytes(header));
  header += ' ';
  header += RawBase64Encode(mac);
  header += '\n';
  std::array<uint8_t, kNonceSize> nonce;
  randombytes_buf(nonce.data(), nonce.size());
  SecretBuffer payload_key = HkdfSha256(file_key.span(), nonce, "payload", 32);

  auto state = std::make_unique<State>();
  state->out = &out;
  if (armor) state->armor = std::make_unique<ArmorWriter>(out);
  state->sink = armor ? static_cast<ByteSink*>(state->armor.get()) : &out;
  if (state->cipher.ctx == nullptr ||
      EVP_EncryptInit_ex(state->cipher.ctx, EVP_chacha20_poly1305(), nullptr, payload_key.data(),
                         nullptr) != 1)
    return Fail(ErrorCode::kInternal, "cannot initialise chacha20-poly1305");
  XGW_CHECK(state->sink->Write(AsBytes(header)));
  XGW_CHECK(state->sink->Write(nonce));
  return std::unique_ptr<Encryptor>(new Encryptor(std::move(state)));
}

Result<void> Encryptor::Seal(std::span<const uint8_t> plain, bool last) {
  uint8_t nonce[12];
  SetNonce(nonce, s_->counter++, last);
  EVP_CIPHER_CTX* ctx = s_->cipher.ctx;
  uint8_t* out = s_->sealed.data();
  int outl = 0, finl = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) != 1 ||
      (!plain.empty() &&
       EVP_EncryptUpdate(ctx, out, &outl, plain.data(), static_cast<int>(plain.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx, out + outl, &finl) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), out + plain.size()) != 1) {
    s_->failed = true;
    return Fail(ErrorCode::kInternal, "chacha20-poly1305 encryption failed");
  }
  auto r = s_->sink->Write(std::span<const uint8_t>(out, plain.size() + kTagSize));
  if (!r) s_->failed = true;
  return r;
}

Result<void> Encryptor::Write(std::span<const uint8_t> data) {
  if (s_->closed || s_->failed) return Fail(ErrorCode::kInternal, "write to a closed or failed encryptor");
  while (!data.empty()) {
    // A chunk is sealed only once more data follows, so that the final chunk
    // is always known to be final.
    if (s_->buffered == kChunkSize) {
      XGW_CHECK(Seal(s_->plain.span(), false));
      s_->buffered = 0;
    }
    if (s_->buffered == 0 && data.size() > kChunkSize) {
      XGW_CHECK(Seal(data.first(kChunkSize), false));
      data = data.subspan(kChunkSize);
      continue;
    }
    size_t n = std::min(kChunkSize - s_->buffered, data.size());
    std::memcpy(s_->plain.data() + s_->buffered, data.data(), n);
    s_->buffered += n;
    data = data.subspan(n);
  }
  return {};
}

Result<void> Encryptor::Close() {
  if (s_->closed) return {};
  if (s_->failed) return Fail(ErrorCode::kInternal, "close of a failed encryptor");
  s_->closed = true;
  XGW_CHECK(Seal(std::span<const uint8_t>(s_->plain.data(), s_->buffered), true));
  s_->plain.Wipe();
  s_->buffered = 0;
  if (s_->armor) return s_->armor->Close();
  return s_->out->Flush();
}

// ---- Decryptor ----

struct Decryptor::State {
  explicit State(ByteSource& src) : raw(src) {}
  BufferedReader raw;
  std::unique_ptr<ArmorReader> armor;
  std::unique_ptr<BufferedReader> dearmored;
  BufferedReader* in = nullptr;
  CipherCtx cipher;
  SecretBuffer plain{kChunkSize};
  size_t plain_pos = 0;
  size_t plain_len = 0;
  std::vector<uint8_t> sealed = std::vector<uint8_t>(kCipherChunk);
  uint64_t counter = 0;
  bool done = false;
  std::optional<Error> error;
};

Decryptor::Decryptor(std::unique_ptr<State> state) : s_(std::move(state)) {}
Decryptor::~Decryptor() = default;

Result<std::unique_ptr<Decryptor>> Decryptor::Open(ByteSource& in,
                                                   std::span<const Identity* const> identities,
                                                   ArmorMode armor) {
  InitCrypto();
  auto s = std::make_unique<State>(in);
  bool armored = armor == ArmorMode::kArmored;
  if (armor == ArmorMode::kAuto) {
    XGW_TRY(auto head, s->raw.Peek(2048));
    auto it = std::find_if(head.begin(), head.end(), [](uint8_t c) {
      return !(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f');
    });
    armored = it != head.end() && *it == '-';
  }
  if (armored) {
    s->armor = std::make_unique<ArmorReader>(s->raw);
    s->dearmored = std::make_unique<BufferedReader>(*s->armor, 32 * 1024);
    s->in = s->dearmored.get();
  } else {
    s->in = &s->raw;
  }

  XGW_TRY(Header header, ParseHeader(*s->in));
  if (HasScryptStanza(header.stanzas) && header.stanzas.size() != 1)
    return Fail(ErrorCode::kHeader, "an scrypt stanza must be the only stanza");
  if (identities.empty()) return Fail(ErrorCode::kInvalidArgument, "no identities given");
  std::optional<SecretBuffer> file_key;
  for (const Identity* id : identities) {
    XGW_TRY(file_key, id->Unwrap(header.stanzas));
    if (file_key) break;
  }
  if (!file_key) return Fail(ErrorCode::kNoMatch, "no identity matched any of the file's recipients");
  if (file_key->size() != kFileKeySize) return Fail(ErrorCode::kHeader, "unwrapped file key has the wrong size");

  SecretBuffer mac_key = HkdfSha256(file_key->span(), {}, "header", 32);
  Sha256Digest mac = HmacSha256::Mac(mac_key.span(), AsBytes(header.mac_input));
  if (!ConstantTimeEqual(mac, header.mac))
    return Fail(ErrorCode::kHmac, "header mac does not verify: the header was modified");

  std::array<uint8_t, kNonceSize> nonce;
  XGW_TRY(size_t got, ReadFull(*s->in, nonce));
  if (got != kNonceSize) return Fail(ErrorCode::kHeader, "file ends before the payload nonce");
  SecretBuffer payload_key = HkdfSha256(file_key->span(), nonce, "payload", 32);
  if (s->cipher.ctx == nullptr ||
      EVP_DecryptInit_ex(s->cipher.ctx, EVP_chacha20_poly1305(), nullptr, payload_key.data(),
                         nullptr) != 1)
    return Fail(ErrorCode::kInternal, "cannot initialise chacha20-poly1305");
  return std::unique_ptr<Decryptor>(new Decryptor(std::move(s)));
}

namespace {
bool OpenChunk(EVP_CIPHER_CTX* ctx, uint64_t counter, bool last, std::span<uint8_t> sealed,
               uint8_t* out) {
  uint8_t nonce[12];
  SetNonce(nonce, counter, last);
  size_t n = sealed.size() - kTagSize;
  int outl = 0, finl = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) != 1) return false;
  if (n > 0 && EVP_DecryptUpdate(ctx, out, &outl, sealed.data(), static_cast<int>(n)) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), sealed.data() + n) != 1)
    return false;
  return EVP_DecryptFinal_ex(ctx, out + outl, &finl) > 0;
}
}  // namespace

Result<size_t> Decryptor::NextChunk(std::span<uint8_t> out) {
  XGW_TRY(size_t n, ReadFull(*s_->in, s_->sealed));
  if (n == 0) return Fail(ErrorCode::kTruncated, "file is truncated: the final chunk is missing");
  if (n < kTagSize) return Fail(ErrorCode::kTruncated, "file is truncated inside a chunk tag");
  std::span<uint8_t> sealed(s_->sealed.data(), n);
  bool last = n < kCipherChunk;
  bool ok = OpenChunk(s_->cipher.ctx, s_->counter, last, sealed, out.data());
  if (!ok && !last) {
    last = true;  // a full-size final chunk
    ok = OpenChunk(s_->cipher.ctx, s_->counter, true, sealed, out.data());
  }
  size_t plain_n = n - kTagSize;
  if (!ok) {
    sodium_memzero(out.data(), std::min(out.size(), plain_n));
    return Fail(ErrorCode::kPayload, "payload chunk " + std::to_string(s_->counter) +
                                         " failed to authenticate: the file is damaged or was modified");
  }
  if (last && plain_n == 0 && s_->counter > 0)
    return Fail(ErrorCode::kPayload, "the final payload chunk is empty");
  ++s_->counter;
  if (last) {
    s_->done = true;
    uint8_t extra;
    XGW_TRY(size_t more, s_->in->Read(std::span<uint8_t>(&extra, 1)));
    if (more > 0) s_->error = Error{ErrorCode::kTrailingData, "data follows the final payload chunk"};
  }
  return plain_n;
}

Result<size_t> Decryptor::Read(std::span<uint8_t> buf) {
  if (s_->plain_pos < s_->plain_len) {
    size_t n = std::min(buf.size(), s_->plain_len - s_->plain_pos);
    std::memcpy(buf.data(), s_->plain.data() + s_->plain_pos, n);
    s_->plain_pos += n;
    return n;
  }
  if (s_->error) return tl::unexpected(*s_->error);
  if (s_->done || buf.empty()) return size_t{0};
  bool direct = buf.size() >= kChunkSize;
  auto r = NextChunk(direct ? buf : s_->plain.span());
  if (!r) {
    s_->error = r.error();
    return r;
  }
  if (*r == 0 && s_->error) return tl::unexpected(*s_->error);
  if (direct) return *r;
  s_->plain_len = *r;
  s_->plain_pos = std::min(buf.size(), *r);
  std::memcpy(buf.data(), s_->plain.data(), s_->plain_pos);
  return s_->plain_pos;
}

// ---- convenience ----

Result<uint64_t> Encrypt(std::span<const Recipient* const> recipients, ByteSource& in,
                         ByteSink& out, bool armor) {
  XGW_TRY(auto enc, Encryptor::Create(recipients, out, armor));
  // Reads of several chunks let the Encryptor seal straight from this buffer.
  SecretBuffer buf(4 * kChunkSize);
  uint64_t total = 0;
  for (;;) {
    XGW_TRY(size_t n, ReadFull(in, buf.span()));
    if (n == 0) break;
    XGW_CHECK(enc->Write(std::span<const uint8_t>(buf.data(), n)));
    total += n;
    if (n < buf.size()) break;
  }
  XGW_CHECK(enc->Close());
  return total;
}

Result<uint64_t> Decrypt(std::span<const Identity* const> identities, ByteSource& in,
                         ByteSink& out) {
  XGW_TRY(auto dec, Decryptor::Open(in, identities));
  SecretBuffer buf(kChunkSize);
  uint64_t total = 0;
  for (;;) {
    XGW_TRY(size_t n, dec->Read(buf.span()));
    if (n == 0) break;
    XGW_CHECK(out.Write(std::span<const uint8_t>(buf.data(), n)));
    total += n;
  }
  XGW_CHECK(out.Flush());
  return total;
}

}  // namespace xgw::age
