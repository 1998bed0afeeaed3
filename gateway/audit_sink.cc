#include "gateway/audit_sink.h"

namespace xgw {

Result<void> MemoryAuditSink::Append(const RequestRecord& record) {
  std::lock_guard lock(mu_);
  ++total_;
  if (records_.size() >= capacity_) records_.erase(records_.begin());
  records_.push_back(record);
  return {};
}

std::vector<RequestRecord> MemoryAuditSink::Snapshot() const {
  std::lock_guard lock(mu_);
  return records_;
}

uint64_t MemoryAuditSink::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

}  // namespace xgw
