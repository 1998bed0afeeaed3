// Content-Digest parsing (RFC 9530) and the chunk files of uploads in parts
// (gateway/upload_chunks.h).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "gateway/upload_chunks.h"
#include "tests/gateway/temp_dir.h"

namespace {

// RFC 9530 section 2's example: the digest of {"hello": "world"}.
constexpr const char* kHelloWorld = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=";
constexpr const char* kHelloWorldHex = "5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1";

}  // namespace

TEST_CASE("a Content-Digest gives its sha-256, among other algorithms' members") {
  CHECK(xgw::ContentDigestSha256(std::string("sha-256=:") + kHelloWorld + ":").value() == kHelloWorldHex);
  CHECK(xgw::ContentDigestSha256(std::string("sha-512=:AAAA:,  sha-256=:") + kHelloWorld + ":").value() ==
        kHelloWorldHex);
  CHECK(xgw::ContentDigestSha256(std::string(" sha-256=:") + kHelloWorld + ": , unixsum=:AA==:").value() ==
        kHelloWorldHex);
}

TEST_CASE("a missing or malformed Content-Digest is refused, naming the rule") {
  const std::string b64 = kHelloWorld;
  for (const std::string& header :
       {std::string(), std::string("  "), "sha-256=" + b64, "sha-256=:" + b64, "sha-256:" + b64 + ":",
        "=:" + b64 + ":", "sha-512=:" + b64 + ":", "sha-256=:" + b64.substr(0, 40) + ":",
        "sha-256=:" + b64 + "=:", "sha-256=: " + b64 + ":", "sha-256=:" + b64 + ":, sha-256=:" + b64 + ":",
        std::string("sha-256=::"), std::string(","), "sha-256=:" + std::string(100000, 'A') + ":"}) {
    INFO(header.substr(0, 80));
    auto r = xgw::ContentDigestSha256(header);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == xgw::ErrorCode::kInvalidArgument);
    CHECK(r.error().message.find("Content-Digest") != std::string::npos);
  }
}

TEST_CASE("a chunk file appears under its name only once committed, and goes with its exchange") {
  xgw::test::TempDir dir;
  auto files = xgw::ChunkFiles::Open(dir.path + "/chunks");
  REQUIRE(files);
  auto w = (*files)->Create("exc-1", 3, 1024);
  REQUIRE(w);
  const std::string name = w->name();
  CHECK(name.rfind("3-", 0) == 0);
  REQUIRE(w->Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("abc"), 3)));
  CHECK_FALSE(std::filesystem::exists(dir.path + "/chunks/exc-1/" + name));
  REQUIRE(w->Commit());
  CHECK(std::filesystem::file_size(dir.path + "/chunks/exc-1/" + name) == 3);
  // Another attempt at the same chunk never takes the same name.
  auto other = (*files)->Create("exc-1", 3, 1024);
  REQUIRE(other);
  CHECK(other->name() != name);
  {
    auto abandoned = std::move(*other);  // destroyed without Commit: nothing stays
  }
  CHECK((*files)->Files("exc-1")->size() == 1);
  CHECK((*files)->Exchanges().value() == std::vector<std::string>{"exc-1"});
  auto src = (*files)->Read("exc-1", name);
  REQUIRE(src);
  REQUIRE((*files)->RemoveAll("exc-1"));
  CHECK_FALSE(std::filesystem::exists(dir.path + "/chunks/exc-1"));
  CHECK((*files)->Exchanges()->empty());
  REQUIRE((*files)->RemoveAll("exc-1"));  // absent: nothing to do
}
