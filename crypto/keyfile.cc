#include "crypto/keyfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "crypto/age_format.h"
#include "crypto/armor.h"
#include "crypto/hash.h"

namespace xgw::age {

namespace {

constexpr size_t kMaxKeyFile = 1024 * 1024;

// Accumulates bytes in secret memory, up to a fixed capacity.
class SecretSink final : public ByteSink {
 public:
  explicit SecretSink(size_t capacity) : buf_(capacity) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    if (data.size() > buf_.size() - len_) return Fail(ErrorCode::kLimit, "key file is larger than 1 MiB");
    std::memcpy(buf_.data() + len_, data.data(), data.size());
    len_ += data.size();
    return {};
  }
  SecretBuffer Take() {
    buf_.Truncate(len_);
    return std::move(buf_);
  }

 private:
  SecretBuffer buf_;
  size_t len_ = 0;
};

std::string Rfc3339(std::time_t t) {
  struct tm tm {};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf);
  long off = tm.tm_gmtoff;
  if (off == 0) return out + "Z";
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", sign, off / 3600, (off % 3600) / 60);
  return out + buf;
}

// Splits text into lines (LF or CRLF) and calls fn(line, number) for those
// that are neither blank nor comments.
template <typename Fn>
Result<void> ForEachKeyLine(std::string_view text, Fn fn) {
  size_t number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos) continue;
    line = line.substr(b);
    line = line.substr(0, line.find_last_not_of(" \t") + 1);
    if (line.front() == '#') continue;
    XGW_CHECK(fn(line, number));
  }
  return {};
}

bool LooksEncrypted(std::string_view text) {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return false;
  text = text.substr(b);
  return text.starts_with("age-encryption.org/") || text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----");
}

// "<comment lines>AGE-SECRET-KEY-...\n" in secret memory.
SecretBuffer KeyBlock(std::string_view comments, const X25519Identity& identity) {
  SecretBuffer key = identity.Encode();
  SecretBuffer out(comments.size() + key.size() + 1);
  std::memcpy(out.data(), comments.data(), comments.size());
  std::memcpy(out.data() + comments.size(), key.data(), key.size());
  out.data()[out.size() - 1] = '\n';
  return out;
}
}  // namespace

SecretBuffer FormatIdentityFile(const X25519Identity& identity, std::time_t created) {
  return KeyBlock("# created: " + Rfc3339(created) + "\n# public key: " + identity.Recipient().String() + "\n",
                  identity);
}

Result<void> WriteIdentity(ByteSink& out, const X25519Identity& identity,
                           const SecretBuffer* passphrase, int work_factor) {
  return WriteIdentities(out, std::span<const X25519Identity>(&identity, 1), passphrase, work_factor);
}

Result<void> WriteIdentities(ByteSink& out, std::span<const X25519Identity> identities,
                             const SecretBuffer* passphrase, int work_factor) {
  if (identities.empty()) return Fail(ErrorCode::kInvalidArgument, "an identity file needs at least one key");
  std::vector<SecretBuffer> parts;
  parts.push_back(FormatIdentityFile(identities[0], std::time(nullptr)));
  for (const X25519Identity& earlier : identities.subspan(1)) {
    parts.push_back(KeyBlock("# earlier key, kept to open lists sent before it was replaced\n# public key: " +
                                 earlier.Recipient().String() + "\n",
                             earlier));
  }
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  SecretBuffer text(total);
  size_t at = 0;
  for (const auto& p : parts) {
    std::memcpy(text.data() + at, p.data(), p.size());
    at += p.size();
  }
  if (passphrase == nullptr) {
    XGW_CHECK(out.Write(text.span()));
    return out.Flush();
  }
  ScryptRecipient recipient(passphrase->view(), work_factor);
  const Recipient* rs[] = {&recipient};
  XGW_TRY(auto enc, Encryptor::Create(rs, out, /*armor=*/true));
  XGW_CHECK(enc->Write(text.span()));
  return enc->Close();
}

Result<void> ReplaceIdentityFile(const std::string& path, std::span<const X25519Identity> identities,
                                 const SecretBuffer* passphrase, int work_factor) {
  XGW_TRY(auto file, AtomicFile::Create(path, 0600));
  XGW_CHECK(WriteIdentities(file, identities, passphrase, work_factor));
  return file.Commit();
}

Result<void> CheckPassphraseWrapped(std::string_view file) {
  constexpr std::string_view kRule =
      "the key backup must be an identity file protected by a passphrase, as `xgw keygen --passphrase` "
      "writes it (an armored age file whose only recipient is scrypt)";
  size_t first = file.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || file.substr(first, kArmorHeader.size()) != kArmorHeader)
    return Fail(ErrorCode::kInvalidArgument, std::string(kRule) + ": it is not armored");
  MemorySource src(file);
  BufferedReader raw(src);
  ArmorReader armor(raw);
  BufferedReader in(armor);
  auto header = ParseHeader(in);
  if (!header) return Fail(ErrorCode::kInvalidArgument, std::string(kRule) + ": its age header does not parse");
  if (header->stanzas.size() != 1 || header->stanzas[0].type != "scrypt")
    return Fail(ErrorCode::kInvalidArgument, std::string(kRule) + ": it has a recipient other than scrypt");
  // The rest must be well-formed armor too (nothing appended after the footer).
  uint8_t sink[4096];
  for (;;) {
    auto n = in.Read(sink);
    if (!n) return Fail(ErrorCode::kInvalidArgument, std::string(kRule) + ": its armor is malformed");
    if (*n == 0) break;
  }
  return {};
}

