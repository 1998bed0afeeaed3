// Internal to xgw_audit: the Merkle tree held as tiles (audit_store.h). Each
// tile holds 16 hashes of one tree level that is a multiple of 4; every other
// node is at most 15 hash computations away from a tile. Only full tiles are
// stored: the partial right edge (at most 15 hashes per tile level) lives in
// memory and is rebuilt at open from the events after the last full tile.
#ifndef XGW_AUDIT_MERKLE_TILES_H_
#define XGW_AUDIT_MERKLE_TILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "crypto/merkle.h"

namespace xgw::audit_internal {

// The partial tile of each tile level of a tree of size() leaves.
class TileEdge {
 public:
  uint64_t size() const { return size_; }
  // Hashes of the partial tile at tile level L (positions from its start).
  const std::vector<MerkleHash>& Partial(unsigned level) const;
  // Appends a leaf to `frontier` (whose size must equal size()) and to the
  // edge; every tile the leaf completes is added to `full`.
  void AppendLeaf(MerkleFrontier& frontier, const MerkleHash& leaf, std::vector<AuditTile>& full);
  // The edge of a tree of `size` leaves from its stored tiles and events.
  static Result<TileEdge> Load(AuditStore& store, uint64_t size);

 private:
  void Add(unsigned level, const MerkleHash& h, std::vector<AuditTile>& full);
  uint64_t size_ = 0;
  std::vector<uint64_t> next_tile_;               // per tile level: index of the partial tile
  std::vector<std::vector<MerkleHash>> partial_;  // per tile level
};

// Complete subtrees of a tree of `size` leaves from stored full tiles and
// the edge of that size. kCorrupt for a missing or malformed tile.
class TileNodeSource final : public MerkleNodeSource {
 public:
  TileNodeSource(AuditStore& store, const TileEdge& edge) : store_(store), edge_(edge) {}
  Result<MerkleHash> CompleteSubtree(unsigned level, uint64_t position) override;

 private:
  Result<const std::vector<MerkleHash>*> TileHashes(unsigned tile_level, uint64_t index);
  AuditStore& store_;
  const TileEdge& edge_;
  std::optional<std::pair<unsigned, uint64_t>> cached_;
  std::vector<MerkleHash> cache_;
};

// Splits a stored tile into its 16 hashes (kCorrupt if it is not 16 × 32 bytes).
Result<std::vector<MerkleHash>> ParseTile(std::string_view bytes);
// The root of hashes [first, first + 2^height) of one level, `height` levels up.
MerkleHash HashUp(const MerkleHash* hashes, unsigned height);

}  // namespace xgw::audit_internal

#endif  // XGW_AUDIT_MERKLE_TILES_H_
