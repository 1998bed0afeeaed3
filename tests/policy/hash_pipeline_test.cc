#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/hash_pipeline.h"

using namespace xgw;

namespace {

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + i / 251);
  return v;
}

size_t ThreadCount() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

}  // namespace

TEST_CASE("EachLaneReceivesItsBytesInOrderAcrossManyBlocks") {
  const auto big = Pattern(3 * HashPipeline::kBlockBytes + 12345, 1);
  std::vector<uint8_t> got_big, got_small, sent_small;
  {
    HashPipeline hashes;
    const size_t a = hashes.AddLane([&](std::span<const uint8_t> b) { got_big.insert(got_big.end(), b.begin(), b.end()); });
    const size_t b = hashes.AddLane([&](std::span<const uint8_t> s) { got_small.insert(got_small.end(), s.begin(), s.end()); });
    // Interleaved: copies of large pieces on one lane, records written in place on the other.
    for (size_t off = 0, i = 0; off < big.size(); ++i) {
      const size_t n = std::min<size_t>(100'000, big.size() - off);
      hashes.Append(a, std::span<const uint8_t>(big).subspan(off, n));
      off += n;
      for (size_t k = 0; k < 5000; ++k) {
        const auto rec = Pattern(1 + (i * 5000 + k) % 97, static_cast<uint8_t>(k));
        std::copy(rec.begin(), rec.end(), hashes.Room(b, rec.size()));
        hashes.Commit(b, rec.size());
        sent_small.insert(sent_small.end(), rec.begin(), rec.end());
      }
    }
    hashes.Drain();
    CHECK(got_big == big);
    CHECK(got_small == sent_small);
  }
}

TEST_CASE("AConsumerExceptionReachesTheCallerAtDrain") {
  const auto data = Pattern(4 * HashPipeline::kBlockBytes, 3);
  HashPipeline hashes;
  size_t calls = 0;
  const size_t lane = hashes.AddLane([&](std::span<const uint8_t>) {
    ++calls;
    throw std::runtime_error("consumer failed");
  });
  hashes.Append(lane, data);  // the producer never waits for a block the failure would keep
  CHECK_THROWS_WITH(hashes.Drain(), "consumer failed");
  CHECK(calls == 1);  // the blocks after the failure were recycled, not consumed
  hashes.Drain();     // reported once
}

TEST_CASE("NoWorkerThreadOutlivesThePipeline") {
  const size_t before = ThreadCount();
  {
    HashPipeline hashes;
    const size_t lane = hashes.AddLane([](std::span<const uint8_t>) {});
    hashes.Append(lane, Pattern(HashPipeline::kBlockBytes + 1, 5));
    CHECK(ThreadCount() == before + 1);
    // Left without Drain(), as an early return would.
  }
  CHECK(ThreadCount() == before);
}
