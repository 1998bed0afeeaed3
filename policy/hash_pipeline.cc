#include "policy/hash_pipeline.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "crypto/secret.h"

namespace xgw {

HashPipeline::HashPipeline() : blocks_(kBlocks) {
  for (Block& b : blocks_) {
    b.bytes.resize(kBlockBytes);
    free_.push_back(&b);
  }
  worker_ = std::thread([this] { Work(); });
}

HashPipeline::~HashPipeline() {
  try {
    Drain();
  } catch (...) {
    // Nobody left to tell: the caller is already leaving (early return or
    // its own exception) and did not ask for the result.
  }
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  ready_cv_.notify_one();
  worker_.join();
}

size_t HashPipeline::AddLane(Consumer consume) {
  assert(lanes_ < kMaxLanes);
  // Published to the worker by the mutex its lane's first block passes through.
  consumers_[lanes_] = std::move(consume);
  return lanes_++;
}

void HashPipeline::Append(size_t lane, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    Block* b = open_[lane];
    if (b == nullptr || b->used == kBlockBytes) b = NextBlock(lane);
    const size_t n = std::min(bytes.size(), kBlockBytes - b->used);
    std::memcpy(b->bytes.data() + b->used, bytes.data(), n);
    b->used += n;
    bytes = bytes.subspan(n);
  }
}

HashPipeline::Block* HashPipeline::NextBlock(size_t lane) {
  HandOver(lane);
  std::unique_lock lock(mu_);
  free_cv_.wait(lock, [this] { return !free_.empty(); });  // open blocks < kBlocks: one comes back
  Block* b = free_.back();
  free_.pop_back();
  b->lane = lane;
  open_[lane] = b;
  return b;
}

void HashPipeline::HandOver(size_t lane) {
  Block* b = std::exchange(open_[lane], nullptr);
  if (b == nullptr) return;
  {
    std::lock_guard lock(mu_);
    if (b->used == 0) {
      free_.push_back(b);
      return;
    }
    ready_.push_back(b);
  }
  ready_cv_.notify_one();
}

void HashPipeline::Drain() {
  for (size_t lane = 0; lane < lanes_; ++lane) HandOver(lane);
  std::unique_lock lock(mu_);
  free_cv_.wait(lock, [this] { return free_.size() == kBlocks; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void HashPipeline::Work() {
  for (;;) {
    Block* b;
    bool failed;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [this] { return stop_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopped, and everything handed over was consumed
      b = ready_.front();
      ready_.pop_front();
      failed = error_ != nullptr;
    }
    // After a consumer failed the result is lost anyway: later blocks are only
    // recycled, so that the producer never waits for a block that cannot come.
    if (!failed) {
      try {
        consumers_[b->lane](std::span<const uint8_t>(b->bytes.data(), b->used));
      } catch (...) {
        std::lock_guard lock(mu_);
        error_ = std::current_exception();
      }
    }
    WipeMemory(b->bytes.data(), b->used);  // list contents: personal data
    b->used = 0;
    {
      std::lock_guard lock(mu_);
      free_.push_back(b);
    }
    free_cv_.notify_one();
  }
}

}  // namespace xgw
