#include "policy/lifecycle.h"

#include <algorithm>
#include <array>

namespace xgw {

namespace {
constexpr std::array<std::string_view, 6> kStateNames = {"draft",   "proposed",  "valid",
                                                         "expired", "suspended", "terminated"};
}  // namespace

std::string_view ProtocolStateName(ProtocolState state) { return kStateNames[static_cast<size_t>(state)]; }

std::optional<ProtocolState> ProtocolStateFromName(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<ProtocolState>(i);
  }
  return std::nullopt;
}

bool AllPartiesAccepted(const Protocol& protocol, const std::vector<Acceptance>& acceptances) {
  return std::all_of(protocol.parties.begin(), protocol.parties.end(), [&](const Party& party) {
    return std::any_of(acceptances.begin(), acceptances.end(), [&](const Acceptance& a) {
      return a.party == party.id && a.version_hash == protocol.version_hash;
    });
  });
}

Result<void> CheckTransition(const Protocol& protocol, const ProtocolStatus& from, ProtocolState to,
                             Instant now) {
  using S = ProtocolState;
  auto refuse = [&](const std::string& why) {
    return Fail(ErrorCode::kConflict, "protocol cannot go from " + std::string(ProtocolStateName(from.state)) +
                                          " to " + std::string(ProtocolStateName(to)) + ": " + why);
  };
  bool allowed = false;
  switch (from.state) {
    case S::kDraft: allowed = to == S::kProposed; break;
    case S::kProposed:
      allowed = to == S::kDraft || to == S::kValid || to == S::kExpired || to == S::kTerminated;
      break;
    case S::kValid: allowed = to == S::kSuspended || to == S::kExpired || to == S::kTerminated; break;
    case S::kSuspended: allowed = to == S::kValid || to == S::kExpired || to == S::kTerminated; break;
    case S::kExpired:
    case S::kTerminated: allowed = false; break;
  }
  if (!allowed) return refuse("transition not allowed");
  if (to == S::kValid) {
    if (!AllPartiesAccepted(protocol, from.acceptances)) return refuse("not every party accepted this version");
    if (!protocol.approval) return refuse("the version has no approval record");
    for (const auto& party : protocol.parties) {
      bool advised = std::any_of(protocol.approval->dpo_advice.begin(), protocol.approval->dpo_advice.end(),
                                 [&](const DpoAdvice& a) { return a.party == party.id; });
      if (!advised) return refuse("no DPO advice recorded for party " + party.id);
    }
    if (now >= protocol.ValidUntilInstant()) return refuse("the validity period is over");
  }
  if (to == S::kExpired && now < protocol.ValidUntilInstant()) return refuse("the validity period is not over");
  return {};
}

Violations ActiveViolations(const Protocol& protocol, const ProtocolStatus& status, Instant now) {
  Violations v;
  using S = ProtocolState;
  switch (status.state) {
    case S::kDraft:
    case S::kProposed:
      v.push_back({"protocol_not_accepted", "the protocol version is " + std::string(ProtocolStateName(status.state)) +
                                                ", not yet accepted by every party", 0, ""});
      break;
    case S::kSuspended:
      v.push_back({"protocol_suspended", "the protocol is suspended", 0, ""});
      break;
    case S::kTerminated:
      v.push_back({"protocol_terminated", "the protocol has been terminated", 0, ""});
      break;
    case S::kExpired:
      v.push_back({"protocol_expired", "the protocol has expired", 0, ""});
      break;
    case S::kValid:
      if (!AllPartiesAccepted(protocol, status.acceptances)) {
        v.push_back({"protocol_not_accepted", "not every party accepted this protocol version", 0, ""});
      }
      break;
  }
  if (status.state != S::kExpired) {
    if (now < protocol.ValidFromInstant()) {
      v.push_back({"protocol_not_yet_valid", "the protocol's validity period has not started", 0, ""});
    } else if (now >= protocol.ValidUntilInstant()) {
      v.push_back({"protocol_expired", "the protocol's validity period is over", 0, ""});
    }
  }
  return v;
}

}  // namespace xgw
