// Writing a protocol before proposing it (issue 21 item 2): a commented
// skeleton from a few answers, and an offline check of a draft with the
// daemon's own loader (ParseProtocol) that gives every problem its JSON path
// and a hint. Pure functions; `xgw protocol new` and `xgw protocol check` are
// their command-line faces.
#ifndef XGW_POLICY_PROTOCOL_AUTHORING_H_
#define XGW_POLICY_PROTOCOL_AUTHORING_H_

#include <string>
#include <string_view>
#include <vector>

#include "policy/protocol.h"

namespace xgw {

struct SkeletonParty {
  std::string id;                 // e.g. "org-thuispunt-gent"; empty: a placeholder id
  std::string name;               // empty: a TODO placeholder
  std::string country = "BE";     // "BE" or "NL"
  std::string enterprise_number;  // empty: a TODO placeholder the check reports
};

// The few answers a skeleton is made from; everything else is a placeholder
// marked "TODO" that CheckProtocolDraft reports until it is replaced.
struct SkeletonAnswers {
  std::string id;                       // empty: a TODO placeholder
  std::string title;
  std::string time_zone = "Europe/Brussels";
  SkeletonParty sender, receiver;
  std::string period;                   // "" one-off; "day", "week", "month" or "year": periodic
  std::string valid_from;               // YYYY-MM-DD; empty: a TODO placeholder
  std::string validity = "P1Y";         // a duration or an end date (YYYY-MM-DD)
  std::string retention = "P3M";       // after delivery: a duration or a date (delete_on)
};

// The skeleton: JSON with // comments (which ParseProtocol and `xgw protocol
// propose` accept and which are not part of the version hash), every member
// of the format present, a text, a national-number and a decimal field as
// examples to copy.
std::string ProtocolSkeleton(const SkeletonAnswers& answers);

struct DraftProblem {
  std::string path;    // "$.parties[1].enterprise_number"
  std::string reason;  // the loader's reason
  std::string hint;    // what to do, in plain words
};

// Every problem of a draft: ParseProtocol's, then placeholders ("TODO")
// still present and parties without an enterprise number (the daemon refuses
// both when proposing). Empty: the draft would load in xgwd; proposing still
// needs every party registered as an organisation with its enterprise number.
std::vector<DraftProblem> CheckProtocolDraft(std::string_view text, const ProtocolLoadOptions& options = {});

// The hint for one loader problem.
std::string ProblemHint(const ProtocolProblem& problem);

}  // namespace xgw

#endif  // XGW_POLICY_PROTOCOL_AUTHORING_H_
