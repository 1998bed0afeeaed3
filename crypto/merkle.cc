#include "crypto/merkle.h"

#include <bit>

namespace xgw {
namespace {

// Largest power of two strictly smaller than n (n >= 2), RFC 6962's split.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

// Hash of the RFC 6962 subtree over leaves [begin, end). Every subtree the
// proof algorithms ask for starts at a multiple of the largest power of two
// not above its size, so it decomposes into O(log n) complete subtrees.
Result<MerkleHash> RangeHash(MerkleNodeSource& source, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (std::has_single_bit(n)) {
    const unsigned level = static_cast<unsigned>(std::countr_zero(n));
    if (begin % n != 0) return Fail(ErrorCode::kInternal, "merkle subtree is not aligned");
    return source.CompleteSubtree(level, begin >> level);
  }
  const uint64_t k = SplitPoint(n);
  XGW_TRY(MerkleHash left, RangeHash(source, begin, begin + k));
  XGW_TRY(MerkleHash right, RangeHash(source, begin + k, end));
  return MerkleNodeHash(left, right);
}

// RFC 6962 §2.1.1 PATH(m, D[begin:end]), appended leaf-to-root into `out`.
Result<void> Path(MerkleNodeSource& source, uint64_t m, uint64_t begin, uint64_t end,
                  std::vector<MerkleHash>& out) {
  const uint64_t n = end - begin;
  if (n <= 1) return {};
  const uint64_t k = SplitPoint(n);
  if (m < k) {
    XGW_CHECK(Path(source, m, begin, begin + k, out));
    XGW_TRY(MerkleHash sibling, RangeHash(source, begin + k, end));
    out.push_back(sibling);
  } else {
    XGW_CHECK(Path(source, m - k, begin + k, end, out));
    XGW_TRY(MerkleHash sibling, RangeHash(source, begin, begin + k));
    out.push_back(sibling);
  }
  return {};
}

// RFC 6962 §2.1.2 SUBPROOF(m, D[begin:end], complete).
Result<void> SubProof(MerkleNodeSource& source, uint64_t m, uint64_t begin, uint64_t end,
                      bool complete, std::vector<MerkleHash>& out) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!complete) {
      XGW_TRY(MerkleHash h, RangeHash(source, begin, end));
      out.push_back(h);
    }
    return {};
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    XGW_CHECK(SubProof(source, m, begin, begin + k, complete, out));
    XGW_TRY(MerkleHash h, RangeHash(source, begin + k, end));
    out.push_back(h);
  } else {
    XGW_CHECK(SubProof(source, m - k, begin + k, end, false, out));
    XGW_TRY(MerkleHash h, RangeHash(source, begin, begin + k));
    out.push_back(h);
  }
  return {};
}

bool Equal(const MerkleHash& a, const MerkleHash& b) { return ConstantTimeEqual(a, b); }

}  // namespace

MerkleHash MerkleLeafHash(std::span<const uint8_t> data) {
  Sha256 h;
  const uint8_t prefix = 0x00;
  h.Update(std::span<const uint8_t>(&prefix, 1));
  h.Update(data);
  return h.Finish();
}

