#include "audit/verify.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "crypto/signed_note.h"
#include "audit/checkpoint.h"
#include "audit/audit_store.h"
#include "audit/leaf_hash.h"
#include "audit/merkle_tiles.h"
#include "audit/sqlite_audit_store.h"

namespace xgw {

namespace {

constexpr size_t kMaxReportedProblems = 8;

class Problems {
 public:
  void Add(std::string p) {
    ++count_;
    if (list_.size() < kMaxReportedProblems) list_.push_back(std::move(p));
  }
  bool empty() const { return count_ == 0; }
  Error ToError() const {
    std::string m = "audit log verification failed (" + std::to_string(count_) + " problem" +
                    (count_ == 1 ? "" : "s") + "): ";
    for (size_t i = 0; i < list_.size(); ++i) m += (i ? "; " : "") + list_[i];
    if (count_ > list_.size()) m += "; ...";
    return Error{ErrorCode::kCorrupt, m};
  }

 private:
  size_t count_ = 0;
  std::vector<std::string> list_;
};

Result<NoteVerifier> Key(std::string_view verifier_key) { return ParseVerifierKey(verifier_key); }

}  // namespace

namespace {

// The recomputed tree, streamed: a frontier (one complete subtree per set
// bit of the size) instead of every level. It keeps only what the checks
// need: the complete nodes of the tile levels (tree levels 0, 4, 8, ...),
// to compare with the stored tiles, and the roots at the sizes of the
// checkpoints, recorded as the stream passes them.
class StreamTree {
 public:
  explicit StreamTree(std::vector<uint64_t> sizes) : wanted_(std::move(sizes)) {
    std::sort(wanted_.begin(), wanted_.end());
    wanted_.erase(std::unique(wanted_.begin(), wanted_.end()), wanted_.end());
    Record();
  }
  void Reserve(uint64_t leaves) {
    if (levels_.empty()) levels_.emplace_back();
    levels_[0].reserve(leaves);
  }
  void Append(const MerkleHash& leaf) {
    if (levels_.empty()) levels_.emplace_back();
    levels_[0].push_back(leaf);
    MerkleHash carry = leaf;
    unsigned level = 0;
    while ((size_ >> level) & 1u) {
      carry = audit_internal::NodeHash(edge_[level], carry);
      ++level;
      if (level % kAuditTileHeight == 0) {
        const size_t tile_level = level / kAuditTileHeight;
        if (levels_.size() <= tile_level) levels_.resize(tile_level + 1);
        levels_[tile_level].push_back(carry);
      }
    }
    edge_[level] = carry;
    ++size_;
    Record();
  }
  uint64_t size() const { return size_; }
  MerkleHash Root() const {
    if (size_ == 0) return MerkleEmptyRoot();
    bool have = false;
    MerkleHash r{};
    for (unsigned level = 0; level < 64; ++level) {
      if (!((size_ >> level) & 1u)) continue;
      r = have ? audit_internal::NodeHash(edge_[level], r) : edge_[level];
      have = true;
    }
    return r;
  }
  // The root at `size`, if it was one of the sizes given and the stream
  // reached it.
  std::optional<MerkleHash> RootAt(uint64_t size) const {
    auto it = std::lower_bound(roots_.begin(), roots_.end(), std::make_pair(size, MerkleHash{}));
    if (it == roots_.end() || it->first != size) return std::nullopt;
    return it->second;
  }
  // [L]: the complete nodes of tree level L·kAuditTileHeight.
  const std::vector<std::vector<MerkleHash>>& tile_levels() const { return levels_; }

