// The seam between request handling and the audit log.
//
// The router appends one RequestRecord for every decision it makes (refused
// before the handler ran, or the handler's outcome), and handlers may append
// domain events of their own (e.g. "exchange.uploaded") through the same sink.
// Records carry ids, route templates and reasons only: never request bodies,
// tokens or personal data.
//
// DurableAuditSink (gateway/durable_audit.h) writes them to the Merkle log of
// xgw_audit (audit/); MemoryAuditSink records in process (tests use it to
// assert that decisions were recorded).
#ifndef XGW_GATEWAY_AUDIT_SINK_H_
#define XGW_GATEWAY_AUDIT_SINK_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/error.h"

namespace xgw {

struct RequestRecord {
  int64_t time = 0;             // unix seconds
  std::string event;            // "http.request" or a domain event name
  std::string request_id;
  std::string method;
  std::string route;            // template, e.g. "/api/v1/users/{user}"
  std::string actor_user_id;    // "" if unauthenticated
  std::string actor_org_id;
  std::string target_id;        // the org/user/token id the route acted on, if any
  std::string created_id;       // the org/user/token id a creating route gives what it creates
  std::string org_id;           // domain events: the organisation the event concerns, if any
  std::string outcome;          // "allowed", "refused" or "failed"
  std::string reason;           // problem slug for refused/failed
  unsigned status = 0;
  std::string client_address;   // IP address literal, "" if unknown
  uint64_t count = 1;           // > 1: coalesced refusals (RefusalTally)
};

// Thread safety: implementations must accept concurrent Append calls.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // A failure means the record is not durable; callers that need fail-closed
  // behaviour (exchanges) must refuse the action when this fails.
  virtual Result<void> Append(const RequestRecord& record) = 0;
};

// Keeps the newest `capacity` records in memory.
class MemoryAuditSink final : public AuditSink {
 public:
  explicit MemoryAuditSink(size_t capacity = 10000) : capacity_(capacity) {}
  Result<void> Append(const RequestRecord& record) override;
  std::vector<RequestRecord> Snapshot() const;
  uint64_t total() const;

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  uint64_t total_ = 0;
  std::vector<RequestRecord> records_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_AUDIT_SINK_H_
