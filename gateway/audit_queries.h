// What operators and DPOs may read of the audit log: events (filtered,
// paged, optionally with inclusion proofs against a tree size), single
// events, checkpoints, proofs, and the leaves of a tree for a client that
// recomputes it. A DPO sees only the events that concern their own
// organisation; of the others they get leaf hashes, never the bytes. Every
// read of events is itself recorded ("audit.queried").
//
// No HTTP here: gateway/api_audit.cc maps requests onto these calls.
#ifndef XGW_GATEWAY_AUDIT_QUERIES_H_
#define XGW_GATEWAY_AUDIT_QUERIES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "crypto/error.h"
#include "gateway/caller.h"
#include "gateway/durable_audit.h"

namespace xgw {

struct AuditEventItem {
  AuditRecord record;
  // With AuditQuery::before (a tree size): the event's inclusion proof in
  // that tree, or nullopt if the stored nodes cannot give it (the client
  // then reports that index).
  std::optional<std::vector<MerkleHash>> inclusion_proof;
};

struct AuditEventsPage {
  std::vector<AuditEventItem> items;
  bool with_proofs = false;  // the query named a tree size
  std::optional<uint64_t> next;
};

// One leaf of a tree: the event bytes if the caller may see them, else only
// the leaf hash, recomputed from the stored bytes (never the stored hash).
struct AuditLeaf {
  uint64_t index = 0;
  std::optional<std::string> event;
  MerkleHash leaf_hash{};
};

struct AuditLeavesPage {
  std::vector<AuditLeaf> items;
  std::optional<uint64_t> next;  // start of the next page, if the tree has more
};

class AuditQueries {
 public:
  explicit AuditQueries(DurableAuditSink& audit) : audit_(audit) {}

  // query.before, if set, must not exceed the log's size (kInvalidArgument).
  // A DPO's query is narrowed to their organisation; asking for another
  // organisation's events yields an empty page.
  Result<AuditEventsPage> Events(const Caller& caller, AuditQuery query);
  // kNotFound if there is no such event or the caller may not see it.
  Result<AuditRecord> Event(const Caller& caller, uint64_t index);
  // Leaves [start, min(start + limit, tree_size)); limit clamped to 1..10,000.
  Result<AuditLeavesPage> Leaves(const Caller& caller, uint64_t start, uint64_t tree_size, uint64_t limit);

  // The latest signed checkpoint, signing the first one if there is none.
  Result<std::string> LatestCheckpoint();
  Result<std::string> SignCheckpoint();
  Result<std::vector<MerkleHash>> InclusionProof(uint64_t index, uint64_t tree_size);
  Result<std::vector<MerkleHash>> ConsistencyProof(uint64_t first, uint64_t second);
  Result<std::string> VerifierKey();

 private:
  bool MayRead(const Caller& caller, const std::string& event_bytes) const;
  void RecordQuery(const Caller& caller);

  DurableAuditSink& audit_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_AUDIT_QUERIES_H_