 private:
  void Record() {
    while (next_ < wanted_.size() && wanted_[next_] <= size_) {
      if (wanted_[next_] == size_) roots_.emplace_back(size_, Root());
      ++next_;
    }
  }
  uint64_t size_ = 0;
  MerkleHash edge_[64] = {};
  std::vector<std::vector<MerkleHash>> levels_;
  std::vector<uint64_t> wanted_;
  size_t next_ = 0;
  std::vector<std::pair<uint64_t, MerkleHash>> roots_;
};

// Decoded events handed from the reading thread to the hashing one.
struct EventBlock {
  std::string bytes;
  std::vector<uint32_t> ends;
};
constexpr size_t kBlockEvents = 2048;
constexpr size_t kBlocks = 4;

// A bounded hand-off of blocks, recycled so that their buffers are reused.
class BlockPipe {
 public:
  BlockPipe() {
    for (size_t i = 0; i < kBlocks; ++i) free_.push_back(std::make_unique<EventBlock>());
  }
  std::unique_ptr<EventBlock> Free() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !free_.empty(); });
    auto b = std::move(free_.front());
    free_.pop_front();
    b->bytes.clear();
    b->ends.clear();
    return b;
  }
  void Recycle(std::unique_ptr<EventBlock> b) {
    {
      std::lock_guard lk(mu_);
      free_.push_back(std::move(b));
    }
    cv_.notify_all();
  }
  void Push(std::unique_ptr<EventBlock> b) {
    {
      std::lock_guard lk(mu_);
      full_.push_back(std::move(b));
    }
    cv_.notify_all();
  }
  void Close() {
    {
      std::lock_guard lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // nullptr once closed and drained.
  std::unique_ptr<EventBlock> Next() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return closed_ || !full_.empty(); });
    if (full_.empty()) return nullptr;
    auto b = std::move(full_.front());
    full_.pop_front();
    return b;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<EventBlock>> free_, full_;
  bool closed_ = false;
};

// Leaves from the stored event bytes, in one pass: indices must be 0..n-1.
// This thread reads and decodes the rows; a second one hashes them and
// builds the tree.
Result<void> RecomputeLeaves(AuditStore& store, StreamTree& tree, Problems& problems, VerifyReport& report) {
  XGW_TRY(uint64_t size, store.Size());
  // A hostile file may claim any size: reserve only what a real log holds.
  tree.Reserve(std::min<uint64_t>(size, uint64_t{1} << 26));
  BlockPipe pipe;
  std::thread hasher([&] {
    while (auto b = pipe.Next()) {
      uint32_t begin = 0;
      for (uint32_t end : b->ends) {
        tree.Append(audit_internal::LeafHash(std::string_view(b->bytes).substr(begin, end - begin)));
        begin = end;
      }
      pipe.Recycle(std::move(b));
    }
  });
  uint64_t expected = 0;
  auto block = pipe.Free();
  auto r = store.ForEachEvent(0, [&](int64_t idx, std::string_view event, bool decoded) -> Result<bool> {
    if (idx < 0 || static_cast<uint64_t>(idx) != expected) {
      problems.Add("event at position " + std::to_string(expected) + " has index " + std::to_string(idx) +
                   " (events deleted, inserted or renumbered)");
    }
    if (!decoded) problems.Add("event " + std::to_string(expected) + " is not in a known stored form");
    if (block->bytes.size() + event.size() > UINT32_MAX) return Fail(ErrorCode::kCorrupt, "audit event is too large");
    block->bytes.append(event);
    block->ends.push_back(static_cast<uint32_t>(block->bytes.size()));
    if (block->ends.size() >= kBlockEvents) {
      pipe.Push(std::move(block));
      block = pipe.Free();
    }
    ++expected;
    return true;
  });
  if (!block->ends.empty()) pipe.Push(std::move(block));
  pipe.Close();
  hasher.join();
  XGW_CHECK(r);
  report.events = expected;
  return {};
}

// Every stored tile must equal the recomputed tree, and every full tile of
// that tree must be stored.
Result<void> CheckTiles(AuditStore& store, const StreamTree& tree, Problems& problems, VerifyReport& report) {
  const auto& levels = tree.tile_levels();
  uint64_t want = 0, stored = 0;
  for (const auto& l : levels) want += l.size() / kAuditTileWidth;
  XGW_CHECK(store.ForEachTile([&](unsigned level, uint64_t index, std::string_view bytes) -> Result<void> {
    ++stored;
    const auto where = [&] {
      return "stored tile (" + std::to_string(level) + ", " + std::to_string(index) + ")";
    };
    if (level >= levels.size() || index >= levels[level].size() / kAuditTileWidth) {
      problems.Add(where() + " is outside the recomputed tree");
      return {};
    }
    if (bytes.size() != kAuditTileWidth * 32) {
      problems.Add(where() + " is not " + std::to_string(kAuditTileWidth) + " hashes");
      return {};
    }
    for (uint64_t i = 0; i < kAuditTileWidth; ++i) {
      const uint64_t pos = index * kAuditTileWidth + i;
      if (std::memcmp(bytes.data() + 32 * i, levels[level][pos].data(), 32) == 0) continue;
      problems.Add(level == 0 ? "event " + std::to_string(pos) + " does not match its stored leaf hash"
                              : where() + " differs from the recomputed tree");
      return {};
    }
    report.nodes_checked += kAuditTileWidth;
    return {};
  }));
  if (stored != want) {
    problems.Add("the log stores " + std::to_string(stored) + " merkle tiles, the recomputed tree has " +
                 std::to_string(want));
  }
  return {};
}

