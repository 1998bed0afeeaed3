// Ed25519 and C2SP signed notes. Known answers: RFC 8032 test 2, the
// signed-note spec's PeterNeumann example, and a note over a fixed seed whose
// signature was computed independently with the openssl CLI.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include "crypto/hash.h"
#include "crypto/sign.h"
#include "crypto/signed_note.h"

using namespace xgw;

namespace {

std::vector<uint8_t> Hex(std::string_view h) { return *HexDecode(h); }

Ed25519SecretKey FixedKey() {
  std::vector<uint8_t> seed(32);
  for (size_t i = 0; i < 32; ++i) seed[i] = static_cast<uint8_t>(i);
  return *Ed25519SecretKey::FromSeed(seed);
}

const char* kPeterNeumannVkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const char* kPeterNeumannNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// openssl pkeyutl -sign over seed 00..1f (see file comment).
const char* kFixedVkey = "xgw.test/log+d5cb624b+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const char* kFixedBody = "xgw.test/log\n5\nLXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=\n";
const char* kFixedSigLine =
    "\xE2\x80\x94 xgw.test/log "
    "1ctiS4ylPGydJNBdZ6kzVOLhmp3tZ1VjxoRH52OQkWVwa27zHwpgqK/ti15x7T3YzRYtGBHuBm3O0nS+YyVVI2raRQE=\n";

}  // namespace