std::string KeyFingerprint(std::string_view age_recipient) {
  Sha256Digest d = Sha256::Hash(AsBytes(age_recipient));
  std::string hex = HexEncode(std::span<const uint8_t>(d.data(), 16));
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 4) {
    if (i != 0) out += ' ';
    out += hex.substr(i, 4);
  }
  return out;
}

Result<void> WriteIdentityFile(const std::string& path, const X25519Identity& identity,
                               const SecretBuffer* passphrase, int work_factor) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0)
    return Fail(ErrorCode::kConflict, "refusing to overwrite existing file " + path);
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return tl::unexpected(IoError("create temporary file for", path, errno));
  auto cleanup = [&](Error e) -> Result<void> {
    ::close(fd);
    ::unlink(tmp.c_str());
    return tl::unexpected(std::move(e));
  };
  if (::fchmod(fd, 0600) != 0) return cleanup(IoError("chmod", tmp, errno));
  {
    FileSink sink = FileSink::Borrow(fd);
    auto r = WriteIdentity(sink, identity, passphrase, work_factor);
    if (!r) return cleanup(std::move(r).error());
  }
  if (::fsync(fd) != 0) return cleanup(IoError("fsync", tmp, errno));
  ::close(fd);
  // link() fails with EEXIST instead of replacing, unlike rename().
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return Fail(ErrorCode::kConflict, "refusing to overwrite existing file " + path);
    return tl::unexpected(IoError("create", path, err));
  }
  ::unlink(tmp.c_str());
  std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDirectory(dir.empty() ? "." : dir);
}

Result<std::vector<X25519Identity>> ParseIdentities(std::string_view text) {
  std::vector<X25519Identity> out;
  XGW_CHECK(ForEachKeyLine(text, [&](std::string_view line, size_t number) -> Result<void> {
    auto id = X25519Identity::Parse(line);
    if (!id) {
      if (line.starts_with("AGE-SECRET-KEY-PQ-"))
        return Fail(ErrorCode::kKey, "unsupported post-quantum secret key at line " + std::to_string(number));
      return Fail(ErrorCode::kKey, "malformed secret key at line " + std::to_string(number));
    }
    out.push_back(std::move(*id));
    return {};
  }));
  if (out.empty()) return Fail(ErrorCode::kKey, "no secret keys found in identity file");
  return out;
}

Result<std::vector<X25519Identity>> ReadIdentities(ByteSource& in, const PassphraseCallback& passphrase,
                                                   int max_work_factor) {
  SecretSink raw(kMaxKeyFile);
  {
    SecretBuffer buf(64 * 1024);
    for (;;) {
      XGW_TRY(size_t n, in.Read(buf.span()));
      if (n == 0) break;
      XGW_CHECK(raw.Write(std::span<const uint8_t>(buf.data(), n)));
    }
  }
  SecretBuffer text = raw.Take();
  if (!LooksEncrypted(text.view())) return ParseIdentities(text.view());
  if (!passphrase) return Fail(ErrorCode::kKey, "identity file is passphrase-protected and no passphrase is available");
  XGW_TRY(SecretBuffer pass, passphrase());
  ScryptIdentity id(pass.view(), max_work_factor);
  const Identity* ids[] = {&id};
  MemorySource src(text.span());
  SecretSink plain(kMaxKeyFile);
  auto r = Decrypt(ids, src, plain);
  if (!r) {
    if (r.error().code == ErrorCode::kNoMatch)
      return Fail(ErrorCode::kKey, "incorrect passphrase for the protected identity file");
    return Fail(ErrorCode::kKey, "protected identity file does not decrypt: " + ToString(r.error()));
  }
  SecretBuffer inner = plain.Take();
  return ParseIdentities(inner.view());
}

Result<std::vector<X25519Identity>> ReadIdentityFile(const std::string& path,
                                                     const PassphraseCallback& passphrase,
                                                     int max_work_factor) {
  auto f = FileSource::Open(path);
  if (!f) return Fail(ErrorCode::kKey, "cannot open identity file: " + f.error().message);
  auto r = ReadIdentities(*f, passphrase, max_work_factor);
  if (!r) return Fail(r.error().code, r.error().message + " (" + path + ")");
  return r;
}

Result<std::vector<X25519Recipient>> ParseRecipients(std::string_view text) {
  std::vector<X25519Recipient> out;
  XGW_CHECK(ForEachKeyLine(text, [&](std::string_view line, size_t number) -> Result<void> {
    auto r = X25519Recipient::Parse(line);
    if (!r) return Fail(ErrorCode::kKey, "malformed or unsupported recipient at line " + std::to_string(number));
    out.push_back(*r);
    return {};
  }));
  if (out.empty()) return Fail(ErrorCode::kKey, "no recipients found in recipients file");
  return out;
}

Result<std::vector<X25519Recipient>> ReadRecipientsFile(const std::string& path) {
  auto f = FileSource::Open(path);
  if (!f) return Fail(ErrorCode::kKey, "cannot open recipients file: " + f.error().message);
  StringSink text;
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    XGW_TRY(size_t n, f->Read(buf));
    if (n == 0) break;
    if (text.str().size() + n > kMaxKeyFile) return Fail(ErrorCode::kLimit, "recipients file is larger than 1 MiB");
    XGW_CHECK(text.Write(std::span<const uint8_t>(buf.data(), n)));
  }
  auto r = ParseRecipients(text.str());
  if (!r) return Fail(r.error().code, r.error().message + " (" + path + ")");
  return r;
}

}  // namespace xgw::age