// Checkpoints are opened before the events are read, so that the stream
// knows at which sizes to record roots.
struct OpenedCheckpoint {
  int64_t row_size = 0;  // stored checkpoints: the size its row claims
  Result<Checkpoint> cp = Fail(ErrorCode::kFormat, "not opened");
};

Result<std::vector<OpenedCheckpoint>> OpenStoredCheckpoints(AuditStore& store, const NoteVerifier& verifier) {
  std::vector<OpenedCheckpoint> out;
  XGW_CHECK(store.ForEachCheckpoint([&](int64_t size, std::string_view note) -> Result<void> {
    out.push_back(OpenedCheckpoint{size, OpenCheckpoint(note, verifier)});
    return {};
  }));
  return out;
}

void CheckStoredCheckpoints(const std::vector<OpenedCheckpoint>& stored, const StreamTree& tree,
                            Problems& problems, VerifyReport& report) {
  const uint64_t n = report.events;
  for (const OpenedCheckpoint& c : stored) {
    const std::string where = "stored checkpoint of size " + std::to_string(c.row_size);
    if (!c.cp) {
      problems.Add(where + ": " + c.cp.error().message);
    } else if (static_cast<int64_t>(c.cp->size) != c.row_size) {
      problems.Add(where + ": signed size differs from its row");
    } else if (c.cp->size > n) {
      problems.Add(where + ": the log is shorter than this checkpoint (truncated)");
    } else if (tree.RootAt(c.cp->size) != c.cp->root) {
      problems.Add(where + ": root does not match the recomputed tree");
    } else {
      ++report.stored_checkpoints;
    }
  }
}

void CheckTrustedCheckpoints(const std::vector<OpenedCheckpoint>& trusted, const StreamTree& tree,
                             Problems& problems, VerifyReport& report) {
  const uint64_t n = report.events;
  for (size_t i = 0; i < trusted.size(); ++i) {
    const std::string where = "trusted checkpoint " + std::to_string(i + 1);
    const auto& cp = trusted[i].cp;
    if (!cp) {
      problems.Add(where + ": " + cp.error().message);
    } else if (cp->size > n) {
      problems.Add(where + " (size " + std::to_string(cp->size) + "): the log is shorter (events were removed)");
    } else if (tree.RootAt(cp->size) != cp->root) {
      problems.Add(where + " (size " + std::to_string(cp->size) +
                   "): the log is not consistent with it (history was rewritten)");
    } else {
      ++report.trusted_checkpoints;
    }
  }
}

}  // namespace

