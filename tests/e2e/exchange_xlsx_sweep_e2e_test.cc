// End-to-end tests of two exchange paths no other test drives through the
// API: gateway-encrypt mode with an XLSX list (good and malformed files), and
// SIGKILL while the retention sweeper deletes many expired exchanges.
//
// The real xgwd on 127.0.0.1:0 over TLS, a manual clock starting 2024-09-20,
// the CIR protocol (config/examples/cir-thuispunt-ocmw-2024_VB_00591.json).
// Every person in the lists is synthetic (tests/e2e/cir_test_data.h).
#include <dirent.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "crypto/age.h"
#include "crypto/io.h"
#include "crypto/sign.h"
#include "audit/verify.h"
#include "policy/list_reader.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kXlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

const std::string& kHeader = kCirHeader;

std::string Row(int i) {
  return "Testnaam" + std::to_string(i) + ";Voornaam;" + SyntheticNrn(i) +
         ";onvolledig;attest;2024-08-01;2024-08-31\n";
}

// The CIR world (tests/e2e/cir_world.h) with what these tests add: posting
// a plaintext list in any format, the sender's sent box, the state directory.
class World : public CirWorld {
 public:
  explicit World(const json& overrides = {}) : CirWorld(nullptr, overrides) {}

  HttpResult PostPlaintext(const std::string& protocol_id, const std::string& format,
                           const std::string& body, const std::string& content_type) {
    return Request(*d, "POST",
                   "/api/v1/exchanges/plaintext?protocol_id=" + protocol_id + "&format=" + format,
                   {.token = sender.token, .body = body, .content_type = content_type});
  }

  size_t SentCount() {
    return MustJson(Request(*d, "GET", "/api/v1/exchanges?box=sent", {.token = sender.token}), 200)
        ["items"]
            .size();
  }

  std::string StateDir() const { return d->dir() + "/state"; }
};

json CirProtocol() { return json::parse(ReadTextFile(kCirProtocolFile)); }

// Runs a script with Debian's python3 (openpyxl is the package python3-openpyxl;
// a python3 earlier on PATH, e.g. pyenv's, may lack it)
// with `args`; fails the test if it does not exit 0.
void RunPython(const std::string& dir, const std::string& script, const std::string& args) {
  const std::string path = dir + "/make.py";
  {
    std::ofstream out(path);
    out << script;
  }
  int status = 0;
  const std::string out = RunCommand("/usr/bin/python3 " + path + " " + args + " 2>&1", &status);
  INFO(out);
  REQUIRE(status == 0);
}

// Writes `csv` (';'-separated, header first) as the first sheet of an XLSX
// file, every cell a string.
const char* const kCsvToXlsx = R"PY(
import sys
from openpyxl import Workbook
wb = Workbook()
ws = wb.active
ws.title = "Lijst"
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f.read().splitlines():
        ws.append(line.split(";"))
wb.save(sys.argv[2])
)PY";

// Malformed XLSX files: a real zip bomb (a sheet of ~40 MiB of repeated rows
// deflated to a few KiB), a sheet whose declared uncompressed size is
// patched to ~4 GiB, and the first half of a valid file.
const char* const kBadXlsx = R"PY(
import struct, sys, zipfile
good, out = sys.argv[1], sys.argv[2]
names = {}
with zipfile.ZipFile(good) as z:
    for n in z.namelist():
        names[n] = z.read(n)
sheet = [n for n in names if n.startswith("xl/worksheets/")][0]
with zipfile.ZipFile(out + "/bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
    for n, data in names.items():
        if n != sheet:
            z.writestr(n, data)
    with z.open(sheet, "w", force_zip64=True) as f:
        f.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
        row = b'<row><c t="inlineStr"><is><t>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</t></is></c></row>' * 1000
        for _ in range(500):
            f.write(row)
        f.write(b'</sheetData></worksheet>')
data = bytearray(open(good, "rb").read())
target = sheet.encode()
# Local header: sizes at +18 (compressed) and +22 (uncompressed), name at +30.
i = data.find(b"PK\x03\x04" + b"")
while i >= 0:
    name_len = struct.unpack_from("<H", data, i + 26)[0]
    if bytes(data[i + 30:i + 30 + name_len]) == target:
        struct.pack_into("<I", data, i + 22, 0xFFFFFFF0)
    i = data.find(b"PK\x03\x04", i + 4)
# Central directory: uncompressed size at +24, name at +46.
i = data.find(b"PK\x01\x02")
while i >= 0:
    name_len = struct.unpack_from("<H", data, i + 28)[0]
    if bytes(data[i + 46:i + 46 + name_len]) == target:
        struct.pack_into("<I", data, i + 24, 0xFFFFFFF0)
    i = data.find(b"PK\x01\x02", i + 4)
open(out + "/declared.xlsx", "wb").write(bytes(data))
raw = open(good, "rb").read()
open(out + "/truncated.xlsx", "wb").write(raw[: len(raw) // 2])
)PY";

// Every regular file under `dir`, read whole.
std::vector<std::pair<std::string, std::string>> FilesUnder(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files.emplace_back(entry.path().string(), ReadTextFile(entry.path().string()));
    }
  }
  return files;
}

