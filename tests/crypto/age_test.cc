// Behaviour of the age implementation on real files: round trips, several
// recipients, armor, tampering and truncation (each with its failure class),
// keys and key files.
#include <catch2/catch.hpp>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/keyfile.h"

using namespace xgw;
using namespace xgw::age;
namespace fs = std::filesystem;

namespace {

constexpr size_t kSealed = kChunkSize + 16;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string EncryptTo(std::vector<const Recipient*> rs, const std::string& plain, bool armor,
                      size_t write_size = 0) {
  StringSink out;
  auto enc = Encryptor::Create(rs, out, armor);
  REQUIRE(enc);
  if (write_size == 0) {
    REQUIRE((*enc)->Write(AsBytes(plain)));
  } else {
    for (size_t i = 0; i < plain.size(); i += write_size)
      REQUIRE((*enc)->Write(AsBytes(std::string_view(plain).substr(i, write_size))));
  }
  REQUIRE((*enc)->Close());
  return out.str();
}

struct DecryptResult {
  std::optional<ErrorCode> error;  // nullopt on success
  std::string released;            // plaintext returned before the end
};

DecryptResult DecryptWith(std::vector<const Identity*> ids, const std::string& file, size_t read_size = 100000) {
  MemorySource src(file);
  DecryptResult r;
  auto dec = Decryptor::Open(src, ids);
  if (!dec) {
    r.error = dec.error().code;
    return r;
  }
  std::vector<uint8_t> buf(read_size);
  for (;;) {
    auto n = (*dec)->Read(buf);
    if (!n) {
      r.error = n.error().code;
      // Errors are sticky.
      auto again = (*dec)->Read(buf);
      CHECK(!again);
      return r;
    }
    if (*n == 0) return r;
    r.released.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
}

// Offset of the first payload chunk (after header and nonce).
size_t PayloadStart(const std::string& file) {
  size_t mac = file.find("\n--- ");
  REQUIRE(mac != std::string::npos);
  return file.find('\n', mac + 1) + 1 + 16;
}

struct Keys {
  X25519Identity id = X25519Identity::Generate();
  X25519Recipient rcpt = id.Recipient();
};

}  // namespace

TEST_CASE("RoundTripsAtChunkBoundarySizes") {
  Keys k;
  for (size_t size : {size_t{0}, size_t{1}, kChunkSize - 1, kChunkSize, kChunkSize + 1,
                      2 * kChunkSize, 3 * kChunkSize + 7}) {
    INFO("size " << size);
    std::string plain = RandomBytes(size, static_cast<uint32_t>(size));
    for (bool armor : {false, true}) {
      std::string file = EncryptTo({&k.rcpt}, plain, armor);
      auto r = DecryptWith({&k.id}, file);
      CHECK_FALSE(r.error);
      CHECK(r.released == plain);
    }
  }
}

TEST_CASE("RoundTripsRandomSizesWithRandomWriteAndReadSizes") {
  Keys k;
  std::mt19937 rng(42);
  for (int i = 0; i < 25; ++i) {
    size_t size = rng() % (5 * kChunkSize);
    size_t wsize = 1 + rng() % (2 * kChunkSize);
    size_t rsize = 1 + rng() % (2 * kChunkSize);
    bool armor = (rng() & 1) != 0;
    INFO("size " << size << " write " << wsize << " read " << rsize << " armor " << armor);
    std::string plain = RandomBytes(size, static_cast<uint32_t>(rng()));
    std::string file = EncryptTo({&k.rcpt}, plain, armor, wsize);
    auto r = DecryptWith({&k.id}, file, rsize);
    CHECK_FALSE(r.error);
    CHECK(r.released == plain);
  }
}

TEST_CASE("EveryOneOfSeveralRecipientsCanDecrypt") {
  Keys a, b, c;
  std::string plain = RandomBytes(100000, 7);
  std::string file = EncryptTo({&a.rcpt, &b.rcpt, &c.rcpt}, plain, false);
  for (const X25519Identity* id : {&a.id, &b.id, &c.id}) {
    auto r = DecryptWith({id}, file);
    CHECK_FALSE(r.error);
    CHECK(r.released == plain);
  }
  Keys other;
  CHECK(DecryptWith({&other.id}, file).error == ErrorCode::kNoMatch);
  CHECK(DecryptWith({&other.id, &b.id}, file).released == plain);
}

TEST_CASE("ArmoredOutputIsStrictPemAndAutoDetected") {
  Keys k;
  std::string plain = RandomBytes(1000, 3);
  std::string file = EncryptTo({&k.rcpt}, plain, true);
  CHECK(file.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
  CHECK(file.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"));
  std::istringstream lines(file);
  std::string line;
  while (std::getline(lines, line)) CHECK(line.size() <= 64);
  // Surrounding whitespace and CRLF line ends are accepted.
  std::string crlf;
  for (char c : file) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  CHECK(DecryptWith({&k.id}, "\n  \n" + crlf + "  \n").released == plain);
  // Garbage after the end line is not.
  CHECK(DecryptWith({&k.id}, file + "x\n").error == ErrorCode::kArmor);
}

TEST_CASE("ScryptRoundTripsAndRejectsWrongPassphraseAndExcessiveWork") {
  std::string plain = RandomBytes(70000, 9);
  ScryptRecipient r("correct horse", 10);
  std::string file = EncryptTo({&r}, plain, false);
  ScryptIdentity good("correct horse");
  CHECK(DecryptWith({&good}, file).released == plain);
  ScryptIdentity bad("wrong horse");
  CHECK(DecryptWith({&bad}, file).error == ErrorCode::kNoMatch);
  ScryptIdentity capped("correct horse", 9);
  CHECK(DecryptWith({&capped}, file).error == ErrorCode::kHeader);
}

TEST_CASE("ScryptRecipientCannotBeCombinedWithOthers") {
  Keys k;
  ScryptRecipient r("pass", 10);
  StringSink out;
  const Recipient* rs[] = {&k.rcpt, &r};
  auto enc = Encryptor::Create(rs, out, false);
  REQUIRE_FALSE(enc);
  CHECK(enc.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("WrongIdentityIsNoMatch") {
  Keys k, other;
  std::string file = EncryptTo({&k.rcpt}, "hello", false);
  auto r = DecryptWith({&other.id}, file);
  CHECK(r.error == ErrorCode::kNoMatch);
  CHECK(r.released.empty());
}

TEST_CASE("ModifiedHeaderIsHmacFailure") {
  Keys k, other;
  std::string file = EncryptTo({&other.rcpt, &k.rcpt}, RandomBytes(1000, 1), false);
  // Change one base64 character in the first stanza's body (not ours): our
  // file key still unwraps, so only the MAC can notice.
  size_t body = file.find('\n', file.find("-> X25519")) + 1;
  file[body + 5] = file[body + 5] == 'A' ? 'B' : 'A';
  auto r = DecryptWith({&k.id}, file);
  CHECK(r.error == ErrorCode::kHmac);
  CHECK(r.released.empty());
}

TEST_CASE("FlippedMacIsHmacFailure") {
  Keys k;
  std::string file = EncryptTo({&k.rcpt}, RandomBytes(1000, 1), false);
  size_t mac = file.find("\n--- ") + 5;
  file[mac] = file[mac] == 'A' ? 'B' : 'A';
  CHECK(DecryptWith({&k.id}, file).error == ErrorCode::kHmac);
}

TEST_CASE("FlippedBitInEachChunkIsPayloadFailureAfterEarlierChunks") {
  Keys k;
  std::string plain = RandomBytes(3 * kChunkSize + 1000, 5);
  std::string file = EncryptTo({&k.rcpt}, plain, false);
  size_t start = PayloadStart(file);
  for (size_t chunk = 0; chunk < 4; ++chunk) {
    for (size_t where : {size_t{0}, size_t{500}}) {  // ciphertext and, for the last chunk, near its end
      std::string bad = file;
      size_t off = start + chunk * kSealed + where;
      bad[off] = static_cast<char>(bad[off] ^ 0x01);
      auto r = DecryptWith({&k.id}, bad);
      INFO("chunk " << chunk << " offset " << where);
      CHECK(r.error == ErrorCode::kPayload);
      CHECK(r.released == plain.substr(0, chunk * kChunkSize));
    }
    std::string bad = file;
    size_t tag = std::min(start + (chunk + 1) * kSealed, file.size()) - 1;  // last tag byte
    bad[tag] = static_cast<char>(bad[tag] ^ 0x80);
    CHECK(DecryptWith({&k.id}, bad).error == ErrorCode::kPayload);
  }
}

TEST_CASE("TruncationAtChunkBoundariesIsTruncatedAndBetweenIsPayloadFailure") {
  Keys k;
  std::string plain = RandomBytes(3 * kChunkSize + 1000, 6);
  std::string file = EncryptTo({&k.rcpt}, plain, false);
  size_t start = PayloadStart(file);
  for (size_t chunk = 0; chunk <= 3; ++chunk) {
    INFO("boundary " << chunk);
    auto r = DecryptWith({&k.id}, file.substr(0, start + chunk * kSealed));
    CHECK(r.error == ErrorCode::kTruncated);
    CHECK(r.released == plain.substr(0, chunk * kChunkSize));
  }
  for (size_t cut : {start + 100, start + kSealed + 20000, file.size() - 1, file.size() - 17}) {
    INFO("cut at " << cut);
    auto r = DecryptWith({&k.id}, file.substr(0, cut));
    CHECK((r.error == ErrorCode::kPayload || r.error == ErrorCode::kTruncated));
  }
  CHECK(DecryptWith({&k.id}, file.substr(0, start - 3)).error == ErrorCode::kHeader);  // inside the nonce
  CHECK(DecryptWith({&k.id}, file.substr(0, 40)).error == ErrorCode::kHeader);
}

TEST_CASE("AppendedBytesAreTrailingData") {
  Keys k;
  for (size_t size : {size_t{10}, kChunkSize, 2 * kChunkSize}) {
    std::string plain = RandomBytes(size, 8);
    std::string file = EncryptTo({&k.rcpt}, plain, false);
    for (std::string extra : {std::string("x"), std::string(100000, 'y')}) {
      auto r = DecryptWith({&k.id}, file + extra);
      INFO("size " << size << " extra " << extra.size());
      CHECK((r.error == ErrorCode::kTrailingData || r.error == ErrorCode::kPayload));
    }
    // A single appended byte after a short final chunk makes the final chunk
    // fail to authenticate; after a full-size final chunk it is trailing data.
    if (size % kChunkSize == 0) CHECK(DecryptWith({&k.id}, file + "x").error == ErrorCode::kTrailingData);
  }
}

TEST_CASE("IdentityStringsRoundTripAndMatchAgeFormat") {
  Keys k;
  SecretBuffer enc = k.id.Encode();
  CHECK(enc.view().starts_with("AGE-SECRET-KEY-1"));
  CHECK(enc.size() == 74);
  auto back = X25519Identity::Parse(enc.view());
  REQUIRE(back);
  CHECK(back->Recipient().String() == k.rcpt.String());
  std::string r = k.rcpt.String();
  CHECK(r.starts_with("age1"));
  CHECK(r.size() == 62);
  CHECK(X25519Recipient::Parse(r));
  // Known pair from the age test vectors.
  auto v = X25519Identity::Parse("AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0");
  REQUIRE(v);
  CHECK(v->Recipient().String() == "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef");
}

TEST_CASE("MalformedKeyStringsAreKeyErrors") {
  Keys k;
  std::string r = k.rcpt.String();
  std::string mixed = r;
  size_t letter = mixed.find_first_not_of("0123456789", 4);  // a letter after "age1"
  mixed[letter] = static_cast<char>(std::toupper(mixed[letter]));
  std::string badsum = r;
  badsum.back() = badsum.back() == 'q' ? 'p' : 'q';
  for (const std::string& s : {mixed, badsum, std::string("age1"), std::string(""), r + "q",
                               std::string(k.id.Encode().view())}) {
    auto p = X25519Recipient::Parse(s);
    REQUIRE_FALSE(p);
    CHECK(p.error().code == ErrorCode::kKey);
  }
  auto lower = X25519Identity::Parse("age-secret-key-1" + std::string(k.id.Encode().view()).substr(16));
  CHECK(lower.has_value() == false);  // age requires the upper-case form
  CHECK_FALSE(X25519Identity::Parse(r));
}

TEST_CASE("MessagesNeverContainKeyMaterial") {
  Keys k;
  std::string secret(k.id.Encode().view());
  std::string damaged = secret;
  damaged[20] = damaged[20] == 'Q' ? 'P' : 'Q';
  auto p = ParseIdentities("# comment\n\n" + damaged + "\n");
  REQUIRE_FALSE(p);
  CHECK(p.error().message.find("line 3") != std::string::npos);
  CHECK(p.error().message.find(damaged.substr(16, 20)) == std::string::npos);
}

TEST_CASE("IdentityFileIsWrittenLikeAgeKeygenWithMode0600AndNeverOverwritten") {
  fs::path dir = fs::temp_directory_path() / ("xgw-age-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "key.txt").string();
  Keys k;
  REQUIRE(WriteIdentityFile(path, k.id, nullptr));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream f(path);
  std::string l1, l2, l3;
  std::getline(f, l1);
  std::getline(f, l2);
  std::getline(f, l3);
  CHECK(l1.starts_with("# created: 20"));
  CHECK(l2 == "# public key: " + k.rcpt.String());
  CHECK(l3 == std::string(k.id.Encode().view()));
  Keys other;
  auto again = WriteIdentityFile(path, other.id, nullptr);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kConflict);
  bool asked = false;
  auto ids = ReadIdentityFile(path, [&]() -> Result<SecretBuffer> {
    asked = true;
    return SecretBuffer::CopyOf(std::string_view("x"));
  });
  REQUIRE(ids);
  CHECK_FALSE(asked);
  REQUIRE(ids->size() == 1);
  CHECK((*ids)[0].Recipient().String() == k.rcpt.String());
  // No temporary files are left behind.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  CHECK(files == 1);
  fs::remove_all(dir);
}

TEST_CASE("PassphraseProtectedIdentityFileReadsBackOnlyWithThePassphrase") {
  fs::path dir = fs::temp_directory_path() / ("xgw-age-test-p-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "key.age").string();
  Keys k;
  SecretBuffer pass = SecretBuffer::CopyOf(std::string_view("open sesame"));
  REQUIRE(WriteIdentityFile(path, k.id, &pass, 10));
  std::ifstream f(path);
  std::string first;
  std::getline(f, first);
  CHECK(first == "-----BEGIN AGE ENCRYPTED FILE-----");
  auto ids = ReadIdentityFile(path, [] { return Result<SecretBuffer>(SecretBuffer::CopyOf(std::string_view("open sesame"))); });
  REQUIRE(ids);
  CHECK((*ids)[0].Recipient().String() == k.rcpt.String());
  auto wrong = ReadIdentityFile(path, [] { return Result<SecretBuffer>(SecretBuffer::CopyOf(std::string_view("nope"))); });
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == ErrorCode::kKey);
  fs::remove_all(dir);
}

TEST_CASE("IdentityAndRecipientFilesAllowCommentsBlankLinesCrlfAndSeveralKeys") {
  Keys a, b;
  std::string text = "# one\r\n" + std::string(a.id.Encode().view()) + "\r\n\r\n  \n# two\n" +
                     std::string(b.id.Encode().view());
  auto ids = ParseIdentities(text);
  REQUIRE(ids);
  CHECK(ids->size() == 2);
  auto rs = ParseRecipients("# team\n" + a.rcpt.String() + "\n\n" + b.rcpt.String() + "\n");
  REQUIRE(rs);
  CHECK(rs->size() == 2);
  CHECK_FALSE(ParseIdentities("# only comments\n"));
  CHECK_FALSE(ParseRecipients("ssh-ed25519 AAAA...\n"));
}

TEST_CASE("ARotatedIdentityFileKeepsEarlierKeysBelowTheNewOneAndIsReplacedWhole") {
  fs::path dir = fs::temp_directory_path() / ("xgw-age-test-r-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "key.age").string();
  Keys old_key, new_key;
  SecretBuffer pass = SecretBuffer::CopyOf(std::string_view("open sesame"));
  REQUIRE(WriteIdentityFile(path, old_key.id, &pass, 10));
  std::vector<X25519Identity> rotated;
  rotated.push_back(std::move(new_key.id));
  rotated.push_back(std::move(old_key.id));
  REQUIRE(ReplaceIdentityFile(path, rotated, &pass, 10));
  auto ids = ReadIdentityFile(path, [] { return Result<SecretBuffer>(SecretBuffer::CopyOf(std::string_view("open sesame"))); });
  REQUIRE(ids);
  REQUIRE(ids->size() == 2);
  CHECK((*ids)[0].Recipient().String() == new_key.rcpt.String());  // the current key first
  CHECK((*ids)[1].Recipient().String() == old_key.rcpt.String());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  CHECK(files == 1);
  CHECK_FALSE(ReplaceIdentityFile(path, std::span<const X25519Identity>(), &pass, 10));
  fs::remove_all(dir);
}

TEST_CASE("OnlyAPassphraseWrappedArmoredIdentityFilePassesCheckPassphraseWrapped") {
  Keys k;
  SecretBuffer pass = SecretBuffer::CopyOf(std::string_view("open sesame"));
  StringSink wrapped;
  REQUIRE(WriteIdentity(wrapped, k.id, &pass, 10));
  CHECK(CheckPassphraseWrapped(wrapped.str()));

  StringSink plain;
  REQUIRE(WriteIdentity(plain, k.id, nullptr));
  StringSink to_key;
  {
    const Recipient* rs[] = {&k.rcpt};
    MemorySource in(plain.str());
    REQUIRE(Encrypt(rs, in, to_key, /*armor=*/true));
  }
  StringSink binary;
  {
    ScryptRecipient r("open sesame", 10);
    const Recipient* rs[] = {&r};
    MemorySource in(plain.str());
    REQUIRE(Encrypt(rs, in, binary, /*armor=*/false));
  }
  std::string trailing = wrapped.str() + "extra\n";
  std::string cut = wrapped.str().substr(0, wrapped.str().size() / 2);
  for (const std::string& bad : {plain.str(), to_key.str(), binary.str(), trailing, cut, std::string(),
                                 std::string("-----BEGIN AGE ENCRYPTED FILE-----\n!!\n-----END AGE ENCRYPTED FILE-----\n")}) {
    auto r = CheckPassphraseWrapped(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(r.error().message.find("AGE-SECRET-KEY") == std::string::npos);
  }
}

TEST_CASE("AKeyFingerprintIsEightGroupsOfFourHexDigitsOfTheRecipientsSha256") {
  Keys k;
  const std::string fp = KeyFingerprint(k.rcpt.String());
  REQUIRE(fp.size() == 39);
  const std::string hex = xgw::HexEncode(xgw::Sha256::Hash(xgw::AsBytes(k.rcpt.String())));
  std::string expected;
  for (size_t i = 0; i < 32; i += 4) expected += (i ? " " : "") + hex.substr(i, 4);
  CHECK(fp == expected);
  Keys other;
  CHECK(KeyFingerprint(other.rcpt.String()) != fp);
}
