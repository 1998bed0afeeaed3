// Fetching a protocol from the gateway and describing it in plain words.
#ifndef XGW_CLIENT_PROTOCOL_VIEW_H_
#define XGW_CLIENT_PROTOCOL_VIEW_H_

#include <string>

#include <nlohmann/json.hpp>

#include "client/http.h"
#include "policy/lifecycle.h"
#include "policy/protocol.h"

namespace xgw::cli {

struct FetchedProtocol {
  Protocol protocol;
  ProtocolStatus status;  // acceptances synthesised from state (the gateway enforces them)
  nlohmann::json answer;  // GET /api/v1/protocols/{id} as received
  bool valid_now = false; // the gateway's verdict with its own clock
};

// The instant to judge time rules locally. The gateway's clock is the
// authority (it may be a test clock): when it says the protocol is in force,
// local time is clamped into the validity window so that a skewed local
// clock does not refuse what the gateway allows; the gateway re-checks.
Instant LocalDecisionTime(const FetchedProtocol& fetched);

// GET /api/v1/protocols/{id}: parses "definition" and checks that its hash
// equals "version_hash" (kCorrupt otherwise: the gateway would be lying).
Result<FetchedProtocol> FetchProtocol(Gateway& gateway, const std::string& id);

// "2024-09-27".
std::string FormatDate(const Date& date);
// The current time as an Instant.
Instant Now();

// The protocol in plain words for the people who use it.
std::string DescribeProtocol(const Protocol& protocol, const nlohmann::json& answer);

// GET /api/v1/protocols/{id}/diff in plain words, grouped by area, for a DPO
// advising on a re-acceptance.
std::string DescribeDiff(const nlohmann::json& answer);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_PROTOCOL_VIEW_H_
