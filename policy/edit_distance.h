// Levenshtein distance, for "did you mean" on protocol keys and list
// headers. Short strings only: O(|a|·|b|) time.
#ifndef XGW_POLICY_EDIT_DISTANCE_H_
#define XGW_POLICY_EDIT_DISTANCE_H_

#include <cstddef>
#include <string_view>

namespace xgw {

size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace xgw

#endif  // XGW_POLICY_EDIT_DISTANCE_H_
