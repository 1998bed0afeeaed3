// Known-answer and behaviour tests for the crypto foundation: hashing, HKDF,
// codecs, secret buffers, atomic files and the subject-index key file format.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/secret.h"
#include "crypto/subject_key.h"

using namespace xgw;

static std::vector<uint8_t> Hex(std::string_view h) { return *HexDecode(h); }

TEST_CASE("Sha256MatchesFips180Examples") {
  CHECK(HexEncode(Sha256::Hash(std::string_view("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(HexEncode(Sha256::Hash(std::string_view(""))) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 h;
  h.Update(std::string_view("ab"));
  h.Update(std::string_view("c"));
  CHECK(HexEncode(h.Finish()) == HexEncode(Sha256::Hash(std::string_view("abc"))));
}

TEST_CASE("HmacSha256MatchesRfc4231Case2") {
  auto mac = HmacSha256::Mac(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"));
  CHECK(HexEncode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("HmacSha256FinishResetsToSameKey") {
  HmacSha256 h(AsBytes("Jefe"));
  h.Update(std::string_view("what do ya want for nothing?"));
  auto first = h.Finish();
  h.Update(std::string_view("what do ya want for nothing?"));
  CHECK(h.Finish() == first);
}

TEST_CASE("HkdfSha256MatchesRfc5869Case1") {
  auto ikm = Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = Hex("000102030405060708090a0b0c");
  auto info = Hex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = HkdfSha256(ikm, salt, AsText(info), 42);
  CHECK(HexEncode(okm.span()) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("HkdfSha256WithEmptySaltMatchesRfc5869Case3") {
  auto ikm = Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto okm = HkdfSha256(ikm, {}, "", 42);
  CHECK(HexEncode(okm.span()) ==
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST_CASE("Base64DecodeIsStrictAndCanonical") {
  CHECK(Base64Encode(AsBytes("foob")) == "Zm9vYg==");
  CHECK(Base64Decode("Zm9vYg==").value() == std::vector<uint8_t>{'f', 'o', 'o', 'b'});
  CHECK_FALSE(Base64Decode("Zm9vYh==").has_value());  // non-zero trailing bits
  CHECK_FALSE(Base64Decode("Zm9vYg").has_value());    // missing padding
  CHECK_FALSE(Base64Decode("Zm9v Yg==").has_value()); // whitespace
  CHECK(Base64Decode("").value().empty());
}

TEST_CASE("HexDecodeRejectsOddLengthAndNonHex") {
  CHECK_FALSE(HexDecode("abc").has_value());
  CHECK_FALSE(HexDecode("zz").has_value());
  CHECK(HexDecode("00FF").value() == std::vector<uint8_t>{0, 255});
}

TEST_CASE("SecretBufferMovesOwnershipAndComparesInConstantTime") {
  auto a = SecretBuffer::CopyOf(std::string_view("secret"));
  SecretBuffer b = std::move(a);
  CHECK(a.empty());
  CHECK(b.view() == "secret");
  CHECK(ConstantTimeEqual(b.span(), AsBytes("secret")));
  CHECK_FALSE(ConstantTimeEqual(b.span(), AsBytes("secreT")));
  CHECK_FALSE(ConstantTimeEqual(b.span(), AsBytes("secret!")));
  b.Truncate(3);
  CHECK(b.view() == "sec");
}

TEST_CASE("AtomicFileAppearsOnlyOnCommitWithRequestedMode") {
  auto dir = std::filesystem::temp_directory_path() / "xgw-atomic-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = (dir / "key.txt").string();
  {
    auto f = AtomicFile::Create(path, 0600);
    REQUIRE(f);
    REQUIRE(f->Write(AsBytes("hello")));
    CHECK_FALSE(std::filesystem::exists(path));
    REQUIRE(f->Commit());
  }
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == "hello");
  {
    auto f = AtomicFile::Create((dir / "abandoned").string(), 0600);
    REQUIRE(f);
    REQUIRE(f->Write(AsBytes("partial")));
  }
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("CopyStreamsEverythingThroughFixedBuffer") {
  std::string big(300000, 'x');
  MemorySource src(big);
  StringSink sink;
  auto n = Copy(src, sink);
  REQUIRE(n);
  CHECK(*n == big.size());
  CHECK(sink.str() == big);
}

TEST_CASE("ConcatSourceReadsTheFirstSourceThenTheSecond") {
  const std::string head = "{\"manifest\":1}\n";
  std::string tail(200000, 'y');
  tail[0] = 'z';
  MemorySource a(head), b(tail), empty(std::string_view{});
  ConcatSource both(a, b);
  StringSink sink;
  auto n = Copy(both, sink);
  REQUIRE(n);
  CHECK(*n == head.size() + tail.size());
  CHECK(sink.str() == head + tail);
  MemorySource c(tail);
  ConcatSource nothing_first(empty, c);
  StringSink sink2;
  REQUIRE(Copy(nothing_first, sink2));
  CHECK(sink2.str() == tail);
}

TEST_CASE("SubjectKeyFileHoldsRawBytesOrHexWithAnOptionalLineEnding") {
  const std::string hex = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
  const std::string lower = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  for (const std::string& text : {hex, hex + "\n", hex + "\r\n"}) {
    MemorySource in(text);
    auto key = ReadSubjectKey(in);
    REQUIRE(key);
    CHECK(HexEncode(key->span()) == lower);
  }
  const std::string raw(32, '\n');  // 32 raw bytes, even ones that look like line endings
  MemorySource in(raw);
  auto key = ReadSubjectKey(in);
  REQUIRE(key);
  CHECK(key->size() == 32);
}

TEST_CASE("MalformedSubjectKeyFilesAreRefusedWithoutEchoingThem") {
  const std::string hex(64, 'a');
  for (const std::string& text :
       {std::string(), std::string(31, 'k'), std::string(33, 'k'), hex.substr(1), hex + "a",
        hex.substr(2) + "zz", hex + " ", hex + "\n\n" + hex, std::string(4096, 'a')}) {
    MemorySource in(text);
    auto key = ReadSubjectKey(in);
    REQUIRE_FALSE(key);
    CHECK(key.error().code == ErrorCode::kKey);
    CHECK(key.error().message == "must hold 32 bytes or 64 hex digits");
  }
}
