#include "gateway/refusal_tally.h"

#include <limits>

namespace xgw {

bool RefusalTally::Count(const std::string& address, const std::string& reason, unsigned status,
                         int64_t now) {
  const int64_t minute = now / 60;
  std::lock_guard lock(mu_);
  Key key{minute, address, reason};
  auto it = open_.find(key);
  if (it == open_.end() && open_.size() >= kMaxEntries) {
    key = Key{minute, "", reason};
    it = open_.find(key);
  }
  if (it == open_.end()) {
    // An overflow tally records no first refusal of its own: it counts all.
    const bool overflow = std::get<1>(key) != address;
    open_.emplace(key, Tally{std::get<1>(key), reason, status, minute, overflow ? 1u : 0u});
    return !overflow;
  }
  ++it->second.count;
  return false;
}

std::vector<RefusalTally::Tally> RefusalTally::TakeEnded(int64_t now) { return TakeBefore(now / 60); }

std::vector<RefusalTally::Tally> RefusalTally::TakeAll() {
  return TakeBefore(std::numeric_limits<int64_t>::max());
}

std::vector<RefusalTally::Tally> RefusalTally::TakeBefore(int64_t minute) {
  std::vector<Tally> out;
  std::lock_guard lock(mu_);
  for (auto it = open_.begin(); it != open_.end() && std::get<0>(it->first) < minute;) {
    if (it->second.count > 0) out.push_back(std::move(it->second));
    it = open_.erase(it);
  }
  return out;
}

}  // namespace xgw
