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

// Known answers, independent of MakeNrn (which computes the check digits the
// same way the validator does, so a mistake shared by both would pass every
// test above). Each number was checked by hand: the check digits are
// 97 - (B mod 97), where B is the first nine digits, with a 2 in front for
// people born in 2000 or later; a remainder 0 gives 97, never 00. None of
// these numbers belongs to anyone known to us.
//
//   published examples (pre-2000 rule):
//     85.07.30-033.28 (English Wikipedia's example)
//       850730033 = 97 x 8770412 (= 850729964) + 69;   97 - 69 = 28
//     93.05.18-223.61 (Dutch Wikipedia's example)
//       930518223 = 97 x 9592971 (= 930518187) + 36;   97 - 36 = 61
//   born 2000 or later (prefix 2):
//     17.03.10-123.81
//       2170310123 = 97 x 22374331 (= 2170310107) + 16; 97 - 16 = 81
//       (the pre-2000 rule gives 52: 170310123 = 97 x 1755774 (= 170310078) + 45)
//     00.01.01-001.05 (born 1 January 2000: leading zeros)
//       2000101001 = 97 x 20619597 (= 2000100909) + 92; 97 - 92 = 05
//     05.01.01-014.97 (remainder 0)
//       2050101014 = 97 x 21135062 (= 2050101014) + 0;  97 - 0 = 97
//   BIS numbers (birth month + 20 when the sex is known, + 40 when not):
//     85.27.30-001.06
//       852730001 = 97 x 8791030 (= 852729910) + 91;   97 - 91 = 06
//     85.47.30-001.49
//       854730001 = 97 x 8811649 (= 854729953) + 48;   97 - 48 = 49
//   remainder 0, pre-2000:
//     79.04.12-066.97
//       790412066 = 97 x 8148578 (= 790412066) + 0;    97 - 0 = 97
TEST_CASE("NationalNumbersMatchHandCheckedKnownAnswers") {
  for (const char* good : {"85073003328", "93051822361", "17031012381", "17031012352", "00010100105",
                           "05010101497", "85273000106", "85473000149", "79041206697"}) {
    INFO(good);
    CHECK(NormaliseBeNationalNumber(good) == std::string(good));
  }
  CHECK(NormaliseBeNationalNumber("85.07.30-033.28") == std::string("85073003328"));
  CHECK(NormaliseBeNationalNumber("10100105") == std::string("00010100105"));  // lost leading zeros
  for (const char* bad : {"85073003327", "85073003329", "93051822316",  // off by one, digits swapped
                          "17031012382",                                // neither rule (81 or 52)
                          "79041206600", "05010101400",                 // remainder 0 written as 00
                          "00010100192",                                // the remainder, not 97 minus it
                          "85273000105", "85473000150"}) {
    INFO(bad);
    CHECK_FALSE(NormaliseBeNationalNumber(bad));
  }
  // The test helper agrees with the hand-checked answers.
  CHECK(MakeNrn("850730", 33) == "85073003328");
  CHECK(MakeNrn("930518", 223) == "93051822361");
  CHECK(MakeNrn("170310", 123, true) == "17031012381");
  CHECK(MakeNrn("000101", 1, true) == "00010100105");
  CHECK(MakeNrn("852730", 1) == "85273000106");
  CHECK(MakeNrn("790412", 66) == "79041206697");
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
