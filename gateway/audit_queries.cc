#include "gateway/audit_queries.h"

#include <algorithm>

#include "crypto/merkle.h"
#include "gateway/identity_rules.h"

namespace xgw {

namespace {
constexpr uint64_t kMaxLeaves = 10000;
}  // namespace

bool AuditQueries::MayRead(const Caller& caller, const std::string& event_bytes) const {
  if (caller.HasRole(kRoleOperator)) return true;
  auto ev = ParseAuditEvent(event_bytes);
  if (!ev) return false;
  const auto orgs = ConcernedOrganisations(*ev);
  return std::find(orgs.begin(), orgs.end(), caller.org_id()) != orgs.end();
}

// Reads of the log are audited too; a failure to record one does not undo
// the read (nothing changed), as for every read.
void AuditQueries::RecordQuery(const Caller& caller) {
  AuditEvent ev;
  ev.time_ms = caller.now * 1000;
  ev.action = AuditAction::kAuditQueried;
  if (caller.principal) ev.actor = {ActorType::kUser, caller.principal->user_id, caller.principal->org_id};
  ev.request_id = caller.request_id;
  (void)audit_.AppendEvent(ev);
}

Result<AuditEventsPage> AuditQueries::Events(const Caller& caller, AuditQuery query) {
  AuditLog& log = audit_.log();
  if (query.before && *query.before > log.Head().size) {
    return Fail(ErrorCode::kInvalidArgument, "tree_size: expected a size no larger than the log");
  }
  if (!caller.HasRole(kRoleOperator)) {
    // A DPO sees only events concerning their own organisation.
    if (query.organisation && *query.organisation != caller.org_id()) return AuditEventsPage{};
    query.organisation = caller.org_id();
  }
  XGW_TRY(auto page, log.Query(query));
  AuditEventsPage out;
  out.next = page.next;
  out.with_proofs = query.before.has_value();
  for (auto& rec : page.records) {
    AuditEventItem item{std::move(rec), std::nullopt};
    if (query.before) {
      auto proof = log.InclusionProof(item.record.index, *query.before);
      if (proof) item.inclusion_proof = std::move(*proof);
    }
    out.items.push_back(std::move(item));
  }
  RecordQuery(caller);
  return out;
}

Result<AuditRecord> AuditQueries::Event(const Caller& caller, uint64_t index) {
  auto rec = audit_.log().Get(index);
  if (!rec) return Fail(ErrorCode::kNotFound, "no event with this index");
  if (!MayRead(caller, rec->event)) {
    return Fail(ErrorCode::kNotFound, "no event with this index, or it is not visible to you");
  }
  return rec;
}

Result<AuditLeavesPage> AuditQueries::Leaves(const Caller& caller, uint64_t start, uint64_t tree_size,
                                             uint64_t limit) {
  AuditLog& log = audit_.log();
  if (tree_size > log.Head().size || start > tree_size) {
    return Fail(ErrorCode::kInvalidArgument,
                "tree_size: expected a size no larger than the log, and start no larger than it");
  }
  limit = std::clamp<uint64_t>(limit, 1, kMaxLeaves);
  const uint64_t end = std::min(tree_size, start + limit);
  XGW_TRY(auto records, log.Range(start, end, limit));
  AuditLeavesPage out;
  // Rows are listed as stored, gaps included: the client checks the indices.
  for (auto& rec : records) {
    AuditLeaf leaf;
    leaf.index = rec.index;
    if (MayRead(caller, rec.event)) {
      leaf.event = std::move(rec.event);
    } else {
      leaf.leaf_hash = MerkleLeafHash(rec.event);
    }
    out.items.push_back(std::move(leaf));
  }
  if (end < tree_size) out.next = end;
  RecordQuery(caller);
  return out;
}

Result<std::string> AuditQueries::LatestCheckpoint() {
  auto note = audit_.log().LatestCheckpoint();
  if (!note && note.error().code == ErrorCode::kNotFound) return audit_.log().SignCheckpoint();
  return note;
}

Result<std::string> AuditQueries::SignCheckpoint() { return audit_.log().SignCheckpoint(); }

Result<std::vector<MerkleHash>> AuditQueries::InclusionProof(uint64_t index, uint64_t tree_size) {
  return audit_.log().InclusionProof(index, tree_size);
}

Result<std::vector<MerkleHash>> AuditQueries::ConsistencyProof(uint64_t first, uint64_t second) {
  return audit_.log().ConsistencyProof(first, second);
}

Result<std::string> AuditQueries::VerifierKey() { return audit_.log().VerifierKey(); }

}  // namespace xgw