TEST_CASE("Ed25519MatchesRfc8032Test2") {
  auto key = Ed25519SecretKey::FromSeed(
      Hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  REQUIRE(key);
  CHECK(HexEncode(key->public_key()) ==
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
  const uint8_t msg[1] = {0x72};
  const Ed25519Signature sig = key->Sign(std::span<const uint8_t>(msg, 1));
  CHECK(HexEncode(sig) ==
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
  CHECK(VerifyEd25519(key->public_key(), std::span<const uint8_t>(msg, 1), sig));
  Ed25519Signature bad = sig;
  bad[10] ^= 1;
  CHECK(VerifyEd25519(key->public_key(), std::span<const uint8_t>(msg, 1), bad).error().code ==
        ErrorCode::kSignature);
}

TEST_CASE("SeedOfWrongLengthIsRejected") {
  CHECK(Ed25519SecretKey::FromSeed(std::vector<uint8_t>(31)).error().code == ErrorCode::kKey);
}

TEST_CASE("GeneratedKeysDifferAndSignVerifiably") {
  auto a = Ed25519SecretKey::Generate();
  auto b = Ed25519SecretKey::Generate();
  CHECK(a.public_key() != b.public_key());
  CHECK(VerifyEd25519(a.public_key(), "m", a.Sign("m")));
  CHECK_FALSE(VerifyEd25519(b.public_key(), "m", a.Sign("m")));
}

TEST_CASE("SecretKeyFileRoundTripsWithMode0600") {
  const std::string path = std::filesystem::temp_directory_path() /
                           ("xgw-sign-test-" + std::to_string(getpid()) + ".key");
  auto key = FixedKey();
  REQUIRE(WriteEd25519SecretKeyFile(path, key));
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  auto back = ReadEd25519SecretKeyFile(path);
  REQUIRE(back);
  CHECK(back->public_key() == key.public_key());
  std::filesystem::remove(path);
  CHECK(DecodeEd25519SecretKey("xgw-ed25519-secret-key-v1 AAAA").error().code == ErrorCode::kKey);
  CHECK(DecodeEd25519SecretKey("garbage").error().code == ErrorCode::kKey);
}

TEST_CASE("PeterNeumannSpecExampleVerifies") {
  auto v = ParseVerifierKey(kPeterNeumannVkey);
  REQUIRE(v);
  CHECK(v->name == "PeterNeumann");
  CHECK(v->key_id == 0xc74f20a3u);
  CHECK(FormatVerifierKey(v->name, v->key) == kPeterNeumannVkey);
  auto n = OpenNote(kPeterNeumannNote, std::span(&*v, 1));
  REQUIRE(n);
  CHECK(n->body ==
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n");
  CHECK(n->verified_by == std::vector<std::string>{"PeterNeumann"});
}

TEST_CASE("FixedSeedNoteMatchesIndependentSignature") {
  auto key = FixedKey();
  CHECK(FormatVerifierKey("xgw.test/log", key.public_key()) == kFixedVkey);
  NoteSigner s{"xgw.test/log", &key};
  auto note = SignNote(kFixedBody, std::span(&s, 1));
  REQUIRE(note);
  CHECK(*note == std::string(kFixedBody) + "\n" + kFixedSigLine);
  auto v = *ParseVerifierKey(kFixedVkey);
  CHECK(OpenNote(*note, std::span(&v, 1)));
}

TEST_CASE("NoteWithTamperedBodyIsRejected") {
  auto v = *ParseVerifierKey(kFixedVkey);
  std::string note = std::string(kFixedBody) + "\n" + kFixedSigLine;
  note[14] = '6';  // tree size 5 -> 6
  CHECK(OpenNote(note, std::span(&v, 1)).error().code == ErrorCode::kSignature);
}

TEST_CASE("UnknownKeySignaturesAreIgnoredButOneKnownIsRequired") {
  auto key = FixedKey();
  auto other = Ed25519SecretKey::Generate();
  NoteSigner signers[2] = {{"someone.else", &other}, {"xgw.test/log", &key}};
  auto note = SignNote(kFixedBody, signers);
  REQUIRE(note);
  auto v = *ParseVerifierKey(kFixedVkey);
  auto opened = OpenNote(*note, std::span(&v, 1));
  REQUIRE(opened);
  CHECK(opened->verified_by == std::vector<std::string>{"xgw.test/log"});
  auto pn = *ParseVerifierKey(kPeterNeumannVkey);
  CHECK(OpenNote(*note, std::span(&pn, 1)).error().code == ErrorCode::kSignature);
  NoteVerifier both[2] = {v, VerifierFor(signers[0])};
  CHECK(OpenNote(*note, both)->verified_by.size() == 2);
}

TEST_CASE("VerifierKeyWithWrongIdOrAlgorithmIsRejected") {
  CHECK(ParseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .error().code == ErrorCode::kKey);
  CHECK(ParseVerifierKey("PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .error().code == ErrorCode::kKey);
  CHECK_FALSE(ParseVerifierKey("PeterNeumann+c74f20a3"));
  CHECK_FALSE(ParseVerifierKey("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
}

TEST_CASE("NoteTextRulesAreEnforced") {
  auto key = FixedKey();
  NoteSigner s{"xgw.test/log", &key};
  CHECK(SignNote("no newline", std::span(&s, 1)).error().code == ErrorCode::kFormat);
  CHECK(SignNote("bad\x01 control\n", std::span(&s, 1)).error().code == ErrorCode::kFormat);
  CHECK(SignNote("bad \xff utf8\n", std::span(&s, 1)).error().code == ErrorCode::kFormat);
  NoteSigner bad{"a+b", &key};
  CHECK_FALSE(SignNote("ok\n", std::span(&bad, 1)));
  NoteSigner space{"a b", &key};
  CHECK_FALSE(SignNote("ok\n", std::span(&space, 1)));
  auto v = *ParseVerifierKey(kFixedVkey);
  CHECK(OpenNote("no signatures\n", std::span(&v, 1)).error().code == ErrorCode::kFormat);
  CHECK(OpenNote(std::string(kFixedBody) + "\n- xgw.test/log AAAA\n", std::span(&v, 1))
            .error().code == ErrorCode::kFormat);
}

TEST_CASE("SignerKeyTextRoundTrips") {
  auto key = FixedKey();
  SecretBuffer text = FormatSignerKey("xgw.test/log", key);
  CHECK(text.view().starts_with("PRIVATE+KEY+xgw.test/log+d5cb624b+"));
  auto back = ParseSignerKey(text.view());
  REQUIRE(back);
  CHECK(back->first == "xgw.test/log");
  CHECK(back->second.public_key() == key.public_key());
}
