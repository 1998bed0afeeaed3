// The lifecycle of a protocol version, as a pure model: the daemon stores the
// state and the acceptances, this decides what they allow.
//
//   draft -> proposed -> valid <-> suspended
//   proposed -> draft;  proposed, valid, suspended -> expired | terminated
//   expired and terminated are final; expired only once the validity period is over.
// "valid" requires that every party accepted this exact version (hash) and
// that the approval record holds a DPO advice of every party.
#ifndef XGW_POLICY_LIFECYCLE_H_
#define XGW_POLICY_LIFECYCLE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "policy/protocol.h"
#include "policy/violation.h"

namespace xgw {

enum class ProtocolState { kDraft, kProposed, kValid, kExpired, kSuspended, kTerminated };
std::string_view ProtocolStateName(ProtocolState state);  // "draft", "proposed", ...
std::optional<ProtocolState> ProtocolStateFromName(std::string_view name);

struct Acceptance {
  std::string party;         // party id
  std::string version_hash;  // the version that party accepted
  Instant at;
};

struct ProtocolStatus {
  ProtocolState state = ProtocolState::kDraft;
  std::vector<Acceptance> acceptances;
  std::optional<Instant> terminated_at;  // set with kTerminated
};

// True if every party has an acceptance of protocol.version_hash.
bool AllPartiesAccepted(const Protocol& protocol, const std::vector<Acceptance>& acceptances);

// OK if `from` may become `to` at `now`; kConflict naming the reason otherwise.
Result<void> CheckTransition(const Protocol& protocol, const ProtocolStatus& from, ProtocolState to,
                             Instant now);

// Why nothing may be sent under this version at `now` (empty: it is in force):
// protocol_not_accepted, protocol_not_yet_valid, protocol_expired,
// protocol_suspended, protocol_terminated.
Violations ActiveViolations(const Protocol& protocol, const ProtocolStatus& status, Instant now);
inline bool IsInForce(const Protocol& p, const ProtocolStatus& s, Instant now) {
  return ActiveViolations(p, s, now).empty();
}

}  // namespace xgw

#endif  // XGW_POLICY_LIFECYCLE_H_