// Names of the files directly in `dir` ending in `suffix`.
std::set<std::string> FilesEndingIn(const std::string& dir, const std::string& suffix) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.insert(name.substr(0, name.size() - suffix.size()));
    }
  }
  return names;
}

size_t FileCount(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) n += entry.is_regular_file() ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("GatewayEncryptModeAcceptsAnXlsxListAndRefusesMalformedOnes") {
  World w;
  w.ProposeAcceptActivate(CirProtocol());
  const std::string dir = w.d->dir();
  const std::string csv = kHeader + Row(61) + Row(62) + Row(63);
  {
    std::ofstream out(dir + "/list.csv", std::ios::binary);
    out << csv;
  }
  RunPython(dir, kCsvToXlsx, dir + "/list.csv " + dir + "/list.xlsx");
  const std::string xlsx = ReadTextFile(dir + "/list.xlsx");
  REQUIRE(xlsx.rfind("PK\x03\x04", 0) == 0);
  RunPython(dir, kBadXlsx, dir + "/list.xlsx " + dir);
  // The generator's own files must not be mistaken for the gateway's.
  fs::remove(dir + "/list.csv");

  SECTION("a valid XLSX list is stored encrypted and arrives whole") {
    json ok = MustJson(w.PostPlaintext("2024_VB_00591", "xlsx", xlsx, kXlsxType), 201);
    const std::string id = ok["id"];
    CHECK(ok["signer"] == "gateway");
    CHECK(ok["manifest"]["row_count"] == 3);
    CHECK(ok["manifest"]["list_format"] == "xlsx");

    auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token});
    REQUIRE(dl.status == 200);
    const std::string plain = DecryptAge(*w.social_keys.identity, dl.body);
    CHECK(plain == xlsx);  // the file as sent, not a conversion
    // Read back as the recipient would: the three people, in order.
    auto reader = OpenXlsxBuffer(AsBytes(plain));
    REQUIRE(reader);
    CHECK((*reader)->Header().size() == 7);
    std::vector<std::string> numbers;
    std::vector<std::string_view> cells;
    while (true) {
      auto more = (*reader)->Next(&cells);
      REQUIRE(more);
      if (!*more) break;
      REQUIRE(cells.size() >= 3);
      numbers.emplace_back(cells[2]);
    }
    CHECK(numbers == std::vector<std::string>{SyntheticNrn(61), SyntheticNrn(62), SyntheticNrn(63)});

    // Nothing readable under the state directory: no national number, no
    // name, and no 32-byte run of the XLSX file itself (its compressed
    // members would hide the values from a plain text search).
    fs::remove(dir + "/list.xlsx");
    const auto files = FilesUnder(w.StateDir());
    std::vector<std::string> needles = {SyntheticNrn(61), SyntheticNrn(62), SyntheticNrn(63),
                                        "Testnaam61"};
    for (size_t off = 0; off + 32 <= xlsx.size(); off += 97) needles.push_back(xlsx.substr(off, 32));
    size_t hits = 0;
    for (const auto& [path, content] : files) {
      for (const auto& needle : needles) {
        if (content.find(needle) != std::string::npos) {
          ++hits;
          UNSCOPED_INFO("plaintext found in " << path);
        }
      }
    }
    CHECK(hits == 0);
    const std::string log = w.d->Log();
    for (int i = 61; i <= 63; ++i) CHECK(log.find(SyntheticNrn(i)) == std::string::npos);
  }

  SECTION("malformed XLSX files are refused with a clear problem and create nothing") {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"not a zip", "Naam;Voornaam\nthis is no spreadsheet\n"},
        {"truncated zip", ReadTextFile(dir + "/truncated.xlsx")},
        {"zip bomb", ReadTextFile(dir + "/bomb.xlsx")},
        {"huge declared sheet", ReadTextFile(dir + "/declared.xlsx")},
    };
    for (const auto& [what, body] : bad) {
      INFO(what);
      REQUIRE(!body.empty());
      auto r = w.PostPlaintext("2024_VB_00591", "xlsx", body, kXlsxType);
      INFO(r.body);
      CHECK(r.status == 422);
      CHECK(r.content_type == "application/problem+json");
      json p = r.Json();
      CHECK(p["detail"].get<std::string>().find("xlsx") != std::string::npos);
      REQUIRE(p.contains("violations"));
      CHECK(p["violations"][0]["code"] == "list_malformed");
      CHECK(w.d->Alive());
    }
    CHECK(w.SentCount() == 0);
    CHECK(FileCount(w.StateDir() + "/blobs") == 0);
    // The protocol's one transfer is still unused: a good list goes through.
    MustJson(w.PostPlaintext("2024_VB_00591", "xlsx", xlsx, kXlsxType), 201);
    CHECK(w.SentCount() == 1);
  }
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("KillNineDuringTheRetentionSweepLosesNoDeletionAndTheAuditLogVerifies") {
  // The sweeper runs every second: it starts within a second of the advance.
  World w;
  json protocol = CirProtocol();
  protocol["id"] = "2024_VB_00591_periodic";
  protocol["frequency"] = {{"kind", "periodic"}, {"max_transfers", 1000}, {"per", "day"}};
  w.ProposeAcceptActivate(protocol);
  const std::string pid = protocol["id"];

  constexpr int kExchanges = 200;
  std::vector<std::string> ids;
  for (int i = 0; i < kExchanges; ++i) {
    json ok = MustJson(w.PostPlaintext(pid, "csv", kHeader + Row(i + 1), "text/csv"), 201);
    ids.push_back(ok["id"]);
  }
  const std::string blobs = w.StateDir() + "/blobs";
  REQUIRE(FilesEndingIn(blobs, ".age").size() == kExchanges);

  // Past the retention date (2024-09-27 in Brussels); kill as soon as the
  // sweep has unlinked the first blob, or half of them. Wherever the kill
  // lands (before the first deletion, between an audit append and its
  // commit, after the last), the checks below must hold.
  const size_t kill_after = GENERATE(as<size_t>{}, 1, kExchanges / 2);
  w.Advance(8 * 86400);
  size_t left = kExchanges;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    left = FilesEndingIn(blobs, ".age").size();
    if (left <= kExchanges - kill_after) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(w.d->StopAndWait(SIGKILL) == 128 + SIGKILL);
  WARN("blobs left when killed: " << left);

  // At the crash point: no exchange is marked deleted while its blob exists.
  {
    int status = 0;
    const std::string deleted = RunCommand(
        "sqlite3 " + w.StateDir() + "/xgwd.db \"SELECT id FROM exchanges WHERE state = 'deleted'\"",
        &status);
    REQUIRE(status == 0);
    const auto present = FilesEndingIn(blobs, ".age");
    std::istringstream lines(deleted);
    size_t marked = 0;
    for (std::string id; std::getline(lines, id);) {
      ++marked;
      CHECK(present.count(id) == 0);
    }
    WARN("marked deleted when killed: " << marked);
    CheckAuditVerifies(w.StateDir());
  }

  // The manual clock starts again from the configuration: restart it past
  // the retention date, so the start-up pass catches up.
  w.d->RewriteConfig({{"clock", {{"start", "2024-09-29T07:00:00Z"}}}});
  w.d->Restart();

  for (const auto& id : ids) {
    INFO(id);
    CHECK(w.State(id) == "deleted");
  }
  CHECK(FilesEndingIn(blobs, ".age").empty());
  CHECK(FileCount(blobs) == 0);

  // Every deletion audited; only the one in flight at the kill may have been
  // audited twice (its audit record landed, its commit did not: re-done).
  std::map<std::string, int> deletions;
  std::string after;
  while (true) {
    json page = MustJson(
        Request(*w.d, "GET",
                "/api/v1/audit/events?action=exchange.deleted_expiry&limit=1000" +
                    (after.empty() ? "" : "&after=" + after),
                {.token = w.d->operator_token()}),
        200);
    for (const auto& item : page["items"]) ++deletions[item["event"]["exchange"].get<std::string>()];
    if (page["next"].is_null()) break;
    after = std::to_string(page["next"].get<uint64_t>());
  }
  size_t twice = 0;
  for (const auto& id : ids) {
    INFO(id);
    CHECK(deletions[id] >= 1);
    CHECK(deletions[id] <= 2);
    twice += deletions[id] == 2 ? 1 : 0;
  }
  CHECK(twice <= 1);
  CHECK(deletions.size() == ids.size());

  // Every deletion receipt verifies against the gateway's key.
  const std::string key = w.VerifierKey();
  for (const auto& id : ids) {
    INFO(id);
    auto receipt = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/receipt", {.token = w.sender.token});
    REQUIRE(receipt.status == 200);
    auto verified = VerifyDeletionReceipt(receipt.body, key);
    REQUIRE(verified);
    CHECK(verified->event.exchange_id == id);
  }

  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.StateDir());
}

TEST_CASE("AdvancingTheManualClockWakesTheSweeperAtOnce") {
  // The sweeper's own period is 60 s here; an advance past an exchange's
  // retention date must not wait for it. (The bound below is a third of the
  // period, so only a sweeper that ignores the advance can miss it.)
  World w(json{{"exchanges", {{"sweep_interval_seconds", 60}}}});
  w.ProposeAcceptActivate(CirProtocol());
  json ok = MustJson(w.PostPlaintext("2024_VB_00591", "csv", kHeader + Row(5), "text/csv"), 201);
  const std::string id = ok["id"];
  w.Advance(8 * 86400);
  bool deleted = false;
  for (int i = 0; i < 200 && !deleted; ++i) {
    deleted = w.State(id) == "deleted";
    if (!deleted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(deleted);
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
}
