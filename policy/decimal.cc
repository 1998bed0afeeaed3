#include "policy/decimal.h"

#include "policy/validators.h"

namespace xgw {

std::optional<std::string> NormaliseDecimal(std::string_view text) {
  FieldRule rule;
  rule.type = FieldType::kDecimal;
  std::string out;
  std::string_view why;
  if (!ValidateValue(rule, text, &out, &why)) return std::nullopt;
  return out;
}

namespace {

// Compares two canonical non-negative decimals.
int CompareMagnitude(std::string_view a, std::string_view b) {
  auto split = [](std::string_view s) {
    auto dot = s.find('.');
    return dot == std::string_view::npos ? std::pair{s, std::string_view{}}
                                         : std::pair{s.substr(0, dot), s.substr(dot + 1)};
  };
  auto [ai, af] = split(a);
  auto [bi, bf] = split(b);
  if (ai.size() != bi.size()) return ai.size() < bi.size() ? -1 : 1;
  if (int c = ai.compare(bi); c != 0) return c < 0 ? -1 : 1;
  // Fractions: compare digit by digit, a missing digit being 0.
  for (size_t i = 0; i < std::max(af.size(), bf.size()); ++i) {
    char x = i < af.size() ? af[i] : '0', y = i < bf.size() ? bf[i] : '0';
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

}  // namespace

int CompareDecimal(std::string_view a, std::string_view b) {
  const bool na = !a.empty() && a[0] == '-', nb = !b.empty() && b[0] == '-';
  if (na != nb) return na ? -1 : 1;
  if (na) return -CompareMagnitude(a.substr(1), b.substr(1));
  return CompareMagnitude(a, b);
}

int DecimalScale(std::string_view canonical) {
  auto dot = canonical.find('.');
  return dot == std::string_view::npos ? 0 : static_cast<int>(canonical.size() - dot - 1);
}

}  // namespace xgw
