#include <catch2/catch.hpp>

#include "policy/validators.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;

namespace {
bool Valid(FieldRule rule, std::string_view v, std::string* out = nullptr) {
  std::string norm;
  std::string_view failed;
  bool ok = ValidateValue(rule, v, &norm, &failed);
  if (out) *out = ok ? norm : std::string(failed);
  return ok;
}
FieldRule Rule(FieldType t) {
  FieldRule r;
  r.type = t;
  return r;
}
}  // namespace

TEST_CASE("NationalNumberBornBefore2000IsAccepted") {
  auto n = MakeNrn("850730", 33);
  CHECK(NormaliseBeNationalNumber(n) == n);
  CHECK(NormaliseBeNationalNumber("85.07.30-033." + n.substr(9)) == n);
  CHECK(NormaliseBeNationalNumber("850730 033 " + n.substr(9)) == n);
}

TEST_CASE("NationalNumberBornAfter2000UsesThePrefixTwo") {
  auto n = MakeNrn("050101", 7, true);
  CHECK(NormaliseBeNationalNumber(n) == n);
  CHECK_FALSE(MakeNrn("050101", 7, false) == n);  // the other rule gives other digits
}

TEST_CASE("NationalNumberLostLeadingZerosArePaddedBack") {
  auto n = MakeNrn("050101", 7, true);
  REQUIRE(n[0] == '0');
  CHECK(NormaliseBeNationalNumber(n.substr(1)) == n);
  auto n2 = MakeNrn("000101", 12, true);  // born 2000: two leading zeros
  CHECK(NormaliseBeNationalNumber(n2.substr(2)) == n2);
}

TEST_CASE("BisNumbersAndUnknownBirthDatesAreAccepted") {
  CHECK(NormaliseBeNationalNumber(MakeNrn("852730", 1)));  // month + 20
  CHECK(NormaliseBeNationalNumber(MakeNrn("854730", 1)));  // month + 40
  CHECK(NormaliseBeNationalNumber(MakeNrn("850000", 1)));  // month and day unknown
}

TEST_CASE("BadNationalNumbersAreRejected") {
  auto n = MakeNrn("850730", 33);
  std::string wrong = n.substr(0, 9) + (n.substr(9) == "00" ? "01" : "00");
  CHECK_FALSE(NormaliseBeNationalNumber(wrong));
  CHECK_FALSE(NormaliseBeNationalNumber(MakeNrn("851330", 1)));   // month 13
  CHECK_FALSE(NormaliseBeNationalNumber(MakeNrn("850732", 1)));   // day 32
  CHECK_FALSE(NormaliseBeNationalNumber(n + "1"));                // 12 digits
  CHECK_FALSE(NormaliseBeNationalNumber("8507300332x"));
  CHECK_FALSE(NormaliseBeNationalNumber(""));
  CHECK_FALSE(NormaliseBeNationalNumber("85.07.30"));             // formatted but short: not padded
}

TEST_CASE("BsnElevenTest") {
  CHECK(NormaliseNlBsn("111222333") == "111222333");
  CHECK(NormaliseNlBsn("123456782") == "123456782");
  CHECK(NormaliseNlBsn("1234.56.782") == "123456782");
  CHECK(NormaliseNlBsn("11222333").has_value() == (NormaliseNlBsn("011222333").has_value()));
  CHECK_FALSE(NormaliseNlBsn("123456789"));
  CHECK_FALSE(NormaliseNlBsn("000000000"));
  CHECK_FALSE(NormaliseNlBsn("1234567820"));
}

TEST_CASE("EnterpriseNumberCheckDigits") {
  CHECK(NormaliseBeEnterpriseNumber("BE 0400.032.156") == "0400032156");
  CHECK(NormaliseBeEnterpriseNumber("0212.214.125") == "0212214125");
  CHECK(NormaliseBeEnterpriseNumber("212214125") == "0212214125");  // numeric cell
  CHECK(NormaliseBeEnterpriseNumber("be0400032156") == "0400032156");
  CHECK_FALSE(NormaliseBeEnterpriseNumber("0400.032.157"));
  CHECK_FALSE(NormaliseBeEnterpriseNumber("2400.032.156"));
}

TEST_CASE("IbanMod97AndCountryLength") {
  CHECK(NormaliseIban("BE68 5390 0754 7034") == "BE68539007547034");
  CHECK(NormaliseIban("nl91abna0417164300") == "NL91ABNA0417164300");
  CHECK(NormaliseIban("GB82 WEST 1234 5698 7654 32") == "GB82WEST12345698765432");
  CHECK_FALSE(NormaliseIban("BE68 5390 0754 7035"));     // check
  CHECK_FALSE(NormaliseIban("BE68 5390 0754 70344"));    // length
  CHECK_FALSE(NormaliseIban("ZZ68 5390 0754 7034"));     // country
}

TEST_CASE("DatesInIsoAndBelgianForms") {
  std::string out;
  CHECK(Valid(Rule(FieldType::kDate), "2024-09-27", &out));
  CHECK(out == "2024-09-27");
  CHECK(Valid(Rule(FieldType::kDate), "27/09/2024", &out));
  CHECK(out == "2024-09-27");
  CHECK(Valid(Rule(FieldType::kDate), "1.2.2024", &out));
  CHECK(out == "2024-02-01");
  CHECK(Valid(Rule(FieldType::kDate), "2024-09-27T00:00:00", &out));
  CHECK_FALSE(Valid(Rule(FieldType::kDate), "31/02/2024", &out));
  CHECK(out == "date.syntax");
  CHECK_FALSE(Valid(Rule(FieldType::kDate), "27/09/24"));
  CHECK_FALSE(Valid(Rule(FieldType::kDate), "27/09-2024"));
}

