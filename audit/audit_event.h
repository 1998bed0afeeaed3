// Audit events: what xgw records for every decision and access, and their
// canonical JSON form (the bytes the Merkle log hashes). Schema:
// docs/audit-events.md.
//
// Personal data is kept out structurally: the field set is closed, action,
// outcome and actor type are enums, every id must match the safe id pattern
// [A-Za-z0-9][A-Za-z0-9._:-]{0,127} (no spaces, no '@'), reason codes come
// from a closed vocabulary, and the client address must be an IP literal.
// ToCanonicalJson refuses anything else, so the log never stores it.
#ifndef XGW_GATEWAY_AUDIT_AUDIT_EVENT_H_
#define XGW_GATEWAY_AUDIT_AUDIT_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

namespace xgw {

enum class AuditAction {
  kProtocolProposed, kProtocolAccepted, kProtocolActivated, kProtocolSuspended,
  kProtocolTerminated, kProtocolExpired,
  kExchangeUploaded, kExchangeRefused, kExchangeListed, kExchangeDownloaded,
  kExchangeDownloadRefused, kExchangeAcknowledged, kExchangeRevoked, kExchangeDeletedExpiry,
  kExchangeDeleted,
  kViolationReported,
  kLoginFailed, kTokenIssued, kTokenRevoked,
  kOrganisationRegistered, kUserRegistered, kUserKeyChanged, kUserDisabled,
  kConfigReloaded, kDaemonStarted, kDaemonStopped,
  kAuditQueried, kAuditReceiptIssued, kSubjectSearched,
  // Added with the exchange API (xgwd):
  kHttpRequest, kClockAdvanced, kExchangeCreated, kExchangeDiscarded, kCheckpointSigned,
  // Added with people's accounts (gateway/api_accounts.cc):
  kSigninSucceeded, kSigninFailed, kAccountLocked, kAccountUnlocked, kMfaEnrolled, kMfaReset,
  kRecoveryCodeUsed, kRecoveryCodesRegenerated, kInvitationIssued, kInvitationUsed, kUserEnabled,
  kSessionEnded,
  // Added with key custody (gateway/api_keys.cc):
  kKeyBackupStored, kKeyBackupFetched, kKeyBackupDeleted,
  // Added with single sign-on (gateway/api_sso.cc):
  kSsoSubjectSet, kSsoSubjectRemoved,
  // A person's own password change (gateway/api_accounts.cc):
  kPasswordChanged,
};
enum class AuditOutcome { kSuccess, kRefused, kFailed };
enum class ActorType { kUser, kOrganisation, kSystem, kAnonymous };

// "exchange.uploaded", ...; nullopt for an unknown name.
std::string_view AuditActionName(AuditAction action);
std::optional<AuditAction> ParseAuditAction(std::string_view name);
std::string_view AuditOutcomeName(AuditOutcome outcome);

struct AuditActor {
  ActorType type = ActorType::kSystem;
  std::string id;   // user id, organisation id or system component; empty for anonymous
  std::string org;  // the user's organisation (users only)
};

struct AuditEvent {
  int64_t time_ms = 0;  // milliseconds since the Unix epoch, UTC; >= 0, before year 10000
  AuditActor actor;
  AuditAction action = AuditAction::kConfigReloaded;
  AuditOutcome outcome = AuditOutcome::kSuccess;
  std::string reason;            // "" or a code from the closed vocabulary
  std::string protocol_id;       // "" if none
  std::string protocol_version;  // "" or 64 lower-case hex digits; requires protocol_id
  std::string exchange_id;
  std::string user_id;           // the user acted upon (token issued to ...), not the actor
  std::string token_id;
  std::vector<std::string> orgs;  // organisations the event concerns (at most 16)
  std::string client_address;     // IPv4 / IPv6 literal or ""
  std::string request_id;
  // How many occurrences the event stands for: > 1 for refusals coalesced
  // per client address and minute (gateway/refusal_tally.h); 1 otherwise
  // (not written).
  uint64_t count = 1;
};

// True if `code` is in the closed reason vocabulary (audit_event.cc).
bool IsKnownReasonCode(std::string_view code);
// True if `id` matches the safe id pattern.
bool IsSafeId(std::string_view id);
// True if `s` is an IPv4 or IPv6 address literal.
bool IsIpLiteral(const std::string& s);

// Canonical JSON bytes of a valid event; kInvalidArgument names the first
// offending field (never its value). `orgs` is sorted and de-duplicated.
Result<std::string> ToCanonicalJson(const AuditEvent& event);
// Parses canonical event bytes; kFormat unless `json` is exactly what
// ToCanonicalJson produces for a valid event.
Result<AuditEvent> ParseAuditEvent(std::string_view json);

// "2024-09-27T21:59:59.123Z" <-> milliseconds.
std::string FormatAuditTime(int64_t time_ms);
Result<int64_t> ParseAuditTime(std::string_view text);

// Every organisation the event concerns: actor.org (or actor.id for an
// organisation actor) plus `orgs`, sorted, unique.
std::vector<std::string> ConcernedOrganisations(const AuditEvent& event);

}  // namespace xgw

#endif  // XGW_GATEWAY_AUDIT_AUDIT_EVENT_H_
