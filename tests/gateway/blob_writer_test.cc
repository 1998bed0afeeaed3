#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gateway/blob_writer.h"
#include "tests/gateway/temp_dir.h"

using namespace xgw;
using xgw::test::TempDir;

namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Writes data in pieces of the given sizes (cycled), as a network thread
// hands over whatever TLS records it decrypted.
Result<void> WriteInPieces(BlobWriter& w, const std::vector<uint8_t>& data, const std::vector<size_t>& pieces) {
  size_t off = 0;
  for (size_t i = 0; off < data.size(); ++i) {
    const size_t n = std::min(pieces[i % pieces.size()], data.size() - off);
    XGW_CHECK(w.Write(std::span<const uint8_t>(data.data() + off, n)));
    off += n;
  }
  return {};
}

struct TempFile {
  explicit TempFile(const TempDir& dir, int flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC)
      : path(dir.path + "/blob.tmp") {
    if (flags & O_CREAT) {
      fd = ::open(path.c_str(), flags, 0600);
    } else {
      ::close(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
      fd = ::open(path.c_str(), flags);
    }
  }
  ~TempFile() {
    if (fd >= 0) ::close(fd);
  }
  std::string path;
  int fd = -1;
};

}  // namespace

TEST_CASE("SmallUploadsGoThroughThePageCacheAndArriveWhole") {
  TempDir dir;
  TempFile f(dir);
  REQUIRE(f.fd >= 0);
  const auto data = RandomBytes(50 * 1024 + 13, 1);
  BlobWriter w(f.fd, f.path, 64 * 1024);
  CHECK_FALSE(w.direct());
  REQUIRE(WriteInPieces(w, data, {16384, 7, 1000}));
  REQUIRE(w.Finish());
  CHECK(w.size() == data.size());
  REQUIRE(::fdatasync(f.fd) == 0);
  CHECK(ReadFile(f.path) == data);
}

TEST_CASE("LargeUploadsArriveWholeWhateverThePieceSizes") {
  TempDir dir;
  TempFile f(dir);
  REQUIRE(f.fd >= 0);
  // Not a multiple of the block size or of the writer's 1 MiB chunks, and
  // pieces that straddle chunk boundaries.
  const auto data = RandomBytes((9u << 20) + 12345, 2);
  BlobWriter w(f.fd, f.path, 16u << 20);
  REQUIRE(WriteInPieces(w, data, {65536, 7, 300000, 1}));
  // Direct I/O where the file system has it (ext4, xfs); tmpfs falls back.
  INFO("direct I/O in use before Finish: " << w.direct());
  REQUIRE(w.Finish());
  CHECK_FALSE(w.direct());
  CHECK(w.size() == data.size());
  // The descriptor is back in buffered mode: unaligned reads work.
  uint8_t head[3];
  REQUIRE(::pread(f.fd, head, sizeof head, 1) == 3);
  CHECK(std::equal(head, head + 3, data.begin() + 1));
  REQUIRE(::fdatasync(f.fd) == 0);
  CHECK(ReadFile(f.path) == data);
}

TEST_CASE("AWriteErrorOfTheWriterThreadReachesTheCaller") {
  TempDir dir;
  TempFile f(dir, O_RDONLY | O_CLOEXEC);  // every write fails with EBADF
  REQUIRE(f.fd >= 0);
  const auto data = RandomBytes(8u << 20, 3);
  SECTION("large") {
    BlobWriter w(f.fd, f.path, 16u << 20);
    auto wrote = WriteInPieces(w, data, {65536});
    auto finished = wrote ? w.Finish() : Result<void>{};
    const Error e = !wrote ? wrote.error() : finished ? Error{} : finished.error();
    REQUIRE((!wrote || !finished));
    CHECK(e.code == ErrorCode::kIo);
    CHECK(e.message.find("blob.tmp") != std::string::npos);
  }
  SECTION("small") {
    BlobWriter w(f.fd, f.path, 1024);
    auto wrote = w.Write(std::span<const uint8_t>(data.data(), 100));
    REQUIRE_FALSE(wrote);
    CHECK(wrote.error().code == ErrorCode::kIo);
  }
}

TEST_CASE("AnAbandonedLargeUploadStopsItsWriterBeforeTheDescriptorCloses") {
  TempDir dir;
  TempFile f(dir);
  REQUIRE(f.fd >= 0);
  const auto data = RandomBytes(3u << 20, 4);
  BlobWriter w(f.fd, f.path, 1u << 30);
  REQUIRE(WriteInPieces(w, data, {65536}));
  w.Abandon();
  CHECK_FALSE(w.direct());
  ::close(f.fd);
  f.fd = -1;
  // Nothing may touch the descriptor after this; the destructor is a no-op.
}
