// Excel realities at intake (issue 21 item 4): password-protected and old
// workbooks named as such, title rows above the header, lists on another
// sheet, misspelt headers, columns named by letter and header text. The
// workbooks come from make_excel_intake_fixtures.py; every person is invented.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "policy/check_list.h"
#include "policy/header_match.h"
#include "policy/workbook_kind.h"
#include "tests/policy/policy_test_util.h"

using namespace xgw;
using namespace xgw::test;

namespace {

std::string Fx(const std::string& name) { return std::string(XGW_POLICY_FIXTURES) + "/excel_intake/" + name; }

std::vector<uint8_t> Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

ListCheck CheckCsv(const std::string& csv, const CheckListOptions& options = {}) {
  MemorySource src(csv);
  auto reader = OpenCsvReader(src);
  REQUIRE(reader);
  auto r = CheckList(Cir(), **reader, options);
  REQUIRE(r);
  return std::move(*r);
}

const Violation* Find(const Violations& vs, const std::string& code) {
  auto it = std::find_if(vs.begin(), vs.end(), [&](const Violation& v) { return v.code == code; });
  return it == vs.end() ? nullptr : &*it;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kHeader =
    "Naam;Voornaam;Rijksregisternummer;Status dossier;Ontbrekende documenten;Datum uitnodigingsbrief;Datum herinnering\n";

std::string Row(int i) {
  return "Testnaam" + std::to_string(i) + ";Voornaam;" + MakeNrn("850730", i) + ";onvolledig;attest;01/08/2024;2024-08-31\n";
}

}  // namespace

TEST_CASE("PasswordProtectedWorkbookIsNamedWithWhatToDo") {
  CHECK(SniffCompoundPath(Fx("encrypted.xlsx")).value() == CompoundKind::kEncryptedWorkbook);
  auto r = OpenXlsxFile(Fx("encrypted.xlsx"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kFormat);
  CHECK(Contains(r.error().message, "password-protected"));
  CHECK(Contains(r.error().message, "save it as .xlsx"));
  CHECK_FALSE(Contains(r.error().message, "zip"));
  const auto bytes = Bytes(Fx("encrypted.xlsx"));
  auto b = OpenXlsxBuffer(bytes);
  REQUIRE_FALSE(b);
  CHECK(Contains(b.error().message, "password-protected"));
  // Sent as CSV (the daemon's format=csv), the same file is named too.
  MemorySource src(bytes);
  auto c = OpenCsvReader(src);
  REQUIRE_FALSE(c);
  CHECK(Contains(c.error().message, "password-protected"));
}

TEST_CASE("OldXlsWorkbooksAreNamedWithWhatToDo") {
  for (const char* name : {"old.xls", "old_book.xls"}) {
    INFO(name);
    CHECK(SniffCompoundPath(Fx(name)).value() == CompoundKind::kLegacyXls);
    auto r = OpenXlsxFile(Fx(name));
    REQUIRE_FALSE(r);
    CHECK(Contains(r.error().message, "Excel 97-2003 workbook (.xls)"));
    CHECK(Contains(r.error().message, "CSV UTF-8"));
  }
  CHECK(SniffCompoundPath(Fx("other.doc")).value() == CompoundKind::kOtherCompound);
  CHECK(SniffCompoundPath(Fx("misspelt.xlsx")).value() == CompoundKind::kNotCompound);
}

TEST_CASE("MalformedCompoundFilesGetAClearErrorNotACrash") {
  for (const char* name : {"cfb_cycle.xlsx", "cfb_truncated.xlsx", "cfb_huge_fat.xlsx"}) {
    INFO(name);
    auto r = OpenXlsxFile(Fx(name));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kFormat);
    CHECK(Contains(r.error().message, "Office"));
  }
  // Every prefix of a compound file: recognised or "another compound file", never a crash.
  const auto bytes = Bytes(Fx("encrypted.xlsx"));
  for (size_t n = 0; n <= bytes.size(); n += 97) {
    auto kind = SniffCompoundBuffer(std::span<const uint8_t>(bytes.data(), n));
    CHECK((n < 8 ? kind == CompoundKind::kNotCompound : kind != CompoundKind::kNotCompound));
  }
}

TEST_CASE("TitleRowsAboveTheHeaderAreSkippedNotReportedAsValues") {
  auto r = CheckCsv("Lijst CIR-kandidaten september;;;;;;\n;;;;;;\n" + kHeader + Row(1) + Row(2));
  INFO((r.violations.empty() ? "" : r.violations[0].message));
  CHECK(r.ok());
  CHECK(r.header.header_row == 3);
  CHECK(r.header.title_rows == std::vector<uint64_t>{1});
  CHECK(r.manifest.row_count == 2);
  // The same in a workbook.
  auto x = OpenXlsxFile(Fx("title_row.xlsx"));
  REQUIRE(x);
  auto rx = CheckList(Cir(), **x);
  REQUIRE(rx);
  CHECK(rx->ok());
  CHECK(rx->header.header_row == 3);
  CHECK(rx->manifest.row_count == 3);
}

TEST_CASE("HeaderRowCanBeNamed") {
  CheckListOptions o;
  o.header.header_row = 2;
  auto r = CheckCsv("Lijst;;;;;;\n" + kHeader + Row(1), o);
  CHECK(r.ok());
  CHECK(r.header.header_row == 2);
  o.header.header_row = 9;
  auto missing = CheckCsv("Lijst;;;;;;\n" + kHeader + Row(1), o);
  const Violation* v = Find(missing.violations, "header_row_not_found");
  REQUIRE(v != nullptr);
  CHECK(Contains(v->message, "row 9"));
}

TEST_CASE("DetectedHeaderIsWhatTheReceiverDerivesToo") {
  // The receiver checks the same bytes with the same defaults: same manifest.
  const std::string csv = "Lijst;;;;;;\n" + kHeader + Row(1);
  CHECK(CheckCsv(csv).manifest == CheckCsv(csv).manifest);
  CHECK(CheckCsv(csv).manifest.rows_sha256 == CheckCsv(kHeader + Row(1)).manifest.rows_sha256);
}

TEST_CASE("ListOnAnotherSheetListsTheSheetNames") {
  auto x = OpenXlsxFile(Fx("other_sheet.xlsx"));
  REQUIRE(x);
  auto r = CheckList(Cir(), **x);
  REQUIRE(r);
  const Violation* v = Find(r->violations, "header_not_found");
  REQUIRE(v != nullptr);
  CHECK(Contains(v->message, "\"Uitleg\", \"Kandidaten\""));
  CHECK(Contains(v->message, "--sheet NAME"));
  // Not a column at a time: the notes are not echoed and not "not a field".
  CHECK(Find(r->violations, "column_not_allowed") == nullptr);
  CHECK_FALSE(Contains(v->message, "Deze map"));
  // An empty first sheet fails at once, naming the sheets.
  auto empty = OpenXlsxFile(Fx("empty_first.xlsx"));
  REQUIRE_FALSE(empty);
  CHECK(Contains(empty.error().message, "\"Blad1\" is empty"));
  CHECK(Contains(empty.error().message, "\"Kandidaten\""));
  // The right sheet passes.
  auto named = OpenXlsxFile(Fx("other_sheet.xlsx"), "Kandidaten");
  REQUIRE(named);
  CHECK(CheckList(Cir(), **named)->ok());
  auto wrong = OpenXlsxFile(Fx("other_sheet.xlsx"), "Lijst");
  REQUIRE_FALSE(wrong);
  CHECK(Contains(wrong.error().message, "no sheet named \"Lijst\""));
  CHECK(Contains(wrong.error().message, "\"Uitleg\", \"Kandidaten\""));
}

TEST_CASE("MisspeltRequiredHeaderIsDidYouMeanNeverRemoveIt") {
  auto x = OpenXlsxFile(Fx("misspelt.xlsx"));
  REQUIRE(x);
  const Protocol p = Cir();
  SendRequest req{"org-thuispunt-gent", At(*p.zone, 2024, 9, 20, 9), 0};
  ProtocolStatus status;
  auto r = CheckListForSend(p, status, **x, req);
  REQUIRE(r);
  const Violation* misspelt = Find(r->violations, "column_misspelt");
  REQUIRE(misspelt != nullptr);
  CHECK(misspelt->column == "column C");
  CHECK(Contains(misspelt->message, "column C \"Rijksregister nr.\""));
  CHECK(Contains(misspelt->message, "did you mean \"rijksregisternr\""));
  CHECK(Contains(misspelt->message, "required field national_number"));
  CHECK(Contains(misspelt->message, "do not remove"));
  // The pair is one problem: the field is not also "missing".
  CHECK(Find(r->violations, "required_column_missing") == nullptr);
  // The extra column is named by letter and text, and not told "remove it"
  // without the alternative while a required field is missing.
  for (const auto& v : r->violations) {
    INFO(v.code << ": " << v.message);
    CHECK_FALSE(Contains(v.message, "bellen"));  // a value, never echoed
    CHECK_FALSE(Contains(v.message, "Testnaam"));
  }
}

TEST_CASE("ExtraColumnIsNamedByLetterAndHeaderText") {
  auto r = CheckCsv("Naam;Voornaam;Rijksregisternummer;Status;IBAN\nA;B;" + MakeNrn("850730", 1) + ";s;x\n");
  const Violation* v = Find(r.violations, "column_not_allowed");
  REQUIRE(v != nullptr);
  CHECK(v->column == "column E");
  CHECK(Contains(v->message, "column E \"IBAN\" is not a field of the protocol"));
  CHECK(Contains(v->message, "--drop-extra"));
  // With a required field missing, "remove it" comes with "or rename it".
  auto m = CheckCsv("Naam;Voornaam;Status;Nummer\nA;B;s;x\n");
  const Violation* w = Find(m.violations, "column_not_allowed");
  REQUIRE(w != nullptr);
  CHECK(Contains(w->message, "required field(s) national_number are missing"));
  CHECK(Contains(w->message, "rename"));
}

TEST_CASE("RowMessagesNameColumnLetterAndHeader") {
  auto r = CheckCsv(kHeader + "X;Y;85073003300;s;;;\n;Y;" + MakeNrn("850730", 2) + ";s;;;\n");
  REQUIRE(r.violations.size() == 2);
  CHECK(Contains(r.violations[0].message, "row 2, column C \"Rijksregisternummer\" (national_number): value breaks rule"));
  CHECK(Contains(r.violations[1].message, "row 3: column A \"Naam\" (last_name) is empty"));
}

TEST_CASE("HeaderTextsAreNotEchoedWhenNoHeaderIsRecognised") {
  // A list without a header row: its first row is data, never shown.
  auto r = CheckCsv("Testnaam1;Anna;" + MakeNrn("850730", 1) + "\n");
  const Violation* v = Find(r.violations, "header_not_found");
  REQUIRE(v != nullptr);
  for (const auto& x : r.violations) CHECK_FALSE(Contains(x.message, "Testnaam1"));
}

TEST_CASE("ColumnLettersAndDisplayText") {
  CHECK(ColumnLetter(0) == "A");
  CHECK(ColumnLetter(25) == "Z");
  CHECK(ColumnLetter(26) == "AA");
  CHECK(ColumnLetter(701) == "ZZ");
  CHECK(ColumnLetter(702) == "AAA");
  CHECK(DisplayText("a\"b\nc") == "a?b?c");
  CHECK(DisplayText(std::string(100, 'x')).size() == 43);
  CHECK(DisplayText("\xc3\xa9\xc3\xa9", 3) == "\xc3\xa9...");
}

TEST_CASE("HostileHeadersAreBoundedWork") {
  // 1000 long near-miss headers: answered, fuzzily compared only in part.
  std::string header;
  for (int i = 0; i < 1000; ++i) header += (i ? ";" : "") + std::string("Rijksregisternumme") + std::to_string(i % 10);
  auto r = CheckCsv(header + "\n");
  CHECK_FALSE(r.ok());
}
