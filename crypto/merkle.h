// RFC 6962 / RFC 9162 Merkle trees: hashing, tree heads, inclusion and
// consistency proofs (generation and verification).
//
// leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right),
// the head of the empty tree = SHA-256("").
//
// Proof generation works over any MerkleNodeSource that can return the hash
// of a complete, aligned subtree (level L, position p covers leaves
// [p*2^L, (p+1)*2^L)); the audit log serves those from SQLite, MerkleTree from
// memory. Every proof needs O(log n) such look-ups.
//
// Empty-tree policy (the two vector sets in shared/vectors/merkle differ):
// an inclusion proof never verifies against a tree of size 0; a consistency
// proof from size 0 is the empty proof and verifies iff root1 is the head of
// the empty tree (and, when size2 is 0 too, root2 is as well). It proves
// nothing about the newer tree. Hashes must be exactly 32 bytes: HashFromBytes
// is where foreign byte strings enter, and it rejects any other length.
#ifndef XGW_CRYPTO_MERKLE_H_
#define XGW_CRYPTO_MERKLE_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/hash.h"

namespace xgw {

using MerkleHash = Sha256Digest;

MerkleHash MerkleLeafHash(std::span<const uint8_t> data);
MerkleHash MerkleLeafHash(std::string_view data);
MerkleHash MerkleNodeHash(const MerkleHash& left, const MerkleHash& right);
MerkleHash MerkleEmptyRoot();

// kFormat unless `bytes` is exactly 32 bytes.
Result<MerkleHash> HashFromBytes(std::span<const uint8_t> bytes);
// Strict base64 of exactly 32 bytes (kFormat otherwise).
Result<MerkleHash> HashFromBase64(std::string_view text);

// Hashes of complete subtrees, by (level, position). Implementations may fail
// (I/O); proofs then fail with the same error.
class MerkleNodeSource {
 public:
  virtual ~MerkleNodeSource() = default;
  virtual Result<MerkleHash> CompleteSubtree(unsigned level, uint64_t position) = 0;
};

// Head of the tree over the first `size` leaves. REQUIRES: the source holds
// at least `size` leaves (else the source's error).
Result<MerkleHash> MerkleRoot(MerkleNodeSource& source, uint64_t size);
// Audit path of leaf `index` in the tree of `size` leaves, leaf to root.
// kInvalidArgument unless index < size.
Result<std::vector<MerkleHash>> MerkleInclusionProof(MerkleNodeSource& source,
                                                      uint64_t index, uint64_t size);
// Proof that the tree of size1 is a prefix of the tree of size2.
// kInvalidArgument unless size1 <= size2; empty when size1 is 0 or equal to size2.
Result<std::vector<MerkleHash>> MerkleConsistencyProof(MerkleNodeSource& source,
                                                        uint64_t size1, uint64_t size2);

// RFC 9162 §2.1.3.2. kSignature (proof does not verify) or kInvalidArgument.
Result<void> VerifyMerkleInclusion(uint64_t index, uint64_t size, const MerkleHash& leaf_hash,
                                   std::span<const MerkleHash> proof, const MerkleHash& root);
// RFC 9162 §2.1.4.2 plus the empty-tree policy above.
Result<void> VerifyMerkleConsistency(uint64_t size1, uint64_t size2, const MerkleHash& root1,
                                     const MerkleHash& root2,
                                     std::span<const MerkleHash> proof);

// A whole tree in memory: leaf hashes plus every complete interior level.
// Used for verification (recompute everything) and tests. Not thread-safe.
class MerkleTree final : public MerkleNodeSource {
 public:
  MerkleTree() = default;
  void Append(const MerkleHash& leaf_hash);
  void Reserve(uint64_t leaves);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  // Complete levels: levels()[L][p] is the subtree (L, p).
  const std::vector<std::vector<MerkleHash>>& levels() const { return levels_; }
  MerkleHash Root() const;
  // Head of the first `size` leaves; REQUIRES size <= this->size().
  MerkleHash RootAt(uint64_t size) const;
  Result<MerkleHash> CompleteSubtree(unsigned level, uint64_t position) override;

 private:
  std::vector<std::vector<MerkleHash>> levels_;
};

// The right edge of a tree (one complete subtree per set bit of its size):
// enough to append leaves and compute the head without the leaves. Used by
// the log's committer; O(log n) memory.
class MerkleFrontier {
 public:
  uint64_t size() const { return size_; }
  // Appends a leaf; calls `on_node(level, position, hash)` for every complete
  // interior node (level >= 1) the append completes, bottom-up.
  template <typename OnNode>
  void Append(const MerkleHash& leaf_hash, OnNode&& on_node) {
    MerkleHash carry = leaf_hash;
    unsigned level = 0;
    while ((size_ >> level) & 1u) {
      carry = MerkleNodeHash(edge_[level], carry);
      ++level;
      on_node(level, ((size_ + 1) >> level) - 1, carry);
    }
    edge_[level] = carry;
    ++size_;
  }
  MerkleHash Root() const;
  // Rebuilds the frontier of a tree of `size` leaves from its source.
  static Result<MerkleFrontier> Load(MerkleNodeSource& source, uint64_t size);

 private:
  uint64_t size_ = 0;
  MerkleHash edge_[64] = {};  // edge_[L] is valid iff bit L of size_ is set
};

}  // namespace xgw

#endif  // XGW_CRYPTO_MERKLE_H_
