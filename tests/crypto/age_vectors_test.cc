// Runs every non-post-quantum age test vector from C2SP CCTV
// (../shared/vectors/age/testdata) as its own Catch2 test case, so CTest
// reports each by name. A vector passes when decryption ends in the expected
// failure class and the SHA-256 of all plaintext released before that end
// matches the vector's `payload`.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/age.h"
#include "crypto/hash.h"

using namespace xgw;
namespace fs = std::filesystem;

namespace {

const fs::path kVectorDir = fs::path(XGW_SHARED_DIR) / "vectors/age/testdata";
constexpr size_t kExpectedVectors = 124;

// The post-quantum (mlkem768x25519) vectors, skipped by name only.
bool IsPostQuantum(const std::string& name) {
  return name.rfind("hybrid", 0) == 0 || name == "armor_hybrid";
}

std::vector<std::string> VectorNames() {
  std::vector<std::string> names;
  if (!fs::is_directory(kVectorDir)) return names;
  for (const auto& e : fs::directory_iterator(kVectorDir)) {
    std::string n = e.path().filename().string();
    if (e.is_regular_file() && !IsPostQuantum(n)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Vector {
  std::string expect;
  std::string payload;
  std::vector<std::string> identities;
  std::vector<std::string> passphrases;
  bool armored = false;
  bool compressed = false;
  std::string body;
};

std::string Inflate(const std::string& in) {
  z_stream z{};
  REQUIRE(inflateInit(&z) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

Vector Load(const std::string& name) {
  std::ifstream f(kVectorDir / name, std::ios::binary);
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string all = ss.str();
  Vector v;
  size_t pos = 0;
  for (;;) {
    size_t nl = all.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    std::string line = all.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) break;
    size_t colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    std::string key = line.substr(0, colon), value = line.substr(colon + 2);
    if (key == "expect") v.expect = value;
    else if (key == "payload") v.payload = value;
    else if (key == "identity") v.identities.push_back(value);
    else if (key == "passphrase") v.passphrases.push_back(value);
    else if (key == "armored") v.armored = value == "yes";
    else if (key == "compressed") v.compressed = value == "zlib";
  }
  v.body = all.substr(pos);
  if (v.compressed) v.body = Inflate(v.body);
  return v;
}

std::string ClassOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kArmor: return "armor failure";
    case ErrorCode::kHeader: return "header failure";
    case ErrorCode::kNoMatch: return "no match";
    case ErrorCode::kHmac: return "HMAC failure";
    case ErrorCode::kPayload:
    case ErrorCode::kTruncated:
    case ErrorCode::kTrailingData: return "payload failure";
    default: return "unexpected error class " + std::string(ErrorCodeName(code));
  }
}

struct Outcome {
  std::string result;        // "success" or a failure class
  std::string payload_hash;  // of all plaintext released
};

Outcome Run(const Vector& v) {
  std::vector<std::unique_ptr<age::Identity>> ids;
  for (const auto& s : v.identities) {
    auto id = age::X25519Identity::Parse(s);
    REQUIRE(id);
    ids.push_back(std::make_unique<age::X25519Identity>(std::move(*id)));
  }
  for (const auto& p : v.passphrases) ids.push_back(std::make_unique<age::ScryptIdentity>(p));
  std::vector<const age::Identity*> ptrs;
  for (auto& i : ids) ptrs.push_back(i.get());

  MemorySource src(v.body);
  Sha256 hash;
  auto dec = age::Decryptor::Open(src, ptrs, v.armored ? age::ArmorMode::kArmored : age::ArmorMode::kAuto);
  if (!dec) return {ClassOf(dec.error().code), HexEncode(hash.Finish())};
  std::vector<uint8_t> buf(100000);  // not a chunk multiple on purpose
  for (;;) {
    auto n = (*dec)->Read(buf);
    if (!n) return {ClassOf(n.error().code), HexEncode(hash.Finish())};
    if (*n == 0) break;
    hash.Update(std::span<const uint8_t>(buf.data(), *n));
  }
  return {"success", HexEncode(hash.Finish())};
}

void Check(const std::string& name) {
  Vector v = Load(name);
  Outcome o = Run(v);
  INFO("vector " << name);
  CHECK(o.result == v.expect);
  if (v.expect == "success" || v.expect == "payload failure") CHECK(o.payload_hash == v.payload);
}

// One registered Catch2 test case per vector file.
class VectorInvoker final : public Catch::ITestInvoker {
 public:
  explicit VectorInvoker(std::string name) : name_(std::move(name)) {}
  void invoke() const override { Check(name_); }

 private:
  std::string name_;
};

std::deque<std::string>& TestNames() {
  static std::deque<std::string> names;
  return names;
}

const int kRegistered = [] {
  int count = 0;
  for (const std::string& n : VectorNames()) {
    TestNames().push_back("AgeVector " + n);
    Catch::AutoReg reg(new VectorInvoker(n), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                       Catch::NameAndTags{Catch::StringRef(TestNames().back()), "[age][vectors]"});
    ++count;
  }
  return count;
}();

}  // namespace

TEST_CASE("AllNonPostQuantumAgeVectorsAreRegistered", "[age][vectors]") {
  CHECK(kRegistered == static_cast<int>(kExpectedVectors));
  size_t total = 0;
  for (const auto& e : fs::directory_iterator(kVectorDir)) total += e.is_regular_file() ? 1 : 0;
  CHECK(total == 143);
}

TEST_CASE("AllNonPostQuantumAgeVectorsPassInOneRun", "[age][vectors]") {
  size_t ran = 0;
  size_t passed = 0;
  for (const std::string& n : VectorNames()) {
    Vector v = Load(n);
    Outcome o = Run(v);
    ++ran;
    bool ok = o.result == v.expect &&
              (!(v.expect == "success" || v.expect == "payload failure") || o.payload_hash == v.payload);
    if (!ok) UNSCOPED_INFO("failed: " << n << " got " << o.result);
    passed += ok ? 1 : 0;
  }
  CHECK(ran == kExpectedVectors);
  CHECK(passed == kExpectedVectors);
}
