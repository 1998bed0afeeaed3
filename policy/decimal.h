// Decimal numbers as the validators normalise them ("-12.5", "0", "3"): no
// exponent, '.' as separator, no leading zeros, no trailing fraction zeros.
// Compared exactly as decimals, never through a double, so a bound of 0.1 is
// 0.1. Pure functions.
#ifndef XGW_POLICY_DECIMAL_H_
#define XGW_POLICY_DECIMAL_H_

#include <optional>
#include <string>
#include <string_view>

namespace xgw {

// The canonical form of a decimal written as the decimal validator accepts it
// ("12,50" -> "12.5"); nullopt if it is not one.
std::optional<std::string> NormaliseDecimal(std::string_view text);

// <0, 0, >0 as a < b, a == b, a > b. REQUIRES: both canonical.
int CompareDecimal(std::string_view a, std::string_view b);

// Digits after the point of a canonical decimal ("12.5" -> 1, "3" -> 0).
int DecimalScale(std::string_view canonical);

}  // namespace xgw

#endif  // XGW_POLICY_DECIMAL_H_