TEST_CASE("EmailPhoneIntegerDecimal") {
  std::string out;
  CHECK(Valid(Rule(FieldType::kEmail), "Jan.Peeters@Example.BE", &out));
  CHECK(out == "Jan.Peeters@example.be");
  CHECK_FALSE(Valid(Rule(FieldType::kEmail), "no-at-sign.example"));
  CHECK_FALSE(Valid(Rule(FieldType::kEmail), "a@b"));
  CHECK_FALSE(Valid(Rule(FieldType::kEmail), "a@@b.be"));
  CHECK(Valid(Rule(FieldType::kPhone), "+32 (0)9 266 12 34", &out));
  CHECK(out == "+32092661234");
  CHECK_FALSE(Valid(Rule(FieldType::kPhone), "12-34"));
  CHECK_FALSE(Valid(Rule(FieldType::kPhone), "09 266 12 34 ext 5"));
  FieldRule i = Rule(FieldType::kInteger);
  i.min = 1;
  i.max = 10;
  CHECK(Valid(i, "007", &out));
  CHECK(out == "7");
  CHECK_FALSE(Valid(i, "11", &out));
  CHECK(out == "integer.max");
  CHECK_FALSE(Valid(i, "0", &out));
  CHECK(out == "integer.min");
  CHECK_FALSE(Valid(i, "1.5"));
  CHECK(Valid(Rule(FieldType::kDecimal), "0012,50", &out));
  CHECK(out == "12.5");
  CHECK(Valid(Rule(FieldType::kDecimal), "-3", &out));
  CHECK_FALSE(Valid(Rule(FieldType::kDecimal), "1.234,5"));
  CHECK_FALSE(Valid(Rule(FieldType::kDecimal), "1e5"));
}

TEST_CASE("EnumMatchesCaseAndAccentInsensitively") {
  FieldRule r = Rule(FieldType::kEnum);
  r.values = {"dringend", "Hoog"};
  std::string out;
  CHECK(Valid(r, " DRINGEND ", &out));
  CHECK(out == "dringend");
  CHECK(Valid(r, "hóog", &out));
  CHECK(out == "Hoog");
  CHECK_FALSE(Valid(r, "laag", &out));
  CHECK(out == "enum.value");
}

TEST_CASE("TextMaxLengthCountsCodePointsAndRefusesControlCharacters") {
  FieldRule r = Rule(FieldType::kText);
  r.max_length = 3;
  CHECK(Valid(r, "Zoë"));
  CHECK_FALSE(Valid(r, "Zoëy"));
  std::string out;
  CHECK_FALSE(Valid(Rule(FieldType::kText), std::string("a\x01z"), &out));
  CHECK(out == "text.control_character");
}

TEST_CASE("SafeRegexRefusesCatastrophicPatterns") {
  CHECK(CompileSafeRegex("[1-9][0-9]{3} ?[A-Z]{2}"));
  CHECK(CompileSafeRegex("(?:ab)+c"));
  CHECK(CompileSafeRegex("(a+)?b"));
  CHECK_FALSE(CompileSafeRegex("(a+)+b"));
  CHECK_FALSE(CompileSafeRegex("(a|aa)*b"));
  CHECK_FALSE(CompileSafeRegex("((ab)*c)*"));
  CHECK_FALSE(CompileSafeRegex("(a)\\1"));
  CHECK_FALSE(CompileSafeRegex("(?=a)b"));
  CHECK_FALSE(CompileSafeRegex("a*?"));
  CHECK_FALSE(CompileSafeRegex("(unbalanced"));
  CHECK_FALSE(CompileSafeRegex(std::string(201, 'a')));
}

TEST_CASE("RegexFieldMatchesWholeValueUnderTheLengthCap") {
  FieldRule r = Rule(FieldType::kRegex);
  r.regex = *CompileSafeRegex("[1-9][0-9]{3} ?[A-Z]{2}");
  CHECK(Valid(r, "3011 AB"));
  CHECK_FALSE(Valid(r, "3011 AB extra"));
  std::string out;
  CHECK_FALSE(Valid(r, std::string(kRegexInputCap + 1, 'A'), &out));
  CHECK(out == "regex.max_length");
}

TEST_CASE("HeaderFoldingIgnoresCaseAccentsAndSeparators") {
  CHECK(FoldName("Rijksregister_Nummer ") == "rijksregister nummer");
  CHECK(FoldName("rijksregister--nummer") == "rijksregister nummer");
  CHECK(FoldName("  PRÉNOM") == "prenom");
  CHECK(FoldName("Prénom") == FoldName("Pre\xCC\x81nom"));  // decomposed accent
  CHECK(FoldName("Łódź Straße") == "lodz strasse");
}

TEST_CASE("IdentifierTypesAreTheFourNumberKinds") {
  CHECK(IsIdentifierType(FieldType::kBeNationalNumber));
  CHECK(IsIdentifierType(FieldType::kNlBsn));
  CHECK_FALSE(IsIdentifierType(FieldType::kText));
  CHECK(FieldTypeFromName("be_national_number") == FieldType::kBeNationalNumber);
  CHECK_FALSE(FieldTypeFromName("national_number"));
}
