// Moves the hashing of a list check onto a second thread. The caller fills
// fixed-size blocks, one open block per lane (source bytes, canonical rows,
// subject identifiers, ...); a worker thread hands each full block to its
// lane's consumer, in the order the blocks were handed over, wipes it and
// gives it back. Memory is constant: kBlocks blocks of kBlockBytes, recycled;
// when none is free the caller waits for the worker.
//
// Thread safety: every method is called from one (the producing) thread.
// Whatever a consumer touches belongs to the worker from the first block of
// its lane until Drain() returns or the pipeline is destroyed.
#ifndef XGW_POLICY_HASH_PIPELINE_H_
#define XGW_POLICY_HASH_PIPELINE_H_

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace xgw {

class HashPipeline {
 public:
  static constexpr size_t kBlockBytes = 256 * 1024;
  static constexpr size_t kMaxLanes = 3;
  // One open block per lane and as many in flight: the caller rarely waits.
  static constexpr size_t kBlocks = 2 * kMaxLanes;
  using Consumer = std::function<void(std::span<const uint8_t>)>;

  HashPipeline();  // starts the worker
  // Hands over the open blocks, lets the worker consume everything handed
  // over (a consumer's exception is dropped here: call Drain() to see it) and
  // joins it. No thread outlives the pipeline, whichever way the caller left.
  ~HashPipeline();
  HashPipeline(const HashPipeline&) = delete;
  HashPipeline& operator=(const HashPipeline&) = delete;

  // Registers a consumer and returns its lane. REQUIRES: fewer than kMaxLanes
  // lanes so far. The consumer runs on the worker thread.
  size_t AddLane(Consumer consume);

  // Has a copy of `bytes` consumed on `lane`, in pieces of at most a block.
  void Append(size_t lane, std::span<const uint8_t> bytes);

  // At least `n` writable bytes (REQUIRES: n <= kBlockBytes) at the end of
  // the lane's open block: write there, then Commit() what was written.
  // Saves a copy for data that is produced in small pieces (rows).
  uint8_t* Room(size_t lane, size_t n) {
    Block* b = open_[lane];
    if (b == nullptr || kBlockBytes - b->used < n) b = NextBlock(lane);
    return b->bytes.data() + b->used;
  }
  void Commit(size_t lane, size_t n) { open_[lane]->used += n; }

  // Hands over the open blocks and waits until the worker has consumed every
  // block: the consumers' state may then be read by the caller. If a consumer
  // threw, rethrows its exception (once); the blocks after it were not consumed.
  void Drain();

 private:
  struct Block {
    std::vector<uint8_t> bytes;
    size_t used = 0;
    size_t lane = 0;
  };

  Block* NextBlock(size_t lane);  // hands over the lane's open block, opens a free one
  void HandOver(size_t lane);
  void Work();

  std::array<Consumer, kMaxLanes> consumers_;
  size_t lanes_ = 0;
  std::array<Block*, kMaxLanes> open_{};  // the producer's; not guarded
  std::vector<Block> blocks_;

  std::mutex mu_;
  std::condition_variable ready_cv_;  // the worker waits for work or stop_
  std::condition_variable free_cv_;   // the producer waits for a free block
  std::deque<Block*> ready_;          // guarded by mu_
  std::vector<Block*> free_;          // guarded by mu_
  bool stop_ = false;                 // guarded by mu_
  std::exception_ptr error_;          // guarded by mu_
  std::thread worker_;                // last: started once the rest exists
};

}  // namespace xgw

#endif  // XGW_POLICY_HASH_PIPELINE_H_
