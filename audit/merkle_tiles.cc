#include "audit/merkle_tiles.h"

#include <cstring>

namespace xgw::audit_internal {

namespace {

constexpr unsigned kH = kAuditTileHeight;
constexpr uint64_t kW = kAuditTileWidth;

// Leaves covered by a full tile at tile level L (0 if it exceeds 64 bits).
uint64_t LeavesPerTile(unsigned level) {
  const unsigned shift = kH * (level + 1);
  return shift >= 64 ? 0 : uint64_t{1} << shift;
}

}  // namespace

Result<std::vector<MerkleHash>> ParseTile(std::string_view bytes) {
  if (bytes.size() != kW * 32) return Fail(ErrorCode::kCorrupt, "audit log holds a merkle tile of the wrong size");
  std::vector<MerkleHash> out(kW);
  for (size_t i = 0; i < kW; ++i) std::memcpy(out[i].data(), bytes.data() + 32 * i, 32);
  return out;
}

MerkleHash HashUp(const MerkleHash* hashes, unsigned height) {
  if (height == 0) return hashes[0];
  MerkleHash buf[kW];
  size_t n = size_t{1} << height;
  for (size_t i = 0; i < n / 2; ++i) buf[i] = MerkleNodeHash(hashes[2 * i], hashes[2 * i + 1]);
  for (n /= 2; n > 1; n /= 2) {
    for (size_t i = 0; i < n / 2; ++i) buf[i] = MerkleNodeHash(buf[2 * i], buf[2 * i + 1]);
  }
  return buf[0];
}

const std::vector<MerkleHash>& TileEdge::Partial(unsigned level) const {
  static const std::vector<MerkleHash> kEmpty;
  return level < partial_.size() ? partial_[level] : kEmpty;
}

void TileEdge::Add(unsigned level, const MerkleHash& h, std::vector<AuditTile>& full) {
  if (level >= partial_.size()) {
    partial_.resize(level + 1);
    next_tile_.resize(level + 1, 0);
  }
  auto& p = partial_[level];
  p.push_back(h);
  if (p.size() < kW) return;
  AuditTile t{level, next_tile_[level], std::string(kW * 32, '\0')};
  for (size_t i = 0; i < kW; ++i) std::memcpy(t.hashes.data() + 32 * i, p[i].data(), 32);
  full.push_back(std::move(t));
  p.clear();
  ++next_tile_[level];
}

void TileEdge::AppendLeaf(MerkleFrontier& frontier, const MerkleHash& leaf, std::vector<AuditTile>& full) {
  Add(0, leaf, full);
  frontier.Append(leaf, [&](unsigned level, uint64_t, const MerkleHash& h) {
    if (level % kH == 0) Add(level / kH, h, full);
  });
  ++size_;
}

Result<TileEdge> TileEdge::Load(AuditStore& store, uint64_t size) {
  TileEdge e;
  e.size_ = size;
  for (unsigned level = 0; kH * level < 64 && (size >> (kH * level)) != 0; ++level) {
    const uint64_t m = size >> (kH * level);  // hashes at this tree level
    const uint64_t start = m / kW * kW;
    e.partial_.emplace_back();
    e.next_tile_.push_back(m / kW);
    auto& p = e.partial_.back();
    if (level == 0) {
      XGW_TRY(auto records, store.Range(start, m, kW));
      for (size_t i = 0; i < records.size(); ++i) {
        if (records[i].index != start + i) break;
        p.push_back(MerkleLeafHash(records[i].event));
      }
      if (p.size() != m - start) return Fail(ErrorCode::kCorrupt, "audit log is missing events at its end");
      continue;
    }
    // Each hash of this level's partial tile is the root of a full tile one
    // level down.
    for (uint64_t q = start; q < m; ++q) {
      XGW_TRY(auto bytes, store.Tile(level - 1, q));
      if (!bytes) return Fail(ErrorCode::kCorrupt, "audit log is missing a merkle tile");
      XGW_TRY(auto hashes, ParseTile(*bytes));
      p.push_back(HashUp(hashes.data(), kH));
    }
  }
  return e;
}

Result<const std::vector<MerkleHash>*> TileNodeSource::TileHashes(unsigned tile_level, uint64_t index) {
  const uint64_t per = LeavesPerTile(tile_level);
  if (per != 0 && (index + 1) <= edge_.size() / per) {
    if (cached_ && cached_->first == tile_level && cached_->second == index) return &cache_;
    XGW_TRY(auto bytes, store_.Tile(tile_level, index));
    if (!bytes) return Fail(ErrorCode::kCorrupt, "audit log is missing a merkle tile");
    XGW_TRY(cache_, ParseTile(*bytes));
    cached_ = std::make_pair(tile_level, index);
    return &cache_;
  }
  // Not full in this tree: the partial tile in memory, if it is that one.
  const uint64_t m = edge_.size() >> (kH * tile_level);
  if (kH * tile_level >= 64 || m / kW != index) {
    return Fail(ErrorCode::kInvalidArgument, "merkle node is outside the tree");
  }
  return &edge_.Partial(tile_level);
}

Result<MerkleHash> TileNodeSource::CompleteSubtree(unsigned level, uint64_t position) {
  const unsigned tile_level = level / kH, up = level % kH;
  if (position > (UINT64_MAX >> up)) return Fail(ErrorCode::kInvalidArgument, "merkle node is outside the tree");
  const uint64_t first = position << up;  // at tree level tile_level·kH
  XGW_TRY(const std::vector<MerkleHash>* hashes, TileHashes(tile_level, first / kW));
  const uint64_t offset = first % kW;
  if (offset + (uint64_t{1} << up) > hashes->size()) {
    return Fail(ErrorCode::kInvalidArgument, "merkle node is not complete in the tree");
  }
  return HashUp(hashes->data() + offset, up);
}

}  // namespace xgw::audit_internal