MerkleHash MerkleLeafHash(std::string_view data) {
  return MerkleLeafHash(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

MerkleHash MerkleNodeHash(const MerkleHash& left, const MerkleHash& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  return Sha256::Hash(std::span<const uint8_t>(buf, sizeof buf));
}

MerkleHash MerkleEmptyRoot() { return Sha256::Hash(std::string_view()); }

Result<MerkleHash> HashFromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != 32) {
    return Fail(ErrorCode::kFormat, "merkle hash must be 32 bytes, got " +
                                        std::to_string(bytes.size()));
  }
  MerkleHash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

Result<MerkleHash> HashFromBase64(std::string_view text) {
  auto bytes = Base64Decode(text);
  if (!bytes) return Fail(ErrorCode::kFormat, "merkle hash is not valid base64");
  return HashFromBytes(*bytes);
}

Result<MerkleHash> MerkleRoot(MerkleNodeSource& source, uint64_t size) {
  if (size == 0) return MerkleEmptyRoot();
  return RangeHash(source, 0, size);
}

Result<std::vector<MerkleHash>> MerkleInclusionProof(MerkleNodeSource& source, uint64_t index,
                                                      uint64_t size) {
  if (index >= size) {
    return Fail(ErrorCode::kInvalidArgument, "inclusion proof: leaf index must be below tree size");
  }
  std::vector<MerkleHash> out;
  XGW_CHECK(Path(source, index, 0, size, out));
  return out;
}

Result<std::vector<MerkleHash>> MerkleConsistencyProof(MerkleNodeSource& source, uint64_t size1,
                                                        uint64_t size2) {
  if (size1 > size2) {
    return Fail(ErrorCode::kInvalidArgument, "consistency proof: old size exceeds new size");
  }
  std::vector<MerkleHash> out;
  if (size1 == 0 || size1 == size2) return out;
  XGW_CHECK(SubProof(source, size1, 0, size2, true, out));
  return out;
}

Result<void> VerifyMerkleInclusion(uint64_t index, uint64_t size, const MerkleHash& leaf_hash,
                                   std::span<const MerkleHash> proof, const MerkleHash& root) {
  if (index >= size) {
    return Fail(ErrorCode::kSignature, "inclusion proof: leaf index is not below tree size");
  }
  uint64_t fn = index;
  uint64_t sn = size - 1;
  MerkleHash r = leaf_hash;
  for (const MerkleHash& p : proof) {
    if (sn == 0) return Fail(ErrorCode::kSignature, "inclusion proof is too long");
    if ((fn & 1u) || fn == sn) {
      r = MerkleNodeHash(p, r);
      if (!(fn & 1u)) {
        while (!(fn & 1u) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Fail(ErrorCode::kSignature, "inclusion proof is too short");
  if (!Equal(r, root)) {
    return Fail(ErrorCode::kSignature, "inclusion proof does not lead to the tree head");
  }
  return {};
}

Result<void> VerifyMerkleConsistency(uint64_t size1, uint64_t size2, const MerkleHash& root1,
                                     const MerkleHash& root2,
                                     std::span<const MerkleHash> proof) {
  if (size1 > size2) {
    return Fail(ErrorCode::kSignature, "consistency proof: old tree is larger than new tree");
  }
  if (size1 == 0) {
    // The empty tree is a prefix of every tree; all there is to check is
    // that the claimed heads are well-formed and nothing was smuggled in.
    if (!proof.empty()) return Fail(ErrorCode::kSignature, "consistency proof from size 0 must be empty");
    if (!Equal(root1, MerkleEmptyRoot())) {
      return Fail(ErrorCode::kSignature, "tree head of size 0 is not the empty-tree hash");
    }
    if (size2 == 0 && !Equal(root2, MerkleEmptyRoot())) {
      return Fail(ErrorCode::kSignature, "tree head of size 0 is not the empty-tree hash");
    }
    return {};
  }
  if (size1 == size2) {
    if (!proof.empty()) return Fail(ErrorCode::kSignature, "consistency proof for equal sizes must be empty");
    if (!Equal(root1, root2)) return Fail(ErrorCode::kSignature, "tree heads of equal size differ");
    return {};
  }
  if (proof.empty()) return Fail(ErrorCode::kSignature, "consistency proof is empty");
  std::vector<MerkleHash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while (fn & 1u) {
    fn >>= 1;
    sn >>= 1;
  }
  MerkleHash fr = path[0];
  MerkleHash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const MerkleHash& c = path[i];
    if (sn == 0) return Fail(ErrorCode::kSignature, "consistency proof is too long");
    if ((fn & 1u) || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      if (!(fn & 1u)) {
        while (!(fn & 1u) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Fail(ErrorCode::kSignature, "consistency proof is too short");
  if (!Equal(fr, root1)) return Fail(ErrorCode::kSignature, "consistency proof does not match the old tree head");
  if (!Equal(sr, root2)) return Fail(ErrorCode::kSignature, "consistency proof does not match the new tree head");
  return {};
}

void MerkleTree::Reserve(uint64_t leaves) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].reserve(leaves);
}

void MerkleTree::Append(const MerkleHash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  size_t level = 0;
  while (levels_[level].size() % 2 == 0) {
    const auto& below = levels_[level];
    MerkleHash parent = MerkleNodeHash(below[below.size() - 2], below[below.size() - 1]);
    if (levels_.size() == level + 1) levels_.emplace_back();
    levels_[level + 1].push_back(parent);
    ++level;
  }
}

Result<MerkleHash> MerkleTree::CompleteSubtree(unsigned level, uint64_t position) {
  if (level >= levels_.size() || position >= levels_[level].size()) {
    return Fail(ErrorCode::kInvalidArgument, "merkle subtree is beyond the tree");
  }
  return levels_[level][position];
}

MerkleHash MerkleTree::RootAt(uint64_t n) const {
  if (n == 0) return MerkleEmptyRoot();
  // Fold the complete subtrees of n's binary decomposition, smallest first.
  bool have = false;
  MerkleHash r{};
  for (unsigned level = 0; level < 64; ++level) {
    if (!((n >> level) & 1u)) continue;
    const uint64_t pos = (n >> level) - 1;
    const MerkleHash& h = levels_[level][pos];
    r = have ? MerkleNodeHash(h, r) : h;
    have = true;
  }
  return r;
}

MerkleHash MerkleTree::Root() const { return RootAt(size()); }

MerkleHash MerkleFrontier::Root() const {
  if (size_ == 0) return MerkleEmptyRoot();
  bool have = false;
  MerkleHash r{};
  for (unsigned level = 0; level < 64; ++level) {
    if (!((size_ >> level) & 1u)) continue;
    r = have ? MerkleNodeHash(edge_[level], r) : edge_[level];
    have = true;
  }
  return r;
}

Result<MerkleFrontier> MerkleFrontier::Load(MerkleNodeSource& source, uint64_t size) {
  MerkleFrontier f;
  f.size_ = size;
  for (unsigned level = 0; level < 64; ++level) {
    if (!((size >> level) & 1u)) continue;
    XGW_TRY(f.edge_[level], source.CompleteSubtree(level, (size >> level) - 1));
  }
  return f;
}

}  // namespace xgw
