// Internal to xgw_audit: RFC 6962 leaf and node hashes, the same bytes as
// MerkleLeafHash / MerkleNodeHash (crypto/merkle.h), for the hot paths
// (appends, verification of a whole log). Those construct a digest context
// and look SHA-256 up in OpenSSL's provider tables on every call, which costs
// more than hashing a 300-byte event with SHA-NI; here SHA-256 is fetched
// once and each thread keeps one context.
#ifndef XGW_AUDIT_LEAF_HASH_H_
#define XGW_AUDIT_LEAF_HASH_H_

#include <string_view>

#include "crypto/merkle.h"

namespace xgw::audit_internal {

MerkleHash LeafHash(std::string_view bytes);
MerkleHash NodeHash(const MerkleHash& left, const MerkleHash& right);

}  // namespace xgw::audit_internal

#endif  // XGW_AUDIT_LEAF_HASH_H_
