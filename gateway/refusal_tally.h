// Refusals of requests that nobody authenticated (malformed HTTP, bad paths,
// unknown routes, missing or wrong tokens) and rate-limit refusals, coalesced
// per client address, reason and minute. The first of its kind in a minute
// is recorded at once (Count returns true); the others are counted and
// recorded as one event with their count once the minute is over
// (TakeEnded), or at shutdown (TakeAll). A client without a login can then
// make the audit log grow by at most two events per address, reason and
// minute instead of one fsynced event per request (issue 15 A.3).
//
// Memory is bounded: past kMaxEntries open tallies a refusal is counted under
// the empty address ("many addresses").
//
// Thread-safe.
#ifndef XGW_GATEWAY_REFUSAL_TALLY_H_
#define XGW_GATEWAY_REFUSAL_TALLY_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace xgw {

class RefusalTally {
 public:
  static constexpr size_t kMaxEntries = 10000;

  struct Tally {
    std::string address;  // "" when the tally stands for many addresses
    std::string reason;   // problem slug
    unsigned status = 0;
    int64_t minute = 0;   // unix seconds / 60
    uint64_t count = 0;   // refusals beyond the first, recorded at once
  };

  // Counts one refusal at `now` (unix seconds). True if it is the first of
  // its address, reason and minute: the caller records it itself, now.
  bool Count(const std::string& address, const std::string& reason, unsigned status, int64_t now);
  // Removes and returns the tallies of minutes before now's that counted
  // more than the first refusal.
  std::vector<Tally> TakeEnded(int64_t now);
  // Removes and returns every tally that counted more than the first.
  std::vector<Tally> TakeAll();

 private:
  using Key = std::tuple<int64_t, std::string, std::string>;  // minute, address, reason
  std::vector<Tally> TakeBefore(int64_t minute);

  std::mutex mu_;
  std::map<Key, Tally> open_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_REFUSAL_TALLY_H_
