// What changed between two versions of one protocol, in plain words, for the
// DPO who advises on a re-acceptance (issue 21 item 3). A pure function of two
// parsed protocols: the daemon's diff route and `xgw protocol diff` use it
// alike, and it reads nothing else.
#ifndef XGW_POLICY_PROTOCOL_DIFF_H_
#define XGW_POLICY_PROTOCOL_DIFF_H_

#include <string>
#include <vector>

#include "policy/protocol.h"

namespace xgw {

// One change. `area` is a stable key of the part of the protocol it concerns
// ("fields", "recipients", "retention", "validity", "limits", "frequency",
// "parties", "directions", "input_formats", "purposes", "legal_basis",
// "time_zone", "on_termination", "approval", "title", "version", "text");
// `text` is one sentence for people, never containing list data (a protocol
// holds none).
struct ProtocolChange {
  std::string area;
  std::string text;
};

// Every rule a sender's cell of `field` must meet, one phrase each, in plain
// words: "required: every row needs a value", "whole number from 0 to 120",
// "at most 2 digits after the decimal point", "in EUR", "must match the
// pattern ^[A-Z]{2}$", "at most 50 characters", "one of: a, b". `xgw protocol
// show` prints them and DiffProtocols compares them.
std::vector<std::string> FieldRuleWords(const Field& field);

// The changes from `accepted` to `proposed`, in the order of the format
// (parties, directions, fields, recipients, retention, validity, ...). Empty
// when both have the same version hash. When the documents differ only in
// wording the model does not keep (descriptions, addresses, references), one
// "text" change says so, so a different hash is never shown as "no change".
std::vector<ProtocolChange> DiffProtocols(const Protocol& accepted, const Protocol& proposed);

}  // namespace xgw

#endif  // XGW_POLICY_PROTOCOL_DIFF_H_
