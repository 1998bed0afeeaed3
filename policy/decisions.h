// The enforcement decisions. Pure functions: the time is passed in, nothing is
// read from the clock, the disk or the network; same inputs, same answer.
#ifndef XGW_POLICY_DECISIONS_H_
#define XGW_POLICY_DECISIONS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/lifecycle.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "policy/violation.h"

namespace xgw {

struct SendRequest {
  std::string sender_organisation;     // party id of the authenticated sender
  Instant now;
  // Accepted transfers under this protocol id (any version) in the window
  // RelevantTransfers(protocol, now) names: delivered at or after its
  // `since` and not after `now`, counted up to its `limit`.
  uint64_t transfers_in_window = 0;
};

// Which past transfers can change DecideSend's frequency decision at `now`:
// those at or after `since` (the start of the current calendar period in the
// protocol's zone; the epoch for a one-off protocol), and no more than
// `limit` of them (1 for a one-off protocol, the period's quota otherwise).
// Lets a caller count a bounded number of rows instead of reading the whole
// history: only that count enters DecideSend (SendRequest).
struct TransferWindow {
  Instant since;
  uint64_t limit = 1;
  // The calendar the window belongs to: "one_off", or "<per>@<zone>" (say
  // "month@Europe/Brussels"). Windows of two protocol versions are the same
  // window only if period and since are both equal.
  std::string period;
};
TransferWindow RelevantTransfers(const Protocol& protocol, Instant now);

// May the sender send what `manifest` declares under `protocol` now? Returns
// every violation (empty: allowed): protocol_mismatch, the lifecycle reasons
// of ActiveViolations, retention_already_passed, sender_not_sending_party,
// format_not_allowed, column_not_allowed, required_column_missing,
// too_many_rows, too_many_bytes, one_off_used, period_quota_reached.
// For a plaintext list, add CheckList's violations (cells, headers).
Violations DecideSend(const Protocol& protocol, const ProtocolStatus& status, const Manifest& manifest,
                      const SendRequest& request);

// DecideSend's frequency rules alone (one_off_used, period_quota_reached):
// checked again when a transfer completes, since other transfers decided at
// the same time may have completed in between.
Violations FrequencyViolations(const Protocol& protocol, const SendRequest& request);

struct UserRef {
  std::string organisation;
  std::string user_id;
  std::vector<std::string> roles;
};

// May `user` receive lists sent under `protocol`? Empty: yes. Otherwise
// recipient_not_allowed (the organisation is not a receiver, or no recipient
// rule of it names one of the user's roles, one of the user's units or the
// user). A user is in unit U of their organisation when they hold the role
// "unit.U".
Violations MayReceive(const Protocol& protocol, const UserRef& user);

struct ExchangeEvents {
  Instant delivered;                       // when the gateway accepted it
  std::optional<Instant> first_download;
  std::optional<Instant> acknowledged;
  std::optional<Instant> protocol_terminated;  // counts when on_termination is "delete"
};

// Which rule sets an exchange's expiry.
enum class ExpiryCause {
  kRetentionDate,       // retention.delete_on (end of that day in the protocol's zone)
  kAfterDelivery,       // retention.after_delivery
  kAfterFirstDownload,  // retention.after_first_download
  kAcknowledged,        // retention.delete_on_acknowledgement
  kProtocolTerminated,  // on_termination "delete"
};

struct Expiry {
  Instant at;
  ExpiryCause cause;
};

// When the exchange must be deleted, and why: the earliest of every retention
// rule that applies (fixed date = end of that day in the protocol's zone;
// durations after delivery / first download; acknowledgement) and
// termination; on a tie the rule listed first above. Always defined: a
// protocol has at least one unconditional rule.
Expiry ComputeExpiryAndCause(const Protocol& protocol, const ExchangeEvents& events);
Instant ComputeExpiry(const Protocol& protocol, const ExchangeEvents& events);

// The audit reason code of a deletion for `cause`: retention_expired,
// after_delivery, after_first_download, on_acknowledgement,
// protocol_terminated.
std::string_view ExpiryReason(ExpiryCause cause);

}  // namespace xgw

#endif  // XGW_POLICY_DECISIONS_H_
