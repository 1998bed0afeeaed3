// The running daemon's AuditSink: maps the router's RequestRecords onto
// AuditEvents of the durable Merkle log (audit/), and gives domain
// code (protocols, exchanges, sweeper) one place to append its own events.
//
// What is recorded from the router: every refused or failed request, and
// every allowed request that changes state (POST/PUT/DELETE). Allowed reads
// are not logged as http.request (they would dominate the log); reads that
// matter (downloads, audit queries, subject searches) append their own events.
//
// Thread safety: as AuditLog (any thread).
#ifndef XGW_GATEWAY_DURABLE_AUDIT_H_
#define XGW_GATEWAY_DURABLE_AUDIT_H_

#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "gateway/audit_sink.h"
#include "gateway/clock.h"
#include "gateway/metrics.h"

namespace xgw {

class DurableAuditSink final : public AuditSink {
 public:
  DurableAuditSink(AuditLog& log, const Clock& clock, Metrics& metrics)
      : log_(log), clock_(clock), metrics_(metrics) {}
  Result<void> Append(const RequestRecord& record) override;
  // Appends a domain event; fills time_ms from the clock if it is 0.
  // On failure the caller must not perform the action (fail closed).
  Result<uint64_t> AppendEvent(AuditEvent event);
  // Several domain events, in order, usually in one commit (AuditLog::AppendAll).
  Result<void> AppendEvents(std::vector<AuditEvent> events);
  // AppendEvents in two halves (AuditLog::Queue): queue now, do other I/O,
  // then Wait, which reports a failure like AppendEvent.
  Result<std::unique_ptr<AuditLog::Ticket>> QueueEvents(std::vector<AuditEvent> events);
  Result<void> Wait(AuditLog::Ticket& ticket);
  AuditLog& log() { return log_; }

 private:
  void ReportFailure(const Error& error);

  AuditLog& log_;
  const Clock& clock_;
  Metrics& metrics_;
};

// The audit reason code for a problem slug ("forbidden" -> "not_authorised").
std::string ReasonForProblemSlug(const std::string& slug, unsigned status);

}  // namespace xgw

#endif  // XGW_GATEWAY_DURABLE_AUDIT_H_
