// Field validators and normalisers: what a cell of a given protocol field type
// must look like, and the one canonical spelling it is reduced to (used in the
// canonical row hash and, for identifiers, the subject index).
//
// All functions are pure and thread-safe. None of them ever puts the value it
// checks into a message: failures are reported as a rule name such as
// "be_national_number.check_digits".
#ifndef XGW_POLICY_VALIDATORS_H_
#define XGW_POLICY_VALIDATORS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

namespace xgw {

enum class FieldType {
  kText,                // UTF-8 text without control characters, max_length code points
  kInteger,             // [+-]digits, optional min / max
  kDecimal,             // [+-]digits[.,digits]; normalised with '.'
  kDate,                // YYYY-MM-DD or dd/mm/yyyy (also '-' '.'); normalised to YYYY-MM-DD
  kEmail,               // local@domain.tld; domain lower-cased
  kPhone,               // digits with + ( ) - . / space; 6..15 digits; normalised to [+]digits
  kEnum,                // one of `values`, matched like headers (case/accent-insensitive)
  kRegex,               // full match of a safe-subset pattern, input length capped
  kBeNationalNumber,    // rijksregisternummer / BIS number, 11 digits
  kNlBsn,               // burgerservicenummer, 9 digits
  kBeEnterpriseNumber,  // KBO / BCE number, 10 digits
  kIban,                // IBAN, mod-97 and country length
};

// Stable names used in protocol JSON ("text", "be_national_number", ...).
std::string_view FieldTypeName(FieldType type);
std::optional<FieldType> FieldTypeFromName(std::string_view name);
// Identifier types (national number, BSN, enterprise number, IBAN) accept numeric
// cells that lost their leading zeros and are the types a subject identifier
// field should use.
bool IsIdentifierType(FieldType type);

struct FieldRule {
  FieldType type = FieldType::kText;
  size_t max_length = 0;                     // text/regex: code points; 0 = 1000 / 256
  std::optional<int64_t> min, max;           // integer bounds (inclusive)
  std::optional<std::string> decimal_min, decimal_max;  // decimal bounds (inclusive, canonical)
  std::optional<int> scale;                  // decimal: at most this many digits after the point
  std::vector<std::string> values;           // enum values, canonical spelling
  std::shared_ptr<const std::regex> regex;   // from CompileSafeRegex
};

// Longest input a regex field ever sees, whatever max_length says.
inline constexpr size_t kRegexInputCap = 256;

// Compiles an ECMAScript pattern restricted to a subset that cannot backtrack
// catastrophically: at most 200 characters, no backreferences, no lookaround,
// and no quantifier applied to a group that itself contains a quantifier or an
// alternation ("(a+)+", "(a|aa)*"). Fails with kInvalidArgument naming the rule.
Result<std::shared_ptr<const std::regex>> CompileSafeRegex(std::string_view pattern);

// Checks one non-empty cell (surrounding whitespace is ignored). On success
// stores the normalised value and returns true; otherwise stores the broken
// rule's name (static storage) in *failed_rule and returns false.
bool ValidateValue(const FieldRule& rule, std::string_view raw, std::string* normalised,
                   std::string_view* failed_rule);

// ValidateValue without copying where it can, for checking many cells: on
// success *normalised views the trimmed `raw` (text, regex), the rule's own
// spelling (enum) or *scratch (every other type, built there). The view is
// valid while those are unchanged; reusing one scratch string per column
// keeps a long list free of per-cell allocation.
bool ValidateCell(const FieldRule& rule, std::string_view raw, std::string* scratch, std::string_view* normalised,
                  std::string_view* failed_rule);

// Identifier normalisers: separators (space . - /) removed, leading zeros lost
// by spreadsheets restored, check digits verified. nullopt if invalid.
std::optional<std::string> NormaliseBeNationalNumber(std::string_view raw);
std::optional<std::string> NormaliseNlBsn(std::string_view raw);
std::optional<std::string> NormaliseBeEnterpriseNumber(std::string_view raw);  // "BE" prefix ok
std::optional<std::string> NormaliseIban(std::string_view raw);
// The normaliser of any type (ValidateValue without a rule's extra limits).
std::optional<std::string> NormaliseIdentifier(FieldType type, std::string_view raw);

// Header / enum folding: Latin-1 and Latin Extended-A letters lose their
// accents (and combining marks U+0300..U+036F are dropped), ASCII is
// lower-cased, runs of whitespace, '_' and '-' become one space, ends trimmed.
// "Rijksregister_Nummer " and "rijksregister-nummer" fold equal.
std::string FoldName(std::string_view text);

// True if `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view text);

}  // namespace xgw

#endif  // XGW_POLICY_VALIDATORS_H_
