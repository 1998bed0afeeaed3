// Excel realities at intake through build/bin/xgw against the real xgwd
// (issue 21 item 4): a password-protected workbook and an old .xls named with
// what to do, a title row above the header, a list on another sheet, a
// misspelt header, `--header-row`, and `--drop-extra` writing a cleaned copy
// that is then sent and received intact. The daemon's gateway-encrypt route
// names the protected workbook the same way.
//
// Workbooks come from tests/policy/make_excel_intake_fixtures.py, run into
// this test's own directory. Every person is invented; no cell value may
// appear in what xgw prints.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "crypto/hash.h"
#include "tests/client/cli_world.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

const std::string& kProtocolId = kCliProtocolId;
// The CIR header row without its line end (cells are appended to it).
const std::string kHeader = kCirHeader.substr(0, kCirHeader.size() - 1);

std::string Row(int i, const std::string& extra = "") {
  return "Testnaam" + std::to_string(i) + ";Voornaam;" + SyntheticNrn(i) + ";onvolledig;attest;01/08/2024;2024-08-31" +
         extra + "\n";
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The CLI world (cli_world.h) and the fixtures in dir/fx.
struct World : CliWorld {
  World() {
    int rc = -1;
    RunCommand("/usr/bin/python3 " + std::string(XGW_SOURCE_DIR) +
                   "/tests/policy/make_excel_intake_fixtures.py " + dir + "/fx",
               &rc);
    REQUIRE(rc == 0);
  }

  // `xgw send --protocol ... ARGS` as the sender: exit code, stderr in *err.
  int Send(const std::string& args, std::string* err) {
    int rc = -1;
    Run("sender", "send --protocol " + kProtocolId + " " + args, &rc, err);
    // Nothing xgw prints may hold a cell value.
    CHECK_FALSE(Has(*err, "Testnaam"));
    CHECK_FALSE(Has(*err, "bellen"));
    CHECK_FALSE(Has(*err, SyntheticNrn(1)));
    return rc;
  }
};

}  // namespace

TEST_CASE("XgwSendNamesExcelRealitiesAndSendsACleanedCopyOnRequest") {
  World w;
  std::string err;

  // A password-protected workbook and an old .xls: named, with what to do.
  CHECK(w.Send("--check-only fx/encrypted.xlsx", &err) != 0);
  CHECK(Has(err, "password-protected"));
  CHECK(Has(err, "save it as .xlsx"));
  CHECK_FALSE(Has(err, "zip"));
  CHECK(w.Send("--check-only fx/old.xls", &err) != 0);
  CHECK(Has(err, "Excel 97-2003 workbook (.xls)"));

  // A title row above the header: found, said, and the list passes.
  CHECK(w.Send("--check-only fx/title_row.xlsx", &err) == 0);
  CHECK(Has(err, "the header is row 3 of sheet \"Lijst\""));

  // The list on another sheet: the sheets are listed; --sheet reads it.
  CHECK(w.Send("--check-only fx/other_sheet.xlsx", &err) == 3);
  CHECK(Has(err, "\"Uitleg\", \"Kandidaten\""));
  CHECK(Has(err, "--sheet NAME"));
  CHECK(w.Send("--check-only --sheet Kandidaten fx/other_sheet.xlsx", &err) == 0);
  CHECK(w.Send("--check-only fx/empty_first.xlsx", &err) != 0);
  CHECK(Has(err, "\"Blad1\" is empty"));

  // A misspelt required header: did you mean, never "remove it", and not
  // also "required field missing".
  CHECK(w.Send("--check-only fx/misspelt.xlsx", &err) == 3);
  CHECK(Has(err, "column C \"Rijksregister nr.\" is not a name the protocol knows; did you mean \"rijksregisternr\""));
  CHECK(Has(err, "do not remove the column"));
  CHECK_FALSE(Has(err, "required_column_missing"));

  // An extra column: named by letter and header; --drop-extra writes a copy
  // without it (the input unchanged), and that copy is sent and received.
  const std::string csv = kHeader + ";Opmerking\n" + Row(1, ";bellen") + Row(2, ";bellen");
  WriteFile(w.dir + "/extra.csv", csv);
  CHECK(w.Send("--check-only extra.csv", &err) == 3);
  CHECK(Has(err, "column H \"Opmerking\" is not a field of the protocol"));
  CHECK(w.Send("--drop-extra --json extra.csv", &err) == 0);
  CHECK(Has(err, "wrote extra.cleaned.csv without column H \"Opmerking\""));
  CHECK(ReadTextFile(w.dir + "/extra.csv") == csv);
  const std::string cleaned = ReadTextFile(w.dir + "/extra.cleaned.csv");
  CHECK_FALSE(Has(cleaned, "Opmerking"));
  CHECK_FALSE(Has(cleaned, "bellen"));
  CHECK(Has(cleaned, SyntheticNrn(2)));
  // A second run never overwrites the first copy.
  CHECK(w.Send("--drop-extra --check-only extra.csv", &err) == 0);
  CHECK(Has(err, "extra.cleaned-2.csv"));

  // --header-row N: checked from that row, sent as a copy with the header first.
  WriteFile(w.dir + "/titled.csv", "Lijst september;;;;;;\n" + kHeader + "\n" + Row(3));
  CHECK(w.Send("--header-row 2 --json titled.csv", &err) == 0);
  CHECK(Has(err, "titled.cleaned.csv (header on its first row)"));

  // The receiver re-derives both manifests from what was sent: they verify.
  const json inbox = w.RunJson("worker", "inbox");
  REQUIRE(inbox.size() == 2);
  for (const auto& e : inbox) {
    int rc = -1;
    w.Run("worker", "receive " + e["id"].get<std::string>() + " -o got-" + e["id"].get<std::string>() + ".csv", &rc);
    CHECK(rc == 0);
  }

  // The daemon's gateway-encrypt route names a protected workbook the same way.
  const std::string encrypted = ReadTextFile(w.dir + "/fx/encrypted.xlsx");
  auto r = Request(*w.d, "POST", "/api/v1/exchanges/plaintext?protocol_id=" + kProtocolId + "&format=xlsx",
                   {.token = w.tokens["sender"], .body = encrypted, .content_type = "application/octet-stream"});
  CHECK(r.status == 422);
  const json problem = r.Json();
  REQUIRE(problem.contains("violations"));
  CHECK(Has(problem["violations"][0]["message"].get<std::string>(), "password-protected"));
  // And a title row above the header is found there as in xgw.
  auto titled = Request(*w.d, "POST", "/api/v1/exchanges/plaintext?protocol_id=" + kProtocolId + "&format=xlsx",
                        {.token = w.tokens["sender"], .body = ReadTextFile(w.dir + "/fx/title_row.xlsx"),
                         .content_type = "application/octet-stream"});
  CHECK(titled.status == 201);
  CHECK(titled.Json()["manifest"]["row_count"] == 3);
}