Result<VerifyReport> VerifyLog(const std::string& db_path,
                               std::span<const std::string> trusted_checkpoint_notes,
                               std::string_view verifier_key) {
  XGW_TRY(NoteVerifier verifier, Key(verifier_key));
  XGW_TRY(auto store, OpenSqliteAuditStoreReadOnly(db_path));
  // One read snapshot: consistent even if xgwd appends meanwhile.
  XGW_CHECK(store->BeginSnapshot());
  VerifyReport report;
  Problems problems;
  XGW_TRY(auto origin, store->Origin());
  if (!origin) {
    problems.Add("the log has no origin");
  } else if (*origin != verifier.name) {
    problems.Add("the log's origin does not match the verifier key name");
  }
  XGW_TRY(auto stored, OpenStoredCheckpoints(*store, verifier));
  std::vector<OpenedCheckpoint> trusted;
  std::vector<uint64_t> sizes;
  for (const std::string& note : trusted_checkpoint_notes) {
    trusted.push_back(OpenedCheckpoint{0, OpenCheckpoint(note, verifier)});
  }
  for (const auto* list : {&stored, &trusted}) {
    for (const OpenedCheckpoint& c : *list) {
      if (c.cp) sizes.push_back(c.cp->size);
    }
  }
  StreamTree tree(std::move(sizes));
  XGW_CHECK(RecomputeLeaves(*store, tree, problems, report));
  XGW_CHECK(CheckTiles(*store, tree, problems, report));
  report.root = tree.Root();
  CheckStoredCheckpoints(stored, tree, problems, report);
  CheckTrustedCheckpoints(trusted, tree, problems, report);
  store->EndSnapshot();
  if (!problems.empty()) return tl::unexpected(problems.ToError());
  return report;
}

Result<void> VerifyConsistency(std::string_view old_checkpoint, std::string_view new_checkpoint,
                               std::span<const MerkleHash> proof, std::string_view verifier_key) {
  XGW_TRY(NoteVerifier v, Key(verifier_key));
  XGW_TRY(Checkpoint a, OpenCheckpoint(old_checkpoint, v));
  XGW_TRY(Checkpoint b, OpenCheckpoint(new_checkpoint, v));
  return VerifyMerkleConsistency(a.size, b.size, a.root, b.root, proof);
}

Result<void> VerifyInclusion(std::string_view event_bytes, uint64_t index,
                             std::span<const MerkleHash> proof, std::string_view checkpoint,
                             std::string_view verifier_key) {
  XGW_TRY(NoteVerifier v, Key(verifier_key));
  XGW_TRY(Checkpoint cp, OpenCheckpoint(checkpoint, v));
  return VerifyMerkleInclusion(index, cp.size, MerkleLeafHash(event_bytes), proof, cp.root);
}

Result<DeletionReceiptInfo> VerifyDeletionReceipt(std::string_view receipt_json,
                                                  std::string_view verifier_key) {
  XGW_TRY(NoteVerifier v, Key(verifier_key));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(receipt_json);
  } catch (const nlohmann::json::exception&) {
    return Fail(ErrorCode::kFormat, "deletion receipt is not valid json");
  }
  if (!j.is_object() || j.value("format", "") != "xgw-deletion-receipt/v1") {
    return Fail(ErrorCode::kFormat, "not an xgw deletion receipt (format xgw-deletion-receipt/v1)");
  }
  if (!j.contains("event") || !j["event"].is_string() || !j.contains("index") ||
      !j["index"].is_number_unsigned() || !j.contains("inclusion_proof") ||
      !j["inclusion_proof"].is_array() || !j.contains("checkpoint") || !j["checkpoint"].is_string()) {
    return Fail(ErrorCode::kFormat, "deletion receipt needs event, index, inclusion_proof and checkpoint");
  }
  const std::string event = j["event"].get<std::string>();
  DeletionReceiptInfo info;
  XGW_TRY(info.event, ParseAuditEvent(event));
  if ((info.event.action != AuditAction::kExchangeDeletedExpiry &&
       info.event.action != AuditAction::kExchangeDeleted) ||
      info.event.outcome != AuditOutcome::kSuccess || info.event.exchange_id.empty()) {
    return Fail(ErrorCode::kFormat, "deletion receipt event is not a successful exchange deletion");
  }
  std::vector<MerkleHash> proof;
  for (const auto& p : j["inclusion_proof"]) {
    if (!p.is_string()) return Fail(ErrorCode::kFormat, "deletion receipt proof entry is not a string");
    XGW_TRY(MerkleHash h, HashFromBase64(p.get<std::string>()));
    proof.push_back(h);
  }
  info.index = j["index"].get<uint64_t>();
  XGW_TRY(Checkpoint cp, OpenCheckpoint(j["checkpoint"].get<std::string>(), v));
  info.tree_size = cp.size;
  XGW_CHECK(VerifyMerkleInclusion(info.index, cp.size, MerkleLeafHash(event), proof, cp.root));
  return info;
}

}  // namespace xgw
